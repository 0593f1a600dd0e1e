import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliverDeps, DeliverStep } from '../../lambdas/core/deliver.js';
import type { MessageStore } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import { readFixture, routeTo, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const MESSAGE_ID = '<site-visit-20261120@sender.example>';
const RECIPIENTS = ['alice@example.com', 'bob@example.com', 'ceo@example.com'];

class InjectedCrash extends Error {
  constructor(where: string) {
    super(`injected crash ${where}`);
  }
}

/** Makes the worker die once, right after `step` of deliverMessage. */
function crashOnceAfter(rt: TestRuntime, step: DeliverStep): void {
  let crashed = false;
  const checkpoint = (reached: DeliverStep) => {
    if (reached === step && !crashed) {
      crashed = true;
      throw new InjectedCrash(`after ${step}`);
    }
  };
  Object.assign(rt.ctx, { checkpoint } satisfies Pick<DeliverDeps, 'checkpoint'>);
}

/** The store, except that its `nth` write (putMessage or createDelivery) lands and then the worker dies. */
function crashAfterWrite(store: MessageStore, nth: number): MessageStore {
  let writes = 0;
  const after = async <T>(write: Promise<T>): Promise<T> => {
    const result = await write;
    if (++writes === nth) throw new InjectedCrash(`after store write ${nth}`);
    return result;
  };
  return {
    ...store,
    putMessage: (m) => after(store.putMessage(m)),
    createDelivery: (d) => after(store.createDelivery(d)),
  };
}

describe('recovery from a crashed worker', () => {
  let main: TestPrimary;
  let onPremises: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  beforeEach(async () => {
    main = await TestPrimary.start();
    onPremises = await TestPrimary.start();
    // Two routes, so a crash between one route's transaction and the next is covered too.
    rt = await startTestRuntime({
      config: testConfig(null, {
        routes: [
          routeTo('on-premises', [onPremises], { addresses: ['ceo@example.com'] }),
          routeTo('main', [main], { domains: ['example.com'] }),
        ],
      }),
    });
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt.stop();
    await main.stop();
    await onPremises.stop();
  });

  /** Sweeps as the scheduled sweeper would, each time past the lease of a dead worker, until nothing is left. */
  async function sweepUntilSettled(messageId: string): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const states = (await rt.deliveries(messageId)).map((d) => d.state);
      if (states.length === RECIPIENTS.length && states.every((s) => s === 'delivered')) return;
      await rt.sweepAfter(rt.config.queue.leaseSeconds);
    }
  }

  function copies(recipient: string): number {
    return main.copiesFor(MESSAGE_ID, recipient) + onPremises.copiesFor(MESSAGE_ID, recipient);
  }

  describe('deliverMessage', () => {
    it.each(['claimed', 'read', 'recorded'] as const)(
      'delivers every recipient exactly once after a crash once %s',
      async (step) => {
        crashOnceAfter(rt, step);

        const { id } = await rt.sendAndSettle({ to: RECIPIENTS, raw: fixture });
        await sweepUntilSettled(id);

        expect((await rt.deliveries(id)).map((d) => d.state)).toEqual([
          'delivered',
          'delivered',
          'delivered',
        ]);
        expect(RECIPIENTS.map(copies)).toEqual([1, 1, 1]);
      },
    );

    it('sends one duplicate at most when the primary accepted but the state write never happened', async () => {
      // The window the README names: SMTP said 250, then the worker died before recording it.
      // Its lease runs out and the next sweep sends that transaction again; nothing else repeats.
      crashOnceAfter(rt, 'sent');

      const { id } = await rt.sendAndSettle({ to: RECIPIENTS, raw: fixture });
      await sweepUntilSettled(id);

      expect((await rt.deliveries(id)).map((d) => d.state)).toEqual(['delivered', 'delivered', 'delivered']);
      // The first route's transaction (alice and bob) was in the window; the second never started.
      expect(main.transactions.map((t) => t.to)).toEqual([
        ['alice@example.com', 'bob@example.com'],
        ['alice@example.com', 'bob@example.com'],
      ]);
      expect(RECIPIENTS.map(copies)).toEqual([2, 2, 1]);
    });
  });

  describe('ingestMessage', () => {
    // Write 1 is the message record, writes 2–4 the deliveries; after write 4 only the first
    // attempt's request is left undone.
    it.each([1, 2, 3, 4])(
      'delivers every recipient exactly once when the worker dies after store write %i and SES retries the event',
      async (nth) => {
        const event = await rt.sesEvent(`ses-crash-after-write-${nth}`, fixture, RECIPIENTS);
        const store = rt.ctx.store;
        rt.ctx.store = crashAfterWrite(store, nth);

        await expect(rt.ingest(event)).rejects.toThrow(InjectedCrash);
        rt.ctx.store = store;
        await rt.ingest(event);
        await rt.idle();
        await sweepUntilSettled(`ses-crash-after-write-${nth}`);

        expect((await rt.message(`ses-crash-after-write-${nth}`))?.recipients).toEqual(RECIPIENTS);
        expect((await rt.deliveries(`ses-crash-after-write-${nth}`)).map((d) => d.state)).toEqual([
          'delivered',
          'delivered',
          'delivered',
        ]);
        expect(RECIPIENTS.map(copies)).toEqual([1, 1, 1]);
      },
    );

    it('leaves the first write’s deliveries to the sweeper when the event is never retried', async () => {
      const id = 'ses-crash-no-retry';
      const event = await rt.sesEvent(id, fixture, RECIPIENTS);
      const store = rt.ctx.store;
      rt.ctx.store = crashAfterWrite(store, 4);

      await expect(rt.ingest(event)).rejects.toThrow(InjectedCrash);
      rt.ctx.store = store;
      await sweepUntilSettled(id);

      expect((await rt.deliveries(id)).map((d) => d.state)).toEqual(['delivered', 'delivered', 'delivered']);
      expect(RECIPIENTS.map(copies)).toEqual([1, 1, 1]);
    });
  });
});
