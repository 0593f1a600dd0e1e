import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import {
  buildDsn,
  dsnStatus,
  headerBlock,
  MAX_RETURNED_HEADER_BYTES,
  parseReply,
} from '../../lambdas/core/dsn.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { simpleMessage } from '../support/fixtures.js';

const input = {
  hostname: 'lifeboat.example.com',
  from: 'MAILER-DAEMON@example.com',
  envelopeFrom: 'bob@example.org',
  recipient: 'alice@example.com',
  queueId: '0100018f-m1',
  receivedAt: '2026-11-22T10:00:00.000Z',
  raw: simpleMessage,
  lastReply: 'mx1.example.com:25: 550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown',
  reason: 'the mailbox was closed last week',
  lastAttemptAt: '2026-11-22T10:05:00.000Z',
  now: new Date('2026-11-22T11:00:00.000Z'),
};

/** The MIME parts of a multipart body, split on its boundary, each with its own headers. */
function parts(raw: Buffer, boundary: string): string[] {
  const text = raw.toString('utf8');
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((p) => p.replace(/^\r\n/, ''));
}

describe('buildDsn', () => {
  it('builds a multipart/report of report-type delivery-status, to the envelope sender from <>', async () => {
    const dsn = buildDsn(input);
    expect(dsn.envelope).toEqual({ from: '', to: ['bob@example.org'] });
    const parsed = await simpleParser(dsn.raw);
    const type = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
    expect(type.value).toBe('multipart/report');
    expect(type.params['report-type']).toBe('delivery-status');
    expect(parsed.to).toMatchObject({ value: [{ address: 'bob@example.org' }] });
    expect(parsed.from).toMatchObject({ value: [{ address: 'MAILER-DAEMON@example.com' }] });
    expect(parsed.messageId).toBe(`<${dsn.messageId}>`);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(parsed.text).toContain('the mailbox was closed last week');

    const sections = await Promise.all(
      parts(dsn.raw, type.params.boundary as string).map((p) => simpleParser(p)),
    );
    expect(sections.map((s) => (s.headers.get('content-type') as { value: string }).value)).toEqual([
      'text/plain',
      'message/delivery-status',
      'text/rfc822-headers',
    ]);
  });

  it('reports the recipient as failed with the primary’s reply and enhanced status', async () => {
    const dsn = buildDsn(input);
    const [, report] = parts(dsn.raw, /boundary="([^"]+)"/.exec(dsn.raw.toString())?.[1] as string);
    const body = (report as string).split('\r\n\r\n').slice(1).join('\r\n\r\n');
    expect(body).toContain('Reporting-MTA: dns; lifeboat.example.com');
    expect(body).toContain('X-Lifeboat-Queue-ID: 0100018f-m1');
    expect(body).toContain('Arrival-Date: Sun, 22 Nov 2026 10:00:00 +0000');
    // The per-recipient fields form their own block after a blank line (RFC 3464 §2.1).
    const recipient = body.split('\r\n\r\n')[1] as string;
    expect(recipient.split('\r\n')).toEqual([
      'Final-Recipient: rfc822; alice@example.com',
      'Action: failed',
      'Status: 5.1.1',
      'Remote-MTA: dns; mx1.example.com',
      'Diagnostic-Code: smtp; 550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown',
      'Last-Attempt-Date: Sun, 22 Nov 2026 10:05:00 +0000',
    ]);
  });

  it('returns the original header block and never its body', async () => {
    const dsn = buildDsn(input);
    const parsed = await simpleParser(dsn.raw);
    const headers = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    expect(headers?.content.toString()).toContain('Subject: Quarterly figures');
    expect(headers?.content.toString()).toContain('Message-ID: <q4@example.org>');
    expect(dsn.raw.toString()).not.toContain('--b1');
  });

  it('says 5.0.0 and carries the local reason when the primary never answered', () => {
    const dsn = buildDsn({ ...input, lastReply: 'connect ECONNREFUSED 10.0.0.5:25' }).raw.toString();
    expect(dsn).toContain('Status: 5.0.0');
    expect(dsn).toContain('Diagnostic-Code: X-Lifeboat; connect ECONNREFUSED 10.0.0.5:25');
    expect(dsn).not.toContain('Remote-MTA');
  });

  it('says 5.0.0 for a delivery the primary only deferred, with its 4xx reply as the diagnostic', () => {
    const dsn = buildDsn({ ...input, lastReply: 'mx1:587: 451 4.3.0 try again later' }).raw.toString();
    expect(dsn).toContain('Status: 5.0.0');
    expect(dsn).toContain('Diagnostic-Code: smtp; 451 4.3.0 try again later');
  });

  it('refuses a null sender: a bounce is never bounced', () => {
    expect(() => buildDsn({ ...input, envelopeFrom: '' })).toThrow(ValidationError);
    expect(() => buildDsn({ ...input, envelopeFrom: '<>' })).toThrow(/null envelope sender/);
  });

  it('keeps header injection out of the DSN’s own header fields', () => {
    const raw = buildDsn({
      ...input,
      recipient: 'alice@example.com\r\nBcc: victim@example.net',
    }).raw.toString();
    expect(raw).not.toMatch(/^Bcc:/m);
  });
});

describe('headerBlock', () => {
  it('stops at the first empty line and uses CRLF', () => {
    expect(headerBlock(Buffer.from('A: 1\nB: 2\n\nbody'))).toBe('A: 1\r\nB: 2');
  });

  it('caps a pathological header block at a whole line', () => {
    const huge = Buffer.from(`${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(5000)}\r\nbody`);
    const block = headerBlock(huge);
    expect(block.length).toBeLessThanOrEqual(MAX_RETURNED_HEADER_BYTES);
    expect(block.endsWith('aaaa')).toBe(true);
  });
});

describe('parseReply and dsnStatus', () => {
  it('splits the host from the reply and takes a permanent enhanced code', () => {
    expect(parseReply('mx1:587: 550 5.7.1 denied')).toEqual({ host: 'mx1:587', reply: '550 5.7.1 denied' });
    expect(parseReply('421 4.3.2 busy')).toEqual({ host: null, reply: '421 4.3.2 busy' });
    expect(parseReply('connect ETIMEDOUT')).toBeNull();
    expect(dsnStatus('550 5.7.1 denied')).toBe('5.7.1');
    expect(dsnStatus('550 denied')).toBe('5.0.0');
    expect(dsnStatus(null)).toBe('5.0.0');
  });
});
