/**
 * Child process for the replay figure: the local runtime in a process of its own (as Postfix runs
 * in its own), one route to the primary on the port given as the first argument
 * (bench/child-runtime-main.ts).
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
import { getReplay, startReplay } from '../lambdas/core/replay.js';
import { finishBenchChild, serveBenchChild, startBenchChild } from './child-runtime-main.js';

const child = await startBenchChild('replay-runtime.ts', 'bench replay config');
const ctx = child.runtime.ctx;

await serveBenchChild(child, async (line) => {
  if (!line.startsWith('replay ')) return;
  const cpuMark = process.cpuUsage();
  const started = performance.now();
  const job = await startReplay(
    ctx,
    { from: line.slice('replay '.length) },
    { actor: 'bench-admin@alerts.example.org' },
  );
  await ctx.replays?.wake(job.id);
  await child.runtime.replays.idle();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuMark);
  child.reply('replayed', {
    job: await getReplay(ctx, job.id),
    ms,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
  });
});
await finishBenchChild(child);
