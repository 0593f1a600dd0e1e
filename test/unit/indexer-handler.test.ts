import { describe, expect, it } from 'vitest';
import type { IndexInbox, ReceivedIndexRequest } from '../../lambdas/adapters/sqs-index-requests.js';
import { MAX_MESSAGE_BYTES } from '../../lambdas/core/config.js';
import type { OrgStateName } from '../../lambdas/core/continuity.js';
import {
  DRAIN_BACKLOG,
  indexBatch,
  NORMAL_INDEX_INTERVAL_MINUTES,
  PARSE_BYTES_IN_FLIGHT,
  PARSE_CONCURRENCY,
} from '../../lambdas/core/search/indexer.js';
import { MAX_INDEXED_TEXT_CHARS } from '../../lambdas/core/search/mailbox-index.js';
import { readMessage } from '../../lambdas/core/summarise.js';
import {
  createIndexerHandler,
  DRAIN_RECEIVERS,
  DRAIN_RESERVE_MS,
  DRAIN_RUN_BODY_BYTES,
} from '../../lambdas/handlers/indexer.js';
import { type BlobStore, JOBS_OWNER } from '../../lambdas/ports.js';
import { MemorySendingStore } from '../support/memory-sending.js';
import { compose, webmailHarness } from '../support/webmail.js';

/**
 * An SQS queue in memory: requests stay until deleted, and a received one is hidden until it is
 * released (the visibility timeout outlasts a run). Counts the receive calls in flight at once.
 */
function memoryInbox(requests: Omit<ReceivedIndexRequest, 'receipt'>[], backlog?: number) {
  let queued: ReceivedIndexRequest[] = requests.map((r, i) => ({ ...r, receipt: `h${i}` }));
  const hidden = new Set<string>();
  let inFlight = 0;
  let mostInFlight = 0;
  let mostHeld = 0;
  const inbox: IndexInbox = {
    async backlog() {
      return backlog ?? queued.length;
    },
    async receive() {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      // A round trip: other receives may start meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      const batch = queued.filter((r) => !hidden.has(r.receipt)).slice(0, 10);
      for (const r of batch) hidden.add(r.receipt);
      mostHeld = Math.max(mostHeld, hidden.size);
      return batch;
    },
    async delete(receipts) {
      const gone = new Set(receipts);
      queued = queued.filter((r) => !gone.has(r.receipt));
      for (const r of receipts) hidden.delete(r);
    },
    async release(receipts) {
      for (const r of receipts) hidden.delete(r);
    },
  };
  return {
    inbox,
    left: () => queued.map((r) => r.messageId),
    deleted: () => requests.length - queued.length,
    mostInFlight: () => mostInFlight,
    /** Most requests received and not yet deleted or released, at once. */
    mostHeld: () => mostHeld,
  };
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

/** Milliseconds between two drains in normal times. */
const INTERVAL_MS = NORMAL_INDEX_INTERVAL_MINUTES * 60_000;

async function setup(state: OrgStateName = 'normal') {
  const h = await webmailHarness();
  // On a drain boundary of the UTC clock, where a run in normal times drains.
  h.clock.current = new Date(Math.ceil(h.clock.now().getTime() / INTERVAL_MS) * INTERVAL_MS);
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
    h.clock.advance(60); // a minute past a drain boundary
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

  it('writes each mailbox once per drain, however many rounds the drain takes', async () => {
    const { h, ids } = await setup();
    const { blobs, puts } = countingBlobs(h.indexBlobs);
    // Alice's mail arrives around Bob's; rounds of two requests.
    const [a0, a1, a2, b0] = ids as [(typeof ids)[0], (typeof ids)[0], (typeof ids)[0], (typeof ids)[0]];
    const queue = memoryInbox([a0, b0, a1, a2]);
    const handler = createIndexerHandler(
      () => ({
        deps: { ...h.ctx, indexBlobs: blobs, cache: undefined },
        inbox: queue.inbox,
        continuity: h.store,
      }),
      { roundMessages: 2 },
    );
    expect(await handler({})).toMatchObject({ drained: true, indexed: 4 });
    expect(puts.manifests).toBe(2);
    expect(await search(h, 'budget')).toHaveLength(3);
  });

  it('drains every run while a drill runs, before the probes have detected its outage', async () => {
    const { h, ids } = await setup();
    h.clock.advance(60);
    const drills = new MemorySendingStore();
    const drill = (state: 'running' | 'finished') =>
      drills.putSending(
        {
          kind: 'drill',
          user: JOBS_OWNER,
          id: 'd1',
          version: 1,
          dueAt: null,
          expiresAt: 0,
          data: { id: 'd1', state },
        },
        state === 'running' ? 0 : 1,
      );
    await drill('running');
    const queue = memoryInbox(ids);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
      drills,
    }));
    expect(await handler({})).toMatchObject({ drained: true, indexed: 4 });
    expect(await search(h, 'budget')).toHaveLength(3);
    // Once it has finished, normal times again: the next run waits for the boundary.
    await drill('finished');
    const later = memoryInbox(ids);
    const next = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: later.inbox,
      continuity: h.store,
      drills,
    }));
    h.clock.advance(60);
    expect((await next({})).drained).toBe(false);
  });

  it('receives a backlog with several calls in flight, not one at a time', async () => {
    const { h } = await setup('continuity');
    const requests = Array.from({ length: 300 }, (_, i) => ({
      messageId: `gone${i}`,
      address: 'alice@example.com',
    }));
    const queue = memoryInbox(requests);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    await handler({});
    expect(queue.left()).toEqual([]);
    expect(queue.mostInFlight()).toBe(DRAIN_RECEIVERS);
  });

  it('hands back what it had no time left for, so the next minute’s run indexes it', async () => {
    const { h, ids } = await setup('continuity');
    const queue = memoryInbox(ids);
    const handler = createIndexerHandler(
      () => ({ deps: { ...h.ctx, cache: undefined }, inbox: queue.inbox, continuity: h.store }),
      { roundMessages: 3 },
    );
    // Time runs short once Alice's round is written.
    const lambda = { getRemainingTimeInMillis: () => (queue.deleted() >= 3 ? DRAIN_RESERVE_MS : 300_000) };
    expect(await handler({}, lambda)).toMatchObject({ indexed: 3 });
    const bob = ids.filter((r) => r.address === 'bob@example.com').map((r) => r.messageId);
    expect(queue.left()).toEqual(bob);
    // Released, not hidden until the visibility timeout: the next run receives it.
    h.clock.advance(60);
    expect(await handler({})).toMatchObject({ indexed: 1 });
    expect(queue.left()).toEqual([]);
  });
});

describe('createIndexerHandler with index bodies', () => {
  it('holds at most DRAIN_RUN_BODY_BYTES of carried bodies at once, and indexes the rest in the same run', async () => {
    const { h, ids } = await setup();
    const body = { text: 'budget '.repeat(MAX_INDEXED_TEXT_CHARS / 7), attachmentNames: [] };
    const perRequest = 2 * (body.text.length + 0);
    const count = Math.ceil(DRAIN_RUN_BODY_BYTES / perRequest) + 500;
    const requests = Array.from({ length: count }, (_, i) => ({
      ...(ids[i % ids.length] as (typeof ids)[0]),
      body,
    }));
    const queue = memoryInbox(requests);
    const handler = createIndexerHandler(() => ({
      deps: { ...h.ctx, cache: undefined },
      inbox: queue.inbox,
      continuity: h.store,
    }));
    const out = await handler({});
    expect(out).toEqual({ drained: true, indexed: count, failedMailboxes: 0 });
    expect(queue.left()).toEqual([]);
    // The run stopped receiving at the limit (give or take the receives in flight), then went on.
    expect(queue.mostHeld()).toBeLessThan(count);
    expect(queue.mostHeld()).toBeLessThanOrEqual(DRAIN_RUN_BODY_BYTES / perRequest + 10 * DRAIN_RECEIVERS);
  }, 60_000);
});

describe('indexBatch', () => {
  it('indexes a message whose request carries its body without reading the raw message, as a parse of it would', async () => {
    const { h, ids } = await setup();
    const withBodies = await Promise.all(
      ids.map(async (r) => {
        const m = await h.store.getMessage(r.messageId);
        const { index } = await readMessage(await h.blobs.getRaw((m as NonNullable<typeof m>).rawKey));
        return { ...r, body: index };
      }),
    );
    let reads = 0;
    const blobs: BlobStore = {
      async getRaw(key) {
        reads++;
        return h.blobs.getRaw(key);
      },
      putRaw: (key, body) => h.blobs.putRaw(key, body),
    };
    const outcome = await indexBatch({ ...h.ctx, blobs, cache: undefined }, withBodies);
    expect(outcome.failed).toEqual([]);
    expect(reads).toBe(0);
    const alice = ids.filter((r) => r.address === 'alice@example.com').map((r) => r.messageId);
    expect(await search(h, 'budget')).toEqual(alice.sort());
    expect(await search(h, 'about')).toEqual(alice.sort()); // words of the body, not only the subject
  });

  it('parses at most PARSE_BYTES_IN_FLIGHT of raw mail at once, however many messages wait', async () => {
    const { h, ids } = await setup();
    // Each record says it is SES's largest message: only a few may be parsed at once.
    const more: { messageId: string; address: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const id = await h.receive(
        await compose({ from: 'bob@example.org', to: 'alice@example.com', subject: `big ${i}`, text: 'x' }),
        {
          recipients: ['alice@example.com'],
          index: false,
        },
      );
      more.push({ messageId: id, address: 'alice@example.com' });
    }
    for (const { messageId } of [...ids, ...more]) {
      const m = await h.store.getMessage(messageId);
      await h.store.putMessage({ ...(m as NonNullable<typeof m>), size: MAX_MESSAGE_BYTES });
    }
    let reading = 0;
    let most = 0;
    const blobs: BlobStore = {
      async getRaw(key) {
        reading++;
        most = Math.max(most, reading);
        await new Promise((resolve) => setImmediate(resolve));
        const raw = await h.blobs.getRaw(key);
        reading--;
        return raw;
      },
      putRaw: (key, body) => h.blobs.putRaw(key, body),
    };
    const outcome = await indexBatch({ ...h.ctx, blobs, cache: undefined }, [...ids, ...more]);
    expect(outcome.failed).toEqual([]);
    expect(most).toBe(PARSE_BYTES_IN_FLIGHT / MAX_MESSAGE_BYTES);
    expect(most).toBeLessThan(PARSE_CONCURRENCY);
  });
});
