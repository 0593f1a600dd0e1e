import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  getStatus,
  HANDOVER_BATCH_PER_SLOT,
  invokeContinuity,
  revokeContinuity,
  runHandover,
} from '../../lambdas/core/continuity-service.js';
import { type DeliverStep, leaseSecondsFor } from '../../lambdas/core/deliver.js';
import { holdRecipient } from '../../lambdas/core/queue-ops.js';
import { reclaimInterrupted } from '../../lambdas/core/reclaim.js';
import type { HoldRecord } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { journaled, tally } from '../support/counting-store.js';
import { delivery } from '../support/fixtures.js';

/** Long enough for any hand-over in these tests at the rate they configure. */
const BUDGET_MS = 10_000;

/**
 * Continuity invoked at 10:00, `count` messages received a minute apart from 10:01 (in the
 * order given by `order`, so arrival order differs from ingest order), then revoked at 12:00.
 */
async function heldThenRevoked(
  h: ReturnType<typeof continuityHarness>,
  count: number,
  order: (i: number) => number = (i) => i,
) {
  await invokeContinuity(h.deps, 'ops@example.org');
  for (let i = 0; i < count; i++) {
    const n = order(i);
    await h.receive(
      `m${String(n).padStart(2, '0')}`,
      ['alice@example.com'],
      `2026-11-22T10:${String(n + 1).padStart(2, '0')}:00.000Z`,
    );
  }
  h.clock.advance(7200);
  await revokeContinuity(h.deps, 'ops@example.org');
}

/** How many times the primary received each message id. */
function sends(h: ReturnType<typeof continuityHarness>) {
  const counts: Record<string, number> = {};
  for (const id of h.primary.order()) counts[id] = (counts[id] ?? 0) + 1;
  return counts;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('runHandover', () => {
  it('hands held mail to the primary oldest first', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    // Received out of order: m03, m00, m04, m01, m02.
    await heldThenRevoked(h, 5, (i) => [3, 0, 4, 1, 2][i] as number);
    const result = await runHandover(h.deps, BUDGET_MS);
    expect(result).toEqual({ released: 5, done: true });
    expect(h.primary.order()).toEqual(['m00', 'm01', 'm02', 'm03', 'm04']);
  });

  it('keeps arrival order with several deliveries in flight', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 4 } });
    await heldThenRevoked(h, 12, (i) => 11 - i);
    await runHandover(h.deps, BUDGET_MS);
    expect(h.primary.order()).toEqual(Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(2, '0')}`));
  });

  it('delivers every held recipient of a message', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('m1', ['alice@example.com', 'bob@example.com', 'ceo@example.com']);
    await revokeContinuity(h.deps, 'ops@example.org');
    await runHandover(h.deps, BUDGET_MS);
    expect(await h.queue()).toEqual({
      'm1 alice@example.com': 'delivered',
      'm1 bob@example.com': 'delivered',
      'm1 ceo@example.com': 'delivered',
    });
  });

  it('closes the event with every held delivery counted as handed over', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await heldThenRevoked(h, 7);
    await runHandover(h.deps, BUDGET_MS);
    const event = await h.store.getEvent('ev1');
    expect(event).toMatchObject({
      state: 'normal',
      closedAt: '2026-11-22T12:00:00.000Z',
      handover: { total: 7, released: 7, finishedAt: '2026-11-22T12:00:00.000Z' },
    });
  });

  it('lifts the hold and returns to normal, so new mail flows straight to the primary', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await heldThenRevoked(h, 2);
    await runHandover(h.deps, BUDGET_MS);
    const status = await getStatus(h.deps);
    expect(status.state).toBe('normal');
    expect(status.holds).toEqual([]);
    await h.receive('after');
    expect((await h.queue())['after alice@example.com']).toBe('queued');
  });

  it('tells admins the hand-over is complete, with the count', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await heldThenRevoked(h, 3);
    await runHandover(h.deps, BUDGET_MS);
    expect((await h.outbox()).slice(-2)).toEqual(['recovered sms', 'recovered email']);
    const sms = (await h.store.listNotifications(10)).find(
      (n) => n.notice === 'recovered' && n.channel === 'sms',
    );
    expect(sms?.text).toContain('hand-over complete, 3 deliveries handed over');
    expect((await h.store.listAudit(1))[0]).toMatchObject({ action: 'recovered', eventId: 'ev1' });
  });

  it('releases at most ratePerSecond deliveries a second of budget', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 10, concurrency: 1 } });
    await heldThenRevoked(h, 30);
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'performance'] });
    const run = runHandover(h.deps, 1000);
    await vi.runAllTimersAsync();
    expect(await run).toEqual({ released: 10, done: false });
    expect(h.primary.sent).toHaveLength(10);
    expect((await getStatus(h.deps)).queue.held).toBe(20);
    expect((await h.store.getEvent('ev1'))?.handover).toMatchObject({ total: 30, released: 10 });
  });

  it('paces whole batches when several deliveries are in flight', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 4, concurrency: 2 } });
    await heldThenRevoked(h, 30);
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'performance'] });
    const run = runHandover(h.deps, 2000);
    await vi.runAllTimersAsync();
    expect(await run).toEqual({ released: 8, done: false });
  });

  it('starts each delivery at its paced time, not a batch at a time', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 10, concurrency: 2 } });
    await heldThenRevoked(h, 6);
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'performance'] });
    const t0 = performance.now();
    const startedAt: number[] = [];
    const send = h.primary.send.bind(h.primary);
    h.primary.send = (...args) => {
      startedAt.push(performance.now() - t0);
      return send(...args);
    };
    const run = runHandover(h.deps, BUDGET_MS);
    await vi.runAllTimersAsync();
    expect(await run).toEqual({ released: 6, done: true });
    expect(startedAt).toEqual([0, 100, 200, 300, 400, 500]);
  });

  it('goes on with the next batch while one delivery of the last is still in flight', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 2 } });
    const batch = 2 * HANDOVER_BATCH_PER_SLOT;
    await heldThenRevoked(h, batch + 3);
    // The first message's transaction hangs (a new session waiting for its greeting, say) until let go.
    let letGo: () => void = () => {};
    const hanging = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const send = h.primary.send.bind(h.primary);
    h.primary.send = async (...args) => {
      const outcomes = await send(...args);
      if (h.primary.sent.length === 1) await hanging;
      return outcomes;
    };
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'performance'] });
    const run = runHandover(h.deps, BUDGET_MS);
    await vi.runAllTimersAsync();

    // Everything else went out on the other slot, the next batch's messages included.
    expect(h.primary.order()).toHaveLength(batch + 3);
    expect((await getStatus(h.deps)).queue).toMatchObject({ delivering: 1, held: 0 });
    letGo();
    expect(await run).toEqual({ released: batch + 3, done: true });
    expect(Object.values(await h.queue())).toEqual(Array(batch + 3).fill('delivered'));
  });

  it('sends the delivery a worker died holding first, once its lease runs out, then the rest in order', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, HANDOVER_BATCH_PER_SLOT + 3);
    let claims = 0;
    const dying = {
      ...h.deps,
      checkpoint: (step: DeliverStep) => {
        if (step === 'claimed' && ++claims === 3) throw new Error('worker died holding the lease');
      },
    };
    await expect(runHandover(dying, BUDGET_MS)).rejects.toThrow('worker died');
    expect(h.primary.order()).toEqual(['m00', 'm01']);
    expect((await getStatus(h.deps)).queue).toMatchObject({ delivering: 1, held: HANDOVER_BATCH_PER_SLOT });

    // While the lease is live its worker may still be sending: nothing newer goes ahead of it.
    expect(await runHandover(h.deps, BUDGET_MS)).toEqual({ released: 0, done: false });
    expect(h.primary.order()).toEqual(['m00', 'm01']);
    expect((await getStatus(h.deps)).state).toBe('recovering');

    h.clock.advance(leaseSecondsFor(h.config, 'cloud') + 1);
    expect(await runHandover(h.deps, BUDGET_MS)).toMatchObject({ done: true });
    expect(h.primary.order()).toEqual(
      Array.from({ length: HANDOVER_BATCH_PER_SLOT + 3 }, (_, i) => `m${String(i).padStart(2, '0')}`),
    );
    expect(Object.values(sends(h))).toEqual(Array(HANDOVER_BATCH_PER_SLOT + 3).fill(1));
    expect((await h.store.getEvent('ev1'))?.handover).toMatchObject({
      total: HANDOVER_BATCH_PER_SLOT + 3,
      released: HANDOVER_BATCH_PER_SLOT + 3,
    });
  });

  it('picks up where the last run stopped, and finishes', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 10, concurrency: 1 } });
    await heldThenRevoked(h, 15);
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'performance'] });
    const first = runHandover(h.deps, 1000);
    await vi.runAllTimersAsync();
    await first;
    const second = runHandover(h.deps, 1000);
    await vi.runAllTimersAsync();
    expect(await second).toEqual({ released: 5, done: true });
    expect((await h.store.getEvent('ev1'))?.handover).toMatchObject({ total: 15, released: 15 });
    expect(Object.values(sends(h))).toEqual(Array(15).fill(1));
  });

  it('sends every delivery exactly once when a hand-over crashes after its first batch and runs again', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 2 } });
    // A batch is HANDOVER_BATCH_PER_SLOT deliveries per delivery in flight; 7 more than one batch.
    const batch = 2 * HANDOVER_BATCH_PER_SLOT;
    await heldThenRevoked(h, batch + 7);
    h.deps.handoverCheckpoint = () => {
      throw new Error('worker stopped');
    };
    await expect(runHandover(h.deps, BUDGET_MS)).rejects.toThrow('worker stopped');
    expect(h.primary.sent).toHaveLength(batch);
    h.deps.handoverCheckpoint = undefined;
    expect(await runHandover(h.deps, BUDGET_MS)).toEqual({ released: 7, done: true });
    expect(sends(h)).toEqual(
      Object.fromEntries(Array.from({ length: batch + 7 }, (_, i) => [`m${String(i).padStart(2, '0')}`, 1])),
    );
    expect((await h.store.getEvent('ev1'))?.handover).toMatchObject({
      total: batch + 7,
      released: batch + 7,
    });
  });

  it('does not release deliveries an admin held individually', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await h.receive('suspicious');
    await h.receive('ordinary');
    await holdRecipient({ messageId: 'suspicious', recipient: 'alice@example.com' }, 'admin', h.deps);
    await invokeContinuity(h.deps, 'ops@example.org');
    await revokeContinuity(h.deps, 'ops@example.org');
    expect((await h.store.getEvent('ev1'))?.handover?.total).toBe(1);
    await runHandover(h.deps, BUDGET_MS);
    expect(h.primary.order()).toEqual(['ordinary']);
    expect(await h.queue()).toEqual({
      'suspicious alice@example.com': 'held (admin)',
      'ordinary alice@example.com': 'delivered',
    });
    expect((await getStatus(h.deps)).state).toBe('normal');
  });

  it('holds mail arriving while recovering and hands it over after the older mail', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 4);
    await h.receive('during-recovery');
    expect((await h.queue())['during-recovery alice@example.com']).toBe('held (continuity)');
    await runHandover(h.deps, BUDGET_MS);
    expect(h.primary.order()).toEqual(['m00', 'm01', 'm02', 'm03', 'during-recovery']);
  });

  it('holds mail arriving mid-hand-over and still sends it after the older mail', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 4);
    const template = (await h.store.getMessage('m00'))!;
    let arrived = false;
    h.deps.handoverCheckpoint = () => {
      if (arrived) return;
      arrived = true;
      // What ingest records for mail arriving now (the in-memory store writes at once).
      const receivedAt = h.clock.now().toISOString();
      void h.store.putMessage({ ...template, id: 'mid', rawKey: 'raw/m00', receivedAt });
      void h.store.createDelivery(
        delivery({ messageId: 'mid', state: 'held', reason: 'continuity', receivedAt, nextAttemptAt: null }),
      );
    };
    await runHandover(h.deps, BUDGET_MS);
    expect(h.primary.order()).toEqual(['m00', 'm01', 'm02', 'm03', 'mid']);
    expect((await getStatus(h.deps)).state).toBe('normal');
  });

  it('leaves mail the primary defers during the hand-over in the queue for a retry', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    await heldThenRevoked(h, 2);
    h.primary.down = true;
    await runHandover(h.deps, BUDGET_MS);
    expect(await h.queue()).toEqual({
      'm00 alice@example.com': 'deferred',
      'm01 alice@example.com': 'deferred',
    });
  });

  it('does nothing unless a hand-over is under way', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('m1');
    expect(await runHandover(h.deps, BUDGET_MS)).toEqual({ released: 0, done: false });
    expect(h.primary.sent).toEqual([]);
  });

  it('finishes a hand-over whose revoke stopped before the hold was marked draining', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000 } });
    const putHold = h.store.putHold.bind(h.store);
    let crash = true;
    h.store.putHold = async (hold: HoldRecord) => {
      if (hold.draining && crash) {
        crash = false;
        throw new Error('worker stopped');
      }
      return putHold(hold);
    };
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('m1');
    await h.receive('m2');
    await expect(revokeContinuity(h.deps, 'ops@example.org')).rejects.toThrow('worker stopped');
    expect((await getStatus(h.deps)).state).toBe('recovering');
    expect(await runHandover(h.deps, 500)).toMatchObject({ done: true });
    expect(sends(h)).toEqual({ m1: 1, m2: 1 });
    expect((await getStatus(h.deps)).state).toBe('normal');
  });
});

describe('runHandover after a crash mid-send', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${String(i).padStart(2, '0')}`);

  /** Deps whose delivery dies at `step` of its `nth` send of the run, as a kill -9 would stop it. */
  function dyingAt(h: ReturnType<typeof continuityHarness>, step: DeliverStep, nth: number) {
    let seen = 0;
    return {
      ...h.deps,
      checkpoint: (s: DeliverStep) => {
        if (s === step && ++seen === nth) throw new Error('process killed');
      },
    };
  }

  it('stays recovering, and pages nothing, while a delivery it released is still in flight', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 2);
    // The primary took the last message; the process died before it recorded the 250.
    await expect(runHandover(dyingAt(h, 'sent', 2), BUDGET_MS)).rejects.toThrow('process killed');
    expect((await getStatus(h.deps)).queue).toMatchObject({ held: 0, delivering: 1 });

    expect(await runHandover(h.deps, BUDGET_MS)).toEqual({ released: 0, done: false });

    expect((await getStatus(h.deps)).state).toBe('recovering');
    expect(await h.outbox()).not.toContain('recovered sms');
    expect((await h.store.getEvent('ev1'))?.handover?.finishedAt).toBeNull();
  });

  it('finishes, and pages once, when the delivery left in flight is done', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 2);
    await expect(runHandover(dyingAt(h, 'sent', 2), BUDGET_MS)).rejects.toThrow('process killed');
    await runHandover(h.deps, BUDGET_MS);
    h.clock.advance(leaseSecondsFor(h.config, 'cloud') + 1);

    expect(await runHandover(h.deps, BUDGET_MS)).toMatchObject({ done: true });

    expect(await h.queue()).toEqual({
      'm00 alice@example.com': 'delivered',
      'm01 alice@example.com': 'delivered',
    });
    expect((await getStatus(h.deps)).state).toBe('normal');
    expect((await h.outbox()).filter((n) => n.startsWith('recovered'))).toEqual([
      'recovered sms',
      'recovered email',
    ]);
  });

  it('after a restart sends the interrupted delivery first, then the rest in arrival order, each once', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 8);
    await expect(runHandover(dyingAt(h, 'claimed', 3), BUDGET_MS)).rejects.toThrow('process killed');
    expect(h.primary.order()).toEqual(['m00', 'm01']);

    // The restarted runtime takes back what the dead process held, then resumes the hand-over.
    expect(await reclaimInterrupted(h.deps)).toEqual({ reclaimed: 1 });
    expect((await getStatus(h.deps)).state).toBe('recovering');
    expect(await runHandover(h.deps, BUDGET_MS)).toMatchObject({ done: true });

    expect(h.primary.order()).toEqual(ids(8));
    expect((await getStatus(h.deps)).state).toBe('normal');
    expect((await h.store.getEvent('ev1'))?.handover).toMatchObject({ total: 8, released: 8 });
  });

  it('after a restart resends first the one whose 250 it never recorded, and nothing else twice', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
    await heldThenRevoked(h, 6);
    await expect(runHandover(dyingAt(h, 'sent', 3), BUDGET_MS)).rejects.toThrow('process killed');

    await reclaimInterrupted(h.deps);
    await runHandover(h.deps, BUDGET_MS);

    // m02 reached the primary before the kill and goes again, at once, ahead of everything newer.
    expect(h.primary.order()).toEqual(['m00', 'm01', 'm02', 'm02', 'm03', 'm04', 'm05']);
    expect(Object.values(await h.queue())).toEqual(Array(6).fill('delivered'));
  });

  it('keeps arrival order with several in flight when the process died holding more than one', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 4 } });
    await heldThenRevoked(h, 12);
    await expect(runHandover(dyingAt(h, 'claimed', 2), BUDGET_MS)).rejects.toThrow('process killed');

    await reclaimInterrupted(h.deps);
    await runHandover(h.deps, BUDGET_MS);

    const resent = h.primary.order().slice(h.primary.order().indexOf('m01') + 1);
    expect([...h.primary.order()].sort()).toEqual(ids(12));
    expect(resent).toEqual([...resent].sort());
    expect((await getStatus(h.deps)).state).toBe('normal');
  });
});

describe('runHandover store work', () => {
  it('makes two conditional writes per delivery and reads no delivery list, message or holds per message', async () => {
    // The benchmark's settings: 200 held, 8 in flight.
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 8 } });
    const count = 200;
    await invokeContinuity(h.deps, 'ops@example.org');
    for (let i = 0; i < count; i++) await h.receive(`m${String(i).padStart(3, '0')}`);
    await revokeContinuity(h.deps, 'ops@example.org');
    const journal: string[] = [];
    const store = journaled(h.store, journal);

    await runHandover({ ...h.deps, store, continuity: store }, BUDGET_MS);

    const calls = tally(journal);
    expect(h.primary.sent).toHaveLength(count);
    const written = (state: string) =>
      journal.filter((c) => c.startsWith('replaceDelivery') && c.endsWith(` ${state}`));
    expect(written('delivering')).toHaveLength(count);
    expect(written('delivered')).toHaveLength(count);
    expect(calls.replaceDelivery).toBe(2 * count);
    expect(calls.recordAttempt).toBe(count);
    expect(calls.listDeliveries).toBeUndefined();
    expect(calls.getMessage).toBeUndefined();
    expect(calls.getDelivery).toBeUndefined();
    // Once to reconcile the hold at the start, once to lift it at the end.
    expect(calls.listHolds).toBe(2);
    // One atomic add to the flow buckets per transaction (message).
    expect(calls.addMetrics).toBe(count);
    // The rest is per batch of 40 (the held index, the progress) or once per run: 4.2 in all.
    expect(journal.length / count).toBeLessThanOrEqual(4.2);
  });
});
