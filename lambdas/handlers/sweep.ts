import { type Context, defaultContext } from '../adapters/context.js';
import { type QueueMetrics, queueMetrics } from '../core/metrics.js';
import { type PackResult, packRawMail } from '../core/raw-packs.js';
import { continueReplays, newRunnerId } from '../core/replay.js';
import { type SweepResult, sweepDue } from '../core/sweep.js';
import { endingSessions, type SessionOptions } from './mailer-sessions.js';

/** CloudWatch Embedded Metric Format: one log line becomes metrics without a PutMetricData call. */
export function metricsLine(m: QueueMetrics, timestamp: number): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: 'Lifeboat',
          Dimensions: [[]],
          Metrics: [
            { Name: 'OldestDeferredAgeSeconds', Unit: 'Seconds' },
            { Name: 'DeferredDeliveries', Unit: 'Count' },
            { Name: 'FailedDeliveries', Unit: 'Count' },
            { Name: 'HeldDeliveries', Unit: 'Count' },
          ],
        },
      ],
    },
    OldestDeferredAgeSeconds: m.oldestDeferredAgeSeconds,
    DeferredDeliveries: m.deferred,
    FailedDeliveries: m.failed,
    HeldDeliveries: m.held,
  });
}

interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
}

export interface SweepHandlerOptions extends SessionOptions {
  /**
   * Give the archive replays under way the rest of the run, after the retries (AWS: the schedule
   * that runs every minute carries them on; the single-node runtime runs its own). @default false
   */
  replays?: boolean;
  /**
   * Pack archived raw mail with what time is left after the replays (AWS: see
   * lambdas/core/raw-packs.ts; the single-node runtime keeps its files). @default false
   */
  packs?: boolean;
}

/**
 * EventBridge schedule: retry what is due, carry on the archive replays under way with the time
 * left, pack archived raw mail with what is left after that (AWS), then publish queue metrics for
 * the alarms. In Lambda the sweep takes no attempt that the time left in the run cannot fit, and
 * the SMTP sessions it opened are ended when it is done (see {@link SessionOptions}).
 */
export function createSweepHandler(
  context: () => Context,
  emit: (line: string) => void = (l) => console.log(l),
  options: SweepHandlerOptions = {},
) {
  return async (
    _event: unknown,
    lambda?: LambdaContextLike,
  ): Promise<SweepResult & { metrics: QueueMetrics; replayed?: number; packed?: PackResult }> => {
    const ctx = context();
    const remaining = lambda?.getRemainingTimeInMillis?.bind(lambda);
    let replayed: number | undefined;
    let packed: PackResult | undefined;
    let packFailure: { error: unknown } | undefined;
    const result = await endingSessions(ctx, options, async () => {
      const swept = await sweepDue(ctx, { remainingMs: remaining });
      // Mail waiting for its retry goes first; a replay is the organisation catching up on the past.
      if (options.replays && remaining) {
        replayed = await continueReplays(ctx, { remainingMs: remaining, owner: newRunnerId() });
      }
      // Packing mail past the history window waits for everything else: it is days ahead of its deadline.
      if (options.packs && remaining && ctx.packs && ctx.jobs) {
        try {
          packed = await packRawMail(
            {
              store: ctx.store,
              packs: ctx.packs,
              jobs: ctx.jobs,
              config: ctx.config,
              clock: ctx.clock,
              log: ctx.log,
            },
            { remainingMs: remaining, owner: newRunnerId() },
          );
        } catch (err) {
          // The retries and the queue metrics still go out; the run then fails (the Sweep errors alarm).
          packFailure = { error: err };
          ctx.log.error('raw packing failed', {
            code: (err as { code?: string }).code ?? (err as Error).name,
          });
        }
      }
      return swept;
    });
    const metrics = await queueMetrics(ctx.store, ctx.config.routes, ctx.clock.now());
    emit(metricsLine(metrics, ctx.clock.now().getTime()));
    if (packFailure) throw packFailure.error;
    return {
      ...result,
      metrics,
      ...(replayed === undefined ? {} : { replayed }),
      ...(packed === undefined ? {} : { packed }),
    };
  };
}

export const handler = createSweepHandler(defaultContext, undefined, { replays: true, packs: true });
