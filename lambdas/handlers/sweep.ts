import { type Context, defaultContext } from '../adapters/context.js';
import { type QueueMetrics, queueMetrics } from '../core/metrics.js';
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
}

/**
 * EventBridge schedule: retry what is due, carry on the archive replays under way with the time
 * left, then publish queue metrics for the alarms. In Lambda the sweep takes no attempt that the
 * time left in the run cannot fit, and the SMTP sessions it opened are ended when it is done (see
 * {@link SessionOptions}).
 */
export function createSweepHandler(
  context: () => Context,
  emit: (line: string) => void = (l) => console.log(l),
  options: SweepHandlerOptions = {},
) {
  return async (
    _event: unknown,
    lambda?: LambdaContextLike,
  ): Promise<SweepResult & { metrics: QueueMetrics; replayed?: number }> => {
    const ctx = context();
    const remaining = lambda?.getRemainingTimeInMillis?.bind(lambda);
    let replayed: number | undefined;
    const result = await endingSessions(ctx, options, async () => {
      const swept = await sweepDue(ctx, { remainingMs: remaining });
      // Mail waiting for its retry goes first; a replay is the organisation catching up on the past.
      if (options.replays && remaining) {
        replayed = await continueReplays(ctx, { remainingMs: remaining, owner: newRunnerId() });
      }
      return swept;
    });
    const metrics = await queueMetrics(ctx.store, ctx.config.routes, ctx.clock.now());
    emit(metricsLine(metrics, ctx.clock.now().getTime()));
    return { ...result, metrics, ...(replayed === undefined ? {} : { replayed }) };
  };
}

export const handler = createSweepHandler(defaultContext, undefined, { replays: true });
