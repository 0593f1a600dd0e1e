import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { HOLD_ALL } from '../../lambdas/core/holds.js';
import { holdRecipient, holdScope, releaseDelivery, releaseScope } from '../../lambdas/core/queue-ops.js';
import { sweepDue } from '../../lambdas/core/sweep.js';
import type { Mailer } from '../../lambdas/ports.js';
import { delivery, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

function setup() {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const deps = { store, clock, log: silentLogger };
  return { store, clock, deps };
}

async function seed(store: MemoryStore, items: Parameters<typeof delivery>[0][]) {
  for (const d of items) await store.createDelivery(delivery(d));
}

describe('holdScope / releaseScope', () => {
  it('holds queued and deferred mail of the route only, and releases it oldest first', async () => {
    const { store, deps } = setup();
    await seed(store, [
      { messageId: 'b', route: 'cloud', state: 'deferred', receivedAt: '2026-11-22T09:02:00.000Z' },
      {
        messageId: 'a',
        route: 'cloud',
        state: 'queued',
        receivedAt: '2026-11-22T09:01:00.000Z',
        nextAttemptAt: '2026-11-22T09:01:00.000Z',
      },
      { messageId: 'c', route: 'onprem', state: 'queued' },
      { messageId: 'd', route: 'cloud', state: 'failed' },
    ]);
    expect(await holdScope('cloud', 'continuity', 'admin@example.com', deps)).toBe(2);
    const counts = await store.countByState();
    expect(counts).toMatchObject({ held: 2, queued: 1, failed: 1 });
    expect(await store.listHolds()).toEqual([
      { scope: 'cloud', reason: 'continuity', since: '2026-11-22T10:00:00.000Z', by: 'admin@example.com' },
    ]);
    const released = await releaseScope('cloud', deps);
    expect(released.map((d) => d.messageId)).toEqual(['a', 'b']);
    expect(released.every((d) => d.state === 'queued')).toBe(true);
    expect(await store.listHolds()).toEqual([]);
  });

  it('keeps mail held while another hold still covers it', async () => {
    const { store, deps } = setup();
    await seed(store, [{ messageId: 'a', route: 'cloud' }]);
    await holdScope(HOLD_ALL, 'admin', 'a', deps);
    await holdScope('cloud', 'continuity', 'b', deps);
    expect(await releaseScope('cloud', deps)).toEqual([]);
    expect((await releaseScope(HOLD_ALL, deps)).map((d) => d.messageId)).toEqual(['a']);
  });
});

describe('holdRecipient / releaseDelivery', () => {
  it('holds one recipient and releases it due at once', async () => {
    const { store, deps, clock } = setup();
    await seed(store, [{ state: 'deferred', nextAttemptAt: '2026-11-22T11:00:00.000Z' }]);
    const key = { messageId: 'm1', recipient: 'alice@example.com' };
    expect((await holdRecipient(key, 'admin', deps)).state).toBe('held');
    clock.advance(10);
    expect(await releaseDelivery(key, deps)).toMatchObject({
      state: 'queued',
      nextAttemptAt: clock.now().toISOString(),
    });
  });

  it('retries a failed delivery', async () => {
    const { store, deps } = setup();
    await seed(store, [{ state: 'failed', lastError: '550' }]);
    expect((await releaseDelivery({ messageId: 'm1', recipient: 'alice@example.com' }, deps)).state).toBe(
      'queued',
    );
  });

  it('refuses to release delivered mail, so it is never sent twice', async () => {
    const { store, deps } = setup();
    await seed(store, [{ state: 'delivered' }]);
    await expect(releaseDelivery({ messageId: 'm1', recipient: 'alice@example.com' }, deps)).rejects.toThrow(
      /cannot go from delivered to queued/,
    );
  });

  it('says which delivery is missing', async () => {
    const { deps } = setup();
    await expect(releaseDelivery({ messageId: 'nope', recipient: 'x@example.com' }, deps)).rejects.toThrow(
      'delivery nope for x@example.com not found',
    );
  });
});

describe('sweepDue', () => {
  it('attempts due deferred mail and stale leases, and leaves future retries and fresh mail alone', async () => {
    const { store, clock } = setup();
    const blobs = new MemoryBlobs();
    const sent: string[] = [];
    const mailer: Mailer = {
      async send(_route, envelope) {
        sent.push(...envelope.to);
        return envelope.to.map((recipient) => ({
          recipient,
          status: 'delivered' as const,
          response: '250',
          host: 'h',
        }));
      },
    };
    for (const id of ['due', 'future', 'lease', 'fresh']) {
      blobs.objects.set(`raw/${id}`, simpleMessage);
      await store.putMessage({
        id,
        rawKey: `raw/${id}`,
        envelopeFrom: 's@example.org',
        recipients: [`${id}@example.com`],
        receivedAt: '2026-11-22T09:00:00.000Z',
        size: 1,
        from: null,
        to: [],
        cc: [],
        subject: null,
        date: null,
        messageIdHeader: null,
        inReplyTo: null,
        snippet: '',
        attachments: [],
        verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
        parseError: null,
      });
    }
    const now = clock.now().getTime();
    const at = (s: number) => new Date(now + s * 1000).toISOString();
    await seed(store, [
      { messageId: 'due', recipient: 'due@example.com', state: 'deferred', nextAttemptAt: at(-1) },
      { messageId: 'future', recipient: 'future@example.com', state: 'deferred', nextAttemptAt: at(60) },
      {
        messageId: 'lease',
        recipient: 'lease@example.com',
        state: 'delivering',
        nextAttemptAt: at(-5),
        attempts: 1,
      },
      { messageId: 'fresh', recipient: 'fresh@example.com', state: 'queued', nextAttemptAt: at(-2) },
    ]);
    const result = await sweepDue({ store, blobs, mailer, config: testConfig(), clock, log: silentLogger });
    expect(result).toMatchObject({ messages: 2, delivered: 2 });
    expect(sent.sort()).toEqual(['due@example.com', 'lease@example.com']);
  });
});
