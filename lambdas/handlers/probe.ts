import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';
import { type Context, defaultContext } from '../adapters/context.js';
import { formatIssues, type LifeboatConfig } from '../core/config.js';
import { runHandover } from '../core/continuity-service.js';
import { ValidationError } from '../core/errors.js';
import {
  awsProbeTickWindowMs,
  awsProbeWindowMs,
  runProbeCycle,
  runRequestedCheck,
} from '../core/probe-cycle.js';
import { endingSessions, type SessionOptions } from './mailer-sessions.js';

/** Time kept back from the Lambda timeout so the last batch and its state write always finish. */
export const HANDOVER_MARGIN_MS = 15_000;

interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
}

/**
 * The probe's event: EventBridge's scheduled event (no `tick`: the run's first invocation), a
 * `{ tick: n }` naming the n-th of the run's invocations (lambdas/core/probe-cycle.ts, awsProbeTicks)
 * to run now, or a delivery's `{ check: route }` after it could not reach the route
 * (lambdas/core/route-checks.ts). Anything else in the event is ignored. On AWS a run's later ticks
 * come as {@link ProbeTickMessage}s instead, one SQS message per invocation.
 */
export const probeEventSchema = z.object({
  tick: z.number().int().min(0).max(3600).optional(),
  check: z.string().min(1).max(200).optional(),
});

/**
 * The body the schedule puts on a tick's queue (infra/aws/constructs/continuity.ts), which delays it
 * by the tick's offset: the tick (1 or more) and the time the run was scheduled for (EventBridge's
 * event time), which is when the tick's lateness is counted from.
 */
export const probeTickMessageSchema = z.strictObject({
  tick: z.number().int().min(1).max(3600),
  time: z.iso.datetime({ offset: true }),
});
export type ProbeTickMessage = z.infer<typeof probeTickMessageSchema>;

/** An SQS event source's event: the event source mapping hands the probe one message at a time. */
const sqsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        eventSource: z.literal('aws:sqs'),
        body: z.string(),
        attributes: z.object({ SentTimestamp: z.string().regex(/^\d{1,15}$/, 'epoch milliseconds') }),
      }),
    )
    .length(1, 'the tick queues hand over one message at a time (batch size 1)'),
});

/** A tick message as the probe reads it: its body, and when SQS took it from the schedule. */
export interface ReceivedTick extends ProbeTickMessage {
  /** SQS's SentTimestamp: when the schedule sent it, which its queue's delay counts from. */
  sentMs: number;
}

/** The tick of an SQS event's message, or a ValidationError saying what is wrong with it. */
export function parseTickMessage(event: unknown): ReceivedTick {
  const records = sqsEventSchema.safeParse(event);
  if (!records.success) throw new ValidationError('probe tick event', formatIssues(records.error.issues));
  const record = records.data.Records[0] as z.infer<typeof sqsEventSchema>['Records'][number];
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    throw new ValidationError('probe tick message', ['body: not JSON']);
  }
  const message = probeTickMessageSchema.safeParse(json);
  if (!message.success) throw new ValidationError('probe tick message', formatIssues(message.error.issues));
  return { ...message.data, sentMs: Number(record.attributes.SentTimestamp) };
}

const isSqsEvent = (event: unknown): boolean =>
  typeof event === 'object' && event !== null && 'Records' in event;

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
 * EventBridge schedule and the tick queues: the probe round of one tick (and its confirming round, if
 * its check failed) through the continuity state machine (lambdas/core/probe-cycle.ts), then, while
 * recovering, the hand-over for the rest of the invocation's time; the SMTP sessions the hand-over
 * opened are ended when it is done. A tick from its queue runs in what is left of its window, or not
 * at all once it is stale (awsProbeTickWindowMs).
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
    if (isSqsEvent(event)) {
      // A refused message fails the invocation (the function's error alarm); its queue keeps it for
      // less than its visibility timeout, so it is never handed over again.
      const { tick, time, sentMs } = parseTickMessage(event);
      const ctx = context();
      const lastRoundAt = (await ctx.continuity.getOrg())?.lastRoundAt;
      const windowMs = awsProbeTickWindowMs(ctx.config, tick, {
        scheduledMs: Date.parse(time),
        sentMs,
        nowMs: ctx.clock.now().getTime(),
        lastRoundMs: lastRoundAt ? Date.parse(lastRoundAt) : undefined,
      });
      if (windowMs === null) {
        // Stale (it waited behind a run still going: its round would meet the next tick's), or its
        // round already ran (a message SQS handed over twice).
        ctx.log.info('probe tick dropped', { tick, scheduled: time });
        return idle(ctx, { dropped: true });
      }
      return endingSessions(ctx, options, () => runOnce(ctx, tick, undefined, lambda, windowMs));
    }
    const parsed = probeEventSchema.safeParse(event ?? {});
    if (!parsed.success) throw new ValidationError('probe event', formatIssues(parsed.error.issues));
    const ctx = context();
    const { tick = 0, check } = parsed.data;
    return endingSessions(ctx, options, () => runOnce(ctx, tick, check, lambda));
  };

  async function idle(ctx: Context, extra: { dropped?: boolean } = {}) {
    const org = await ctx.continuity.getOrg();
    return {
      state: org?.state ?? 'normal',
      eventId: org?.eventId ?? null,
      rounds: 0,
      handover: { released: 0, done: false },
      ...extra,
    };
  }

  async function runOnce(
    ctx: Context,
    tick: number,
    check: string | undefined,
    lambda: LambdaContextLike | undefined,
    tickWindowMs?: number,
  ) {
    const windowMs =
      tickWindowMs ??
      (typeof options.windowMs === 'function' ? options.windowMs(ctx.config, tick) : (options.windowMs ?? 0));
    const remainingMs = lambda?.getRemainingTimeInMillis
      ? () => lambda.getRemainingTimeInMillis?.() ?? 0
      : undefined;
    const cycle =
      check === undefined
        ? await runProbeCycle(ctx, { windowMs, remainingMs, sleep })
        : await runRequestedCheck(ctx, { remainingMs, sleep });
    if (!cycle) return idle(ctx);
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
 * between ticks is the tick queue's delivery delay, not billed Lambda time.
 */
export const handler = createProbeHandler(defaultContext, { windowMs: awsProbeWindowMs });
