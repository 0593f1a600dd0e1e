import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';
import { type Context, defaultContext } from '../adapters/context.js';
import { formatIssues, type LifeboatConfig } from '../core/config.js';
import { runHandover } from '../core/continuity-service.js';
import { ValidationError } from '../core/errors.js';
import { awsProbeWindowMs, runProbeCycle, runRequestedCheck } from '../core/probe-cycle.js';
import { endingSessions, type SessionOptions } from './mailer-sessions.js';

/** Time kept back from the Lambda timeout so the last batch and its state write always finish. */
export const HANDOVER_MARGIN_MS = 15_000;

interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
}

/**
 * The probe's event: EventBridge's scheduled event (no `tick`: the run's first invocation), the
 * tick state machine's `{ tick: n }`, the n-th of the run's invocations (lambdas/core/probe-cycle.ts,
 * awsProbeTicks), or a delivery's `{ check: route }` after it could not reach the route
 * (lambdas/core/route-checks.ts). Anything else in the event is ignored.
 */
export const probeEventSchema = z.object({
  tick: z.number().int().min(0).max(3600).optional(),
  check: z.string().min(1).max(200).optional(),
});

export interface ProbeHandlerOptions extends SessionOptions {
  /**
   * Time until the next invocation is due, in which this one may run a confirming round after its own
   * (a function of the config and the event's tick on AWS). @default 0: one round per run
   */
  windowMs?: number | ((config: LifeboatConfig, tick: number) => number);
  /** Ends the waits between rounds: the run returns after its current round. */
  signal?: AbortSignal;
  /** Waits between rounds; resolves false when the run must stop. @default a timer, ended by `signal` */
  sleep?: (ms: number) => Promise<boolean>;
}

/**
 * EventBridge schedule and the tick state machine: the probe round of one tick (and its confirming
 * round, if its check failed) through the continuity state machine (lambdas/core/probe-cycle.ts),
 * then, while recovering, the hand-over for the rest of the invocation's time; the SMTP sessions the
 * hand-over opened are ended when it is done.
 */
export function createProbeHandler(context: () => Context, options: ProbeHandlerOptions = {}) {
  const sleep =
    options.sleep ??
    ((ms: number) =>
      delay(ms, true, { signal: options.signal }).catch((err: Error) => {
        if (err.name === 'AbortError') return false;
        throw err;
      }));
  return async (event: unknown, lambda?: LambdaContextLike) => {
    const parsed = probeEventSchema.safeParse(event ?? {});
    if (!parsed.success) throw new ValidationError('probe event', formatIssues(parsed.error.issues));
    const ctx = context();
    const { tick = 0, check } = parsed.data;
    return endingSessions(ctx, options, () => runOnce(ctx, tick, check, lambda));
  };

  async function runOnce(
    ctx: Context,
    tick: number,
    check: string | undefined,
    lambda: LambdaContextLike | undefined,
  ) {
    const windowMs =
      typeof options.windowMs === 'function' ? options.windowMs(ctx.config, tick) : (options.windowMs ?? 0);
    const remainingMs = lambda?.getRemainingTimeInMillis
      ? () => lambda.getRemainingTimeInMillis?.() ?? 0
      : undefined;
    const cycle =
      check === undefined
        ? await runProbeCycle(ctx, { windowMs, remainingMs, sleep })
        : await runRequestedCheck(ctx, { remainingMs, sleep });
    if (!cycle) {
      const org = await ctx.continuity.getOrg();
      return {
        state: org?.state ?? 'normal',
        eventId: org?.eventId ?? null,
        rounds: 0,
        handover: { released: 0, done: false },
      };
    }
    if (check !== undefined) ctx.log.info('route check', { route: check, rounds: cycle.rounds });
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

/**
 * In Lambda each invocation runs its tick's round (at the defaults one at the minute's start and one
 * 30 s later, each with room for a confirming round 10 s after a failed check) and returns: the wait
 * between ticks is the state machine's, not billed Lambda time.
 */
export const handler = createProbeHandler(defaultContext, { windowMs: awsProbeWindowMs });
