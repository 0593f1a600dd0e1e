import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliverDeps, DeliverStep } from '../../lambdas/core/deliver.js';
import { holdScope, releaseDelivery, releaseScope } from '../../lambdas/core/queue-ops.js';
import { QUEUED_GRACE_MS } from '../../lambdas/core/sweep.js';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const SITE_VISIT = '<site-visit-20261120@sender.example>';
const EICAR_MAIL = '<eicar-test-91c2@sender.example>';
/** Released mail is queued; the scheduled sweeper picks it up once its first-attempt grace has passed. */
const SWEEPER_PICKS_UP = QUEUED_GRACE_MS / 1000 + 1;

describe('holds and quarantine', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    rt = await startTestRuntime({ config: testConfig(primary) });
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  describe('holdScope', () => {
    it('holds mail that arrives during the hold and sends nothing', async () => {
      await holdScope('*', 'continuity', 'admin@example.com', rt.ctx);

      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await rt.sweepAfter(3600);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({
        state: 'held',
        reason: 'continuity',
        attempts: 0,
      });
      expect(primary.sessions).toHaveLength(0);
    });

    it('holds mail that was deferred when the hold was placed', async () => {
      await primary.refuse();
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await primary.accept();

      const moved = await holdScope('*', 'continuity', 'admin@example.com', rt.ctx);
      await rt.sweepAfter(3600);

      expect(moved).toBe(1);
      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'held', attempts: 1 });
      expect(primary.transactions).toHaveLength(0);
    });

    // Regression: a delivery left `delivering` by a crashed worker was taken over and sent to the
    // primary once its lease ran out, although continuity had held everything meanwhile.
    it('holds a crashed worker’s delivery when its lease runs out, instead of sending it', async () => {
      let crashed = false;
      const checkpoint = (step: DeliverStep) => {
        if (step === 'claimed' && !crashed) {
          crashed = true;
          throw new Error('worker died holding the lease');
        }
      };
      Object.assign(rt.ctx, { checkpoint } satisfies Pick<DeliverDeps, 'checkpoint'>);
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      await holdScope('*', 'continuity', 'admin@example.com', rt.ctx);
      await rt.sweepAfter(rt.config.queue.leaseSeconds);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({
        state: 'held',
        reason: 'continuity',
      });
      expect(primary.sessions).toHaveLength(0);
    });
  });

  describe('releaseScope', () => {
    it('delivers held mail exactly once', async () => {
      await holdScope('*', 'continuity', 'admin@example.com', rt.ctx);
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com', 'bob@example.com'], raw: fixture });

      const released = await releaseScope('*', rt.ctx);
      await rt.sweepAfter(SWEEPER_PICKS_UP);
      await rt.sweepAfter(3600);

      expect(released.map((d) => d.recipient).sort()).toEqual(['alice@example.com', 'bob@example.com']);
      expect((await rt.deliveries(id)).map((d) => d.state)).toEqual(['delivered', 'delivered']);
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
      expect(primary.copiesFor(SITE_VISIT, 'bob@example.com')).toBe(1);
    });

    it('delivers mail that was deferred before the hold exactly once', async () => {
      await primary.refuse();
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await holdScope('*', 'continuity', 'admin@example.com', rt.ctx);
      await primary.accept();

      await releaseScope('*', rt.ctx);
      await rt.sweepAfter(SWEEPER_PICKS_UP);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered', attempts: 2 });
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    });
  });

  describe('quarantine', () => {
    let eicar: Buffer;
    beforeEach(async () => {
      eicar = await readFixture('eicar.eml');
    });

    it('quarantines a message carrying the EICAR test file and never sends it', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: eicar });
      await rt.sweepAfter(3600);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({
        state: 'quarantined',
        reason: 'policy:virus',
        attempts: 0,
      });
      expect((await rt.message(id))?.verdicts.virus).toBe('FAIL');
      expect(primary.sessions).toHaveLength(0);
    });

    it('sends a quarantined message once an admin releases it', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: eicar });

      const released = await releaseDelivery({ messageId: id, recipient: 'alice@example.com' }, rt.ctx);
      await rt.sweepAfter(SWEEPER_PICKS_UP);
      await rt.sweepAfter(3600);

      expect(released.state).toBe('queued');
      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered', attempts: 1 });
      expect(primary.copiesFor(EICAR_MAIL, 'alice@example.com')).toBe(1);
    });
  });
});
