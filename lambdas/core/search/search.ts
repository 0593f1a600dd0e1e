import MiniSearch, { type Query, type SearchResult } from 'minisearch';
import type { MailboxFlags, MailboxPosition } from '../../ports.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type MessagePage } from '../../webmail/schemas.js';
import type { MailboxUser } from '../directory.js';
import { ValidationError } from '../errors.js';
import { decodePosition, encodePosition, historyStart, type PageCost, summaryOf } from '../mailbox.js';
import type { DeliveryRecord, MessageRecord } from '../model.js';
import { currentIndex, docFor, type SearchDeps } from './indexer.js';
import { phraseTextOf, SEARCH_FIELDS, type StoredFields } from './mailbox-index.js';
import { parseSearchQuery, type SearchQuery } from './query.js';

/**
 * Rounds of authorisation checks per results page. Each hit is checked against the store before
 * it is shown; hits that fail (quarantined, no longer in the window) are skipped, and past this
 * many rounds a short page comes back with a cursor, so a request's cost stays bounded.
 */
export const MAX_CHECK_ROUNDS = 3;

/** Words shorter than this match only whole words: a prefix of one or two letters matches everything. */
const MIN_PREFIX_CHARS = 3;

/** MiniSearch's query for the words and operator values; the wildcard when only filters were given. */
function indexQuery(q: SearchQuery): Query {
  const parts: Query[] = [];
  const allFields = [...SEARCH_FIELDS];
  for (const word of q.words) {
    parts.push({
      queries: [word],
      fields: allFields,
      prefix: word.length >= MIN_PREFIX_CHARS,
      combineWith: 'AND',
    });
  }
  for (const phrase of q.phrases) parts.push({ queries: [phrase], fields: allFields, combineWith: 'AND' });
  for (const v of q.from) parts.push({ queries: [v], fields: ['from'], prefix: true, combineWith: 'AND' });
  for (const v of q.to) parts.push({ queries: [v], fields: ['to', 'cc'], prefix: true, combineWith: 'AND' });
  for (const v of q.subject)
    parts.push({ queries: [v], fields: ['subject'], prefix: true, combineWith: 'AND' });
  return parts.length ? { queries: parts, combineWith: 'AND' } : MiniSearch.wildcard;
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
  /** The user's addresses whose index matched it. */
  addresses: string[];
}

const keyOf = (p: MailboxPosition) => `${p.receivedAt}#${p.messageId}`;

/**
 * Searches the user's own mailboxes (the index of each of their addresses, never another's),
 * newest first. Every hit is checked against the store before it is shown: a delivery to one
 * of the user's addresses that is not quarantined and is within the history window, and a
 * message that is not a probe. An index that held someone else's message (a bug, a blob written
 * under the wrong name) still shows them nothing.
 *
 * Store calls per page: one delivery read per hit checked, one batch read of message records
 * and one of read marks per round of checks (at most MAX_CHECK_ROUNDS rounds), plus one index
 * blob read per address not already loaded; with a quoted phrase, one raw message read per hit
 * that passed the other checks (the phrase is matched on the message itself).
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

  const hits = new Map<string, Hit>();
  for (const address of user.addresses) {
    cost.indexReads++;
    const index = await currentIndex(deps, address);
    const results = index.search.search(indexQuery(q), {
      filter: (r: SearchResult) => matchesFilters(q, r as unknown as StoredFields & SearchResult, since),
    });
    for (const r of results) {
      const position = { receivedAt: String(r.receivedAt), messageId: String(r.id) };
      if (start && keyOf(position) >= keyOf(start)) continue;
      const hit = hits.get(position.messageId);
      if (hit) hit.addresses.push(address);
      else hits.set(position.messageId, { ...position, addresses: [address] });
    }
  }
  const ordered = [...hits.values()].sort((a, b) => (keyOf(a) < keyOf(b) ? 1 : keyOf(a) > keyOf(b) ? -1 : 0));

  const rows: ReturnType<typeof summaryOf>[] = [];
  let examined = 0;
  let last: MailboxPosition | undefined = start;
  for (let round = 0; round < MAX_CHECK_ROUNDS && rows.length < limit && examined < ordered.length; round++) {
    const batch = ordered.slice(examined, examined + (limit - rows.length));
    examined += batch.length;
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
      return message && !message.probeToken && matchesFlags(q, flags[hit.messageId])
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
  const more = examined < ordered.length;
  return { messages: rows, cursor: more && last ? encodePosition(last) : null, cost };
}
