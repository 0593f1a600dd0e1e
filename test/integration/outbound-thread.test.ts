import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliverDeps, DeliverStep } from '../../lambdas/core/deliver.js';
import { DatabaseWatchingPrimary, gatewayIdOf } from '../support/primary.js';
import { startTestRuntime, TEST_DOMAIN, type TestRuntime, testConfig } from '../support/runtime.js';

/** How long the primary keeps the test's thread busy after its 250, at most: a give-up, not a timing. */
const BLOCK_LIMIT_MS = 10_000;

const message = Buffer.from(
  [
    'From: Sender <sender@sender.example>',
    `To: alice@${TEST_DOMAIN}`,
    'Subject: outbound thread',
    'Message-ID: <outbound-thread@sender.example>',
    '',
    'Body.',
    '',
  ].join('\r\n'),
);

/**
 * A primary in the test's own thread, which is also the runtime's main thread: right after its
 * 250 it keeps that thread busy, reading the gateway's database through a connection of its own,
 * until the delivery reads `delivered` (or BLOCK_LIMIT_MS). Only a write that needs no turn of
 * the main thread's event loop can land meanwhile.
 */
class BlockingPrimary extends DatabaseWatchingPrimary {
  /** Each delivery's state as last read while the main thread was held. */
  readonly seenWhileBlocked: Array<string | undefined> = [];

  constructor() {
    super({
      onData: (stream, _session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          callback(null, '2.0.0 Ok');
          const id = gatewayIdOf(Buffer.concat(chunks)) ?? '';
          let state: string | undefined;
          const until = performance.now() + BLOCK_LIMIT_MS;
          do state = this.deliveryState(id);
          while (state !== 'delivered' && performance.now() < until);
          this.seenWhileBlocked.push(state);
        });
      },
    });
  }
}

describe('outbound thread', () => {
  let primary: BlockingPrimary;
  let rt: TestRuntime;

  beforeEach(async () => {
    primary = new BlockingPrimary();
    await primary.listen();
    const route = { host: '127.0.0.1', port: primary.port } as Parameters<typeof testConfig>[0];
    rt = await startTestRuntime({ config: testConfig(route), outboundThread: true });
    primary.watch(rt.layout.database);
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  it('records delivered while the main thread is still busy after the primary’s 250', async () => {
    const { id } = await rt.sendAndSettle({ to: [`alice@${TEST_DOMAIN}`], raw: message });

    expect(primary.seenWhileBlocked).toEqual(['delivered']);
    const d = await rt.delivery(id, `alice@${TEST_DOMAIN}`);
    expect(d.state).toBe('delivered');
    expect(d.attempts).toBe(1);
    // Counted once, by the thread's write, though the main thread saw the outcome too.
    expect((await rt.ctx.store.countByState()).delivered).toBe(1);
  });

  it('leaves nothing to send again when the worker dies right after the primary’s reply', async () => {
    let died = false;
    const checkpoint = (step: DeliverStep) => {
      if (step === 'sent' && !died) {
        died = true;
        throw new Error('worker died');
      }
    };
    Object.assign(rt.ctx, { checkpoint } satisfies Pick<DeliverDeps, 'checkpoint'>);

    const { id } = await rt.sendAndSettle({ to: [`alice@${TEST_DOMAIN}`], raw: message });
    await rt.sweepAfter(24 * 3600);

    expect(died).toBe(true);
    expect(primary.seenWhileBlocked).toEqual(['delivered']);
    expect((await rt.delivery(id, `alice@${TEST_DOMAIN}`)).state).toBe('delivered');
  });
});
