import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { createSmtpMailer, type SmtpMailer } from '../../lambdas/adapters/smtp-mailer.js';
import { type LifeboatConfig, parseConfig } from '../../lambdas/core/config.js';
import { worstCaseAttemptSeconds } from '../../lambdas/core/deliver.js';
import { DEAD_ROUTE_FAILURES, SWEEP_FINISH_MARGIN_MS, sweepDue } from '../../lambdas/core/sweep.js';
import { createSweepHandler } from '../../lambdas/handlers/sweep.js';
import { delivery, messageRecord, simpleMessage } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';
import { TestPrimary } from '../support/primary.js';

const MESSAGES = 20;

/** A primary behind a firewall that drops packets, as the sweep sees it: TCP opens, no greeting ever comes. */
describe('a sweep against a blackholed primary', () => {
  let primary: TestPrimary;
  let mailer: SmtpMailer;
  let config: LifeboatConfig;
  let store: MemoryStore;
  let blobs: MemoryBlobs;
  let clock: ManualClock;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    await primary.stall('greeting');
    config = parseConfig({
      domains: ['example.com'],
      routes: [
        {
          name: 'primary',
          domains: ['example.com'],
          hosts: [{ host: primary.host, port: primary.port }],
          tls: 'none',
          // The least the schema allows, so each silent session costs a second, not thirty.
          connectTimeoutSeconds: 1,
          socketTimeoutSeconds: 1,
        },
      ],
    });
    mailer = createSmtpMailer({ hostname: 'lifeboat.test' });
    store = new MemoryStore();
    blobs = new MemoryBlobs();
    clock = new ManualClock();
    const due = new Date(clock.now().getTime() - 1000).toISOString();
    for (let i = 0; i < MESSAGES; i++) {
      const id = `m${i}`;
      blobs.objects.set(`raw/${id}`, simpleMessage);
      await store.putMessage(messageRecord({ id, recipients: [`user${i}@example.com`] }));
      await store.createDelivery(
        delivery({
          messageId: id,
          recipient: `user${i}@example.com`,
          route: 'primary',
          state: 'deferred',
          attempts: 1,
          nextAttemptAt: due,
        }),
      );
    }
  });

  afterEach(async () => {
    await mailer.close();
    await primary.stop();
  });

  /** Milliseconds left of a budget that started now, as Lambda's getRemainingTimeInMillis counts. */
  function budget(ms: number) {
    const end = performance.now() + ms;
    return () => end - performance.now();
  }

  it(`contacts the route at most ${DEAD_ROUTE_FAILURES} times and returns within its budget`, async () => {
    const remaining = budget(60_000);

    const result = await sweepDue(
      { store, blobs, mailer, config, clock, log: silentLogger },
      { remainingMs: remaining },
    );

    expect(remaining()).toBeGreaterThan(0);
    expect(primary.sessions.length).toBeLessThanOrEqual(DEAD_ROUTE_FAILURES);
    expect(result).toMatchObject({
      deferred: DEAD_ROUTE_FAILURES,
      postponed: MESSAGES - DEAD_ROUTE_FAILURES,
    });
    const skipped = [...store.deliveries.values()].filter((d) => d.attempts === 1);
    expect(skipped).toHaveLength(MESSAGES - DEAD_ROUTE_FAILURES);
    for (const d of skipped) {
      expect(d.state).toBe('deferred');
      expect(d.lastError).toBe(
        `route primary: skipped after ${DEAD_ROUTE_FAILURES} consecutive connection failures in this sweep`,
      );
    }
  });

  it('stops taking messages when the time left cannot fit another attempt, and leaves them due', async () => {
    // Room for about two silent sessions before the worst case (4 s) and the margin no longer fit.
    const worst = worstCaseAttemptSeconds(config.routes[0] as LifeboatConfig['routes'][number]) * 1000;
    const remaining = budget(worst + SWEEP_FINISH_MARGIN_MS + 1_500);
    const handler = createSweepHandler(
      () =>
        ({ store, continuity: store, blobs, mailer, config, clock, log: silentLogger }) as unknown as Context,
      () => {},
    );

    const result = await handler({}, { getRemainingTimeInMillis: remaining });

    expect(remaining()).toBeGreaterThan(0);
    expect(result.leftForLater).toBeGreaterThan(0);
    expect(primary.sessions.length).toBe(result.messages);
    expect(result.messages).toBeLessThan(DEAD_ROUTE_FAILURES);
    const untouched = [...store.deliveries.values()].filter((d) => d.attempts === 1);
    expect(untouched.length).toBe(MESSAGES - result.messages);
    for (const d of untouched) expect(d).toMatchObject({ state: 'deferred', version: 1 });
  });
});
