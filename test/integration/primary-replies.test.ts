import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const MESSAGE_ID = '<site-visit-20261120@sender.example>';
const at = (rt: TestRuntime, seconds: number) =>
  new Date(rt.clock.now().getTime() + seconds * 1000).toISOString();

describe('deliverMessage against a primary that answers no', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  async function start(routeOverrides = {}) {
    rt = await startTestRuntime({ config: testConfig(primary, {}, routeOverrides) });
  }

  beforeEach(async () => {
    primary = await TestPrimary.start();
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt?.stop();
    await primary.stop();
  });

  describe('when the primary answers 4xx', () => {
    beforeEach(() => start());

    it.each([
      [421, 'rcpt'],
      [450, 'rcpt'],
      [421, 'data'],
      [450, 'data'],
    ] as const)('defers on %i at %s with the reply in lastError', async (code, stage) => {
      await primary.tempfail(code, stage);

      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      const d = await rt.delivery(id, 'alice@example.com');
      expect(d).toMatchObject({ state: 'deferred', attempts: 1, nextAttemptAt: at(rt, 300) });
      expect(d.lastError).toContain(`${primary.address}: ${code} `);
    });

    it.each([
      [421, 'rcpt'],
      [450, 'rcpt'],
      [421, 'data'],
      [450, 'data'],
    ] as const)('delivers once the primary recovers from %i at %s', async (code, stage) => {
      await primary.tempfail(code, stage);
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await rt.sweepAfter(300);
      await primary.accept();

      await rt.sweepAfter(600);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({
        state: 'delivered',
        attempts: 3,
        lastError: null,
      });
      expect(primary.copiesFor(MESSAGE_ID, 'alice@example.com')).toBe(1);
    });

    it('doubles the backoff across attempts: 300, 600, 1200, 2400, then 4000 s', async () => {
      await primary.tempfail(450, 'rcpt');
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      const waits: number[] = [];

      for (let attempt = 1; attempt <= 5; attempt++) {
        const d = await rt.delivery(id, 'alice@example.com');
        expect(d).toMatchObject({ state: 'deferred', attempts: attempt });
        const wait = (Date.parse(d.nextAttemptAt ?? '') - rt.clock.now().getTime()) / 1000;
        waits.push(wait);
        await rt.sweepAfter(wait);
      }

      expect(waits).toEqual([300, 600, 1200, 2400, 4000]);
    });
  });

  describe('when the primary rejects one recipient of three', () => {
    beforeEach(async () => {
      await start();
      await primary.reject('bob@example.com');
    });

    it('fails only that recipient, with the 550 reply as the reason', async () => {
      const { id } = await rt.sendAndSettle({
        to: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
        raw: fixture,
      });

      const deliveries = await rt.deliveries(id);
      expect(deliveries.map((d) => [d.recipient, d.state])).toEqual([
        ['alice@example.com', 'delivered'],
        ['bob@example.com', 'failed'],
        ['carol@example.com', 'delivered'],
      ]);
      expect(deliveries[1]?.lastError).toBe(
        `${primary.address}: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown`,
      );
    });

    it('delivers the other two in one transaction carrying both', async () => {
      await rt.sendAndSettle({
        to: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
        raw: fixture,
      });

      expect(primary.transactions.map((t) => t.to)).toEqual([['alice@example.com', 'carol@example.com']]);
    });

    it('does not send the failed recipient again on later sweeps', async () => {
      const { id } = await rt.sendAndSettle({
        to: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
        raw: fixture,
      });
      await primary.accept();

      await rt.sweepAfter(4000);

      expect(await rt.delivery(id, 'bob@example.com')).toMatchObject({ state: 'failed', attempts: 1 });
      expect(primary.copiesFor(MESSAGE_ID, 'bob@example.com')).toBe(0);
    });
  });
});
