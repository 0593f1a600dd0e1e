import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { claimDelivery, INTERRUPTED_ATTEMPT } from '../../lambdas/core/delivery-state.js';
import { ConflictError } from '../../lambdas/core/errors.js';
import { reclaimInterrupted } from '../../lambdas/core/reclaim.js';
import { sweepDue } from '../../lambdas/core/sweep.js';
import type { Logger } from '../../lambdas/ports.js';
import { FakePrimary } from '../support/continuity.js';
import { delivery, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

/** A store holding `count` deliveries a stopped process had claimed a minute ago, leases still live. */
async function interrupted(count = 1, route = 'cloud') {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const claimedAt = new Date(clock.now().getTime() - 60_000);
  for (let i = 0; i < count; i++) {
    const queued = delivery({
      messageId: `m${String(i).padStart(3, '0')}`,
      route,
      recipient: route === 'onprem' ? 'ceo@example.com' : 'alice@example.com',
      rawKey: `raw/m${i}`,
      envelopeFrom: 'sender@example.org',
    });
    await store.createDelivery(claimDelivery(queued, claimedAt, 'dead-process', 300));
  }
  const logged: Array<[string, Record<string, unknown> | undefined]> = [];
  const log: Logger = { ...silentLogger, warn: (message, fields) => logged.push([message, fields]) };
  return { store, clock, logged, deps: { store, clock, log, config: testConfig() } };
}

const stateOf = async (store: MemoryStore, messageId = 'm000') =>
  store.getDelivery({ messageId, recipient: 'alice@example.com' });

describe('reclaimInterrupted', () => {
  it('puts a delivery back to held at once when a hand-over is draining its route, lease or no lease', async () => {
    const { store, deps } = await interrupted();
    await store.putHold({ scope: '*', reason: 'continuity', since: 'x', by: 'ops', draining: true });

    expect(await reclaimInterrupted(deps)).toEqual({ reclaimed: 1 });

    expect(await stateOf(store)).toMatchObject({
      state: 'held',
      reason: 'continuity',
      attempts: 1,
      leaseId: null,
      nextAttemptAt: null,
      lastError: INTERRUPTED_ATTEMPT,
    });
  });

  it('puts it back to held while continuity still holds its route', async () => {
    const { store, deps } = await interrupted();
    await store.putHold({ scope: 'cloud', reason: 'continuity', since: 'x', by: 'ops' });

    await reclaimInterrupted(deps);

    expect(await stateOf(store)).toMatchObject({ state: 'held', reason: 'continuity' });
  });

  it('puts it back in the queue, due now, when its route is not held, and the next sweep sends it', async () => {
    const { store, clock, deps } = await interrupted();
    await store.putHold({ scope: 'onprem', reason: 'continuity', since: 'x', by: 'ops' });

    await reclaimInterrupted(deps);

    expect(await stateOf(store)).toMatchObject({
      state: 'deferred',
      nextAttemptAt: clock.now().toISOString(),
      leaseId: null,
    });
    const primary = new FakePrimary();
    const blobs = new MemoryBlobs();
    blobs.objects.set('raw/m0', Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    await sweepDue({ ...deps, blobs, mailer: primary });
    expect(primary.order()).toEqual(['m000']);
    expect((await stateOf(store))?.state).toBe('delivered');
  });

  it('takes back every delivery left in flight, however many pages of them, and logs the counts', async () => {
    const { store, deps, logged } = await interrupted(230);
    await store.putHold({ scope: '*', reason: 'continuity', since: 'x', by: 'ops', draining: true });

    expect(await reclaimInterrupted(deps)).toEqual({ reclaimed: 230 });

    expect((await store.countByState()).delivering).toBe(0);
    expect((await store.countByState()).held).toBe(230);
    expect(logged).toEqual([
      ['reclaimed deliveries a stopped process left in flight', { reclaimed: 230, held: 230, queued: 0 }],
    ]);
  });

  it('leaves alone a delivery another writer changed first', async () => {
    const { store, deps } = await interrupted(2);
    store.failNextReplace = new ConflictError('m000');

    expect(await reclaimInterrupted(deps)).toEqual({ reclaimed: 1 });
    expect((await stateOf(store))?.state).toBe('delivering');
    expect((await stateOf(store, 'm001'))?.state).toBe('deferred');
  });

  it('touches nothing that is not in flight, and says nothing when there was nothing to take back', async () => {
    const { store, deps, logged } = await interrupted(0);
    await store.createDelivery(delivery({ messageId: 'q', state: 'queued' }));
    await store.createDelivery(delivery({ messageId: 'h', state: 'held', reason: 'continuity' }));

    expect(await reclaimInterrupted(deps)).toEqual({ reclaimed: 0 });
    expect(await store.getDelivery({ messageId: 'q', recipient: 'alice@example.com' })).toMatchObject({
      state: 'queued',
      version: 1,
    });
    expect(await store.getDelivery({ messageId: 'h', recipient: 'alice@example.com' })).toMatchObject({
      state: 'held',
      version: 1,
    });
    expect(logged).toEqual([]);
  });
});
