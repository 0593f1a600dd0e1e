import * as z from 'zod';
import { ValidationError } from '../core/errors.js';
import type { RelayEvent } from '../core/sending/relay-events.js';

/** The EventBridge detail-types of SES's configuration set events that come back to the Sent view. */
export const SES_SENDING_DETAIL_TYPES = [
  'Email Bounced',
  'Email Complaint Received',
  'Email Delivered',
] as const;

const tag = z.array(z.string()).min(1).optional();

/**
 * One SES event as EventBridge delivers it from a configuration set's event destination (the
 * detail is SES's event publishing record). Only the parts read here are checked; SES adds fields.
 */
export const sesSendingEventSchema = z.object({
  source: z.literal('aws.ses'),
  'detail-type': z.enum(SES_SENDING_DETAIL_TYPES),
  detail: z.object({
    eventType: z.enum(['Bounce', 'Complaint', 'Delivery']),
    mail: z.object({
      messageId: z.string().min(1),
      tags: z.object({ 'lifeboat-user': tag, 'lifeboat-sent': tag }).loose().default({}),
    }),
    bounce: z
      .object({
        bounceType: z.string(),
        bounceSubType: z.string().optional(),
        bouncedRecipients: z.array(
          z.object({
            emailAddress: z.string(),
            status: z.string().optional(),
            diagnosticCode: z.string().optional(),
          }),
        ),
      })
      .optional(),
    complaint: z
      .object({
        complainedRecipients: z.array(z.object({ emailAddress: z.string() })),
        complaintFeedbackType: z.string().optional(),
      })
      .optional(),
    delivery: z.object({ recipients: z.array(z.string()), smtpResponse: z.string().optional() }).optional(),
  }),
});

/** The address inside `Name <address>` or the address itself. */
const bare = (s: string) => /<([^>]+)>/.exec(s)?.[1] ?? s;

/**
 * The relay event an SES event says, or null for mail SES sent without Lifeboat's tags (another
 * sender of this account, say). The sender's id travels base64url-encoded: tag values take
 * letters, digits, `_` and `-` only.
 * @throws ValidationError naming what is missing or wrong in the event
 */
export function parseSesSendingEvent(raw: unknown): RelayEvent | null {
  const parsed = sesSendingEventSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      'SES event',
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const { detail } = parsed.data;
  const user = detail.mail.tags['lifeboat-user']?.[0];
  const id = detail.mail.tags['lifeboat-sent']?.[0];
  if (!user || !id) return null;
  const base = {
    user: Buffer.from(user, 'base64url').toString('utf8'),
    id,
    providerId: detail.mail.messageId,
  };
  if (detail.eventType === 'Bounce') {
    const b = detail.bounce;
    if (!b) throw new ValidationError('SES event', ['detail.bounce: missing on a Bounce']);
    return {
      ...base,
      type: 'bounce',
      recipients: b.bouncedRecipients.map((r) => ({
        address: bare(r.emailAddress),
        detail: `SES: ${b.bounceType.toLowerCase()} bounce${b.bounceSubType ? ` (${b.bounceSubType})` : ''}: ${r.diagnosticCode ?? r.status ?? 'no reason given'}`,
      })),
    };
  }
  if (detail.eventType === 'Complaint') {
    const c = detail.complaint;
    if (!c) throw new ValidationError('SES event', ['detail.complaint: missing on a Complaint']);
    return {
      ...base,
      type: 'complaint',
      recipients: c.complainedRecipients.map((r) => ({
        address: bare(r.emailAddress),
        detail: `reported as ${c.complaintFeedbackType ?? 'spam'} by the recipient's provider`,
      })),
    };
  }
  const d = detail.delivery;
  if (!d) throw new ValidationError('SES event', ['detail.delivery: missing on a Delivery']);
  return {
    ...base,
    type: 'delivery',
    recipients: d.recipients.map((r) => ({
      address: bare(r),
      detail: `delivered by SES: ${d.smtpResponse ?? '250'}`,
    })),
  };
}
