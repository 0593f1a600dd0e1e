import type { MailboxFlags, MailboxPosition } from '../../ports.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type MessagePage } from '../../webmail/schemas.js';
import type { MailboxUser } from '../directory.js';
import { ValidationError } from '../errors.js';
import { decodePosition, encodePosition, historyStart, type PageCost, summaryOf } from '../mailbox.js';
import type { DeliveryRecord, MessageRecord } from '../model.js';
import { currentIndex, docFor, type SearchDeps } from './indexer.js';
import {
  loadSegment,
  type MailboxIndex,
  matchSegment,
  phraseTextOf,
  positionKey,
  SEARCH_FIELDS,
  type Segment,
  type StoredFields,
  type TermQuery,
} from './mailbox-index.js';
import { parseSearchQuery, type SearchQuery } from './query.js';

/**
 * Rounds of authorisation checks per results page. Each hit is checked against the store before
 * it is shown; hits that fail (quarantined, no longer in the window) are skipped, and past this
 * many rounds a short page comes back with a cursor, so a request's cost stays bounded.
 */
export const MAX_CHECK_ROUNDS = 3;

/** Words shorter than this match only whole words: a prefix of one or two letters matches everything. */
const MIN_PREFIX_CHARS = 3;

/** The index's query for the words and operator values; no parts (every entry) when only filters were given. */
function indexQuery(q: SearchQuery): TermQuery[] {
  const parts: TermQuery[] = [];
  for (const word of q.words) {
    parts.push({ text: word, fields: SEARCH_FIELDS, prefix: word.length >= MIN_PREFIX_CHARS });
  }
  for (const phrase of q.phrases) parts.push({ text: phrase, fields: SEARCH_FIELDS, prefix: false });
  for (const v of q.from) parts.push({ text: v, fields: ['from'], prefix: true });
  for (const v of q.to) parts.push({ text: v, fields: ['to', 'cc'], prefix: true });
  for (const v of q.subject) parts.push({ text: v, fields: ['subject'], prefix: true });
  return parts;
}

/** The filters the index's own matching cannot express, on the fields stored with each hit. */
function matchesFilters(q: SearchQuery, f: StoredFields, since: string): boolean {
  if (f.receivedAt < since) return false;
  if (q.after !== undefined && f.receivedAt < q.after) return false;
  if (q.before !== undefined && f.receivedAt >= q.before) return false;
  if (q.hasAttachment && !f.hasAttachment) return false;
  const from = f.from.toLowerCase();
  if (!q.from.every((v) => from.includes(v))) return false;
  const to = `${f.to} ${f.cc}`.toLowerCase();
  if (!q.to.every((v) => to.includes(v))) return false;
  const subject = f.subject.toLowerCase();
  if (!q.subject.every((v) => subject.includes(v))) return false;
  return true;
}

/**
 * Whether every quoted phrase is in the message as written: its record's headers and the text
 * and attachment names of its raw message (the index keeps words, not their order).
 */
async function hasPhrases(deps: SearchDeps, q: SearchQuery, message: MessageRecord): Promise<boolean> {
  const doc = await docFor(deps, message);
  const text = phraseTextOf(doc);
  return q.phrases.every((p) => text.includes(p));
}

function matchesFlags(q: SearchQuery, flags: MailboxFlags | undefined): boolean {
  const seen = flags?.seen ?? false;
  if (q.unread && seen) return false;
  if (q.read && !seen) return false;
  if (q.flagged && !(flags?.flagged ?? false)) return false;
  return true;
}

interface Hit extends MailboxPosition {
  key: string;
  /** The user's addresses whose index matched it. */
  addresses: string[];
}

/**
 * One mailbox's hits, newest first, a segment at a time: segments wholly outside the page
 * (newer than the cursor, older than the window or than `after:`, newer than `before:`) are
 * never read, and a page filled from the newest segments reads no older one.
 */
function mailboxHits(
  deps: SearchDeps,
  index: MailboxIndex,
  q: SearchQuery,
  parts: readonly TermQuery[],
  bounds: { since: string; startKey: string | undefined },
  cost: PageCost,
) {
  const refs = index.manifest.segments.filter(
    (s) =>
      (bounds.startKey === undefined || s.first < bounds.startKey) &&
      s.last >= bounds.since &&
      (q.after === undefined || s.last >= q.after) &&
      (q.before === undefined || s.first < q.before),
  );
  let next = refs.length - 1;
  let buffer: Hit[] = [];
  async function fill(): Promise<void> {
    while (buffer.length === 0 && next >= 0) {
      const ref = refs[next--] as (typeof refs)[number];
      const { segment, read } = await loadSegment(deps.indexBlobs, index, ref);
      if (read) cost.indexReads++;
      buffer = segmentHits(segment, q, parts, bounds, index.address);
    }
  }
  return {
    async peek(): Promise<Hit | undefined> {
      await fill();
      return buffer[0];
    },
    take(): Hit | undefined {
      return buffer.shift();
    },
  };
}

/** The matching entries of one segment that pass the filters, newest first. */
function segmentHits(
  segment: Segment,
  q: SearchQuery,
  parts: readonly TermQuery[],
  bounds: { since: string; startKey: string | undefined },
  address: string,
): Hit[] {
  const marks = matchSegment(segment, parts);
  const hits: Hit[] = [];
  // The stored fields are parsed only once an entry matched.
  for (let i = segment.count - 1; i >= 0; i--) {
    if (!marks[i]) continue;
    const receivedAt = segment.received[i] as string;
    const messageId = segment.ids[i] as string;
    const key = positionKey(receivedAt, messageId);
    if (bounds.startKey !== undefined && key >= bounds.startKey) continue;
    const fields: StoredFields = {
      receivedAt,
      from: segment.from[i] as string,
      to: segment.to[i] as string,
      cc: segment.cc[i] as string,
      subject: segment.subject[i] as string,
      hasAttachment: segment.attachment[i] === '1',
    };
    if (!matchesFilters(q, fields, bounds.since)) continue;
    hits.push({ receivedAt, messageId, key, addresses: [address] });
  }
  return hits;
}

/** The user's mailboxes' hits merged newest first; a message in two of them is one hit. */
function mergedHits(streams: ReturnType<typeof mailboxHits>[]) {
  return {
    async next(): Promise<Hit | undefined> {
      const heads = await Promise.all(streams.map((s) => s.peek()));
      let top: Hit | undefined;
      for (const h of heads) if (h && (top === undefined || h.key > top.key)) top = h;
      if (top === undefined) return undefined;
      const hit: Hit = { ...top, addresses: [] };
      streams.forEach((s, i) => {
        if (heads[i]?.key === top.key) hit.addresses.push(...(s.take() as Hit).addresses);
      });
      return hit;
    },
    async more(): Promise<boolean> {
      return (await Promise.all(streams.map((s) => s.peek()))).some((h) => h !== undefined);
    },
  };
}

/**
 * Searches the user's own mailboxes (the index of each of their addresses, never another's),
 * newest first. Every hit is checked against the store before it is shown: a delivery to one
 * of the user's addresses that is not quarantined and is within the history window, and a
 * message that is not a probe. An index that held someone else's message (a bug, a blob written
 * under the wrong name) still shows them nothing.
 *
 * Store calls per page: one delivery read per hit checked, one batch read of message records
 * and one of read marks per round of checks (at most MAX_CHECK_ROUNDS rounds); one index
 * manifest read per address, and one read of each index segment the page reaches that is not
 * already in memory (newest first: a page filled from the newest mail reads only the newest);
 * with a quoted phrase, one raw message read per hit that passed the other checks (the phrase
 * is matched on the message itself).
 * @throws ValidationError for a query it cannot use (see parseSearchQuery)
 */
export async function searchMailbox(
  deps: SearchDeps,
  user: MailboxUser,
  queryText: string,
  options: { cursor?: string | undefined; limit?: number | undefined } = {},
): Promise<MessagePage & { cost: PageCost }> {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError('limit', [`must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${limit}`]);
  }
  const q = parseSearchQuery(queryText);
  const start = options.cursor === undefined ? undefined : decodePosition(options.cursor);
  const since = historyStart(deps);
  const cost: PageCost = { indexReads: 0, deliveryReads: 0, messageReads: 0, flagReads: 0, rawReads: 0 };

  const parts = indexQuery(q);
  const bounds = { since, startKey: start && positionKey(start.receivedAt, start.messageId) };
  const streams: ReturnType<typeof mailboxHits>[] = [];
  for (const address of user.addresses) {
    cost.indexReads++;
    streams.push(mailboxHits(deps, await currentIndex(deps, address), q, parts, bounds, cost));
  }
  const hits = mergedHits(streams);

  const rows: ReturnType<typeof summaryOf>[] = [];
  let last: MailboxPosition | undefined = start;
  for (let round = 0; round < MAX_CHECK_ROUNDS && rows.length < limit; round++) {
    const batch: Hit[] = [];
    while (batch.length < limit - rows.length) {
      const hit = await hits.next();
      if (!hit) break;
      batch.push(hit);
    }
    if (batch.length === 0) break;
    last = batch.at(-1);
    // The index is only a hint: each hit must be a visible delivery to one of the user's addresses.
    const checks = await Promise.all(
      batch.map(async (hit) => {
        const found = await Promise.all(
          hit.addresses
            .filter((a) => user.addresses.includes(a))
            .map((recipient) => deps.store.getDelivery({ messageId: hit.messageId, recipient })),
        );
        cost.deliveryReads += found.length;
        return found.filter(
          (d): d is DeliveryRecord => d !== undefined && d.state !== 'quarantined' && d.receivedAt >= since,
        );
      }),
    );
    const allowed = batch
      .map((hit, i) => ({ hit, mine: checks[i] as DeliveryRecord[] }))
      .filter((x) => x.mine.length);
    if (allowed.length === 0) continue;
    const ids = allowed.map((x) => x.hit.messageId);
    cost.messageReads++;
    cost.flagReads++;
    const [messages, flags] = await Promise.all([
      deps.store.getMessages(ids),
      deps.store.getMailboxFlags(user.id, ids),
    ]);
    const byId = new Map<string, MessageRecord>(messages.map((m) => [m.id, m]));
    const shown = allowed.flatMap(({ hit, mine }) => {
      const message = byId.get(hit.messageId);
      return message && !message.probeToken && !message.sentCopyOf && matchesFlags(q, flags[hit.messageId])
        ? [{ message, mine }]
        : [];
    });
    if (q.phrases.length) cost.rawReads += shown.length;
    const phrased = q.phrases.length
      ? await Promise.all(shown.map((x) => hasPhrases(deps, q, x.message)))
      : shown.map(() => true);
    shown.forEach(({ message, mine }, i) => {
      if (phrased[i]) rows.push(summaryOf(message, mine, flags[message.id]));
    });
  }
  const more = await hits.more();
  return {
    messages: rows,
    cursor: more && last ? encodePosition({ receivedAt: last.receivedAt, messageId: last.messageId }) : null,
    cost,
  };
}
