import { createAwsClients, createContext, readEnv } from '../adapters/context.js';
import { createOutboundSendingDeps, readSendingEnv } from '../adapters/sending-context.js';
import { parseSesSendingEvent } from '../adapters/ses-sending-events.js';
import { ConfigError } from '../core/errors.js';
import type { SendingDeps } from '../core/sending/records.js';
import { type RelayEventOutcome, recordRelayEvent } from '../core/sending/relay-events.js';

/**
 * SES's bounce, complaint and delivery events for mail sent from the webmail, from the
 * configuration set's EventBridge destination: each one recorded in the sender's Sent item, a
 * bounce also a notice in their mailbox (recordRelayEvent). An event without Lifeboat's tags is
 * someone else's mail in the account and is left alone. A failure throws, so EventBridge's retries
 * and then the failed-invocation queue keep the event.
 */
export function createSesEventsHandler(context: () => SendingDeps) {
  return async (rawEvent: unknown): Promise<RelayEventOutcome | 'not-ours'> => {
    const deps = context();
    const event = parseSesSendingEvent(rawEvent);
    if (!event) return 'not-ours';
    return recordRelayEvent(deps, event);
  };
}

let cached: SendingDeps | undefined;

/** The events function's deps (the outbound function's: a notice is taken in as inbound mail). */
export function defaultSesEventsDeps(): SendingDeps {
  if (cached) return cached;
  const env = readEnv();
  const sendingEnv = readSendingEnv();
  if (!sendingEnv)
    throw new ConfigError('environment', ['OUTBOUND_QUEUE_URL: required by the events function']);
  const ctx = createContext(env);
  cached = createOutboundSendingDeps(
    { ...ctx, ...createAwsClients(env), tableName: env.TABLE_NAME, bucket: env.BUCKET_NAME },
    sendingEnv,
  ).deps;
  return cached;
}

export const handler = createSesEventsHandler(defaultSesEventsDeps);
