import { describe, expect, it } from 'vitest';
import { getStatus } from '../../lambdas/core/continuity-service.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { queueMetrics } from '../../lambdas/core/metrics.js';
import type { DeliveryState } from '../../lambdas/core/model.js';
import { organicProbe } from '../../lambdas/core/probes.js';
import { listQueue } from '../../lambdas/core/queue-ops.js';
import type { MessageStore } from '../../lambdas/ports.js';
import { delivery, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryStore } from '../support/memory-store.js';

/** Counts every call made to the store's methods, whatever the method. */
function counting(store: MemoryStore): { store: MemoryStore; calls: () => number; reset: () => void } {
  let n = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        n++;
        return value.apply(target, args);
      };
    },
  });
  return {
    store: proxy,
    calls: () => n,
    reset: () => {
      n = 0;
    },
  };
}

async function seed(store: MessageStore, count: number, state: DeliveryState, route = 'cloud') {
  for (let i = 0; i < count; i++) {
    const at = new Date(Date.parse('2026-11-22T08:00:00.000Z') + i * 1000).toISOString();
    await store.createDelivery(
      delivery({
        messageId: `${state}-${String(i).padStart(6, '0')}`,
        route,
        state,
        receivedAt: at,
        nextAttemptAt: state === 'deferred' || state === 'queued' ? at : null,
      }),
    );
  }
}

describe('listQueue', () => {
  it('pages through every state but delivered, oldest first, with no gaps or repeats', async () => {
    const store = new MemoryStore();
    await seed(store, 3, 'deferred');
    await seed(store, 2, 'held');
    await seed(store, 2, 'delivered');
    await seed(store, 1, 'failed');
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listQueue(store, { limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.messageId));
      cursor = page.cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen.sort()).toEqual(
      [
        'deferred-000000',
        'deferred-000001',
        'deferred-000002',
        'failed-000000',
        'held-000000',
        'held-000001',
      ].sort(),
    );
  });

  it('stops at its limit instead of reading the rest of the queue', async () => {
    const counted = counting(new MemoryStore());
    await seed(counted.store, 500, 'deferred');
    counted.reset();
    const page = await listQueue(counted.store, { state: 'deferred', limit: 10 });
    expect(page.items.map((d) => d.messageId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `deferred-${String(i).padStart(6, '0')}`),
    );
    expect(page.cursor).toBeDefined();
    expect(counted.calls()).toBe(1);
  });

  it('refuses a cursor it did not issue', async () => {
    const store = new MemoryStore();
    await expect(listQueue(store, { limit: 10, cursor: 'bm90IGEgY3Vyc29y' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      listQueue(store, { limit: 10, cursor: Buffer.from('{"s":99}').toString('base64url') }),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('costs that do not grow with the queue', () => {
  const config = testConfig();
  const now = new Date('2026-11-22T10:00:00.000Z');

  async function callsFor(deferred: number, run: (store: MessageStore) => Promise<unknown>) {
    const counted = counting(new MemoryStore());
    await seed(counted.store, deferred, 'deferred');
    counted.reset();
    await run(counted.store);
    return counted.calls();
  }

  it('status reads the same number of records with 0 and 2,000 deferred deliveries', async () => {
    const status = (store: MessageStore) =>
      getStatus({ store, continuity: new MemoryStore(), clock: new ManualClock(now) });
    expect(await callsFor(2000, status)).toBe(await callsFor(0, status));
  });

  it('the queue metrics read the same number of records with 0 and 2,000 deferred deliveries', async () => {
    const metrics = (store: MessageStore) => queueMetrics(store, config.routes, now);
    expect(await callsFor(2000, metrics)).toBe(await callsFor(0, metrics));
  });

  it('the organic probe reads the same number of records with 0 and 2,000 deferred deliveries', async () => {
    const probe = (store: MessageStore) =>
      organicProbe({
        store,
        continuity: new MemoryStore(),
        config,
        clock: new ManualClock(now),
        prober: { check: async () => ({ ok: true, detail: '', latencyMs: 1 }) },
        mailer: { send: async () => [] },
      });
    expect(await callsFor(2000, probe)).toBe(await callsFor(0, probe));
  });

  it('status counts every state, delivered included', async () => {
    const store = new MemoryStore();
    await seed(store, 3, 'delivered');
    await seed(store, 2, 'deferred');
    const status = await getStatus({ store, continuity: store, clock: new ManualClock(now) });
    expect(status.queue).toEqual({
      queued: 0,
      delivering: 0,
      delivered: 3,
      deferred: 2,
      failed: 0,
      held: 0,
      quarantined: 0,
    });
  });

  it('the metrics report the age of the oldest deferred delivery across routes', async () => {
    const store = new MemoryStore();
    await seed(store, 2, 'deferred', 'cloud');
    const m = await queueMetrics(store, config.routes, now);
    // The oldest arrived at 08:00:00, two hours before `now`.
    expect(m).toEqual({ deferred: 2, failed: 0, held: 0, oldestDeferredAgeSeconds: 7200 });
  });
});
