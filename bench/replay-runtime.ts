/**
 * Child process for the replay figure: the local runtime in a process of its own (as Postfix runs
 * in its own), one route to the primary on the port given as the first argument.
 *
 *   replay-runtime.ts <primary port> <data dir> <ratePerSecond> <concurrency>
 *
 * Protocol on stdio, one line each: it prints `ready {"smtpPort":…}`; then
 *   idle           waits for deliveries in flight and prints `idle {"queue":{…}}`
 *   replay <from>  starts a replay of the archive from that instant to now, as the admin API does,
 *                  waits for it to finish and prints `replayed {…}`: the job as the API shows it,
 *                  the wall time and the process's CPU from the start to the end
 *   stop           shuts down and exits
 * The parent owns the data folder and removes it.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { startRuntime } from '../infra/local/runtime.js';
import { parseConfig } from '../lambdas/core/config.js';
import { getReplay, startReplay } from '../lambdas/core/replay.js';

/** The primary's domain; the parent addresses its messages to it. */
const DOMAIN = 'corp.test';

const primaryPort = Number(process.argv[2]);
const dataDir = process.argv[3] ?? '';
const ratePerSecond = Number(process.argv[4]);
const concurrency = Number(process.argv[5]);
if (
  !Number.isInteger(primaryPort) ||
  primaryPort <= 0 ||
  dataDir === '' ||
  !(ratePerSecond > 0) ||
  !(concurrency > 0)
) {
  throw new Error('usage: replay-runtime.ts <primary port> <data dir> <ratePerSecond> <concurrency>');
}

const config = parseConfig(
  {
    organisation: 'Lifeboat bench',
    hostname: 'lifeboat.bench.test',
    domains: [DOMAIN],
    routes: [
      { name: 'primary', domains: [DOMAIN], hosts: [{ host: '127.0.0.1', port: primaryPort }], tls: 'none' },
    ],
    continuity: { handover: { ratePerSecond, concurrency } },
    local: { dataDir },
  },
  'bench replay config',
);
const runtime = await startRuntime({
  config,
  dataDir,
  ports: { smtp: 0, api: 0 },
  api: false,
  sweepIntervalMs: 0,
  probeIntervalMs: 0,
});
const ctx = runtime.ctx;
const reply = (tag: string, body: unknown) => process.stdout.write(`${tag} ${JSON.stringify(body)}\n`);
reply('ready', { smtpPort: runtime.smtpPort });

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'idle') {
    await runtime.idle();
    reply('idle', { queue: await ctx.store.countByState() });
  } else if (line.startsWith('replay ')) {
    const cpuMark = process.cpuUsage();
    const started = performance.now();
    const job = await startReplay(
      ctx,
      { from: line.slice('replay '.length) },
      { actor: 'bench-admin@alerts.example.org' },
    );
    await ctx.replays?.wake(job.id);
    await runtime.replays.idle();
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuMark);
    reply('replayed', {
      job: await getReplay(ctx, job.id),
      ms,
      cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
    });
  } else if (line === 'stop') {
    break;
  }
}
await runtime.stop();
process.exit(0);
