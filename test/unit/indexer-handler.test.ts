import { describe, expect, it } from 'vitest';
import type { IndexInbox, ReceivedIndexRequest } from '../../lambdas/adapters/sqs-index-requests.js';
import type { OrgStateName } from '../../lambdas/core/continuity.js';
import { DRAIN_BACKLOG, NORMAL_INDEX_INTERVAL_MINUTES } from '../../lambdas/core/search/indexer.js';
import { createIndexerHandler } from '../../lambdas/handlers/indexer.js';
import type { BlobStore } from '../../lambdas/ports.js';
import { compose, webmailHarness } from '../support/webmail.js';

/** An SQS queue in memory: requests stay until deleted, as the indexer's queue keeps them. */
function memoryInbox(requests: { messageId: string; address: string }[], backlog?: number) {
  let queued: ReceivedIndexRequest[] = requests.map((r, i) => ({ ...r, receipt: `h${i}` }));
  let handedOut = 0;
  const inbox: IndexInbox = {
    async backlog() {
      return backlog ?? queued.length;
    },
    async receive() {
      // Each request once per drain, as the visibility timeout hides a received one.
      const batch = queued.slice(handedOut, handedOut + 10);
      handedOut += batch.length;
      return batch;
    },
    async delete(receipts) {
      queued = queued.filter((r) => !receipts.includes(r.receipt));
    },
  };
  return { inbox, left: () => queued.map((r) => r.messageId) };
}

/** Index blob writes, by kind. */
function countingBlobs(inner: BlobStore, fail?: string) {
  const puts = { manifests: 0, segments: 0 };
  const blobs: BlobStore = {
    getRaw: (key) => inner.getRaw(key),
    async putRaw(key, body) {
      if (fail && decodeURIComponent(key).includes(fail)) throw new Error('SlowDown');
      if (key.endsWith('.json')) puts.manifests++;
      else puts.segments++;
      await inner.putRaw(key, body);
    },
  };
  return { blobs, puts };
}

async function setup(state: OrgStateName = 'normal') {
  const h = await webmailHarness();
  const mail = (subject: string, to: string) =>
    compose({ from: 'bob@example.org', to, subject, text: `About ${subject}` });
  const ids: { messageId: string; address: string }[] = [];
  for (const [subject, to] of [
    ['quarterly budget', 'alice@example.com'],
    ['budget follow-up', 'alice@example.com'],
    ['budget figures', 'alice@example.com'],
    ['lunch menu', 'bob@example.com'],
  ] as const) {
    const id = await h.receive(await mail(subject, to), { recipients: [to], index: false });
    ids.push({ messageId: id, address: to });
  }
  if (state !== 'normal') {
    const since = h.clock.now().toISOString();
    await h.store.putOrg(
      { state, eventId: 'e1', since, streaks: {}, healthyRounds: 0, lastRoundAt: null, version: 0 },
      0,
    );
  }
  return { h, ids };
}

const search = async (h: Awaited<ReturnType<typeof webmailHarness>>, q: string) => {
  const found = await h.call('GET', '/mail/api/search', { query: { q } });
  return (found.body.messages as { id: string }[]).map((m) => m.id).sort();
};

describe('createIndexerHandler', () => {
  it('writes each mailbox once per drain for all its new mail, so a search finds every message', async () => {
    const { h, ids } = await setup();
    const { blobs, puts } = countingBlobs(h.indexBlobs);
    const queue = memoryInbox(ids);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, indexBlobs: blobs, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    const out = await handler({});
    expect(out).toEqual({ drained: true, indexed: 4, failedMailboxes: 0 });
    // Two mailboxes: one segment and one manifest each, not two writes per message.
    expect(puts).toEqual({ manifests: 2, segments: 2 });
    expect(queue.left()).toEqual([]);
    const alice = ids.filter((r) => r.address === 'alice@example.com').map((r) => r.messageId);
    expect(await search(h, 'budget')).toEqual(alice.sort());
  });

  it('in normal times leaves requests waiting until the next interval boundary', async () => {
    const { h, ids } = await setup();
    h.clock.advance(60); // 10:01, between two drain boundaries
    const queue = memoryInbox(ids);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    expect((await handler({})).drained).toBe(false);
    expect(queue.left()).toHaveLength(4);
    h.clock.advance((NORMAL_INDEX_INTERVAL_MINUTES - 1) * 60);
    expect(await handler({})).toMatchObject({ drained: true, indexed: 4 });
    expect(queue.left()).toEqual([]);
  });

  it('drains at once when a backlog has built up, whatever the minute', async () => {
    const { h, ids } = await setup();
    h.clock.advance(60);
    const queue = memoryInbox(ids, DRAIN_BACKLOG);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    expect((await handler({})).drained).toBe(true);
  });

  it.each(['alerting', 'continuity', 'recovering'] as const)(
    'drains every run while the organisation is %s, so staff find new mail within a minute',
    async (state) => {
      const { h, ids } = await setup(state);
      h.clock.advance(60);
      const queue = memoryInbox(ids);
      const handler = createIndexerHandler(() => ({
        deps: { ...h.ctx, cache: undefined },
        inbox: queue.inbox,
        continuity: h.store,
      }));
      expect(await handler({})).toMatchObject({ drained: true, indexed: 4 });
      expect(await search(h, 'budget')).toHaveLength(3);
    },
  );

  it('keeps only the failed mailbox’s requests on the queue', async () => {
    const { h, ids } = await setup();
    const { blobs } = countingBlobs(h.indexBlobs, 'alice@example.com');
    const queue = memoryInbox(ids);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, indexBlobs: blobs, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    expect(await handler({})).toMatchObject({ indexed: 1, failedMailboxes: 1 });
    expect(queue.left().sort()).toEqual(
      ids
        .filter((r) => r.address === 'alice@example.com')
        .map((r) => r.messageId)
        .sort(),
    );
  });

  it('treats a request for a message with no record as done', async () => {
    const { h } = await setup();
    const queue = memoryInbox([{ messageId: 'gone', address: 'alice@example.com' }]);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    expect(await handler({})).toMatchObject({ drained: true, failedMailboxes: 0 });
    expect(queue.left()).toEqual([]);
  });
});
