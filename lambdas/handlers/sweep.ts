import { type Context, defaultContext } from '../adapters/context.js';
import { type QueueMetrics, queueMetrics } from '../core/metrics.js';
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

/**
 * EventBridge schedule: retry what is due, then publish queue metrics for the alarms. In Lambda
 * the sweep takes no attempt that the time left in the run cannot fit, and the SMTP sessions it
 * opened are ended when it is done (see {@link SessionOptions}).
 */
export function createSweepHandler(
  context: () => Context,
  emit: (line: string) => void = (l) => console.log(l),
  options: SessionOptions = {},
) {
  return async (
    _event: unknown,
    lambda?: LambdaContextLike,
  ): Promise<SweepResult & { metrics: QueueMetrics }> => {
    const ctx = context();
    const remaining = lambda?.getRemainingTimeInMillis?.bind(lambda);
    const result = await endingSessions(ctx, options, () => sweepDue(ctx, { remainingMs: remaining }));
    const metrics = await queueMetrics(ctx.store, ctx.config.routes, ctx.clock.now());
    emit(metricsLine(metrics, ctx.clock.now().getTime()));
    return { ...result, metrics };
  };
}

export const handler = createSweepHandler(defaultContext);
