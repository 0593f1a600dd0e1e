import { randomUUID } from 'node:crypto';
import type { Context } from '../../lambdas/adapters/context.js';
import { activeReplays, type ReplayDeps, runReplay } from '../../lambdas/core/replay.js';
import type { Logger, ReplayWaker } from '../../lambdas/ports.js';

/**
 * How often the runner looks for replays to work on besides being woken: a job whose 4xx retry
 * timer was lost, or one started by another process on the same data folder (none should be).
 */
export const REPLAY_POLL_MS = 30_000;

/** The single-node runtime's replay runner. */
export interface LocalReplays extends ReplayWaker {
  /** Takes over every replay a stopped process left planning or running (start-up). */
  resumeAll(): Promise<void>;
  /** Resolves once no replay is being worked on. */
  idle(): Promise<void>;
  /** Ends the runs at their next message (their progress is saved) and the timers. */
  stop(): Promise<void>;
}

/**
 * Runs replays in this process, one run per job at a time, until each is finished, cancelled,
 * paused, or waiting out a 4xx (then a timer takes it up again). At start-up it takes over what
 * the previous process left under its lease: one machine, one runtime, nobody else sends them.
 */
export function createLocalReplays(
  ctx: Context & Pick<ReplayDeps, 'checkpoint'>,
  options: { log: Logger; track: <T>(p: Promise<T>) => Promise<T>; pollMs?: number | undefined },
): LocalReplays {
  const owner = `local-${process.pid}-${randomUUID().slice(0, 8)}`;
  const runs = new Map<string, Promise<void>>();
  /** Jobs woken while their run was under way: looked at again when it ends. */
  const again = new Set<string>();
  const timers = new Map<string, NodeJS.Timeout>();
  const abort = new AbortController();
  const { log } = options;

  const later = (id: string, ms: number) => {
    clearTimeout(timers.get(id));
    const t = setTimeout(
      () => {
        timers.delete(id);
        void wake(id);
      },
      Math.max(0, ms),
    );
    t.unref();
    timers.set(id, t);
  };

  const run = (id: string, takeOver: boolean) =>
    (async () => {
      for (;;) {
        again.delete(id);
        const result = await runReplay(ctx, id, {
          budgetMs: Number.POSITIVE_INFINITY,
          owner,
          takeOver,
          signal: abort.signal,
        });
        if (result.outcome === 'waiting' && result.retryAt) {
          later(id, Date.parse(result.retryAt) - ctx.clock.now().getTime());
        }
        if (!again.has(id) || abort.signal.aborted) return;
      }
    })()
      .catch((err: Error) =>
        log.error('replay run stopped; it resumes on the next look', { replayId: id, error: err.message }),
      )
      .finally(() => runs.delete(id));

  function wake(id: string, takeOver = false): Promise<void> {
    if (abort.signal.aborted) return Promise.resolve();
    const current = runs.get(id);
    if (current) {
      again.add(id);
      return Promise.resolve();
    }
    const p = options.track(run(id, takeOver));
    runs.set(id, p);
    return Promise.resolve();
  }

  const poll = async () => {
    for (const job of await activeReplays(ctx)) void wake(job.id);
  };
  const pollMs = options.pollMs ?? REPLAY_POLL_MS;
  const timer = pollMs > 0 ? setInterval(() => void poll().catch(() => {}), pollMs) : null;
  timer?.unref();

  return {
    wake: (id) => wake(id),
    async resumeAll() {
      const jobs = await activeReplays(ctx);
      if (jobs.length) log.info('replays resumed after a restart', { replays: jobs.length });
      for (const job of jobs) await wake(job.id, true);
    },
    async idle() {
      while (runs.size > 0) await Promise.allSettled([...runs.values()]);
    },
    async stop() {
      abort.abort();
      if (timer) clearInterval(timer);
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      while (runs.size > 0) await Promise.allSettled([...runs.values()]);
    },
  };
}
