import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';
import { readFixture, routeTo, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const MESSAGE_ID = '<site-visit-20261120@sender.example>';

describe('routing to the primary', () => {
  let first: TestPrimary;
  let second: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  beforeEach(async () => {
    first = await TestPrimary.start();
    second = await TestPrimary.start();
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt.stop();
    await first.stop();
    await second.stop();
  });

  describe('a route with two hosts', () => {
    beforeEach(async () => {
      rt = await startTestRuntime({
        config: testConfig(null, {
          routes: [routeTo('primary', [first, second], { domains: ['example.com'] })],
        }),
      });
    });

    it('delivers through the second host when the first refuses connections', async () => {
      await first.refuse();

      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      const d = await rt.delivery(id, 'alice@example.com');
      expect(d).toMatchObject({ state: 'delivered', attempts: 1 });
      expect(d.lastResponse).toMatch(new RegExp(`^${second.address}: 250 `));
      expect(second.copiesFor(MESSAGE_ID, 'alice@example.com')).toBe(1);
    });

    it('tries the first host before the second', async () => {
      // 421 at the greeting: the first host is reached but will not take a session.
      await first.tempfail(421, 'connect');

      await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      expect(first.sessions).toHaveLength(1);
      expect(first.transactions).toHaveLength(0);
      expect(second.transactions).toHaveLength(1);
      expect(first.sessions[0]?.at).toBeLessThanOrEqual(second.transactions[0]?.at ?? 0);
    });

    it('sends nothing to the second host while the first accepts', async () => {
      await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      expect(first.copiesFor(MESSAGE_ID, 'alice@example.com')).toBe(1);
      expect(second.sessions).toHaveLength(0);
    });

    it('defers naming both hosts when neither can be reached', async () => {
      await first.refuse();
      await second.refuse();

      const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

      const d = await rt.delivery(id, 'alice@example.com');
      expect(d.state).toBe('deferred');
      expect(d.lastError).toMatch(
        new RegExp(`^${first.address}: connect ECONNREFUSED .*; ${second.address}: connect ECONNREFUSED`),
      );
    });
  });

  describe('split routing', () => {
    beforeEach(async () => {
      // The CEO's mailbox is still on premises; everyone else at example.com is in the cloud.
      rt = await startTestRuntime({
        config: testConfig(null, {
          routes: [
            routeTo('on-premises', [second], { addresses: ['ceo@example.com'] }),
            routeTo('cloud', [first], { domains: ['example.com'] }),
          ],
        }),
      });
    });

    it('records each recipient on its own route', async () => {
      const { id } = await rt.sendAndSettle({ to: ['ceo@example.com', 'staff@example.com'], raw: fixture });

      expect((await rt.deliveries(id)).map((d) => [d.recipient, d.route, d.state])).toEqual([
        ['ceo@example.com', 'on-premises', 'delivered'],
        ['staff@example.com', 'cloud', 'delivered'],
      ]);
    });

    it('sends each recipient to its own primary only', async () => {
      await rt.sendAndSettle({ to: ['ceo@example.com', 'staff@example.com'], raw: fixture });

      expect(second.transactions.map((t) => t.to)).toEqual([['ceo@example.com']]);
      expect(first.transactions.map((t) => t.to)).toEqual([['staff@example.com']]);
    });
  });
});
