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
  /** Takes over the replays a stopped process left planning or running (start-up). */
  resumeAll(): Promise<void>;
  /** Resolves once no replay is being worked on. */
  idle(): Promise<void>;
  /** Ends the run at its next message (its progress is saved) and the timers. */
  stop(): Promise<void>;
}

/**
 * Runs replays in this process, one at a time and oldest first (as the sweep does in AWS, so two
 * replays never double the pace the primary sees), each until it is finished, cancelled, paused,
 * or waiting out a 4xx (then a timer takes it up again). At start-up it takes over what the
 * previous process left under its lease: one machine, one runtime, nobody else sends them.
 */
export function createLocalReplays(
  ctx: Context & Pick<ReplayDeps, 'checkpoint'>,
  options: { log: Logger; track: <T>(p: Promise<T>) => Promise<T>; pollMs?: number | undefined },
): LocalReplays {
  const owner = `local-${process.pid}-${randomUUID().slice(0, 8)}`;
  const abort = new AbortController();
  const { log } = options;
  let draining: Promise<void> | null = null;
  /** Woken while a drain was under way: it looks again before it ends. */
  let again = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const drain = (takeOver: boolean): Promise<void> =>
    (async () => {
      do {
        again = false;
        for (const job of await activeReplays(ctx)) {
          if (abort.signal.aborted) return;
          const result = await runReplay(ctx, job.id, {
            budgetMs: Number.POSITIVE_INFINITY,
            owner,
            takeOver,
            signal: abort.signal,
          });
          if (result.outcome === 'waiting' && result.retryAt) {
            clearTimeout(retryTimer);
            retryTimer = setTimeout(
              () => void wake(),
              Math.max(0, Date.parse(result.retryAt) - ctx.clock.now().getTime()),
            );
            retryTimer.unref();
          }
          // The oldest goes alone: the later ones wait while it waits or another run holds it.
          if (result.outcome === 'waiting' || result.outcome === 'busy') break;
        }
      } while (again && !abort.signal.aborted);
    })()
      .catch((err: Error) =>
        log.error('replay run stopped; it resumes on the next look', { error: err.message }),
      )
      .finally(() => {
        draining = null;
      });

  function wake(takeOver = false): Promise<void> {
    if (abort.signal.aborted) return Promise.resolve();
    if (draining) {
      again = true;
      return Promise.resolve();
    }
    draining = options.track(drain(takeOver));
    return Promise.resolve();
  }

  const pollMs = options.pollMs ?? REPLAY_POLL_MS;
  const timer = pollMs > 0 ? setInterval(() => void wake(), pollMs) : null;
  timer?.unref();

  return {
    wake: () => wake(),
    async resumeAll() {
      const jobs = await activeReplays(ctx);
      if (jobs.length) log.info('replays resumed after a restart', { replays: jobs.length });
      await wake(true);
    },
    async idle() {
      while (draining) await draining;
    },
    async stop() {
      abort.abort();
      if (timer) clearInterval(timer);
      clearTimeout(retryTimer);
      while (draining) await draining;
    },
  };
}
