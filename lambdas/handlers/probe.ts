import { type Context, defaultContext } from '../adapters/context.js';
import { runHandover, runProbeRound } from '../core/continuity-service.js';

/** Time kept back from the Lambda timeout so the last batch and its state write always finish. */
export const HANDOVER_MARGIN_MS = 15_000;

interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
}

/**
 * EventBridge schedule (every probe interval): one probe round through the continuity state
 * machine, then, while recovering, the hand-over for the rest of the invocation's time.
 */
export function createProbeHandler(context: () => Context) {
  return async (_event: unknown, lambda?: LambdaContextLike) => {
    const ctx = context();
    const step = await runProbeRound(ctx);
    let handover = { released: 0, done: false };
    if (step.org.state === 'recovering') {
      const remaining = lambda?.getRemainingTimeInMillis?.() ?? 60_000;
      handover = await runHandover(ctx, Math.max(0, remaining - HANDOVER_MARGIN_MS));
    }
    // A quiet round in normal times is not worth a log line every minute.
    if (step.org.state !== 'normal' || step.actions.length > 0) {
      ctx.log.info('probe round', {
        state: step.org.state,
        eventId: step.org.eventId,
        released: handover.released,
      });
    }
    return { state: step.org.state, eventId: step.org.eventId, handover };
  };
}

export const handler = createProbeHandler(defaultContext);
