import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { flushQueue, retryDelivery } from '../../lambdas/core/admin-actions.js';
import { TransitionError } from '../../lambdas/core/delivery-state.js';
import { NotFoundError } from '../../lambdas/core/errors.js';
import { continuityHarness } from '../support/continuity.js';
import { delivery } from '../support/fixtures.js';
import { ManualClock, MemoryStore } from '../support/memory-store.js';

function setup() {
  const store = new MemoryStore();
  return { store, deps: { store, continuity: store, clock: new ManualClock(), log: silentLogger } };
}

describe('retryDelivery', () => {
  it('audits the release of virus-quarantined mail with who released it and what it was', async () => {
    const { store, deps } = setup();
    await store.createDelivery(delivery({ messageId: 'v1', state: 'quarantined', reason: 'policy:virus' }));

    const after = await retryDelivery(
      deps,
      { messageId: 'v1', recipient: 'alice@example.com' },
      'ops@example.org',
    );

    expect(after.state).toBe('queued');
    expect(store.audit).toEqual([
      expect.objectContaining({
        actor: 'ops@example.org',
        action: 'retry',
        detail: 'delivery v1 to alice@example.com requeued from quarantined (policy:virus) (now queued)',
      }),
    ]);
  });

  it('refuses a delivered message and audits nothing', async () => {
    const { store, deps } = setup();
    await store.createDelivery(delivery({ messageId: 'd1', state: 'delivered', nextAttemptAt: null }));

    await expect(
      retryDelivery(deps, { messageId: 'd1', recipient: 'alice@example.com' }, 'ops@example.org'),
    ).rejects.toBeInstanceOf(TransitionError);
    expect(store.audit).toEqual([]);
  });

  it('says when there is no such delivery', async () => {
    const { deps } = setup();
    await expect(
      retryDelivery(deps, { messageId: 'nope', recipient: 'alice@example.com' }, 'ops@example.org'),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('flushQueue', () => {
  it('attempts what is due and audits who asked and what came of it', async () => {
    const h = continuityHarness();
    await h.receive('m1');
    // Past the first attempt's grace: due for a sweep.
    h.clock.advance(60);

    const result = await flushQueue(h.deps, 'ops@example.org');

    expect(result).toMatchObject({ messages: 1, delivered: 1 });
    expect(h.primary.order()).toEqual(['m1']);
    expect(h.store.audit).toEqual([
      expect.objectContaining({
        actor: 'ops@example.org',
        action: 'flush',
        detail:
          'queue flushed: 1 messages attempted (1 delivered, 0 deferred, 0 failed, 0 held, 0 put off), 0 left for the next sweep',
      }),
    ]);
  });
});
