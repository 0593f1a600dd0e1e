import type { Clock, DeliveryKey, HoldRecord, Logger, MessageStore } from '../ports.js';
import { canTransition, holdDelivery, requeueDelivery, TransitionError } from './delivery-state.js';
import { ConflictError, NotFoundError } from './errors.js';
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

/** Counts deliveries per state, for the CLI and the console. */
export async function countByState(store: MessageStore): Promise<Record<DeliveryState, number>> {
  const counts = Object.fromEntries(deliveryStates.map((s) => [s, 0])) as Record<DeliveryState, number>;
  for (const state of deliveryStates) {
    if (state === 'delivered') continue; // not indexed: the queue index stays small
    await forEachInState(store, state, async () => {
      counts[state]++;
    });
  }
  return counts;
}
