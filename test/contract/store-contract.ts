import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  blankEvent,
  type ContinuityEvent,
  initialOrgState,
  type OrgState,
} from '../../lambdas/core/continuity.js';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.js';
import { type DeliveryRecord, deliveryStates } from '../../lambdas/core/model.js';
import type {
  BlobStore,
  ContinuityStore,
  MessageStore,
  Page,
  StateCounts,
  StateQuery,
  StoredRaw,
} from '../../lambdas/ports.js';
import { delivery, messageRecord } from '../support/fixtures.js';

/** One store under test: records and raw mail, and how to throw them away. */
export interface StoresUnderTest {
  store: MessageStore & ContinuityStore;
  blobs: BlobStore;
  dispose(): Promise<void>;
}

/** Makes empty stores for one test. */
export type StoreFactory = () => Promise<StoresUnderTest>;

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
/** The instant `minutes` after the suite's epoch. */
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

const zero = (): StateCounts => Object.fromEntries(deliveryStates.map((s) => [s, 0])) as StateCounts;

/** Every page of a query, checking that none exceeds the limit. */
async function allPages<T>(
  limit: number,
  read: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await read(cursor);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.cursor;
    if (cursor === undefined) return items;
  }
  throw new Error('the cursor never ended');
}

const keyOf = (d: DeliveryRecord) => `${d.messageId}/${d.recipient}`;

function org(overrides: Partial<OrgState> = {}): OrgState {
  return { ...initialOrgState(new Date(at(0))), ...overrides };
}

function event(id: string, overrides: Partial<ContinuityEvent> = {}): ContinuityEvent {
  return { ...blankEvent(id, new Date(at(0)), 'probe', '*'), ...overrides };
}

/**
 * The behaviours every store behind the ports must have, written once: the in-memory store of
 * the unit tests, the single-node SQLite store with its files, and the DynamoDB and S3 adapters.
 * A store that passes can replace another without core noticing.
 */
/**
 * How a store counts `delivered` in countByState: its records (SQLite, memory), or the deliveries the
 * flow's hour buckets hold for the last day (DynamoDB, where a counter cost a write a message).
 */
export type DeliveredCount = 'records' | 'flow';

export function describeStoreContract(
  name: string,
  factory: StoreFactory,
  options: { delivered?: DeliveredCount } = {},
): void {
  const deliveredFrom = options.delivered ?? 'records';
  describe(`store contract: ${name}`, () => {
    let stores: StoresUnderTest;
    let store: MessageStore & ContinuityStore;
    let blobs: BlobStore;

    beforeEach(async () => {
      stores = await factory();
      store = stores.store;
      blobs = stores.blobs;
    });
    afterEach(async () => {
      await stores.dispose();
    });

    /** Moves a stored delivery to `changes`, bumping its version, as core's transitions do. */
    async function transition(d: DeliveryRecord, changes: Partial<DeliveryRecord>): Promise<DeliveryRecord> {
      const next = { ...d, ...changes, version: d.version + 1 };
      await store.replaceDelivery(next, d.version);
      return next;
    }

    async function queue(query: StateQuery): Promise<string[]> {
      const limit = query.limit ?? 100;
      const items = await allPages(limit, (cursor) => store.queryByState({ ...query, cursor }));
      return items.map(keyOf);
    }

    describe('messages', () => {
      it('returns a stored message as written, and nothing for an unknown id', async () => {
        const m = messageRecord({
          id: 'm1',
          attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', size: 10 }],
        });
        await store.putMessage(m);
        expect(await store.getMessage('m1')).toEqual(m);
        expect(await store.getMessage('m2')).toBeUndefined();
      });

      it('replaces a message written again under the same id', async () => {
        await store.putMessage(messageRecord({ id: 'm1', snippet: 'first' }));
        await store.putMessage(messageRecord({ id: 'm1', snippet: 'second' }));
        expect((await store.getMessage('m1'))?.snippet).toBe('second');
      });
    });

    describe('listMessagesByDay', () => {
      it('lists one UTC day newest first, across pages with no duplicate and no gap', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 11; i++) {
          const id = `m${String(i).padStart(2, '0')}`;
          ids.push(id);
          await store.putMessage(messageRecord({ id, receivedAt: at(i * 7) }));
        }
        // Same instant: the id breaks the tie.
        await store.putMessage(messageRecord({ id: 'm99', receivedAt: at(70) }));
        await store.putMessage(messageRecord({ id: 'other-day', receivedAt: '2026-11-23T00:00:00.000Z' }));
        await store.putMessage(messageRecord({ id: 'day-before', receivedAt: '2026-11-21T23:59:59.999Z' }));
        const listed = await allPages(4, (cursor) => store.listMessagesByDay('2026-11-22', 4, cursor));
        expect(listed.map((m) => m.id)).toEqual(['m99', ...ids.reverse()]);
        expect(listed[0]).toEqual(messageRecord({ id: 'm99', receivedAt: at(70) }));
      });

      it('lists nothing for a day without mail', async () => {
        await store.putMessage(messageRecord({ id: 'm1' }));
        expect(await store.listMessagesByDay('2026-01-01')).toEqual({ items: [], cursor: undefined });
      });
    });

    describe('listReceived', () => {
      it('lists the messages received in a range, oldest first, across midnight, the end left out', async () => {
        const put = (id: string, receivedAt: string, extra: Record<string, unknown> = {}) =>
          store.putMessage(messageRecord({ id, receivedAt, ...extra }));
        await put('before', '2026-11-22T23:58:59.999Z');
        await put('first', '2026-11-22T23:59:00.000Z', { recipients: ['a@example.com', 'b@example.com'] });
        await put('copy', '2026-11-22T23:59:30.000Z', { sentCopyOf: 'o1', recipients: ['c@example.com'] });
        await put('next-day', '2026-11-23T00:00:59.999Z', { recipients: [] });
        await put('at-end', '2026-11-23T00:01:00.000Z');
        // Written twice, as a repeated receipt writes it: listed once.
        await put('next-day', '2026-11-23T00:00:59.999Z', { recipients: [] });

        const listed = await store.listReceived('2026-11-22T23:59:00.000Z', '2026-11-23T00:01:00.000Z');
        expect(listed).toEqual([
          {
            id: 'first',
            receivedAt: '2026-11-22T23:59:00.000Z',
            recipients: ['a@example.com', 'b@example.com'],
          },
          {
            id: 'copy',
            receivedAt: '2026-11-22T23:59:30.000Z',
            recipients: ['c@example.com'],
            sentCopyOf: 'o1',
          },
          { id: 'next-day', receivedAt: '2026-11-23T00:00:59.999Z', recipients: [] },
        ]);
        expect(await store.listReceived('2026-11-24T00:00:00.000Z', '2026-11-24T00:05:00.000Z')).toEqual([]);
      });

      it('reads every page of a busy minute (over DynamoDB’s 1 MB a page)', async () => {
        const ids = Array.from({ length: 300 }, (_, i) => `m${String(i).padStart(3, '0')}`);
        for (const id of ids) {
          await store.putMessage(messageRecord({ id, receivedAt: at(5), snippet: 'x'.repeat(4000) }));
        }
        const listed = await store.listReceived(at(5), at(6));
        expect(listed.map((m) => m.id)).toEqual(ids);
      });
    });

    describe('createDelivery', () => {
      it('writes a delivery once and reports a second create of the same key without changing it', async () => {
        const d = delivery();
        expect(await store.createDelivery(d)).toBe(true);
        expect(await store.createDelivery({ ...d, state: 'failed', version: 7 })).toBe(false);
        expect(await store.getDelivery({ messageId: d.messageId, recipient: d.recipient })).toEqual(d);
      });

      it('keeps one delivery per recipient and lists a message’s deliveries by recipient', async () => {
        await store.createDelivery(delivery({ recipient: 'zed@example.com' }));
        await store.createDelivery(
          delivery({ recipient: 'amy@example.com', rawKey: 'raw/m1', envelopeFrom: '' }),
        );
        await store.createDelivery(delivery({ messageId: 'm2', recipient: 'amy@example.com' }));
        const listed = await store.listDeliveries('m1');
        expect(listed.map((d) => d.recipient)).toEqual(['amy@example.com', 'zed@example.com']);
        expect(listed[0]).toEqual(
          delivery({ recipient: 'amy@example.com', rawKey: 'raw/m1', envelopeFrom: '' }),
        );
        expect(await store.listDeliveries('m3')).toEqual([]);
        expect(await store.getDelivery({ messageId: 'm3', recipient: 'amy@example.com' })).toBeUndefined();
      });
    });

    describe('replaceDelivery', () => {
      it('writes the next record when the stored version is the expected one', async () => {
        const d = delivery();
        await store.createDelivery(d);
        const next = await transition(d, { state: 'delivering', leaseId: 'w1', attempts: 1 });
        expect(await store.getDelivery(d)).toEqual(next);
      });

      it('throws ConflictError and changes nothing when another worker wrote first', async () => {
        const d = delivery();
        await store.createDelivery(d);
        const winner = await transition(d, { state: 'delivering', leaseId: 'w1' });
        await expect(
          store.replaceDelivery({ ...d, state: 'delivering', leaseId: 'w2', version: 2 }, 1),
        ).rejects.toThrow(ConflictError);
        expect(await store.getDelivery(d)).toEqual(winner);
      });

      it('lets exactly one of two racing claims win', async () => {
        const d = delivery();
        await store.createDelivery(d);
        const claims = await Promise.allSettled(
          ['w1', 'w2'].map((leaseId) =>
            store.replaceDelivery({ ...d, state: 'delivering', leaseId, version: 2 }, 1),
          ),
        );
        expect(claims.filter((c) => c.status === 'fulfilled')).toHaveLength(1);
        const lost = claims.find((c) => c.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(ConflictError);
        expect(await store.countByState()).toEqual({ ...zero(), delivering: 1 });
      });

      it('throws ConflictError for a delivery that does not exist', async () => {
        await expect(store.replaceDelivery(delivery({ version: 2 }), 1)).rejects.toThrow(ConflictError);
        expect(await store.getDelivery(delivery())).toBeUndefined();
      });
    });

    describe('queryByState', () => {
      it('lists one state by due time, or by arrival for states that are not due, ties by message and recipient', async () => {
        await store.createDelivery(delivery({ messageId: 'late', state: 'queued', nextAttemptAt: at(30) }));
        await store.createDelivery(delivery({ messageId: 'b', state: 'queued', nextAttemptAt: at(10) }));
        await store.createDelivery(delivery({ messageId: 'a', state: 'queued', nextAttemptAt: at(10) }));
        await store.createDelivery(
          delivery({ messageId: 'a', recipient: '0@example.com', state: 'queued', nextAttemptAt: at(10) }),
        );
        // No due time yet: it is due when it arrived.
        await store.createDelivery(
          delivery({ messageId: 'early', state: 'queued', nextAttemptAt: null, receivedAt: at(-5) }),
        );
        await store.createDelivery(
          delivery({ messageId: 'deferred', state: 'deferred', nextAttemptAt: at(1) }),
        );
        // Held: by arrival, whatever its next attempt says.
        await store.createDelivery(
          delivery({ messageId: 'h-new', state: 'held', receivedAt: at(2), nextAttemptAt: at(-60) }),
        );
        await store.createDelivery(
          delivery({ messageId: 'h-old', state: 'held', receivedAt: at(1), nextAttemptAt: at(60) }),
        );
        expect(await queue({ state: 'queued' })).toEqual([
          'early/alice@example.com',
          'a/0@example.com',
          'a/alice@example.com',
          'b/alice@example.com',
          'late/alice@example.com',
        ]);
        expect(await queue({ state: 'held' })).toEqual([
          'h-old/alice@example.com',
          'h-new/alice@example.com',
        ]);
        expect(await queue({ state: 'deferred' })).toEqual(['deferred/alice@example.com']);
        expect(await queue({ state: 'failed' })).toEqual([]);
      });

      it('returns records as stored', async () => {
        const d = delivery({
          state: 'deferred',
          attempts: 3,
          lastError: '421 try later',
          nextAttemptAt: at(5),
        });
        await store.createDelivery(d);
        expect((await store.queryByState({ state: 'deferred' })).items).toEqual([d]);
      });

      it('includes everything due at or before `before`, to the instant', async () => {
        for (const [id, minute] of [
          ['due-earlier', -1],
          ['due-now', 0],
          ['due-later', 1],
        ] as const) {
          await store.createDelivery(
            delivery({ messageId: id, state: 'deferred', nextAttemptAt: at(minute) }),
          );
        }
        expect(await queue({ state: 'deferred', before: at(0) })).toEqual([
          'due-earlier/alice@example.com',
          'due-now/alice@example.com',
        ]);
        const justBefore = new Date(T0 - 1).toISOString();
        expect(await queue({ state: 'deferred', before: justBefore })).toEqual([
          'due-earlier/alice@example.com',
        ]);
      });

      it('never lists delivered mail', async () => {
        const d = delivery();
        await store.createDelivery(d);
        await transition(d, { state: 'delivered', deliveredAt: at(1), nextAttemptAt: null });
        expect(await queue({ state: 'delivered' })).toEqual([]);
        expect(await queue({ state: 'queued' })).toEqual([]);
      });

      it('moves a delivery between states as it is replaced', async () => {
        const d = delivery();
        await store.createDelivery(d);
        await transition(d, { state: 'deferred', nextAttemptAt: at(5) });
        expect(await queue({ state: 'queued' })).toEqual([]);
        expect(await queue({ state: 'deferred', before: at(4) })).toEqual([]);
        expect(await queue({ state: 'deferred', before: at(5) })).toEqual(['m1/alice@example.com']);
      });

      it('pages with cursors that stop at the limit, with no duplicate and no gap', async () => {
        const expected: string[] = [];
        for (let i = 0; i < 23; i++) {
          const messageId = `m${String(i).padStart(2, '0')}`;
          // Several share a due time, so pages break inside a run of equal times.
          await store.createDelivery(
            delivery({ messageId, state: 'queued', nextAttemptAt: at(Math.floor(i / 4)) }),
          );
          expected.push(`${messageId}/alice@example.com`);
        }
        const first = await store.queryByState({ state: 'queued', limit: 5 });
        expect(first.items).toHaveLength(5);
        expect(first.cursor).toBeDefined();
        expect(await queue({ state: 'queued', limit: 5 })).toEqual(expected);
        expect(await queue({ state: 'queued', limit: 1 })).toEqual(expected);
        expect(await queue({ state: 'queued', limit: 4, before: at(3) })).toEqual(expected.slice(0, 16));
      });

      it('resumes right after any listed delivery with queueCursorAfter', async () => {
        const all: DeliveryRecord[] = [];
        for (let i = 0; i < 7; i++) {
          const d = delivery({ messageId: `m${i}`, state: 'deferred', nextAttemptAt: at(Math.floor(i / 3)) });
          await store.createDelivery(d);
          all.push(d);
        }
        const first = await store.queryByState({ state: 'deferred', limit: 5 });
        const rest = await allPages(2, (cursor) =>
          store.queryByState({
            state: 'deferred',
            limit: 2,
            cursor: cursor ?? store.queueCursorAfter(first.items[2] as DeliveryRecord),
          }),
        );
        expect(rest.map(keyOf)).toEqual(all.slice(3).map(keyOf));
      });

      it('does not skip or repeat the rest when a listed delivery moves on between pages', async () => {
        const all: DeliveryRecord[] = [];
        for (let i = 0; i < 6; i++) {
          const d = delivery({ messageId: `m${i}`, state: 'queued', nextAttemptAt: at(i) });
          await store.createDelivery(d);
          all.push(d);
        }
        const first = await store.queryByState({ state: 'queued', limit: 3 });
        // The sweeper claims what it read before asking for the next page.
        for (const d of first.items) await transition(d, { state: 'delivering', nextAttemptAt: at(100) });
        const rest = await allPages(3, (cursor) =>
          store.queryByState({ state: 'queued', limit: 3, cursor: cursor ?? first.cursor }),
        );
        expect(rest.map(keyOf)).toEqual(all.slice(3).map(keyOf));
      });
    });

    describe('countByState', () => {
      it('counts zero in every state, delivered included, before anything is stored', async () => {
        expect(await store.countByState()).toEqual(zero());
      });

      it('follows creates and every transition, delivered included', async () => {
        const a = delivery({ recipient: 'a@example.com' });
        const b = delivery({ recipient: 'b@example.com' });
        const q = delivery({ recipient: 'q@example.com', state: 'quarantined', reason: 'policy:virus' });
        for (const d of [a, b, q]) await store.createDelivery(d);
        await store.createDelivery(a); // an ingest retried: counted once
        expect(await store.countByState()).toEqual({ ...zero(), queued: 2, quarantined: 1 });

        const a1 = await transition(a, { state: 'delivering', leaseId: 'w1' });
        const a2 = await transition(a1, { state: 'deferred', leaseId: null, nextAttemptAt: at(5) });
        const a3 = await transition(a2, { attempts: 1 }); // same state: no move
        expect(await store.countByState()).toEqual({ ...zero(), queued: 1, deferred: 1, quarantined: 1 });

        const a4 = await transition(a3, { state: 'delivering', leaseId: 'w2' });
        await transition(a4, { state: 'delivered', deliveredAt: at(6), nextAttemptAt: null });
        const b1 = await transition(b, { state: 'held', reason: 'continuity' });
        await transition(b1, { state: 'failed', reason: null, lastError: '550 no such user' });
        await expect(store.replaceDelivery({ ...q, state: 'queued', version: 9 }, 8)).rejects.toThrow(
          ConflictError,
        );
        expect(await store.countByState()).toEqual({
          ...zero(),
          delivered: deliveredFrom === 'records' ? 1 : 0,
          failed: 1,
          quarantined: 1,
        });
      });

      if (deliveredFrom === 'flow') {
        it('counts delivered from the hour buckets of the last day, not from a write per delivery', async () => {
          const hour = (hoursAgo: number) =>
            new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - hoursAgo * 3_600_000).toISOString();
          const bucket = (hoursAgo: number, delivered: number) => ({
            resolution: 'hour' as const,
            start: hour(hoursAgo),
            expiresAt: Math.floor(Date.now() / 1000) + 86_400,
            add: { delivered, accepted: delivered + 1 },
          });
          await store.addMetrics([bucket(0, 3), bucket(23, 4), bucket(26, 100)]);
          await store.addMetrics([{ ...bucket(0, 2), add: { delivered: 2 } }]);
          expect((await store.countByState()).delivered).toBe(9);
        });
      }
    });

    describe('oldestDeferred', () => {
      it('gives the arrival of the oldest deferred delivery of each route, and nothing without one', async () => {
        expect(await store.oldestDeferred('cloud')).toBeUndefined();
        await store.createDelivery(delivery({ messageId: 'q', state: 'queued', receivedAt: at(-90) }));
        await store.createDelivery(delivery({ messageId: 'h', state: 'held', receivedAt: at(-80) }));
        await store.createDelivery(
          delivery({ messageId: 'newer', state: 'deferred', receivedAt: at(-10), nextAttemptAt: at(1) }),
        );
        // Due later, but arrived earlier: age is by arrival.
        await store.createDelivery(
          delivery({ messageId: 'older', state: 'deferred', receivedAt: at(-30), nextAttemptAt: at(50) }),
        );
        await store.createDelivery(
          delivery({
            messageId: 'x',
            route: 'onprem',
            state: 'deferred',
            receivedAt: at(-60),
            nextAttemptAt: at(1),
          }),
        );
        expect(await store.oldestDeferred('cloud')).toBe(at(-30));
        expect(await store.oldestDeferred('onprem')).toBe(at(-60));
        expect(await store.oldestDeferred('nowhere')).toBeUndefined();
      });

      it('forgets a delivery once it is no longer deferred, or moves with it to another route', async () => {
        const older = delivery({
          messageId: 'older',
          state: 'deferred',
          receivedAt: at(-30),
          nextAttemptAt: at(1),
        });
        const newer = delivery({
          messageId: 'newer',
          state: 'deferred',
          receivedAt: at(-10),
          nextAttemptAt: at(1),
        });
        await store.createDelivery(older);
        await store.createDelivery(newer);
        const claimed = await transition(older, { state: 'delivering', leaseId: 'w1' });
        expect(await store.oldestDeferred('cloud')).toBe(at(-10));
        await transition(claimed, { state: 'deferred', leaseId: null, route: 'onprem' });
        expect(await store.oldestDeferred('cloud')).toBe(at(-10));
        expect(await store.oldestDeferred('onprem')).toBe(at(-30));
        await transition(newer, { state: 'delivered', deliveredAt: at(2), nextAttemptAt: null });
        expect(await store.oldestDeferred('cloud')).toBeUndefined();
      });
    });

    describe('getMessages', () => {
      it('returns the messages that exist among the ids, once each, in one call', async () => {
        await store.putMessage(messageRecord({ id: 'a', subject: 'first' }));
        await store.putMessage(messageRecord({ id: 'b', subject: 'second' }));
        await store.putMessage(messageRecord({ id: 'c' }));
        const found = await store.getMessages(['b', 'missing', 'a', 'b']);
        expect(found.map((m) => m.id).sort()).toEqual(['a', 'b']);
        expect(found.find((m) => m.id === 'a')).toEqual(messageRecord({ id: 'a', subject: 'first' }));
        expect(await store.getMessages([])).toEqual([]);
      });
    });

    describe('queryMailbox', () => {
      /** One delivery per message to `recipient`, received `minutes` after the epoch. */
      async function receive(
        messageId: string,
        minutes: number,
        recipient = 'alice@example.com',
        state = 'queued',
      ) {
        const d = delivery({
          messageId,
          recipient,
          receivedAt: at(minutes),
          state: state as DeliveryRecord['state'],
        });
        await store.createDelivery(d);
        return d;
      }
      const ids = (page: { items: DeliveryRecord[] }) => page.items.map((d) => d.messageId);
      async function mailbox(
        address: string,
        query: Omit<Parameters<MessageStore['queryMailbox']>[1], 'cursor'>,
      ) {
        const items = await allPages(query.limit, (cursor) =>
          store.queryMailbox(address, { ...query, cursor }),
        );
        return items.map((d) => d.messageId);
      }

      it('lists one recipient’s deliveries in every state newest first, ties by message id, across pages', async () => {
        const states = ['delivered', 'held', 'deferred', 'queued', 'failed', 'quarantined', 'delivering'];
        for (let i = 0; i < 14; i++) {
          await receive(
            `m${String(i).padStart(2, '0')}`,
            Math.floor(i / 3),
            'alice@example.com',
            states[i % 7],
          );
        }
        await receive('bob-only', 3, 'bob@example.com');
        const expected = Array.from({ length: 14 }, (_, i) => `m${String(13 - i).padStart(2, '0')}`);
        expect(await mailbox('alice@example.com', { limit: 4 })).toEqual(expected);
        expect(await mailbox('alice@example.com', { limit: 1 })).toEqual(expected);
        expect(await mailbox('bob@example.com', { limit: 4 })).toEqual(['bob-only']);
        expect(await mailbox('nobody@example.com', { limit: 4 })).toEqual([]);
      });

      it('returns deliveries as stored', async () => {
        const d = await receive('m1', 0, 'alice@example.com', 'held');
        expect((await store.queryMailbox('alice@example.com', { limit: 10 })).items).toEqual([d]);
      });

      it('stops at `since`, to the instant', async () => {
        await receive('old', -1);
        await receive('edge', 0);
        await receive('new', 1);
        expect(await mailbox('alice@example.com', { limit: 2, since: at(0) })).toEqual(['new', 'edge']);
        expect(await mailbox('alice@example.com', { limit: 2, since: at(2) })).toEqual([]);
      });

      it('starts strictly after `before`, with or without `since`', async () => {
        await receive('a', 0);
        await receive('b', 0);
        await receive('c', 0);
        await receive('older', -5);
        await receive('oldest', -10);
        await receive('newer', 5);
        const before = { receivedAt: at(0), messageId: 'b' };
        expect(await mailbox('alice@example.com', { limit: 2, before })).toEqual(['a', 'older', 'oldest']);
        expect(await mailbox('alice@example.com', { limit: 2, before, since: at(-5) })).toEqual([
          'a',
          'older',
        ]);
        expect(await mailbox('alice@example.com', { limit: 1, before, since: at(-5) })).toEqual([
          'a',
          'older',
        ]);
        const first = await store.queryMailbox('alice@example.com', { limit: 1, before, since: at(-7) });
        expect(ids(first)).toEqual(['a']);
      });

      it('keeps listing a delivery at its place when its state changes', async () => {
        const d = await receive('m1', 0);
        await receive('m2', 1);
        await transition(d, { state: 'delivered', deliveredAt: at(2), nextAttemptAt: null });
        expect(await mailbox('alice@example.com', { limit: 5 })).toEqual(['m2', 'm1']);
      });
    });

    describe('mailbox flags', () => {
      it('keeps each user’s marks apart, sets only the marks given and reads many in one call', async () => {
        expect(await store.getMailboxFlags('alice', ['m1', 'm2'])).toEqual({});
        expect(await store.setMailboxFlags('alice', 'm1', { seen: true })).toEqual({
          seen: true,
          flagged: false,
        });
        expect(await store.setMailboxFlags('alice', 'm1', { flagged: true })).toEqual({
          seen: true,
          flagged: true,
        });
        expect(await store.setMailboxFlags('alice', 'm2', { flagged: true })).toEqual({
          seen: false,
          flagged: true,
        });
        expect(await store.setMailboxFlags('alice', 'm1', { seen: false })).toEqual({
          seen: false,
          flagged: true,
        });
        await store.setMailboxFlags('bob', 'm1', { seen: true });
        expect(await store.getMailboxFlags('alice', ['m1', 'm2', 'm3'])).toEqual({
          m1: { seen: false, flagged: true },
          m2: { seen: false, flagged: true },
        });
        expect(await store.getMailboxFlags('bob', ['m1', 'm2'])).toEqual({
          m1: { seen: true, flagged: false },
        });
        expect(await store.getMailboxFlags('alice', [])).toEqual({});
      });

      it('never touches the deliveries or their counters', async () => {
        const d = delivery({ state: 'held', reason: 'continuity' });
        await store.createDelivery(d);
        await store.setMailboxFlags('alice', d.messageId, { seen: true, flagged: true });
        expect(await store.getDelivery(d)).toEqual(d);
        expect(await store.countByState()).toEqual({ ...zero(), held: 1 });
        // The hand-over's conditional write still wins on the version it read.
        await transition(d, { state: 'queued', reason: null });
        expect((await store.getDelivery(d))?.state).toBe('queued');
      });
    });

    describe('deleteDelivery', () => {
      it('removes the delivery and its count, and keeps the message and the other recipients', async () => {
        await store.putMessage(messageRecord({ id: 'm1' }));
        const a = delivery({ recipient: 'a@example.com', state: 'held', reason: 'admin' });
        const b = delivery({ recipient: 'b@example.com' });
        await store.createDelivery(a);
        await store.createDelivery(b);
        await store.deleteDelivery(a, a.version);
        expect(await store.getDelivery(a)).toBeUndefined();
        expect((await store.listDeliveries('m1')).map((d) => d.recipient)).toEqual(['b@example.com']);
        expect(await store.getMessage('m1')).toBeDefined();
        expect(await store.countByState()).toEqual({ ...zero(), queued: 1 });
        expect(await queue({ state: 'held' })).toEqual([]);
        expect((await store.queryMailbox('a@example.com', { limit: 10 })).items).toEqual([]);
      });

      it('throws ConflictError and keeps the delivery when its version moved on, or when it is gone', async () => {
        const d = delivery({ state: 'deferred', nextAttemptAt: at(5) });
        await store.createDelivery(d);
        const moved = await transition(d, { attempts: 1 });
        await expect(store.deleteDelivery(d, d.version)).rejects.toThrow(ConflictError);
        expect(await store.getDelivery(d)).toEqual(moved);
        expect(await store.countByState()).toEqual({ ...zero(), deferred: 1 });
        await store.deleteDelivery(d, moved.version);
        await expect(store.deleteDelivery(d, moved.version)).rejects.toThrow(ConflictError);
        expect(await store.countByState()).toEqual(zero());
      });
    });

    describe('delivery attempts', () => {
      const attempt = (n: number, recipient = 'alice@example.com', messageId = 'm1') => ({
        messageId,
        recipient,
        at: at(n),
        attempt: n,
        route: 'cloud',
        outcome: 'deferred' as const,
        response: `mx1.cloud.test: 451 4.3.0 try again (${n})`,
      });

      it('lists one delivery’s attempts oldest first, the latest `limit` of them, apart from its neighbours', async () => {
        for (const n of [3, 1, 2, 4]) await store.recordDeliveryAttempt(attempt(n));
        await store.recordDeliveryAttempt(attempt(9, 'alice@example.com.au'));
        await store.recordDeliveryAttempt(attempt(8, 'bob@example.com'));
        await store.recordDeliveryAttempt(attempt(7, 'alice@example.com', 'm2'));
        expect(await store.listDeliveryAttempts(delivery(), 10)).toEqual([1, 2, 3, 4].map((n) => attempt(n)));
        expect((await store.listDeliveryAttempts(delivery(), 2)).map((a) => a.attempt)).toEqual([3, 4]);
        expect(await store.listDeliveryAttempts(delivery({ recipient: 'nobody@example.com' }), 10)).toEqual(
          [],
        );
      });

      it('keeps attempts apart from the message’s deliveries', async () => {
        const d = delivery();
        await store.createDelivery(d);
        await store.recordDeliveryAttempt(attempt(1));
        expect(await store.listDeliveries('m1')).toEqual([d]);
      });
    });

    describe('queryAudit', () => {
      const entry = (minute: number, action: string) => ({
        at: at(minute),
        actor: 'ops@example.com',
        action,
        detail: '',
        eventId: null,
        target: 'm1/alice@example.com',
        reason: 'the sender asked',
      });

      it('pages through a time range newest first, with no duplicate and no gap, `to` left out', async () => {
        for (let i = 0; i < 9; i++) await store.appendAudit(entry(Math.floor(i / 2), `a${i}`));
        await store.appendAudit(entry(-1, 'before'));
        await store.appendAudit(entry(5, 'after'));
        const listed = await allPages(2, (cursor) =>
          store.queryAudit({ from: at(0), to: at(5), limit: 2, cursor }),
        );
        expect(listed.map((e) => e.at)).toEqual(
          [8, 7, 6, 5, 4, 3, 2, 1, 0].map((i) => at(Math.floor(i / 2))),
        );
        expect(new Set(listed.map((e) => e.action)).size).toBe(9);
        expect(listed.find((e) => e.action === 'a0')).toEqual(entry(0, 'a0'));
        const all = await allPages(3, (cursor) => store.queryAudit({ limit: 3, cursor }));
        expect(all.map((e) => e.action).slice(0, 1)).toEqual(['after']);
        expect(all.at(-1)?.action).toBe('before');
        expect(all).toHaveLength(11);
        const from = await allPages(5, (cursor) => store.queryAudit({ from: at(4), limit: 5, cursor }));
        expect(from.map((e) => e.action).sort()).toEqual(['a8', 'after']);
        const to = await allPages(5, (cursor) => store.queryAudit({ to: at(0), limit: 5, cursor }));
        expect(to.map((e) => e.action)).toEqual(['before']);
      });
    });

    describe('metrics buckets', () => {
      const minute = (m: number) => ({
        resolution: 'minute' as const,
        start: at(m),
        expiresAt: 2_000_000_000,
      });

      it('adds counters and sets gauges in their bucket, and lists buckets of a range oldest first', async () => {
        await store.addMetrics([
          { ...minute(1), add: { accepted: 2, lat_3: 1 }, set: { depth_held: 7 } },
          { resolution: 'hour', start: at(0), expiresAt: 2_000_000_000, add: { accepted: 2 } },
        ]);
        await store.addMetrics([
          { ...minute(1), add: { accepted: 3, delivered: 1 }, set: { depth_held: 4 } },
        ]);
        await store.addMetrics([{ ...minute(0), add: { failed: 1 } }]);
        await store.addMetrics([{ ...minute(2), add: { failed: 1 } }]);
        expect(await store.listMetrics('minute', at(0), at(2))).toEqual([
          { resolution: 'minute', start: at(0), values: { failed: 1 } },
          {
            resolution: 'minute',
            start: at(1),
            values: { accepted: 5, lat_3: 1, delivered: 1, depth_held: 4 },
          },
        ]);
        expect(await store.listMetrics('hour', at(0), at(60))).toEqual([
          { resolution: 'hour', start: at(0), values: { accepted: 2 } },
        ]);
        expect(await store.listMetrics('minute', at(10), at(20))).toEqual([]);
      });

      it('loses no count when writers add to one bucket at once', async () => {
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.addMetrics([{ ...minute(0), add: { delivered: 1, lat_0: 2 } }]),
          ),
        );
        expect(await store.listMetrics('minute', at(0), at(1))).toEqual([
          { resolution: 'minute', start: at(0), values: { delivered: 20, lat_0: 40 } },
        ]);
      });
    });

    describe('rerouted deliveries', () => {
      it('keeps the route a delivery was rerouted from', async () => {
        const d = delivery({ state: 'failed', reason: 'rejected' });
        await store.createDelivery(d);
        const next = await transition(d, { state: 'queued', route: 'onprem', reroutedFrom: 'cloud' });
        expect(await store.getDelivery(d)).toEqual(next);
        const back = await transition(next, { route: 'cloud', reroutedFrom: undefined });
        expect((await store.getDelivery(d))?.reroutedFrom).toBeUndefined();
        expect((await store.getDelivery(d))?.route).toBe(back.route);
      });
    });

    describe('holds', () => {
      it('keeps holds by scope, replaces one written again and removes one deleted', async () => {
        expect(await store.listHolds()).toEqual([]);
        await store.putHold({ scope: 'onprem', reason: 'admin', since: at(0), by: 'ops@example.com' });
        await store.putHold({ scope: '*', reason: 'continuity', since: at(1), by: 'lifeboat' });
        await store.putHold({
          scope: '*',
          reason: 'continuity',
          since: at(1),
          by: 'lifeboat',
          draining: true,
        });
        expect(await store.listHolds()).toEqual([
          { scope: '*', reason: 'continuity', since: at(1), by: 'lifeboat', draining: true },
          { scope: 'onprem', reason: 'admin', since: at(0), by: 'ops@example.com' },
        ]);
        await store.deleteHold('*');
        await store.deleteHold('never-held');
        expect((await store.listHolds()).map((h) => h.scope)).toEqual(['onprem']);
      });
    });

    describe('org', () => {
      it('creates the state at version 1 and then writes only over the version read', async () => {
        expect(await store.getOrg()).toBeUndefined();
        await store.putOrg(org({ streaks: { 'cloud/smtp': { failures: 1, successes: 0 } } }), 0);
        expect(await store.getOrg()).toEqual(
          org({ streaks: { 'cloud/smtp': { failures: 1, successes: 0 } }, version: 1 }),
        );
        await expect(store.putOrg(org({ state: 'alerting' }), 0)).rejects.toThrow(ConflictError);
        await store.putOrg(org({ state: 'alerting', eventId: 'ev1', version: 1 }), 1);
        await expect(store.putOrg(org({ state: 'normal' }), 1)).rejects.toThrow(ConflictError);
        expect(await store.getOrg()).toMatchObject({ state: 'alerting', eventId: 'ev1', version: 2 });
      });
    });

    describe('events', () => {
      it('returns an event as written, replaces it on a second write and lists newest first by id', async () => {
        await store.putEvent(event('ev-2026-11-20'));
        await store.putEvent(event('ev-2026-11-22'));
        await store.putEvent(event('ev-2026-11-21'));
        const invoked = event('ev-2026-11-22', { state: 'continuity', invokedAt: at(5), invokedBy: 'ops' });
        await store.putEvent(invoked);
        expect(await store.getEvent('ev-2026-11-22')).toEqual(invoked);
        expect(await store.getEvent('ev-none')).toBeUndefined();
        expect((await store.listEvents(10)).map((e) => e.id)).toEqual([
          'ev-2026-11-22',
          'ev-2026-11-21',
          'ev-2026-11-20',
        ]);
        expect((await store.listEvents(2)).map((e) => e.id)).toEqual(['ev-2026-11-22', 'ev-2026-11-21']);
      });
    });

    describe('audit and notifications', () => {
      it('lists audit entries newest first, up to the limit', async () => {
        for (const minute of [1, 3, 2]) {
          await store.appendAudit({
            at: at(minute),
            actor: 'ops',
            action: `a${minute}`,
            detail: '',
            eventId: null,
          });
        }
        expect((await store.listAudit(10)).map((e) => e.action)).toEqual(['a3', 'a2', 'a1']);
        expect(await store.listAudit(1)).toEqual([
          { at: at(3), actor: 'ops', action: 'a3', detail: '', eventId: null },
        ]);
      });

      it('lists notifications newest first, up to the limit', async () => {
        for (const minute of [1, 3, 2]) {
          await store.putNotification({
            id: `n${minute}`,
            at: at(minute),
            channel: 'sms',
            audience: 'admins',
            to: ['+15550100'],
            subject: 'Lifeboat',
            text: 'alert',
            eventId: 'ev1',
            notice: 'alert',
          });
        }
        expect((await store.listNotifications(10)).map((n) => n.id)).toEqual(['n3', 'n2', 'n1']);
        expect((await store.listNotifications(2)).map((n) => n.id)).toEqual(['n3', 'n2']);
      });
    });

    describe('attempts', () => {
      it('lists a route’s attempts at or after `since`, oldest first', async () => {
        await store.recordAttempt({ route: 'cloud', at: at(2), ok: false, latencyMs: 30_000 });
        await store.recordAttempt({ route: 'cloud', at: at(0), ok: true, latencyMs: 120 });
        await store.recordAttempt({ route: 'cloud', at: at(-1), ok: true, latencyMs: 90 });
        await store.recordAttempt({ route: 'onprem', at: at(1), ok: true, latencyMs: 50 });
        expect(await store.listAttempts('cloud', at(0))).toEqual([
          { route: 'cloud', at: at(0), ok: true, latencyMs: 120 },
          { route: 'cloud', at: at(2), ok: false, latencyMs: 30_000 },
        ]);
        expect(await store.listAttempts('nowhere', at(-10))).toEqual([]);
      });
    });

    describe('probe tokens', () => {
      it('finds a token, records its return and lists those sent since a time, oldest first', async () => {
        await store.putProbeToken({ token: 't2', route: 'cloud', sentAt: at(2), returnedAt: null });
        await store.putProbeToken({ token: 't1', route: 'cloud', sentAt: at(1), returnedAt: null });
        await store.putProbeToken({ token: 't0', route: 'cloud', sentAt: at(-1), returnedAt: null });
        await store.putProbeToken({ token: 't1', route: 'cloud', sentAt: at(1), returnedAt: at(3) });
        expect(await store.getProbeToken('t1')).toEqual({
          token: 't1',
          route: 'cloud',
          sentAt: at(1),
          returnedAt: at(3),
        });
        expect(await store.getProbeToken('t9')).toBeUndefined();
        expect((await store.listProbeTokens(at(1))).map((t) => t.token)).toEqual(['t1', 't2']);
      });
    });

    describe('blobs', () => {
      it('returns the exact bytes stored, and the latest bytes written under a key', async () => {
        const raw = Buffer.concat([
          Buffer.from('Subject: x\r\n\r\n.\r\n'),
          Buffer.from([0, 255, 128]),
          Buffer.alloc(70_000, 0x41),
        ]);
        await blobs.putRaw('raw/m1', raw);
        expect((await blobs.getRaw('raw/m1')).equals(raw)).toBe(true);
        await blobs.putRaw('raw/m1', Buffer.from('again'));
        expect((await blobs.getRaw('raw/m1')).toString()).toBe('again');
      });

      it('throws NotFoundError for a key never stored', async () => {
        await expect(blobs.getRaw('raw/missing')).rejects.toThrow(NotFoundError);
      });
    });

    describe('listStored (the raw archive by time, for replays)', () => {
      /** Every page of a listing of the archive. */
      async function listed(from: number, to: number): Promise<StoredRaw[]> {
        const list = blobs.listStored?.bind(blobs);
        if (!list) throw new Error('this blob store cannot list the archive');
        return allPages(Number.POSITIVE_INFINITY, (cursor) =>
          list({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), cursor }),
        );
      }

      it('lists the raw messages stored in the range with their time and size, whatever their keys', async () => {
        // S3 keeps LastModified to the second: the range has a second of margin either side.
        const before = Math.floor(Date.now() / 1000) * 1000 - 1000;
        await blobs.putRaw('raw/zzz-first', Buffer.from('Subject: a\r\n\r\none\r\n'));
        await blobs.putRaw('raw/aaa-second', Buffer.from('Subject: b\r\n\r\ntwo!\r\n'));
        const after = Date.now() + 2000;
        const items = await listed(before, after);
        expect(items.map((i) => i.key).sort()).toEqual(['raw/aaa-second', 'raw/zzz-first']);
        for (const i of items) {
          expect(Date.parse(i.storedAt)).toBeGreaterThanOrEqual(before);
          expect(Date.parse(i.storedAt)).toBeLessThan(after);
        }
        expect(items.find((i) => i.key === 'raw/zzz-first')?.size).toBe(19);
      });

      it('leaves out what was stored before the range or at its end', async () => {
        const stored = Date.now();
        await blobs.putRaw('raw/m1', Buffer.from('x'));
        expect(await listed(stored - 3_600_000, stored - 60_000)).toEqual([]);
        expect(await listed(stored + 60_000, stored + 3_600_000)).toEqual([]);
      });
    });

    // Keep the state list in step with the model: a new state must be counted from zero.
    it('counts every state of the model', async () => {
      expect(Object.keys(await store.countByState()).sort()).toEqual([...deliveryStates].sort());
    });
  });
}
