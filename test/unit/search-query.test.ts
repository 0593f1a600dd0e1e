import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.js';
import { MAX_QUERY_PARTS, parseSearchQuery } from '../../lambdas/core/search/query.js';

function problemsOf(q: string): string[] {
  try {
    parseSearchQuery(q);
  } catch (err) {
    if (err instanceof ValidationError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

describe('parseSearchQuery', () => {
  it('reads words, quoted phrases and every operator, values lower-cased', () => {
    expect(
      parseSearchQuery(
        'Invoice from:Bob to:"Sales Team" subject:Q4 has:attachment after:2026-11-01 before:2026/11/20 is:unread "Shipping  Report"',
      ),
    ).toEqual({
      words: ['invoice'],
      phrases: ['shipping report'],
      from: ['bob'],
      to: ['sales team'],
      subject: ['q4'],
      hasAttachment: true,
      after: '2026-11-01T00:00:00.000Z',
      before: '2026-11-20T00:00:00.000Z',
      unread: true,
      read: false,
      flagged: false,
    });
  });

  it('takes operators in any case and is:read, is:flagged and is:starred', () => {
    const q = parseSearchQuery('FROM:alice@Example.com IS:flagged is:read');
    expect(q).toMatchObject({ from: ['alice@example.com'], flagged: true, read: true, words: [] });
    expect(parseSearchQuery('is:starred').flagged).toBe(true);
  });

  it('searches a word with a colon that is not an operator as a word', () => {
    expect(parseSearchQuery('re:meeting 10:30').words).toEqual(['re:meeting', '10:30']);
  });

  it('keeps an unterminated quote as a phrase to the end', () => {
    expect(parseSearchQuery('"board meeting').phrases).toEqual(['board meeting']);
    expect(parseSearchQuery('subject:"board meeting').subject).toEqual(['board meeting']);
  });

  it('names every part it cannot use in one round', () => {
    expect(problemsOf('before:2026-02-30 after:yesterday has:drive is:important from:')).toEqual([
      'before:2026-02-30 is not a date; write it as YYYY-MM-DD',
      'after:yesterday is not a date; write it as YYYY-MM-DD',
      'has:drive is not supported; use has:attachment',
      'is:important is not supported; use is:unread, is:read or is:flagged',
      'from: needs a value, as in from:…',
    ]);
  });

  it('refuses a query with nothing to search for, and one with too many parts', () => {
    expect(problemsOf('   ')).toEqual(['has nothing to search for']);
    expect(problemsOf('""')).toEqual(['has nothing to search for']);
    const many = Array.from({ length: MAX_QUERY_PARTS + 1 }, (_, i) => `w${i}`).join(' ');
    expect(problemsOf(many)).toEqual([`has more than ${MAX_QUERY_PARTS} words, phrases and operators`]);
  });
});
