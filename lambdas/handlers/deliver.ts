import * as z from 'zod';
import { type Context, defaultContext } from '../adapters/context.js';
import { formatIssues } from '../core/config.js';
import { type DeliverResult, deliverMessage } from '../core/deliver.js';
import { ValidationError } from '../core/errors.js';
import { endingSessions, type SessionOptions } from './mailer-sessions.js';

export const deliverEventSchema = z.object({ messageId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/) });

/**
 * Invoked by ingest (Event): one attempt for every due recipient of one message, then the SMTP
 * sessions it opened are ended unless `endSessionsAfterRun` is false (see {@link SessionOptions}).
 */
export function createDeliverHandler(context: () => Context, options: SessionOptions = {}) {
  return async (event: unknown): Promise<DeliverResult> => {
    const parsed = deliverEventSchema.safeParse(event);
    if (!parsed.success) throw new ValidationError('deliver event', formatIssues(parsed.error.issues));
    const ctx = context();
    return endingSessions(ctx, options, () => deliverMessage(parsed.data.messageId, ctx));
  };
}

/**
 * In Lambda the session is kept for the instance's next invocation, which at a steady trickle of
 * mail comes within seconds: a new TCP connection, STARTTLS and two EHLOs for every message cost
 * more than the delivery itself. The mailer ends it after LAMBDA_IDLE_CONNECTION_MS, by the wall
 * clock when the instance was frozen meanwhile, and sends on a new session when the primary ended
 * the kept one. The sweep, once a minute, comes too late for a kept session and still ends its own.
 */
export const handler = createDeliverHandler(defaultContext, { endSessionsAfterRun: false });
