import { describe, expect, it } from 'vitest';
import { createIndexQueue, indexMessage, rebuildIndex } from '../../lambdas/core/search/indexer.js';
import {
  applyDocs,
  createIndexCache,
  decodeSegment,
  encodeSegment,
  type IndexDoc,
  indexedIds,
  loadIndex,
  matchSegment,
  SEARCH_FIELDS,
  type Segment,
  segmentDocOf,
  segmentDocs,
} from '../../lambdas/core/search/mailbox-index.js';
import { searchMailbox } from '../../lambdas/core/search/search.js';
import { indexKey, indexSegmentKey } from '../../lambdas/storage-layout.js';
import { MemoryBlobs } from '../support/memory-store.js';
import { compose, webmailHarness } from '../support/webmail.js';

const ALICE = { 'cognito:username': 'alice' };

function doc(id: string, receivedAt: string, fields: Partial<IndexDoc> = {}): IndexDoc {
  return {
    id,
    receivedAt,
    subject: '',
    from: '',
    to: '',
    cc: '',
    text: '',
    attachments: '',
    hasAttachment: false,
    ...fields,
  };
}

const at = (minute: number) => new Date(Date.UTC(2026, 10, 22, 9, minute)).toISOString();

function segmentOf(docs: IndexDoc[]): Segment {
  return decodeSegment(encodeSegment('s0', 1, docs.map(segmentDocOf))) as Segment;
}

/** The ids of a segment's matches, oldest first. */
function matches(segment: Segment, parts: Parameters<typeof matchSegment>[1]): string[] {
  const marks = matchSegment(segment, parts);
  return segment.ids.filter((_, i) => marks[i]);
}

describe('matchSegment', () => {
  const segment = segmentOf([
    doc('b', at(2), {
      subject: 'Shipping report',
      from: 'Bob <bob@partner.example>',
      text: 'Rotterdam lane',
    }),
    doc('a', at(1), { subject: 'Lunch', from: 'Carol <carol@example.org>', text: 'near Rotterdam Centraal' }),
    doc('c', at(3), { subject: 'Offers', attachments: 'q3-shipping.pdf', hasAttachment: true }),
  ]);

  it('keeps entries in mailbox order, oldest first, with their stored fields', () => {
    expect(segment.ids).toEqual(['a', 'b', 'c']);
    expect(segment.subject).toEqual(['Lunch', 'Shipping report', 'Offers']);
    expect(segment.attachment).toBe('001');
  });

  it('matches whole words, and word starts only when asked', () => {
    const all = SEARCH_FIELDS;
    expect(matches(segment, [{ text: 'rotterdam', fields: all, prefix: false }])).toEqual(['a', 'b']);
    expect(matches(segment, [{ text: 'rotter', fields: all, prefix: false }])).toEqual([]);
    expect(matches(segment, [{ text: 'rotter', fields: all, prefix: true }])).toEqual(['a', 'b']);
    expect(matches(segment, [{ text: 'ship', fields: all, prefix: true }])).toEqual(['b', 'c']);
  });

  it('looks only in the fields a part names', () => {
    expect(matches(segment, [{ text: 'shipping', fields: ['subject'], prefix: true }])).toEqual(['b']);
    expect(matches(segment, [{ text: 'partner.example', fields: ['from'], prefix: true }])).toEqual(['b']);
    expect(matches(segment, [{ text: 'rotterdam', fields: ['from'], prefix: true }])).toEqual([]);
  });

  it('needs every word of every part, and a part without words matches nothing', () => {
    const all = SEARCH_FIELDS;
    expect(
      matches(segment, [
        { text: 'rotterdam', fields: all, prefix: true },
        { text: 'lunch', fields: all, prefix: true },
      ]),
    ).toEqual(['a']);
    expect(matches(segment, [{ text: 'q3-shipping.pdf', fields: all, prefix: false }])).toEqual(['c']);
    expect(matches(segment, [{ text: '--', fields: all, prefix: true }])).toEqual([]);
    expect(matches(segment, [])).toEqual(['a', 'b', 'c']);
  });

  it('gives the writer back each entry’s words (segmentDocs undoes encodeSegment)', () => {
    const docs = segmentDocs(segment);
    const b = docs.get('b');
    expect(b?.subject).toBe('Shipping report');
    expect(b?.terms[SEARCH_FIELDS.indexOf('text')]?.sort()).toEqual(['lane', 'rotterdam']);
    expect(decodeSegment(encodeSegment('s0', 1, [...docs.values()]))?.body.equals(segment.body)).toBe(true);
  });

  it('reads nothing that is not a segment', () => {
    expect(decodeSegment(Buffer.from('{"format":1}'))).toBeUndefined();
    expect(decodeSegment(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('applyDocs', () => {
  const address = 'alice@example.com';

  function recording() {
    const blobs = new MemoryBlobs();
    const writes: string[] = [];
    return {
      blobs: {
        getRaw: (k: string) => blobs.getRaw(k),
        putRaw: async (k: string, b: Buffer) => {
          writes.push(k);
          await blobs.putRaw(k, b);
        },
      },
      writes,
    };
  }

  it('opens a new segment once the newest is full, and writes only the segments it changes', async () => {
    const { blobs, writes } = recording();
    const index = await loadIndex(blobs, address);
    await applyDocs(
      blobs,
      index,
      [1, 2, 3, 4, 5].map((m) => doc(`m${m}`, at(m))),
      '',
      2,
    );
    expect(index.manifest.segments.map((s) => s.count)).toEqual([2, 2, 1]);
    writes.length = 0;
    await applyDocs(blobs, index, [doc('m6', at(6))], '', 2);
    expect(writes).toEqual([indexSegmentKey(address, 's2'), indexKey(address)]);
    // Late mail (older than the newest segment) goes to the segment covering its time.
    writes.length = 0;
    await applyDocs(blobs, index, [doc('m0', at(0))], '', 2);
    expect(writes).toEqual([indexSegmentKey(address, 's0'), indexKey(address)]);
    expect(index.manifest.segments.map((s) => s.count)).toEqual([3, 2, 2]);
    expect(await indexedIds(blobs, await loadIndex(blobs, address))).toEqual([
      'm0',
      'm1',
      'm2',
      'm3',
      'm4',
      'm5',
      'm6',
    ]);
  });

  it('drops segments wholly out of the window and empties their blobs', async () => {
    const { blobs } = recording();
    const index = await loadIndex(blobs, address);
    await applyDocs(
      blobs,
      index,
      [1, 2, 3].map((m) => doc(`m${m}`, at(m))),
      '',
      2,
    );
    await applyDocs(blobs, index, [doc('m9', at(9))], at(3), 2);
    expect(await indexedIds(blobs, await loadIndex(blobs, address))).toEqual(['m3', 'm9']);
    expect((await blobs.getRaw(indexSegmentKey(address, 's0'))).length).toBe(0);
  });
});

describe('searchMailbox over a segmented index', () => {
  /** Alice's mail over her two addresses, indexed into segments of two messages. */
  async function segmented(count: number) {
    const h = await webmailHarness();
    const deps = { ...h.ctx, segmentMessages: 2 };
    const queue = createIndexQueue(deps, { batchWindowMs: 0 });
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const recipients =
        i === 3
          ? ['alice@example.com', 'sales@example.com']
          : [i % 2 ? 'alice@example.com' : 'sales@example.com'];
      const id = await h.receive(
        await compose({ from: 'a@example.org', to: recipients[0], subject: `Budget ${i}` }),
        { recipients, minutesAgo: 100 - i, index: false },
      );
      await indexMessage({ ...deps, queue }, id);
      ids.unshift(id);
    }
    return { h, deps, queue, ids };
  }

  it('pages newest first across segments and mailboxes, each message once', async () => {
    const { h, deps, ids } = await segmented(9);
    const found: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await searchMailbox(deps, h.userOf(ALICE), 'budget', { limit: 2, cursor });
      expect(page.messages.length).toBeLessThanOrEqual(2);
      found.push(...page.messages.map((m) => m.id));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(found).toEqual(ids);
    expect(new Set(found).size).toBe(9);
  });

  it('reads only the newest segments when they fill the page', async () => {
    const { h, deps, ids } = await segmented(9);
    h.cache.delete('alice@example.com');
    h.cache.delete('sales@example.com');
    const page = await searchMailbox(deps, h.userOf(ALICE), 'budget', { limit: 2 });
    expect(page.messages.map((m) => m.id)).toEqual(ids.slice(0, 2));
    // Two manifests and the newest segment of each mailbox, of the five segments there are.
    const segments = (await loadIndex(h.indexBlobs, 'alice@example.com')).manifest.segments.length;
    const sales = (await loadIndex(h.indexBlobs, 'sales@example.com')).manifest.segments.length;
    expect(segments + sales).toBe(5);
    expect(page.cost.indexReads).toBe(4);
  });

  it('finds new mail through a cache kept by another process', async () => {
    const { h, deps, queue } = await segmented(3);
    const elsewhere = { ...deps, cache: createIndexCache() };
    expect(await searchMailbox(elsewhere, h.userOf(ALICE), 'invoice')).toMatchObject({ messages: [] });
    const id = await h.receive(
      await compose({ from: 'a@example.org', to: 'alice@example.com', subject: 'Invoice 7' }),
      { recipients: ['alice@example.com'], index: false },
    );
    await indexMessage({ ...deps, queue }, id);
    const page = await searchMailbox(elsewhere, h.userOf(ALICE), 'invoice');
    expect(page.messages.map((m) => m.id)).toEqual([id]);
  });

  it('rebuilds a lost index into full segments, newest first', async () => {
    const { h, deps, ids } = await segmented(9);
    h.indexBlobs.objects.clear();
    h.cache.delete('alice@example.com');
    h.cache.delete('sales@example.com');
    const queue = createIndexQueue(deps, { batchWindowMs: 0 });
    expect(await rebuildIndex({ queue }, 'alice@example.com')).toBe(4);
    expect(await rebuildIndex({ queue }, 'sales@example.com')).toBe(6);
    const manifest = (await loadIndex(h.indexBlobs, 'sales@example.com')).manifest;
    expect(manifest.segments.map((s) => s.count)).toEqual([2, 2, 2]);
    const page = await searchMailbox(deps, h.userOf(ALICE), 'budget', { limit: 20 });
    expect(page.messages.map((m) => m.id)).toEqual(ids);
  });
});
