/**
 * Child process for the pipeline figure: runs the local Lifeboat runtime (receiver, s3rver,
 * dynalite, ingest, deliver) in a process of its own, as Postfix runs in processes of its own,
 * relaying to the sink port given as the first argument.
 *
 * Protocol on stdio, one line each: it prints `ready {"smtpPort":…}`; on `mark` it restarts its
 * CPU count; on `stop` it waits for deliveries in flight, prints `cpu {"userMs":…,"systemMs":…}`
 * (since the last mark), shuts down, removes its data and exits. With BENCH_PROFILE_FILE set, a
 * V8 CPU profile of the same span (mark to stop) is written to that file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startRuntime } from '../infra/local/runtime.js';
import { parseConfig } from '../lambdas/core/config.js';

const sinkPort = Number(process.argv[2]);
if (!Number.isInteger(sinkPort) || sinkPort <= 0) throw new Error('usage: pipeline-runtime.ts <sink port>');

const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-'));
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
const runtime = await startRuntime({
  config,
  dataDir,
  ports: { smtp: 0, dynamodb: 0, s3: 0 },
  sweepIntervalMs: 0,
});
const profileFile = process.env.BENCH_PROFILE_FILE;
const inspector = profileFile ? new Session() : undefined;
inspector?.connect();
let cpuMark = process.cpuUsage();
process.stdout.write(`ready ${JSON.stringify({ smtpPort: runtime.smtpPort })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'mark') {
    if (inspector) {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    cpuMark = process.cpuUsage();
  } else if (line === 'stop') {
    await runtime.idle();
    const cpu = process.cpuUsage(cpuMark);
    if (inspector && profileFile) {
      const { profile } = await inspector.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
      inspector.disconnect();
    }
    process.stdout.write(`cpu ${JSON.stringify({ userMs: cpu.user / 1000, systemMs: cpu.system / 1000 })}\n`);
    break;
  }
}
await runtime.stop();
await rm(dataDir, { recursive: true, force: true });
process.exit(0);
