import { describe, expect, it } from 'vitest';
import {
  canTransition,
  claimDelivery,
  completeAttempt,
  holdDelivery,
  isDue,
  requeueDelivery,
  TransitionError,
} from '../../lambdas/core/delivery-state.js';
import { delivery, testConfig } from '../support/fixtures.js';

const config = testConfig();
const now = new Date('2026-11-22T10:00:00Z');
const later = (s: number) => new Date(now.getTime() + s * 1000);

describe('claimDelivery', () => {
  it('takes a lease, counts the attempt and bumps the version', () => {
    const d = claimDelivery(delivery(), now, 'lease-1', 300);
    expect(d).toMatchObject({ state: 'delivering', attempts: 1, leaseId: 'lease-1', version: 2 });
    expect(d.nextAttemptAt).toBe('2026-11-22T10:05:00.000Z');
  });

  it('refuses a deferred delivery before its time', () => {
    const d = delivery({ state: 'deferred', nextAttemptAt: later(60).toISOString() });
    expect(isDue(d, now)).toBe(false);
    expect(() => claimDelivery(d, now, 'x', 300)).toThrow(TransitionError);
  });

  it("takes over a crashed worker's delivery once its lease has expired", () => {
    const d = claimDelivery(delivery(), now, 'dead', 300);
    expect(isDue(d, later(299))).toBe(false);
    expect(claimDelivery(d, later(300), 'alive', 300)).toMatchObject({ leaseId: 'alive', attempts: 2 });
  });

  it('never claims held, quarantined, failed or delivered mail', () => {
    for (const state of ['held', 'quarantined', 'failed', 'delivered'] as const) {
      expect(isDue(delivery({ state }), now)).toBe(false);
    }
  });
});

describe('completeAttempt', () => {
  const claimed = claimDelivery(delivery(), now, 'l', 300);

  it('records delivery with the primary reply', () => {
    const d = completeAttempt(claimed, { status: 'delivered', response: '250 ok' }, later(1), config, null);
    expect(d).toMatchObject({
      state: 'delivered',
      lastResponse: '250 ok',
      leaseId: null,
      nextAttemptAt: null,
    });
    expect(d.deliveredAt).toBe(later(1).toISOString());
  });

  it('defers a 4xx with Postfix backoff from the attempt count', () => {
    const d = completeAttempt(claimed, { status: 'deferred', response: '421 busy' }, now, config, null);
    expect(d).toMatchObject({
      state: 'deferred',
      lastError: '421 busy',
      nextAttemptAt: later(300).toISOString(),
    });
    const second = completeAttempt(
      claimDelivery(d, later(300), 'l2', 300),
      { status: 'deferred', response: '421' },
      later(300),
      config,
      null,
    );
    expect(second.nextAttemptAt).toBe(later(900).toISOString());
  });

  it('fails a 5xx and says why', () => {
    const d = completeAttempt(
      claimed,
      { status: 'failed', response: '550 5.1.1 no such user' },
      now,
      config,
      null,
    );
    expect(d).toMatchObject({ state: 'failed', lastError: '550 5.1.1 no such user', reason: 'rejected' });
  });

  it('fails a deferral as expired once the queue lifetime has passed', () => {
    const old = claimDelivery(delivery({ receivedAt: '2026-11-17T09:00:00.000Z' }), now, 'l', 300);
    const d = completeAttempt(
      old,
      { status: 'deferred', response: 'connect ECONNREFUSED' },
      now,
      config,
      null,
    );
    expect(d.state).toBe('failed');
    expect(d.reason).toBe('expired');
    expect(d.lastError).toMatch(/expired after 120 h in the queue; last error: connect ECONNREFUSED/);
  });

  it('holds instead of deferring while the route is on hold, so an outage never expires mail', () => {
    const old = claimDelivery(delivery({ receivedAt: '2026-11-17T09:00:00.000Z' }), now, 'l', 300);
    const d = completeAttempt(old, { status: 'deferred', response: '421' }, now, config, 'continuity');
    expect(d).toMatchObject({ state: 'held', reason: 'continuity', nextAttemptAt: null });
  });
});

describe('transitions', () => {
  it('allows exactly the arrows of the design', () => {
    expect(canTransition('held', 'queued')).toBe(true);
    expect(canTransition('held', 'delivering')).toBe(false);
    expect(canTransition('delivered', 'queued')).toBe(false);
    expect(canTransition('quarantined', 'delivering')).toBe(false);
    expect(canTransition('failed', 'queued')).toBe(true);
  });

  it('holds and releases; released mail is due at once', () => {
    const held = holdDelivery(
      delivery({ state: 'deferred', nextAttemptAt: later(999).toISOString() }),
      'admin',
      now,
    );
    expect(held).toMatchObject({ state: 'held', reason: 'admin', nextAttemptAt: null });
    const released = requeueDelivery(held, later(5));
    expect(released).toMatchObject({ state: 'queued', reason: null, nextAttemptAt: later(5).toISOString() });
    expect(isDue(released, later(5))).toBe(true);
  });

  it('refuses to requeue delivered mail', () => {
    expect(() => requeueDelivery(delivery({ state: 'delivered' }), now)).toThrow(
      /cannot go from delivered to queued/,
    );
  });
});
