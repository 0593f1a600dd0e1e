import { describe, expect, it } from 'vitest';
import { buildTraceHeader, formatRfc5322Date, withTraceHeader } from '../../lambdas/core/trace.js';

const now = new Date('2026-11-22T09:05:07Z');

describe('withTraceHeader', () => {
  it('prepends one Received header and leaves every byte of the message as it was', () => {
    const raw = Buffer.from('From: a@example.org\nSubject: x\n\nbody without CRLF\n\u00e9');
    const out = withTraceHeader(raw, {
      hostname: 'gw.example.com',
      messageId: 'abc',
      recipients: ['a@example.com'],
      now,
    });
    const header = buildTraceHeader({
      hostname: 'gw.example.com',
      messageId: 'abc',
      recipients: ['a@example.com'],
      now,
    });
    expect(out.subarray(header.length).equals(raw)).toBe(true);
    expect(header.toString()).toBe(
      'Received: by gw.example.com (Lifeboat) id abc\r\n\tfor <a@example.com>;\r\n\tSun, 22 Nov 2026 09:05:07 +0000\r\n',
    );
  });

  it('names no recipient when the copy has several, so Bcc recipients stay hidden', () => {
    const header = buildTraceHeader({
      hostname: 'gw',
      messageId: 'abc',
      recipients: ['a@x.com', 'b@x.com'],
      now,
    }).toString();
    expect(header).not.toMatch(/for </);
    expect(header).not.toMatch(/a@x\.com|b@x\.com/);
  });
});

describe('formatRfc5322Date', () => {
  it('formats in UTC with a numeric zone', () => {
    expect(formatRfc5322Date(new Date('2026-01-05T23:59:09Z'))).toBe('Mon, 5 Jan 2026 23:59:09 +0000');
  });
});
