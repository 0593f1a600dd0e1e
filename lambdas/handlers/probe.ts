import { setTimeout as delay } from 'node:timers/promises';
import { type Context, defaultContext } from '../adapters/context.js';
import type { LifeboatConfig } from '../core/config.js';
import { runHandover } from '../core/continuity-service.js';
import { awsProbeWindowMs, runProbeCycle } from '../core/probe-cycle.js';
import { endingSessions, type SessionOptions } from './mailer-sessions.js';

/** Time kept back from the Lambda timeout so the last batch and its state write always finish. */
export const HANDOVER_MARGIN_MS = 15_000;

interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
}

export interface ProbeHandlerOptions extends SessionOptions {
  /**
   * Time until the next run is due, in which this one keeps running rounds (the schedule's interval;
   * a function of the config, read at cold start). @default 0: one round per run
   */
  windowMs?: number | ((config: LifeboatConfig) => number);
  /** Ends the waits between rounds: the run returns after its current round. */
  signal?: AbortSignal;
  /** Waits between rounds; resolves false when the run must stop. @default a timer, ended by `signal` */
  sleep?: (ms: number) => Promise<boolean>;
}

/**
 * EventBridge schedule: the probe rounds of one scheduled interval through the continuity state
 * machine (lambdas/core/probe-cycle.ts), then, while recovering, the hand-over for the rest of the
 * invocation's time; the SMTP sessions the hand-over opened are ended when it is done.
 */
export function createProbeHandler(context: () => Context, options: ProbeHandlerOptions = {}) {
  const sleep =
    options.sleep ??
    ((ms: number) =>
      delay(ms, true, { signal: options.signal }).catch((err: Error) => {
        if (err.name === 'AbortError') return false;
        throw err;
      }));
  return async (_event: unknown, lambda?: LambdaContextLike) => {
    const ctx = context();
    return endingSessions(ctx, options, () => runOnce(ctx, lambda));
  };

  async function runOnce(ctx: Context, lambda: LambdaContextLike | undefined) {
    const windowMs =
      typeof options.windowMs === 'function' ? options.windowMs(ctx.config) : (options.windowMs ?? 0);
    const remainingMs = lambda?.getRemainingTimeInMillis
      ? () => lambda.getRemainingTimeInMillis?.() ?? 0
      : undefined;
    const cycle = await runProbeCycle(ctx, { windowMs, remainingMs, sleep });
    const step = cycle.last;
    let handover = { released: 0, done: false };
    if (step.org.state === 'recovering') {
      const remaining = lambda?.getRemainingTimeInMillis?.() ?? 60_000;
      handover = await runHandover(ctx, Math.max(0, remaining - HANDOVER_MARGIN_MS));
    }
    // Quiet rounds in normal times are not worth a log line every minute.
    if (step.org.state !== 'normal' || cycle.actions > 0) {
      ctx.log.info('probe round', {
        state: step.org.state,
        eventId: step.org.eventId,
        rounds: cycle.rounds,
        released: handover.released,
      });
    }
    return { state: step.org.state, eventId: step.org.eventId, rounds: cycle.rounds, handover };
  }
}

/** In Lambda a run lasts the schedule's interval (a minute by default) and runs that interval's rounds. */
export const handler = createProbeHandler(defaultContext, { windowMs: awsProbeWindowMs });
