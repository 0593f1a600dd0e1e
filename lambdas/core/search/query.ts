import { MAX_QUERY_CHARS } from '../../webmail/schemas.js';
import { ValidationError } from '../errors.js';

/** Most words, phrases and operator values in one query: each is a lookup in every mailbox index. */
export const MAX_QUERY_PARTS = 32;

/** A search as typed, taken apart. Every list is ANDed: each entry must match. */
export interface SearchQuery {
  /** Free words, matched in any field, by prefix. */
  words: string[];
  /** "Quoted phrases", matched as written (case and spacing aside) in any field. */
  phrases: string[];
  /** `from:` values: the sender's name or address contains each. */
  from: string[];
  /** `to:` values: a To or Cc recipient contains each. */
  to: string[];
  /** `subject:` values: the subject contains each. */
  subject: string[];
  /** `has:attachment`. */
  hasAttachment: boolean;
  /** `after:YYYY-MM-DD`: received on or after the start of that day (UTC). */
  after: string | undefined;
  /** `before:YYYY-MM-DD`: received before the start of that day (UTC). */
  before: string | undefined;
  /** `is:unread`, `is:read`, `is:flagged`. */
  unread: boolean;
  read: boolean;
  flagged: boolean;
}

/** One token: `op:value`, `op:"quoted value"`, `"a phrase"` or a word. */
const TOKEN = /([A-Za-z]+):(?:"([^"]*)"?|(\S*))|"([^"]*)"?|(\S+)/g;

const OPERATORS = ['from', 'to', 'subject', 'has', 'before', 'after', 'is'] as const;

/** The UTC start of a `YYYY-MM-DD` (or `YYYY/MM/DD`, as Gmail writes it) day, or undefined. */
function dayStart(value: string): string | undefined {
  const m = /^(\d{4})[-/](\d{2})[-/](\d{2})$/.exec(value);
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T00:00:00.000Z`;
  const date = new Date(iso);
  // Date rolls 2026-02-30 over to March; a real day reads back as itself.
  return !Number.isNaN(date.getTime()) && date.toISOString() === iso ? iso : undefined;
}

/** Squeezes spaces and lower-cases: how phrases and operator values are compared. */
export function normaliseText(text: string): string {
  return text.replace(/\s+/g, ' ').trim().toLowerCase();
}

/**
 * Parses what a user typed into the search box: words, "quoted phrases" and the operators
 * users know from other webmail (`from:`, `to:`, `subject:`, `has:attachment`, `before:`,
 * `after:`, `is:unread`). A word with a colon that is not an operator (`re:`, a time `10:30`)
 * is searched as a word.
 * @throws ValidationError naming each part it cannot use (a bad date, `has:` other than
 *   attachment, an unknown `is:`), or a query with nothing to search for
 */
export function parseSearchQuery(input: string): SearchQuery {
  const q: SearchQuery = {
    words: [],
    phrases: [],
    from: [],
    to: [],
    subject: [],
    hasAttachment: false,
    after: undefined,
    before: undefined,
    unread: false,
    read: false,
    flagged: false,
  };
  const problems: string[] = [];
  if (input.length > MAX_QUERY_CHARS) problems.push(`is longer than ${MAX_QUERY_CHARS} characters`);
  let parts = 0;
  for (const m of input.slice(0, MAX_QUERY_CHARS).matchAll(TOKEN)) {
    parts++;
    const [, opName, quotedValue, bareValue, phrase, word] = m;
    if (phrase !== undefined) {
      const p = normaliseText(phrase);
      if (p) q.phrases.push(p);
      continue;
    }
    const op = opName?.toLowerCase() as (typeof OPERATORS)[number] | undefined;
    if (op === undefined || !OPERATORS.includes(op)) {
      const w = word ?? m[0];
      q.words.push(w.toLowerCase());
      continue;
    }
    const value = normaliseText(quotedValue ?? bareValue ?? '');
    if (value === '') {
      problems.push(
        `${op}: needs a value, as in ${op}:${op === 'has' ? 'attachment' : op === 'is' ? 'unread' : '…'}`,
      );
      continue;
    }
    switch (op) {
      case 'from':
      case 'to':
      case 'subject':
        q[op].push(value);
        break;
      case 'has':
        if (value === 'attachment' || value === 'attachments') q.hasAttachment = true;
        else problems.push(`has:${value} is not supported; use has:attachment`);
        break;
      case 'is':
        if (value === 'unread') q.unread = true;
        else if (value === 'read') q.read = true;
        else if (value === 'flagged' || value === 'starred') q.flagged = true;
        else problems.push(`is:${value} is not supported; use is:unread, is:read or is:flagged`);
        break;
      case 'before':
      case 'after': {
        const day = dayStart(value);
        if (day === undefined) problems.push(`${op}:${value} is not a date; write it as YYYY-MM-DD`);
        else q[op] = day;
        break;
      }
    }
  }
  if (parts > MAX_QUERY_PARTS) problems.push(`has more than ${MAX_QUERY_PARTS} words, phrases and operators`);
  const searchable =
    q.words.length + q.phrases.length + q.from.length + q.to.length + q.subject.length > 0 ||
    q.hasAttachment ||
    q.after !== undefined ||
    q.before !== undefined ||
    q.unread ||
    q.read ||
    q.flagged;
  if (!searchable && problems.length === 0) problems.push('has nothing to search for');
  if (problems.length) throw new ValidationError('search query', problems);
  return q;
}
