/**
 * Child process for the pipeline figure: runs Lifeboat in a process of its own, as Postfix runs
 * in processes of its own, relaying to the sink port given as the first argument.
 *
 *   pipeline-runtime.ts <sink port> <data dir> local    the local runtime: receiver, SQLite and file
 *                                                       stores, ingest, deliver; data under <data dir>
 *   pipeline-runtime.ts <sink port> <data dir> memory   the same receiver, mail workers and handlers with the
 *                                                       stores in memory, to tell Lifeboat's own cost from the stores'
 *   … local|memory relay-only                           either, with no SPF, DKIM or DMARC check and no parse (every
 *                                                       verdict PASS, an empty summary): what a plain relay does, to
 *                                                       tell the cost of SES's part of the work from the relay's
 *
 * Protocol on stdio, one line each: it prints `ready {"smtpPort":…}`; on `mark` it restarts its
 * CPU count; on `stop` it waits for ingests and deliveries in flight, prints
 * `cpu {"userMs":…,"systemMs":…,"mainThreadBusy":…,"mainThreadMs":…}` (the whole process's CPU since the last mark,
 * every thread, and the share of that time its event loop was busy), shuts down and exits. The
 * parent owns the data folder and removes it. With BENCH_PROFILE_FILE set, a V8 CPU profile of
 * the same span (mark to stop) is written to that file.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createMailWorkers, type MailWorkers } from '../infra/local/mail-workers.js';
import { createReceiver } from '../infra/local/receiver.js';
import { createIngestQueue } from '../infra/local/recovery.js';
import { createLocalResolver } from '../infra/local/resolver.js';
import { listen, startRuntime } from '../infra/local/runtime.js';
import { computeTestSignatures } from '../infra/local/verdicts.js';
import { createContext, readEnv } from '../lambdas/adapters/context.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { type LifeboatConfig, parseConfig } from '../lambdas/core/config.js';
import { unparsedIndexBody, unparsedSummary } from '../lambdas/core/summarise.js';
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
const relayOnly = process.argv[5] === 'relay-only';
if (
  !Number.isInteger(sinkPort) ||
  sinkPort <= 0 ||
  dataDir === '' ||
  (mode !== 'local' && mode !== 'memory') ||
  (process.argv[5] !== undefined && !relayOnly)
) {
  throw new Error('usage: pipeline-runtime.ts <sink port> <data dir> local|memory [relay-only]');
}

/**
 * Mail work that does none: every verdict PASS (the test signatures still looked for) and an empty
 * summary, so a message goes through receiver, stores, ingest and deliver as through a plain relay.
 */
const relayOnlyWork: MailWorkers = {
  async verdicts(input) {
    return { ...computeTestSignatures(input.raw), spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' };
  },
  async summarise() {
    return { summary: { ...unparsedSummary(''), parseError: null }, index: unparsedIndexBody() };
  },
  async indexBody() {
    return unparsedIndexBody();
  },
  async warm() {},
  stats: () => ({ workers: 0, running: 0, queued: 0, crashed: 0 }),
  async close() {},
};

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
  const mailWorkers = relayOnly ? relayOnlyWork : createMailWorkers({ config });
  const ctx = createContext(env, {
    config,
    store,
    continuity: store,
    blobs,
    summarise: mailWorkers.summarise,
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
    verdicts: mailWorkers.verdicts,
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
      await mailWorkers.close();
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
    : await startRuntime({
        config,
        dataDir,
        ports: { smtp: 0 },
        sweepIntervalMs: 0,
        ...(relayOnly ? { mailWork: relayOnlyWork } : {}),
      });
const profileFile = process.env.BENCH_PROFILE_FILE;
const inspector = profileFile ? new Session() : undefined;
inspector?.connect();
/**
 * CPU time of this process's main thread (user and system, milliseconds), from its /proc entry
 * (Linux; NaN elsewhere): the thread the runtime's JavaScript runs on, apart from libuv's and
 * any worker's threads.
 */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime is the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
/** USER_HZ, which /proc counts CPU time in: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

let cpuMark = process.cpuUsage();
let mainMark = mainThreadCpuMs();
let eluMark = performance.eventLoopUtilization();
process.stdout.write(`ready ${JSON.stringify({ smtpPort: running.smtpPort })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'mark') {
    if (inspector) {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    cpuMark = process.cpuUsage();
    mainMark = mainThreadCpuMs();
    eluMark = performance.eventLoopUtilization();
  } else if (line === 'stop') {
    await running.idle();
    const cpu = process.cpuUsage(cpuMark);
    const mainThreadBusy = performance.eventLoopUtilization(eluMark).utilization;
    const mainThreadMs = mainThreadCpuMs() - mainMark;
    if (inspector && profileFile) {
      const { profile } = await inspector.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
      inspector.disconnect();
    }
    process.stdout.write(
      `cpu ${JSON.stringify({ userMs: cpu.user / 1000, systemMs: cpu.system / 1000, mainThreadBusy, mainThreadMs })}\n`,
    );
    break;
  }
}
await running.stop();
process.exit(0);
