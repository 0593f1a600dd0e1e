const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time in UTC, e.g. `Sun, 22 Nov 2026 20:27:26 +0000`. */
export function formatRfc5322Date(d: Date): string {
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(
    d.getUTCHours(),
  )}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export interface TraceInput {
  hostname: string;
  messageId: string;
  recipients: readonly string[];
  now: Date;
}

/**
 * The one header Lifeboat adds (RFC 5321 §4.4 trace field), with CRLF ending. Like Postfix, the
 * `for` clause names the recipient only when there is exactly one, so a multi-recipient copy
 * does not disclose Bcc recipients to each other.
 */
export function buildTraceHeader({ hostname, messageId, recipients, now }: TraceInput): Buffer {
  const forClause = recipients.length === 1 ? `\r\n\tfor <${recipients[0]}>` : '';
  return Buffer.from(
    `Received: by ${hostname} (Lifeboat) id ${messageId}${forClause};\r\n\t${formatRfc5322Date(now)}\r\n`,
    'utf8',
  );
}

/** The bytes that reach the primary: the trace header, then the stored message unchanged. */
export function withTraceHeader(raw: Buffer, trace: TraceInput): Buffer {
  return Buffer.concat([buildTraceHeader(trace), raw]);
}
