import * as z from 'zod';
import type { Clock, DeliveryKey, HoldRecord, Logger, MessageStore, Page } from '../ports.js';
import { canTransition, holdDelivery, requeueDelivery, TransitionError } from './delivery-state.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { HOLD_ALL, holdReasonFor } from './holds.js';
import { type DeliveryRecord, type DeliveryState, deliveryStates } from './model.js';

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

export function inScope(d: DeliveryRecord, scope: string): boolean {
  return scope === HOLD_ALL || d.route === scope;
}

/** Writes a transition, retrying once from a fresh read when another writer got there first. */
async function transitionWithRetry(
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
  onlyReason?: string,
): Promise<DeliveryRecord[]> {
  const now = deps.clock.now();
  await deps.store.deleteHold(scope);
  const remaining = await deps.store.listHolds();
  const released: DeliveryRecord[] = [];
  await forEachInState(deps.store, 'held', async (d) => {
    if (!inScope(d, scope) || holdReasonFor(d.route, remaining) !== null) return;
    if (onlyReason !== undefined && d.reason !== onlyReason) return;
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
    const routeHold = holdReasonFor(cur.route, holds);
    if (routeHold !== null && cur.state !== 'held')
      return holdDelivery(requeueDelivery(cur, now), routeHold, now);
    if (routeHold !== null) return null;
    return requeueDelivery(cur, now);
  });
  return done ?? ((await deps.store.getDelivery(key)) as DeliveryRecord);
}

/** The states the queue listing shows: everything that is not delivered. */
export const QUEUE_STATES = deliveryStates.filter((s) => s !== 'delivered');

const queueCursorSchema = z.object({ s: z.number().int().min(0), c: z.string().optional() });

/**
 * One page of the queue: deliveries in one state (or every state but delivered, state by state),
 * oldest index time first. It reads no more than the page needs, so its cost does not grow with
 * the queue; the cursor is opaque to callers and resumes where the page stopped.
 * @throws ValidationError for a cursor this function did not issue
 */
export async function listQueue(
  store: MessageStore,
  options: { state?: DeliveryState | undefined; limit: number; cursor?: string | undefined },
): Promise<Page<DeliveryRecord>> {
  const states = options.state ? [options.state] : QUEUE_STATES;
  let position: z.infer<typeof queueCursorSchema> = { s: 0 };
  if (options.cursor) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(options.cursor, 'base64url').toString('utf8'));
    } catch {
      decoded = undefined;
    }
    const parsed = queueCursorSchema.safeParse(decoded);
    if (!parsed.success || parsed.data.s >= states.length)
      throw new ValidationError('query', ['cursor: not a cursor from this listing']);
    position = parsed.data;
  }
  const items: DeliveryRecord[] = [];
  let { s, c } = position;
  while (s < states.length && items.length < options.limit) {
    const page = await store.queryByState({
      state: states[s] as DeliveryState,
      limit: options.limit - items.length,
      cursor: c,
    });
    items.push(...page.items);
    if (page.cursor) c = page.cursor;
    else {
      s++;
      c = undefined;
    }
  }
  const cursor =
    s < states.length ? Buffer.from(JSON.stringify(c ? { s, c } : { s })).toString('base64url') : undefined;
  return { items, cursor };
}
