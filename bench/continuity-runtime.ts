/**
 * Child process for the hand-over figure: the local runtime (receiver, SQLite and file stores, ingest,
 * deliver) in a process of its own, as Postfix runs in processes of its own, with one route to
 * the primary on the port given as the first argument.
 *
 *   continuity-runtime.ts <primary port> <data dir> <ratePerSecond> <concurrency>
 *
 * Protocol on stdio, one line each: it prints `ready {"smtpPort":…}`; then
 *   invoke   invokes continuity for every route and prints `invoked {"state":…}`
 *   idle     waits for deliveries in flight and prints `idle {"queue":{…}}` (deliveries by state)
 *   mark     restarts its CPU count (the whole process: the JavaScript thread and libuv's
 *            threads, which read the raw files), its main thread's busy share and its tally of
 *            calls (or the profiler)
 *   revoke   revokes continuity, runs the hand-over to its end as the runtime does after a revoke
 *            from the admin API, and prints `handed-over {…}`: CPU since the mark, every call the
 *            hand-over made to the store, the raw files and the mailer (counted by wrappers
 *            around the runtime's own objects, in this process), the event's hand-over record,
 *            deliveries by state
 *   stop     shuts down and exits
 * The parent owns the data folder and removes it. With BENCH_PROFILE_FILE set, a V8 CPU profile
 * of the span from `mark` to the end of the hand-over is written to that file.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { invokeContinuity, revokeContinuity } from '../lambdas/core/continuity-service.js';
import { finishBenchChild, serveBenchChild, startBenchChild } from './child-runtime-main.js';

const ACTOR = 'bench-admin@alerts.example.org';

/** Set for a profiled run, which counts nothing, so that its profile holds no bench code. */
const profileFile = process.env.BENCH_PROFILE_FILE;

/** Calls and summed wall time per method of the store, the raw files and the mailer, counted after `mark`. */
class Tally {
  on = false;
  readonly calls = new Map<string, { calls: number; ms: number }>();

  reset(): void {
    this.calls.clear();
    this.on = true;
  }

  add(name: string, ms: number): void {
    const t = this.calls.get(name) ?? { calls: 0, ms: 0 };
    t.calls += 1;
    t.ms += ms;
    this.calls.set(name, t);
  }
}

const tally = new Tally();

/** The same object, with every method call counted and timed under `prefix`. */
function counted<T extends object>(target: T, prefix: string): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!tally.on) return (value as (...a: unknown[]) => unknown).apply(obj, args);
        const started = performance.now();
        const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        const name = `${prefix}.${String(prop)}`;
        if (result instanceof Promise) {
          return result.finally(() => tally.add(name, performance.now() - started));
        }
        tally.add(name, performance.now() - started);
        return result;
      };
    },
  });
}

// Nothing runs on a timer: the hand-over starts on revoke, as after a revoke from the admin API.
const child = await startBenchChild('continuity-runtime.ts', 'bench hand-over config');
const runtime = child.runtime;
const ctx = runtime.ctx;
// The handlers read the context on every call, so counting wrappers put in now see every call.
// A profiled run goes without them, so the profile shows the runtime and nothing of the bench.
if (!profileFile) {
  ctx.store = counted(ctx.store, 'store');
  ctx.continuity = counted(ctx.continuity, 'store');
  ctx.blobs = counted(ctx.blobs, 'blobs');
  ctx.mailer = counted(ctx.mailer, 'mailer');
}

const inspector = profileFile ? new Session() : undefined;
inspector?.connect();
let cpuMark = process.cpuUsage();
let eluMark = performance.eventLoopUtilization();
const reply = child.reply;

await serveBenchChild(child, async (line) => {
  if (line === 'invoke') {
    const step = await invokeContinuity(ctx, ACTOR, { reason: 'bench: primary down' });
    reply('invoked', { state: step.org.state });
  } else if (line === 'mark') {
    if (inspector) {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    // A profiled run counts nothing, so the profile holds no bench code.
    if (!profileFile) tally.reset();
    cpuMark = process.cpuUsage();
    eluMark = performance.eventLoopUtilization();
  } else if (line === 'revoke') {
    const started = performance.now();
    const step = await revokeContinuity(ctx, ACTOR);
    await runtime.kickHandover();
    await runtime.idle();
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuMark);
    const mainThreadBusy = performance.eventLoopUtilization(eluMark).utilization;
    tally.on = false;
    if (inspector && profileFile) {
      const { profile } = await inspector.post('Profiler.stop');
      await writeFile(profileFile, JSON.stringify(profile));
    }
    const event = step.event ? await ctx.continuity.getEvent(step.event.id) : undefined;
    const org = await ctx.continuity.getOrg();
    reply('handed-over', {
      ms,
      cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
      mainThreadBusy,
      stateAfterRevoke: step.org.state,
      state: org?.state,
      handover: event?.handover ?? null,
      queue: await ctx.store.countByState(),
      calls: Object.fromEntries(tally.calls),
    });
  }
});
inspector?.disconnect();
await finishBenchChild(child);
