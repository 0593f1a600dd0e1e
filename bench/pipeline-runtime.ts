/**
 * Child process for the pipeline figure: runs Lifeboat in a process of its own, as Postfix runs
 * in processes of its own, relaying to the sink port given as the first argument.
 *
 *   pipeline-runtime.ts <sink port> <data dir> local    the local runtime: receiver, SQLite and file
 *                                                       stores, ingest, deliver; data under <data dir>
 *   pipeline-runtime.ts <sink port> <data dir> memory   the same receiver and handlers with the stores in
 *                                                       memory, to tell Lifeboat's own cost from the stores'
 *
 * Protocol on stdio, one line each: it prints `ready {"smtpPort":…}`; on `mark` it restarts its
 * CPU count; on `stop` it waits for ingests and deliveries in flight, prints
 * `cpu {"userMs":…,"systemMs":…,"mainThreadBusy":…}` (the whole process's CPU since the last mark,
 * every thread, and the share of that time its event loop was busy), shuts down and exits. The
 * parent owns the data folder and removes it. With BENCH_PROFILE_FILE set, a V8 CPU profile of
 * the same span (mark to stop) is written to that file.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createReceiver } from '../infra/local/receiver.js';
import { createIngestQueue } from '../infra/local/recovery.js';
import { createLocalResolver } from '../infra/local/resolver.js';
import { listen, startRuntime } from '../infra/local/runtime.js';
import { createContext, readEnv } from '../lambdas/adapters/context.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { type LifeboatConfig, parseConfig } from '../lambdas/core/config.js';
import { createDeliverHandler } from '../lambdas/handlers/deliver.js';
import { createIngestHandler } from '../lambdas/handlers/ingest.js';
import { systemClock } from '../lambdas/ports.js';
import { MemoryBlobs, MemoryStore } from '../test/support/memory-store.js';

interface Running {
  smtpPort: number;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const sinkPort = Number(process.argv[2]);
const dataDir = process.argv[3] ?? '';
const mode = process.argv[4];
if (
  !Number.isInteger(sinkPort) ||
  sinkPort <= 0 ||
  dataDir === '' ||
  (mode !== 'local' && mode !== 'memory')
) {
  throw new Error('usage: pipeline-runtime.ts <sink port> <data dir> local|memory');
}

/** The receiver, ingest and deliver wired as in infra/local/runtime.ts, but over MemoryStore and MemoryBlobs. */
async function startInMemory(config: LifeboatConfig): Promise<Running> {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  const pending = new Set<Promise<unknown>>();
  let deliver: ReturnType<typeof createDeliverHandler> | undefined;
  const env = readEnv({
    TABLE_NAME: 'bench',
    BUCKET_NAME: 'bench',
    LIFEBOAT_CONFIG: JSON.stringify(config),
    AWS_REGION: 'us-east-1',
  });
  const ctx = createContext(env, {
    config,
    store,
    continuity: store,
    blobs,
    log: silentLogger,
    trigger: {
      async requestDelivery(messageId) {
        const run = deliver?.({ messageId }).catch(() => {});
        if (!run) return;
        pending.add(run);
        run.finally(() => pending.delete(run));
      },
    },
  });
  const ingest = createIngestHandler(() => ctx);
  // One long-lived process, as the local runtime: SMTP sessions stay open for the next delivery.
  deliver = createDeliverHandler(() => ctx, { endSessionsAfterRun: false });
  const track = (work: Promise<unknown>) => {
    pending.add(work);
    work.finally(() => pending.delete(work));
  };
  const receiver = createReceiver({
    config,
    blobs,
    resolver: createLocalResolver(config.local.dns),
    log: silentLogger,
    ingests: createIngestQueue({ ingest, clock: systemClock, log: silentLogger, track }),
  });
  const smtpPort = await listen(receiver, 0, '127.0.0.1');
  const idle = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };
  return {
    smtpPort,
    idle,
    async stop() {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await idle();
    },
  };
}

const config = parseConfig(
  {
    hostname: 'lifeboat.bench.test',
    domains: ['bench.test'],
    routes: [
      { name: 'sink', domains: ['bench.test'], hosts: [{ host: '127.0.0.1', port: sinkPort }], tls: 'none' },
    ],
    local: { dataDir },
  },
  'bench config',
);
const running: Running =
  mode === 'memory'
    ? await startInMemory(config)
    : await startRuntime({ config, dataDir, ports: { smtp: 0 }, sweepIntervalMs: 0 });
const profileFile = process.env.BENCH_PROFILE_FILE;
const inspector = profileFile ? new Session() : undefined;
inspector?.connect();
let cpuMark = process.cpuUsage();
let eluMark = performance.eventLoopUtilization();
process.stdout.write(`ready ${JSON.stringify({ smtpPort: running.smtpPort })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'mark') {
    if (inspector) {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    cpuMark = process.cpuUsage();
    eluMark = performance.eventLoopUtilization();
  } else if (line === 'stop') {
    await running.idle();
    const cpu = process.cpuUsage(cpuMark);
    const mainThreadBusy = performance.eventLoopUtilization(eluMark).utilization;
    if (inspector && profileFile) {
      const { profile } = await inspector.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
      inspector.disconnect();
    }
    process.stdout.write(
      `cpu ${JSON.stringify({ userMs: cpu.user / 1000, systemMs: cpu.system / 1000, mainThreadBusy })}\n`,
    );
    break;
  }
}
await running.stop();
process.exit(0);
