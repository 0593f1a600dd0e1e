import { randomBytes } from 'node:crypto';
import type { Envelope } from '../ports.js';
import { ValidationError } from './errors.js';
import { formatRfc5322Date } from './trace.js';

/**
 * Delivery status notifications (RFC 3464): the bounce an admin sends a sender when a delivery
 * is given up. A `multipart/report; report-type=delivery-status` message with three parts: words
 * for a person, the machine-readable `message/delivery-status`, and the original's header block
 * as `text/rfc822-headers` (never its body: the sender has it, and it may be large or hostile).
 */

/**
 * Most bytes of the original's header block returned: headers are small, but a message with a
 * pathological header block should not make an equally large bounce. Postfix returns headers
 * only too (`bounce_size_limit` applies to whole messages).
 */
export const MAX_RETURNED_HEADER_BYTES = 64 * 1024;

export interface DsnInput {
  /** The gateway's name (`Reporting-MTA`, `Message-ID` domain). */
  hostname: string;
  /** The address the DSN is written from, e.g. `MAILER-DAEMON@example.com`. */
  from: string;
  /** The original's envelope sender: the DSN's only recipient. */
  envelopeFrom: string;
  /** The recipient whose delivery failed. */
  recipient: string;
  /** The gateway's id of the original message (`X-Lifeboat-Queue-ID`). */
  queueId: string;
  receivedAt: string;
  /** The original message as stored; only its header block is used. */
  raw: Buffer;
  /**
   * The last reply recorded for the delivery, as the store keeps it: `<host>: <SMTP reply>` when
   * the primary answered, else a local reason (`connect ECONNREFUSED …`).
   */
  lastReply: string | null;
  /** Why the admin gave the delivery up, for the person reading the notice. */
  reason?: string | null | undefined;
  /** When the last attempt was made, if any. */
  lastAttemptAt?: string | null | undefined;
  /**
   * What the notice says happened, above the recipient, when it is not an admin's bounce (a relay
   * refusing mail sent from the webmail). @default the admin's bounce wording
   */
  explanation?: readonly string[] | undefined;
  now: Date;
}

export interface Dsn {
  envelope: Envelope;
  raw: Buffer;
  /** The DSN's own Message-ID, without angle brackets. */
  messageId: string;
}

/** The header block of a message: everything before the first empty line, capped. */
export function headerBlock(raw: Buffer): string {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) : raw.length;
  let head = raw.subarray(0, Math.min(end, MAX_RETURNED_HEADER_BYTES)).toString('latin1');
  // Cut at a line end so no header is left half-written, and use CRLF throughout (RFC 5322).
  if (end > MAX_RETURNED_HEADER_BYTES)
    head = head.slice(0, Math.max(0, head.lastIndexOf('\n'))).replace(/\r$/, '');
  return head.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, '');
}

/** An SMTP reply in a stored `<host>: <reply>` string, split, or null when there is none. */
export function parseReply(lastReply: string | null): { host: string | null; reply: string } | null {
  if (!lastReply) return null;
  const m = /^(?:([^\s:]+(?::\d+)?): )?([2-5]\d\d(?:[ -].*)?)$/s.exec(lastReply.trim());
  if (!m) return null;
  return { host: m[1] ?? null, reply: (m[2] as string).replace(/\s+/g, ' ') };
}

/**
 * The DSN's Status (RFC 3463): the primary's enhanced code when it gave a permanent one,
 * otherwise 5.0.0 (other or undefined status): the admin gave up a delivery the primary had only
 * deferred, or never answered.
 */
export function dsnStatus(reply: string | null): string {
  const m = reply ? /^5\d\d[ -](5\.\d{1,3}\.\d{1,3})\b/.exec(reply) : null;
  return m?.[1] ?? '5.0.0';
}

/** Text for a header field or a DSN field: one line, printable ASCII (RFC 3464 fields are ASCII). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Builds the DSN for one failed delivery, to be sent with a null envelope sender (`MAIL FROM:<>`,
 * RFC 5321 §4.5.5) so that it can never cause another bounce.
 * @throws ValidationError when the original had a null sender: a bounce is never bounced (RFC 3464 §2)
 */
export function buildDsn(input: DsnInput): Dsn {
  if (input.envelopeFrom.trim() === '' || input.envelopeFrom === '<>') {
    throw new ValidationError('bounce', [
      'the message has a null envelope sender (<>): it is itself a bounce or an auto-reply, and is never answered with one',
    ]);
  }
  const boundary = `=_lifeboat_${randomBytes(12).toString('hex')}`;
  const messageId = `dsn-${randomBytes(9).toString('hex')}@${input.hostname}`;
  const parsed = parseReply(input.lastReply);
  const status = dsnStatus(parsed?.reply ?? null);
  const recipientFields = [
    `Final-Recipient: rfc822; ${oneLine(input.recipient)}`,
    'Action: failed',
    `Status: ${status}`,
    ...(parsed?.host ? [`Remote-MTA: dns; ${oneLine(parsed.host.replace(/:\d+$/, ''))}`] : []),
    ...(parsed
      ? [`Diagnostic-Code: smtp; ${oneLine(parsed.reply)}`]
      : input.lastReply
        ? [`Diagnostic-Code: X-Lifeboat; ${oneLine(input.lastReply)}`]
        : []),
    ...(input.lastAttemptAt
      ? [`Last-Attempt-Date: ${formatRfc5322Date(new Date(input.lastAttemptAt))}`]
      : []),
  ];
  const human = [
    `This is the mail system at ${input.hostname}.`,
    '',
    ...(input.explanation ?? [
      'Your message could not be delivered to the recipient below, and an administrator has',
      'returned it to you. It will not be delivered. The original headers are attached.',
    ]),
    '',
    `    <${oneLine(input.recipient)}>`,
    ...(parsed ? [`    The recipient's mail server said: ${parsed.reply}`] : []),
    ...(input.reason ? [`    Reason: ${input.reason.replace(/[\r\n]+/g, ' ')}`] : []),
  ];
  const lines = [
    `From: Mail Delivery System <${input.from}>`,
    `To: <${oneLine(input.envelopeFrom)}>`,
    'Subject: Undelivered Mail Returned to Sender',
    `Date: ${formatRfc5322Date(input.now)}`,
    `Message-ID: <${messageId}>`,
    // RFC 3834: a DSN is an automatic answer; responders must not answer it.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    'Content-Description: Notification',
    '',
    ...human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    `Reporting-MTA: dns; ${oneLine(input.hostname)}`,
    `X-Lifeboat-Queue-ID: ${oneLine(input.queueId)}`,
    `Arrival-Date: ${formatRfc5322Date(new Date(input.receivedAt))}`,
    '',
    ...recipientFields,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered Message Headers',
    '',
    headerBlock(input.raw),
    '',
    `--${boundary}--`,
    '',
  ];
  return {
    envelope: { from: '', to: [input.envelopeFrom] },
    raw: Buffer.from(lines.join('\r\n'), 'utf8'),
    messageId,
  };
}
