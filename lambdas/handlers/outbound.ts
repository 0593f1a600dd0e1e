import * as z from 'zod';
import { createAwsClients, createContext, readEnv } from '../adapters/context.js';
import { createOutboundSendingDeps, readSendingEnv } from '../adapters/sending-context.js';
import { type OutboundWakes, outboundWakeSchema } from '../adapters/sqs-outbound-wake.js';
import { ConfigError } from '../core/errors.js';
import { dispatchDue } from '../core/sending/outbound.js';
import type { SendingDeps } from '../core/sending/records.js';
import { parse } from './http/router.js';

/** An SQS batch as Lambda's event source mapping delivers it: only the bodies are read. */
const sqsEventSchema = z.object({
  Records: z.array(z.object({ messageId: z.string(), body: z.string() })).min(1),
});

/**
 * Rounds of the outbound worker one invocation runs at most (OUTBOUND_BATCH messages each); what
 * is left gets a wake-up for now, so a long queue is worked through by invocations that each end
 * well inside the timeout.
 */
export const OUTBOUND_ROUNDS = 5;

export interface OutboundContext {
  deps: SendingDeps;
  wakes: OutboundWakes;
}

/**
 * The outbound worker in AWS, fed by the outbound queue's wake-ups. A wake-up whose time has not
 * come (SQS delays at most 15 minutes) goes back on the queue for the rest of the wait; otherwise
 * the worker sends what is due (dispatchDue: each message claimed with a conditional write, undone
 * ones never seen, colleagues' copies taken in, the rest through SES). A retry's wake-up is queued
 * by the core through `wake`; a claim left by a run that died is taken over when SQS hands the
 * batch out again, after the visibility timeout, which is longer than the claim.
 */
export function createOutboundHandler(context: () => OutboundContext) {
  return async (rawEvent: unknown): Promise<void> => {
    const { deps, wakes } = context();
    const event = parse(sqsEventSchema, rawEvent, 'SQS event');
    const now = deps.clock.now().toISOString();
    let due = false;
    for (const record of event.Records) {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        body = undefined;
      }
      const wake = parse(outboundWakeSchema, body, `outbound wake-up ${record.messageId}`);
      if (new Date(wake.dueAt).toISOString() > now) await wakes.request(wake.dueAt);
      else due = true;
    }
    if (due) {
      let sent = 0;
      let rounds = 0;
      let n: number;
      do {
        n = await dispatchDue(deps);
        sent += n;
        rounds++;
      } while (n > 0 && rounds < OUTBOUND_ROUNDS);
      if (n > 0) await wakes.request(deps.clock.now().toISOString());
      deps.log.info('outbound run', { wakeUps: event.Records.length, sent, rounds });
    }
    await wakes.settle();
  };
}

let cached: OutboundContext | undefined;

/** The outbound function's context, built at the first batch (cold start) from process.env. */
export function defaultOutboundContext(): OutboundContext {
  if (cached) return cached;
  const env = readEnv();
  const sendingEnv = readSendingEnv();
  if (!sendingEnv)
    throw new ConfigError('environment', ['OUTBOUND_QUEUE_URL: required by the outbound function']);
  const ctx = createContext(env);
  cached = createOutboundSendingDeps(
    { ...ctx, ...createAwsClients(env), tableName: env.TABLE_NAME, bucket: env.BUCKET_NAME },
    sendingEnv,
  );
  return cached;
}

export const handler = createOutboundHandler(defaultOutboundContext);
