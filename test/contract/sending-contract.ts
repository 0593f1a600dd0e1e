import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../lambdas/core/errors.js';
import type { SendingKind, SendingRecord, SendingStore } from '../../lambdas/ports.js';

export interface SendingFixture {
  store: SendingStore;
  dispose(): Promise<void>;
}

const rec = (
  over: Partial<SendingRecord<{ n: number }>> & { id: string },
  kind: SendingKind = 'outgoing',
): SendingRecord<{ n: number }> => ({
  kind,
  user: 'ana',
  version: 1,
  dueAt: null,
  expiresAt: 2_000_000_000,
  data: { n: 1 },
  ...over,
});

/**
 * The sending store's contract: every adapter (memory, SQLite, DynamoDB) must pass it, so the
 * outbound queue, drafts and uploads behave the same on one machine and in AWS.
 */
export function describeSendingContract(name: string, open: () => Promise<SendingFixture>) {
  const withStore = (fn: (s: SendingStore) => Promise<void>) => async () => {
    const f = await open();
    try {
      await fn(f.store);
    } finally {
      await f.dispose();
    }
  };

  describe(`SendingStore: ${name}`, () => {
    it(
      'creates a record once and reads it back whole',
      withStore(async (s) => {
        const r = rec({ id: '20250101T000000000Z-aa', dueAt: '2025-01-01T00:00:10.000Z' });
        await s.putSending(r, 0);
        await expect(s.putSending(r, 0)).rejects.toBeInstanceOf(ConflictError);
        expect(await s.getSending('outgoing', 'ana', r.id)).toEqual(r);
        expect(await s.getSending('draft', 'ana', r.id)).toBeUndefined();
        expect(await s.getSending('outgoing', 'bo', r.id)).toBeUndefined();
      }),
    );

    it(
      'refuses a write or delete over a version it did not read',
      withStore(async (s) => {
        const r = rec({ id: 'x1' });
        await s.putSending(r, 0);
        await s.putSending({ ...r, version: 2, data: { n: 2 } }, 1);
        await expect(s.putSending({ ...r, version: 2, data: { n: 3 } }, 1)).rejects.toBeInstanceOf(
          ConflictError,
        );
        await expect(s.deleteSending('outgoing', 'ana', 'x1', 1)).rejects.toBeInstanceOf(ConflictError);
        await expect(s.deleteSending('outgoing', 'ana', 'nope', 1)).rejects.toBeInstanceOf(ConflictError);
        expect((await s.getSending<{ n: number }>('outgoing', 'ana', 'x1'))?.data.n).toBe(2);
        await s.deleteSending('outgoing', 'ana', 'x1', 2);
        expect(await s.getSending('outgoing', 'ana', 'x1')).toBeUndefined();
      }),
    );

    it(
      'lists one user’s records of one kind newest id first, in pages that end',
      withStore(async (s) => {
        for (const id of ['a1', 'a2', 'a3', 'a4', 'a5']) await s.putSending(rec({ id }), 0);
        await s.putSending(rec({ id: 'a9' }, 'draft'), 0);
        await s.putSending(rec({ id: 'a8', user: 'bo' }), 0);
        await s.putSending(rec({ id: 'a7', user: 'an' }), 0);
        const first = await s.listSending('outgoing', 'ana', { limit: 2 });
        expect(first.items.map((r) => r.id)).toEqual(['a5', 'a4']);
        const second = await s.listSending('outgoing', 'ana', { limit: 2, cursor: first.cursor });
        expect(second.items.map((r) => r.id)).toEqual(['a3', 'a2']);
        const last = await s.listSending('outgoing', 'ana', { limit: 2, cursor: second.cursor });
        expect(last.items.map((r) => r.id)).toEqual(['a1']);
        expect(last.cursor).toBeUndefined();
        const exact = await s.listSending('outgoing', 'ana', { limit: 5 });
        expect(exact.items).toHaveLength(5);
        expect(exact.cursor).toBeUndefined();
      }),
    );

    it(
      'lists only ids at or after sinceId',
      withStore(async (s) => {
        for (const id of ['a1', 'a2', 'a3', 'a4']) await s.putSending(rec({ id }), 0);
        const page = await s.listSending('outgoing', 'ana', { limit: 10, sinceId: 'a3' });
        expect(page.items.map((r) => r.id)).toEqual(['a4', 'a3']);
        const paged = await s.listSending('outgoing', 'ana', { limit: 1, sinceId: 'a3' });
        const next = await s.listSending('outgoing', 'ana', {
          limit: 1,
          sinceId: 'a3',
          cursor: paged.cursor,
        });
        expect(next.items.map((r) => r.id)).toEqual(['a3']);
        expect(next.cursor).toBeUndefined();
      }),
    );

    it(
      'refuses a cursor it did not make',
      withStore(async (s) => {
        await expect(s.listSending('outgoing', 'ana', { limit: 1, cursor: 'a#b c' })).rejects.toBeInstanceOf(
          ValidationError,
        );
      }),
    );

    it(
      'lists every user’s due records earliest first, and drops one whose due time is cleared',
      withStore(async (s) => {
        await s.putSending(rec({ id: 'late', dueAt: '2025-01-01T00:05:00.000Z' }), 0);
        await s.putSending(rec({ id: 'early', user: 'bo', dueAt: '2025-01-01T00:01:00.000Z' }), 0);
        await s.putSending(rec({ id: 'edge', dueAt: '2025-01-01T00:02:00.000Z' }, 'upload'), 0);
        await s.putSending(rec({ id: 'never' }), 0);
        const due = await s.listSendingDue('2025-01-01T00:02:00.000Z', 10);
        expect(due.map((r) => r.id)).toEqual(['early', 'edge']);
        expect((await s.listSendingDue('2025-01-01T00:09:00.000Z', 2)).map((r) => r.id)).toEqual([
          'early',
          'edge',
        ]);
        const late = (await s.getSending('outgoing', 'ana', 'late')) as SendingRecord;
        await s.putSending({ ...late, version: 2, dueAt: null }, 1);
        expect((await s.listSendingDue('2025-01-01T00:09:00.000Z', 10)).map((r) => r.id)).toEqual([
          'early',
          'edge',
        ]);
        const early = (await s.getSending('outgoing', 'bo', 'early')) as SendingRecord;
        await s.putSending({ ...early, version: 2, dueAt: '2025-01-01T00:30:00.000Z' }, 1);
        expect((await s.listSendingDue('2025-01-01T00:09:00.000Z', 10)).map((r) => r.id)).toEqual(['edge']);
      }),
    );
  });
}
