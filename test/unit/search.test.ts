import { describe, expect, it } from 'vitest';
import { markSeen } from '../../lambdas/core/mailbox.js';
import { createIndexQueue, indexMessage, rebuildIndex } from '../../lambdas/core/search/indexer.js';
import { applyDocs, indexDocOf, indexedIds, loadIndex } from '../../lambdas/core/search/mailbox-index.js';
import { searchMailbox } from '../../lambdas/core/search/search.js';
import { indexKey, indexSegmentKey } from '../../lambdas/storage-layout.js';
import { messagePageSchema } from '../../lambdas/webmail/schemas.js';
import { compose, webmailHarness } from '../support/webmail.js';

const ALICE = { 'cognito:username': 'alice' };
const BOB = { 'cognito:username': 'bob' };
const DAY = 24 * 60;

type Harness = Awaited<ReturnType<typeof webmailHarness>>;

/** Alice's mailbox: a report from Bob with a PDF, a lunch note, a newsletter to her alias. */
async function mailbox() {
  const h = await webmailHarness();
  const ids = {
    report: await h.receive(
      await compose({
        from: 'Bob Partner <bob@partner.example>',
        to: 'alice@example.com',
        subject: 'Q3 shipping report',
        text: 'Volumes are up 4% on Q2; the Rotterdam lane is the outlier.',
        attachments: [{ filename: 'q3-shipping.pdf', content: Buffer.from('%PDF-1.4') }],
      }),
      { recipients: ['alice@example.com'], minutesAgo: 3 * DAY },
    ),
    lunch: await h.receive(
      await compose({
        from: 'Carol <carol@example.org>',
        to: 'alice@example.com',
        cc: 'Sales Team <sales@example.com>',
        subject: 'Lunch on Friday?',
        text: 'Shall we try the new place near Rotterdam Centraal? Report back.',
      }),
      { recipients: ['alice@example.com', 'sales@example.com'], minutesAgo: DAY },
    ),
    newsletter: await h.receive(
      await compose({
        from: 'News <news@vendor.example>',
        to: 'sales@example.com',
        subject: 'November offers',
        html: '<p>Our <b>shipping</b> offers for November</p>',
      }),
      { recipients: ['sales@example.com'], minutesAgo: 60 },
    ),
  };
  return { h, ids };
}

/** Every message id in the mailbox's index blobs. */
async function idsIn(h: Harness, address: string): Promise<string[]> {
  return indexedIds(h.indexBlobs, await loadIndex(h.indexBlobs, address));
}

async function find(h: Harness, q: string, claims: Record<string, unknown> = ALICE) {
  const page = await searchMailbox(h.ctx, h.userOf(claims), q);
  expect(messagePageSchema.parse(page)).toBeTruthy();
  return page.messages.map((m) => m.id);
}

describe('searchMailbox', () => {
  it('finds words in the subject, body, addresses and attachment names, by prefix, newest first', async () => {
    const { h, ids } = await mailbox();
    expect(await find(h, 'rotterdam')).toEqual([ids.lunch, ids.report]);
    expect(await find(h, 'shipp')).toEqual([ids.newsletter, ids.report]);
    expect(await find(h, 'q3-shipping.pdf')).toEqual([ids.report]);
    expect(await find(h, 'carol')).toEqual([ids.lunch]);
    expect(await find(h, 'rotterdam lunch')).toEqual([ids.lunch]);
    expect(await find(h, 'zanzibar')).toEqual([]);
  });

  it('applies from:, to:, subject: and has:attachment', async () => {
    const { h, ids } = await mailbox();
    expect(await find(h, 'from:bob')).toEqual([ids.report]);
    expect(await find(h, 'from:bob has:attachment')).toEqual([ids.report]);
    expect(await find(h, 'from:carol has:attachment')).toEqual([]);
    expect(await find(h, 'from:partner.example')).toEqual([ids.report]);
    expect(await find(h, 'to:sales@example.com')).toEqual([ids.newsletter, ids.lunch]);
    expect(await find(h, 'subject:report')).toEqual([ids.report]);
    // "Report" is in the lunch note's body, not its subject.
    expect(await find(h, 'report')).toEqual([ids.lunch, ids.report]);
    expect(await find(h, 'has:attachment')).toEqual([ids.report]);
  });

  it('applies after: (from that day) and before: (up to that day), in UTC', async () => {
    const { h, ids } = await mailbox();
    // The clock is 2026-11-22T10:00Z: the report came on the 19th, the lunch note on the 21st.
    expect(await find(h, 'after:2026-11-21')).toEqual([ids.newsletter, ids.lunch]);
    expect(await find(h, 'before:2026-11-21')).toEqual([ids.report]);
    expect(await find(h, 'after:2026-11-19 before:2026-11-20')).toEqual([ids.report]);
  });

  it('matches a quoted phrase as written, not the same words apart', async () => {
    const { h, ids } = await mailbox();
    expect(await find(h, '"rotterdam lane"')).toEqual([ids.report]);
    expect(await find(h, '"lane rotterdam"')).toEqual([]);
    expect(await find(h, '"shipping offers"')).toEqual([ids.newsletter]);
  });

  it('applies is:unread and is:read from the user’s own marks', async () => {
    const { h, ids } = await mailbox();
    await markSeen(h.ctx, h.userOf(ALICE), ids.lunch);
    expect(await find(h, 'rotterdam is:unread')).toEqual([ids.report]);
    expect(await find(h, 'rotterdam is:read')).toEqual([ids.lunch]);
  });

  it('never finds another user’s mail, whatever the query', async () => {
    const { h } = await mailbox();
    const bobs = await h.receive(
      await compose({ from: 'hr@example.org', to: 'bob@example.com', subject: 'Salary review rotterdam' }),
      { recipients: ['bob@example.com'] },
    );
    expect(await find(h, 'salary')).toEqual([]);
    expect(await find(h, 'rotterdam')).not.toContain(bobs);
    expect(await find(h, 'salary', BOB)).toEqual([bobs]);
  });

  it('shows nothing of another user’s message even when it is in the user’s own index', async () => {
    const { h } = await mailbox();
    const bobs = await h.receive(
      await compose({ from: 'hr@example.org', to: 'bob@example.com', subject: 'Salary review' }),
      { recipients: ['bob@example.com'] },
    );
    // A bug writes Bob's message into Alice's index: the per-hit check still hides it.
    const index = await loadIndex(h.indexBlobs, 'alice@example.com');
    const message = await h.store.getMessage(bobs);
    await applyDocs(
      h.indexBlobs,
      index,
      [indexDocOf(message as NonNullable<typeof message>, { text: null, attachmentNames: [] })],
      '',
    );
    h.cache.delete('alice@example.com');
    expect(await idsIn(h, 'alice@example.com')).toContain(bobs);
    expect(await find(h, 'salary')).toEqual([]);
  });

  it('never shows quarantined mail, and shows it once released without indexing it again', async () => {
    const h = await webmailHarness();
    const id = await h.receive(
      await compose({ from: 'x@example.org', to: 'alice@example.com', subject: 'Invoice 42' }),
      {
        recipients: ['alice@example.com'],
        verdicts: { spam: 'PASS', virus: 'FAIL', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      },
    );
    expect(await find(h, 'invoice')).toEqual([]);
    const [d] = await h.store.listDeliveries(id);
    await h.setState(d as NonNullable<typeof d>, 'queued');
    expect(await find(h, 'invoice')).toEqual([id]);
  });

  it('pages newest first with a cursor', async () => {
    const h = await webmailHarness();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.unshift(
        await h.receive(
          await compose({ from: 'a@example.org', to: 'alice@example.com', subject: `Budget ${i}` }),
          {
            recipients: [i % 2 ? 'alice@example.com' : 'sales@example.com'],
            minutesAgo: 100 - i,
          },
        ),
      );
    }
    const user = h.userOf(ALICE);
    const found: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await searchMailbox(h.ctx, user, 'budget', { limit: 3, cursor });
      expect(page.messages.length).toBeLessThanOrEqual(3);
      found.push(...page.messages.map((m) => m.id));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(found).toEqual(ids);
  });
});

describe('indexMessage and rebuildIndex', () => {
  it('writes each mailbox once for a batch of messages that queued up behind the first', async () => {
    const h = await webmailHarness();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(
        await h.receive(
          await compose({ from: 'a@example.org', to: 'alice@example.com', subject: `Memo ${i}` }),
          {
            recipients: ['alice@example.com'],
            index: false,
          },
        ),
      );
    }
    const writes: string[] = [];
    const indexBlobs = {
      getRaw: (k: string) => h.indexBlobs.getRaw(k),
      putRaw: async (k: string, b: Buffer) => {
        writes.push(k);
        await h.indexBlobs.putRaw(k, b);
      },
    };
    const queue = createIndexQueue({ ...h.ctx, indexBlobs, cache: undefined }, { batchWindowMs: 0 });
    const messages = await h.store.getMessages(ids);
    const docs = messages.map((m) => indexDocOf(m, { text: null, attachmentNames: [] }));
    await Promise.all(docs.map((doc) => queue.add('alice@example.com', [doc])));
    // The first message is written alone; the five that queued behind it in one write (of the
    // one segment they fall in, then the manifest).
    const write = [indexSegmentKey('alice@example.com', 's0'), indexKey('alice@example.com')];
    expect(writes).toEqual([...write, ...write]);
    expect((await idsIn(h, 'alice@example.com')).sort()).toEqual(ids);
  });

  it('indexes into every recipient’s mailbox, and no probe message', async () => {
    const h = await webmailHarness();
    const id = await h.receive(
      await compose({ from: 'a@example.org', to: 'bob@example.com', subject: 'Hi' }),
      {
        recipients: ['alice@example.com', 'bob@example.com'],
        index: false,
      },
    );
    expect(await indexMessage({ ...h.ctx, queue: h.queue }, id)).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    const probe = await h.receive(
      await compose({ from: 'a@example.org', to: 'bob@example.com', subject: 'p' }),
      {
        recipients: ['bob@example.com'],
        probe: true,
        index: false,
      },
    );
    expect(await indexMessage({ ...h.ctx, queue: h.queue }, probe)).toEqual([]);
  });

  it('rebuilds a lost index from the raw messages within the history window', async () => {
    const { h, ids } = await mailbox();
    await h.receive(
      await compose({ from: 'a@example.org', to: 'alice@example.com', subject: 'Ancient rotterdam' }),
      {
        recipients: ['alice@example.com'],
        minutesAgo: 40 * DAY,
        index: false,
      },
    );
    h.indexBlobs.objects.clear();
    h.cache.delete('alice@example.com');
    h.cache.delete('sales@example.com');
    expect(await find(h, 'rotterdam')).toEqual([]);
    expect(await rebuildIndex(h, 'alice@example.com')).toBe(2);
    expect(await find(h, 'rotterdam')).toEqual([ids.lunch, ids.report]);
  });

  it('drops messages that have left the history window when it next writes the mailbox', async () => {
    const h = await webmailHarness();
    const old = await h.receive(
      await compose({ from: 'a@example.org', to: 'alice@example.com', subject: 'Old' }),
      {
        recipients: ['alice@example.com'],
      },
    );
    h.clock.advance(31 * 86_400);
    const fresh = await h.receive(
      await compose({ from: 'a@example.org', to: 'alice@example.com', subject: 'New' }),
      {
        recipients: ['alice@example.com'],
      },
    );
    expect(await idsIn(h, 'alice@example.com')).toEqual([fresh]);
    expect(await idsIn(h, 'alice@example.com')).not.toContain(old);
  });
});
