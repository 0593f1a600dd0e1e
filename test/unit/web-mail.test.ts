import { describe, expect, it } from 'vitest';
import type { MessageSummary } from '../../lambdas/webmail/schemas.js';
import { addRecipients, parseRecipient, splitRecipients } from '../../web/src/mail/addresses.js';
import { senderAddress, senderName } from '../../web/src/mail/format.js';
import { EMPTY, mergeFirstPage } from '../../web/src/mail/merge.js';
import { parseRoute, routeHash } from '../../web/src/mail/route.js';

function summary(id: string, minute: number, marks: Partial<MessageSummary> = {}): MessageSummary {
  return {
    id,
    receivedAt: new Date(Date.UTC(2026, 10, 22, 10, minute)).toISOString(),
    date: null,
    from: 'bob@example.com',
    fromName: null,
    to: ['alice@example.com'],
    subject: `message ${id}`,
    snippet: '',
    hasAttachments: false,
    size: 100,
    seen: false,
    flagged: false,
    state: 'delivered',
    deliveredTo: ['alice@example.com'],
    ...marks,
  };
}

describe('mergeFirstPage', () => {
  const shown = { ...EMPTY, loaded: true, messages: [summary('b', 2), summary('a', 1)], cursor: 'older' };

  it('puts new mail on top, newest first, and counts it', () => {
    const { list, added } = mergeFirstPage(shown, {
      messages: [summary('d', 4), summary('c', 3), summary('b', 2)],
      cursor: 'x',
    });
    expect(list.messages.map((m) => m.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(added).toBe(2);
    expect(list.cursor).toBe('older');
  });

  it('takes the fresh marks of a message already shown', () => {
    const { list, added } = mergeFirstPage(shown, {
      messages: [summary('b', 2, { seen: true, state: 'held' }), summary('a', 1)],
      cursor: null,
    });
    expect(added).toBe(0);
    expect(list.messages[0]).toMatchObject({ id: 'b', seen: true, state: 'held' });
  });

  it('replaces the list when more arrived than a page holds, so no mail is skipped in between', () => {
    const { list } = mergeFirstPage(shown, {
      messages: [summary('z', 9), summary('y', 8)],
      cursor: 'after-y',
    });
    expect(list.messages.map((m) => m.id)).toEqual(['z', 'y']);
    expect(list.cursor).toBe('after-y');
  });
});

describe('parseRoute', () => {
  it('reads a message and a search from the hash, and writes the same hash back', () => {
    const route = { id: 'm0042', q: 'from:bob has:attachment' };
    expect(parseRoute(routeHash(route))).toEqual(route);
    expect(parseRoute('#/m/abc')).toEqual({ id: 'abc', q: null });
    expect(parseRoute('')).toEqual({ id: null, q: null });
  });

  it('keeps an id with characters that need escaping whole', () => {
    expect(parseRoute(routeHash({ id: 'a/b?c=d', q: null }))).toEqual({ id: 'a/b?c=d', q: null });
  });

  it('reads the Sent and Drafts views', () => {
    expect(parseRoute('#/sent')).toEqual({ id: null, q: null, view: 'sent' });
    expect(routeHash({ id: null, q: null, view: 'drafts' })).toBe('#/drafts');
  });
});

describe('senderName', () => {
  it('shows the display name when there is one, else the address', () => {
    expect(senderName('"Bob Jones" <bob@example.com>')).toBe('Bob Jones');
    expect(senderName('Bob Jones <bob@example.com>')).toBe('Bob Jones');
    expect(senderName('<bob@example.com>')).toBe('bob@example.com');
    expect(senderName('bob@example.com')).toBe('bob@example.com');
    expect(senderName(null)).toBe('(no sender)');
    expect(senderAddress('"Jones, Bob" <bob@example.com>')).toBe('bob@example.com');
  });
});

describe('splitRecipients', () => {
  it('splits a pasted list on commas, semicolons and line breaks, but not inside a quoted name', () => {
    expect(splitRecipients('"Jones, Bob" <bob@example.com>; carol@example.com\ndave@example.org,')).toEqual([
      '"Jones, Bob" <bob@example.com>',
      'carol@example.com',
      'dave@example.org',
    ]);
  });
});

describe('parseRecipient', () => {
  it('keeps the name, quoted, so a comma in it never makes two recipients', () => {
    const r = parseRecipient('Jones, Bob <Bob@Example.com>');
    expect(r).toMatchObject({ address: 'bob@example.com', name: 'Jones, Bob', valid: true });
    expect(r.text).toBe('"Jones, Bob" <Bob@Example.com>');
  });

  it('marks what is not an address', () => {
    expect(parseRecipient('bob@example').valid).toBe(false);
    expect(parseRecipient('bob example.com').valid).toBe(false);
    expect(parseRecipient('<carol@example.com>').valid).toBe(true);
  });
});

describe('addRecipients', () => {
  it('leaves out an address already in the field, whatever its case', () => {
    const current = [parseRecipient('bob@example.com')];
    const next = addRecipients(current, 'Bob <BOB@example.com>, carol@example.com');
    expect(next.map((r) => r.address)).toEqual(['bob@example.com', 'carol@example.com']);
  });
});
