import { describe, expect, it } from 'vitest';
import { backoffSeconds, isExpired, nextAttemptAt } from '../../lambdas/core/backoff.js';

const queue = { minBackoffSeconds: 300, maxBackoffSeconds: 4000, lifetimeHours: 120 };

describe('backoffSeconds', () => {
  it('doubles from 300 s and stops at 4000 s, like Postfix', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map((n) => backoffSeconds(n, queue))).toEqual([
      300, 600, 1200, 2400, 4000, 4000, 4000,
    ]);
  });

  it('stays finite for absurd attempt counts', () => {
    expect(backoffSeconds(10_000, queue)).toBe(4000);
  });
});

describe('nextAttemptAt', () => {
  it('is the backoff after now', () => {
    expect(
      nextAttemptAt(new Date('2026-11-22T10:00:00Z'), 2, {
        ...queue,
        sweepIntervalSeconds: 60,
        leaseSeconds: 300,
      }),
    ).toBe('2026-11-22T10:10:00.000Z');
  });
});

describe('isExpired', () => {
  it('expires only after the whole lifetime', () => {
    const received = '2026-11-17T10:00:00.000Z';
    expect(isExpired(received, new Date('2026-11-22T09:59:59Z'), queue)).toBe(false);
    expect(isExpired(received, new Date('2026-11-22T10:00:00Z'), queue)).toBe(true);
  });
});
