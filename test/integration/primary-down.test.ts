import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const MESSAGE_ID = '<site-visit-20261120@sender.example>';
const at = (rt: TestRuntime, seconds: number) =>
  new Date(rt.clock.now().getTime() + seconds * 1000).toISOString();

describe('deliverMessage against a primary that is down or silent', () => {
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

  describe('when the primary refuses connections', () => {
    beforeEach(async () => {
      await start();
      await primary.refuse();
    });

    it('defers with one attempt, a retry in 300 s and the host in lastError', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      const d = await rt.delivery(id, 'alice@example.com');
      expect(d).toMatchObject({ state: 'deferred', attempts: 1, nextAttemptAt: at(rt, 300) });
      expect(d.lastError).toContain(`${primary.address}: connect ECONNREFUSED`);
    });

    it('does not retry before the backoff has passed', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await primary.accept();

      await rt.sweepAfter(299);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'deferred', attempts: 1 });
      expect(primary.transactions).toHaveLength(0);
    });

    it('delivers exactly once when the primary is back and a sweep runs after nextAttemptAt', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      await primary.accept();

      await rt.sweepAfter(300);
      await rt.sweepAfter(3600);

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered', attempts: 2 });
      expect(primary.copiesFor(MESSAGE_ID, 'alice@example.com')).toBe(1);
    });
  });

  describe('when the primary stays down past the queue lifetime', () => {
    beforeEach(async () => {
      await start();
      await primary.refuse();
    });

    it('keeps retrying until the lifetime is used up, then fails as expired with the last error', async () => {
      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
      const lifetimeSeconds = rt.config.queue.lifetimeHours * 3600;

      await rt.sweepAfter(lifetimeSeconds - 60);
      const before = await rt.delivery(id, 'alice@example.com');
      await rt.sweepAfter(rt.config.queue.maxBackoffSeconds);

      expect(before.state).toBe('deferred');
      const d = await rt.delivery(id, 'alice@example.com');
      expect(d).toMatchObject({ state: 'failed', reason: 'expired' });
      expect(d.lastError).toMatch(
        new RegExp(`^expired after 120 h in the queue; last error: ${primary.address}: connect ECONNREFUSED`),
      );
    });
  });

  describe('when the primary stalls past the timeout', () => {
    beforeEach(() => start({ connectTimeoutSeconds: 1, socketTimeoutSeconds: 1 }));

    it.each(['greeting', 'data'] as const)(
      'defers, not fails, when it never answers the %s',
      async (stage) => {
        await primary.stall(stage);

        const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

        const d = await rt.delivery(id, 'alice@example.com');
        expect(d).toMatchObject({ state: 'deferred', attempts: 1, nextAttemptAt: at(rt, 300) });
        expect(d.lastError).toMatch(new RegExp(`${primary.address}: .*(timeout|never received)`, 'i'));
      },
    );

    it.each(['greeting', 'data'] as const)(
      'keeps the message and delivers it once the primary answers again (stalled at the %s)',
      async (stage) => {
        await primary.stall(stage);
        const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });
        await primary.accept();

        await rt.sweepAfter(300);

        expect((await rt.ctx.blobs.getRaw(`raw/${id}`)).equals(fixture)).toBe(true);
        expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered', attempts: 2 });
        expect(primary.copiesFor(MESSAGE_ID, 'alice@example.com')).toBe(1);
      },
    );
  });
});
