import * as z from 'zod';
import type { Clock, DeliveryKey, HoldRecord, Logger, MessageStore, Page } from '../ports.js';
import { canTransition, holdDelivery, requeueDelivery, TransitionError } from './delivery-state.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { holdReasonFor, scopeCovers } from './holds.js';
import { type DeliveryRecord, type DeliveryState, queueStates } from './model.js';

export interface QueueDeps {
  store: MessageStore;
  clock: Clock;
  log: Logger;
}

/** Visits every delivery in a state, page by page. */
export async function forEachInState(
  store: MessageStore,
  state: DeliveryState,
  visit: (d: DeliveryRecord) => Promise<void>,
): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await store.queryByState({ state, limit: 100, cursor });
    for (const d of page.items) await visit(d);
    cursor = page.cursor;
  } while (cursor);
}

/** Whether a hold scope (`*`, a route, or `mailboxes:…`) covers a delivery. */
export function inScope(d: DeliveryRecord, scope: string): boolean {
  return scopeCovers(scope, d.route, d.recipient);
}

/** Writes a transition, retrying once from a fresh read when another writer got there first. */
export async function transitionWithRetry(
  store: MessageStore,
  key: DeliveryKey,
  change: (d: DeliveryRecord) => DeliveryRecord | null,
): Promise<DeliveryRecord | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await store.getDelivery(key);
    if (!current) throw new NotFoundError(`delivery ${key.messageId} for ${key.recipient}`);
    const next = change(current);
    if (next === null) return null;
    try {
      await store.replaceDelivery(next, current.version);
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ConflictError(`delivery ${key.messageId} for ${key.recipient}`);
}

/**
 * Holds delivery for a route (or everything, scope `*`): new mail for it arrives held, and
 * queued or deferred mail is held now. Mail mid-transaction is held when its attempt ends.
 * @returns how many deliveries were moved to held
 */
export async function holdScope(scope: string, reason: string, by: string, deps: QueueDeps): Promise<number> {
  const now = deps.clock.now();
  const hold: HoldRecord = { scope, reason, since: now.toISOString(), by };
  await deps.store.putHold(hold);
  let moved = 0;
  for (const state of ['queued', 'deferred'] as const) {
    await forEachInState(deps.store, state, async (d) => {
      if (!inScope(d, scope)) return;
      const done = await transitionWithRetry(deps.store, d, (cur) =>
        cur.state === 'queued' || cur.state === 'deferred' ? holdDelivery(cur, reason, now) : null,
      );
      if (done) moved++;
    });
  }
  deps.log.info('hold placed', { scope, reason, moved });
  return moved;
}

/**
 * Lifts a hold and requeues what it held, oldest first. Deliveries still covered by another
 * hold stay held.
 * @returns the released deliveries, in arrival order
 */
export async function releaseScope(
  scope: string,
  deps: QueueDeps,
  onlyReason?: string | readonly string[],
): Promise<DeliveryRecord[]> {
  const reasons = onlyReason === undefined ? undefined : ([] as string[]).concat(onlyReason);
  const now = deps.clock.now();
  await deps.store.deleteHold(scope);
  const remaining = await deps.store.listHolds();
  const released: DeliveryRecord[] = [];
  await forEachInState(deps.store, 'held', async (d) => {
    if (!inScope(d, scope) || holdReasonFor(d.route, remaining, d.recipient) !== null) return;
    if (reasons !== undefined && !reasons.includes(d.reason ?? '')) return;
    const done = await transitionWithRetry(deps.store, d, (cur) =>
      cur.state === 'held' ? requeueDelivery(cur, now) : null,
    );
    if (done) released.push(done);
  });
  deps.log.info('hold lifted', { scope, released: released.length });
  return released;
}

/** Holds one recipient's delivery (an admin action). */
export async function holdRecipient(
  key: DeliveryKey,
  reason: string,
  deps: QueueDeps,
): Promise<DeliveryRecord> {
  const now = deps.clock.now();
  const done = await transitionWithRetry(deps.store, key, (cur) => {
    if (!canTransition(cur.state, 'held') || cur.state === 'delivering')
      throw new TransitionError(cur.state, 'held');
    return holdDelivery(cur, reason, now);
  });
  return done as DeliveryRecord;
}

/**
 * Sends a held, quarantined or failed delivery again: it is due at once. A delivery whose route
 * is still held stays held.
 */
export async function releaseDelivery(key: DeliveryKey, deps: QueueDeps): Promise<DeliveryRecord> {
  const now = deps.clock.now();
  const holds = await deps.store.listHolds();
  const done = await transitionWithRetry(deps.store, key, (cur) => {
    if (!canTransition(cur.state, 'queued')) throw new TransitionError(cur.state, 'queued');
    const routeHold = holdReasonFor(cur.route, holds, cur.recipient);
    if (routeHold !== null && cur.state !== 'held')
      return holdDelivery(requeueDelivery(cur, now), routeHold, now);
    if (routeHold !== null) return null;
    return requeueDelivery(cur, now);
  });
  return done ?? ((await deps.store.getDelivery(key)) as DeliveryRecord);
}

/** The states the queue listing shows: everything that is not delivered. */
export const QUEUE_STATES = queueStates;

/** What a queue listing may be narrowed to; every filter given must match. */
export interface QueueFilter {
  route?: string | undefined;
  /** One envelope recipient, read from the mailbox index instead of the queue's. */
  recipient?: string | undefined;
  /** The envelope sender: an address, or `@domain` for any sender of that domain. */
  sender?: string | undefined;
  /** Only deliveries received at or before this instant (older than an age). */
  receivedBefore?: string | undefined;
  /** Only deliveries received at or after this instant (younger than an age). */
  receivedAfter?: string | undefined;
}

/**
 * Most records one filtered listing reads before it answers: a filter that matches little still
 * costs at most this many index items per request (DynamoDB reads them 100 to a query), and the
 * cursor carries on where it stopped.
 */
export const QUEUE_SCAN_BUDGET = 1000;

/** Whether a delivery passes the filter (the recipient is matched by the index it is read from). */
export function matchesQueueFilter(d: DeliveryRecord, f: QueueFilter): boolean {
  if (f.route !== undefined && d.route !== f.route) return false;
  if (f.sender !== undefined) {
    const from = (d.envelopeFrom ?? '').toLowerCase();
    const want = f.sender.toLowerCase();
    if (want.startsWith('@') ? !from.endsWith(want) : from !== want) return false;
  }
  if (f.receivedBefore !== undefined && d.receivedAt > f.receivedBefore) return false;
  if (f.receivedAfter !== undefined && d.receivedAt < f.receivedAfter) return false;
  return true;
}

const queueCursorSchema = z.union([
  z.object({ s: z.number().int().min(0), c: z.string().optional() }),
  z.object({ r: z.string(), m: z.string() }),
]);

export interface QueuePage extends Page<DeliveryRecord> {
  /** Index items read to answer: at most QUEUE_SCAN_BUDGET plus one page. */
  scanned: number;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * One page of the queue: deliveries in one state (or every state but delivered, state by state),
 * oldest index time first, narrowed by the filter. It reads no more than the page needs, and at
 * most QUEUE_SCAN_BUDGET records however little the filter matches, so its cost does not grow with
 * the queue; a page can then hold fewer items than the limit and still have a cursor. With a
 * recipient it reads that mailbox's index instead, newest first. The cursor is opaque to callers
 * and resumes right after the last item returned.
 * @throws ValidationError for a cursor this function did not issue
 */
export async function listQueue(
  store: MessageStore,
  options: {
    state?: DeliveryState | undefined;
    limit: number;
    cursor?: string | undefined;
    filter?: QueueFilter | undefined;
  },
): Promise<QueuePage> {
  const states = options.state ? [options.state] : QUEUE_STATES;
  const filter = options.filter ?? {};
  let position: z.infer<typeof queueCursorSchema> = filter.recipient
    ? { r: filter.recipient, m: '' }
    : { s: 0 };
  if (options.cursor) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(options.cursor, 'base64url').toString('utf8'));
    } catch {
      decoded = undefined;
    }
    const parsed = queueCursorSchema.safeParse(decoded);
    const fits =
      parsed.success &&
      ('s' in parsed.data
        ? !filter.recipient && parsed.data.s < states.length
        : parsed.data.r === filter.recipient);
    if (!parsed.success || !fits)
      throw new ValidationError('query', ['cursor: not a cursor from this listing']);
    position = parsed.data;
  }
  if ('r' in position) return listMailboxQueue(store, states, filter, position, options.limit);

  const filtered = Object.values(filter).some((v) => v !== undefined);
  const items: DeliveryRecord[] = [];
  let scanned = 0;
  let { s, c } = position;
  while (s < states.length && items.length < options.limit && scanned < QUEUE_SCAN_BUDGET) {
    const state = states[s] as DeliveryState;
    const page = await store.queryByState({
      state,
      // Unfiltered, a page reads what it returns; filtered, a few times that, as most may not match.
      limit: Math.min(100, QUEUE_SCAN_BUDGET - scanned, (options.limit - items.length) * (filtered ? 4 : 1)),
      cursor: c,
    });
    scanned += page.items.length;
    let stoppedAt: DeliveryRecord | undefined;
    for (const d of page.items) {
      if (!matchesQueueFilter(d, filter)) continue;
      items.push(d);
      if (items.length === options.limit) {
        stoppedAt = d;
        break;
      }
    }
    // Stopped inside the page: resume right after the last item taken, not after the page.
    if (stoppedAt && stoppedAt !== page.items.at(-1)) c = store.queueCursorAfter(stoppedAt);
    else if (page.cursor) c = page.cursor;
    else {
      s++;
      c = undefined;
    }
  }
  const cursor = s < states.length ? encode(c ? { s, c } : { s }) : undefined;
  return { items, cursor, scanned };
}

/** The recipient filter's listing: the mailbox index, newest first, keeping the states asked for. */
async function listMailboxQueue(
  store: MessageStore,
  states: readonly DeliveryState[],
  filter: QueueFilter,
  position: { r: string; m: string },
  limit: number,
): Promise<QueuePage> {
  const items: DeliveryRecord[] = [];
  let scanned = 0;
  let before: { receivedAt: string; messageId: string } | undefined;
  if (position.m) {
    const [receivedAt, messageId] = position.m.split('\u0000');
    if (receivedAt && messageId) before = { receivedAt, messageId };
  }
  for (;;) {
    const page = await store.queryMailbox(position.r, {
      limit: Math.min(100, QUEUE_SCAN_BUDGET - scanned),
      before,
      ...(filter.receivedAfter ? { since: filter.receivedAfter } : {}),
    });
    scanned += page.items.length;
    for (const d of page.items) {
      before = { receivedAt: d.receivedAt, messageId: d.messageId };
      if (states.includes(d.state) && matchesQueueFilter(d, filter)) items.push(d);
      if (items.length === limit) break;
    }
    const more = page.cursor !== undefined || (items.length === limit && before !== undefined);
    if (!page.cursor || items.length >= limit || scanned >= QUEUE_SCAN_BUDGET) {
      const last = items.length >= limit || scanned >= QUEUE_SCAN_BUDGET ? before : undefined;
      return {
        items,
        cursor:
          more && last
            ? encode({ r: position.r, m: `${last.receivedAt}\u0000${last.messageId}` })
            : undefined,
        scanned,
      };
    }
  }
}
