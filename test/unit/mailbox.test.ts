import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.js';
import {
  fetchLinkedPart,
  linkFor,
  listMailbox,
  MAX_FETCHES_PER_ADDRESS,
  markSeen,
  readMessage,
  setMessageFlags,
} from '../../lambdas/core/mailbox.js';
import type { MessageStore } from '../../lambdas/ports.js';
import { messageDetailSchema, messagePageSchema } from '../../lambdas/webmail/schemas.js';
import { compose, webmailHarness } from '../support/webmail.js';

const ALICE = { 'cognito:username': 'alice' };
const BOB = { 'cognito:username': 'bob' };
const VIRUS = { spam: 'PASS', virus: 'FAIL', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' } as const;

function note(subject: string, extra: Record<string, unknown> = {}) {
  return compose({
    from: 'Bob Jones <bob@example.org>',
    to: 'alice@example.com',
    subject,
    text: `Body of ${subject}`,
    ...extra,
  });
}

/** Every page of Alice's mailbox, following cursors. */
async function allOf(h: Awaited<ReturnType<typeof webmailHarness>>, claims = ALICE, limit = 4) {
  const user = h.userOf(claims);
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await listMailbox(h.ctx, user, { cursor, limit });
    expect(page.messages.length).toBeLessThanOrEqual(limit);
    ids.push(...page.messages.map((m) => m.id));
    if (page.cursor === null) return ids;
    cursor = page.cursor;
  }
  throw new Error('the cursor never ended');
}

/** The store with a tally of calls per method. */
function counted(store: MessageStore) {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe('listMailbox', () => {
  it('lists mail from before the outage and mail held during it, in every state but quarantined, newest first', async () => {
    const h = await webmailHarness();
    const delivered = await h.receive(await note('Yesterday'), {
      recipients: ['alice@example.com'],
      minutesAgo: 24 * 60,
      state: 'delivered',
    });
    const failed = await h.receive(await note('Bounced'), {
      recipients: ['alice@example.com'],
      minutesAgo: 50,
      state: 'failed',
    });
    const deferred = await h.receive(await note('Deferred'), {
      recipients: ['alice@example.com'],
      minutesAgo: 40,
      state: 'deferred',
    });
    await h.store.putHold({
      scope: '*',
      reason: 'continuity',
      since: h.clock.now().toISOString(),
      by: 'ops',
    });
    const held = await h.receive(await note('During the outage'), {
      recipients: ['alice@example.com'],
      minutesAgo: 30,
    });
    const queued = await h.receive(await note('Queued'), {
      recipients: ['alice@example.com'],
      minutesAgo: 20,
      state: 'queued',
    });
    const page = await listMailbox(h.ctx, h.userOf(ALICE), { limit: 10 });
    expect(messagePageSchema.parse(page)).toBeTruthy();
    expect(page.messages.map((m) => [m.id, m.subject, m.state])).toEqual([
      [queued, 'Queued', 'queued'],
      [held, 'During the outage', 'held'],
      [deferred, 'Deferred', 'deferred'],
      [failed, 'Bounced', 'failed'],
      [delivered, 'Yesterday', 'delivered'],
    ]);
    expect(page.cursor).toBeNull();
  });

  it('never lists quarantined mail or round-trip probe messages', async () => {
    const h = await webmailHarness();
    const kept = await h.receive(await note('Real mail'), {
      recipients: ['alice@example.com'],
      minutesAgo: 3,
    });
    await h.receive(await note('Malware'), {
      recipients: ['alice@example.com'],
      minutesAgo: 2,
      verdicts: VIRUS,
    });
    await h.receive(await note('Lifeboat round-trip probe'), {
      recipients: ['alice@example.com'],
      minutesAgo: 1,
      probe: true,
    });
    const page = await listMailbox(h.ctx, h.userOf(ALICE));
    expect(page.messages.map((m) => m.id)).toEqual([kept]);
  });

  it('merges the user’s addresses, one row for a message sent to two of them, and never another user’s mail', async () => {
    const h = await webmailHarness();
    const direct = await h.receive(await note('To Alice'), {
      recipients: ['alice@example.com'],
      minutesAgo: 4,
    });
    const alias = await h.receive(await note('To sales'), {
      recipients: ['sales@example.com'],
      minutesAgo: 3,
    });
    const both = await h.receive(await note('To both'), {
      recipients: ['alice@example.com', 'sales@example.com', 'bob@example.com'],
      minutesAgo: 2,
    });
    await h.receive(await note('To Bob'), { recipients: ['bob@example.com'], minutesAgo: 1 });
    const page = await listMailbox(h.ctx, h.userOf(ALICE));
    expect(page.messages.map((m) => [m.id, m.deliveredTo])).toEqual([
      [both, ['alice@example.com', 'sales@example.com']],
      [alias, ['sales@example.com']],
      [direct, ['alice@example.com']],
    ]);
  });

  it('gives the summary a list shows, with the user’s own read and flagged marks', async () => {
    const h = await webmailHarness();
    const raw = await note('Figures', {
      text: 'Here are   the figures\nfor Q4.',
      attachments: [{ filename: 'q4.pdf', content: Buffer.from('%PDF-1.4') }],
    });
    const id = await h.receive(raw, { recipients: ['alice@example.com', 'bob@example.com'] });
    await markSeen(h.ctx, h.userOf(ALICE), id);
    const [alice] = (await listMailbox(h.ctx, h.userOf(ALICE))).messages;
    expect(alice).toEqual({
      id,
      receivedAt: h.clock.now().toISOString(),
      date: '2026-11-22T09:00:00.000Z',
      from: 'bob@example.org',
      fromName: 'Bob Jones',
      to: ['alice@example.com'],
      subject: 'Figures',
      snippet: 'Here are the figures for Q4.',
      hasAttachments: true,
      size: raw.length,
      seen: true,
      flagged: false,
      state: 'queued',
      deliveredTo: ['alice@example.com'],
    });
    const [bob] = (await listMailbox(h.ctx, h.userOf(BOB))).messages;
    expect(bob?.seen).toBe(false);
  });

  it('lists nothing older than the history window', async () => {
    const h = await webmailHarness({
      webmail: { users: [{ id: 'alice', name: 'A', addresses: ['alice@example.com'] }], historyDays: 7 },
    });
    const inside = await h.receive(await note('Six days'), {
      recipients: ['alice@example.com'],
      minutesAgo: 6 * 24 * 60,
    });
    await h.receive(await note('Eight days'), { recipients: ['alice@example.com'], minutesAgo: 8 * 24 * 60 });
    expect((await listMailbox(h.ctx, h.userOf(ALICE))).messages.map((m) => m.id)).toEqual([inside]);
  });

  it('pages through the mailbox with no gap or duplicate while new mail arrives', async () => {
    const h = await webmailHarness();
    const expected: string[] = [];
    for (let i = 0; i < 23; i++) {
      // Pairs share an arrival time, so pages break inside a run of equal times.
      const to = i % 3 === 0 ? ['sales@example.com'] : ['alice@example.com'];
      expected.unshift(
        await h.receive(await note(`n${i}`), {
          recipients: to,
          minutesAgo: 100 - Math.floor(i / 2),
          index: false,
        }),
      );
    }
    const user = h.userOf(ALICE);
    const first = await listMailbox(h.ctx, user, { limit: 5 });
    // New mail arrives between pages: it is on the first page of the next listing, not this one.
    await h.receive(await note('new'), { recipients: ['alice@example.com'], index: false });
    const seen = first.messages.map((m) => m.id);
    let cursor = first.cursor;
    while (cursor !== null) {
      const page = await listMailbox(h.ctx, user, { limit: 5, cursor });
      seen.push(...page.messages.map((m) => m.id));
      cursor = page.cursor;
    }
    expect(seen).toEqual(expected);
    expect(await allOf(h, ALICE, 1)).toHaveLength(24);
  });

  it('reads one index page per address, one batch of records and one of marks per page, however big the mailbox', async () => {
    async function callsFor(messages: number) {
      const h = await webmailHarness();
      for (let i = 0; i < messages; i++) {
        await h.receive(await note(`n${i}`), {
          recipients: [i % 2 ? 'alice@example.com' : 'sales@example.com'],
          minutesAgo: i,
          index: false,
        });
      }
      const c = counted(h.store);
      const page = await listMailbox({ ...h.ctx, store: c.store }, h.userOf(ALICE), { limit: 10 });
      return { calls: c.calls, cost: page.cost, rows: page.messages.length };
    }
    const small = await callsFor(12);
    const large = await callsFor(150);
    expect(small.calls).toEqual({ queryMailbox: 2, getMessages: 1, getMailboxFlags: 1 });
    expect(large.calls).toEqual(small.calls);
    expect(large.cost).toEqual({
      indexReads: 2,
      deliveryReads: 0,
      messageReads: 1,
      flagReads: 1,
      rawReads: 0,
    });
    expect(large.rows).toBe(10);
  });

  it('stops at its read budget behind a run of quarantined mail and goes on from where it stopped', async () => {
    const h = await webmailHarness();
    const wanted = await h.receive(await note('Real'), {
      recipients: ['alice@example.com'],
      minutesAgo: 100,
      index: false,
    });
    for (let i = 0; i < 20; i++) {
      await h.receive(await note(`bad ${i}`), {
        recipients: ['alice@example.com'],
        minutesAgo: 50 - i,
        verdicts: VIRUS,
        index: false,
      });
    }
    const c = counted(h.store);
    const user = h.userOf(ALICE);
    const first = await listMailbox({ ...h.ctx, store: c.store }, user, { limit: 2 });
    expect(first.messages).toEqual([]);
    expect(first.cursor).not.toBeNull();
    // Her own address up to its budget, her empty alias once.
    expect(c.calls.queryMailbox).toBe(MAX_FETCHES_PER_ADDRESS + 1);
    const ids: string[] = [];
    let cursor = first.cursor;
    while (cursor !== null) {
      const page = await listMailbox(h.ctx, user, { limit: 2, cursor });
      ids.push(...page.messages.map((m) => m.id));
      cursor = page.cursor;
    }
    expect(ids).toEqual([wanted]);
  });

  it('refuses a cursor it did not hand out and a page size out of range', async () => {
    const h = await webmailHarness();
    const user = h.userOf(ALICE);
    await expect(listMailbox(h.ctx, user, { cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(ValidationError);
    await expect(listMailbox(h.ctx, user, { limit: 101 })).rejects.toThrow(ValidationError);
  });
});

describe('readMessage', () => {
  it('returns headers, text, the HTML sanitised, attachments and signed links for embedded images', async () => {
    const h = await webmailHarness();
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const raw = await compose({
      from: 'News <news@example.org>',
      to: 'Alice <alice@example.com>',
      cc: 'sales@example.com',
      replyTo: 'replies@example.org',
      subject: 'Newsletter',
      text: 'Plain version',
      html: '<p>Hello <img src="cid:logo@news"> <img src="https://tracker.example/p.gif"></p>',
      attachments: [
        { filename: 'logo.png', content: png, cid: 'logo@news', contentType: 'image/png' },
        { filename: 'terms.pdf', content: Buffer.from('%PDF-1.4'), contentType: 'application/pdf' },
      ],
    });
    const id = await h.receive(raw, { recipients: ['alice@example.com'] });
    const detail = await readMessage(h.ctx, h.userOf(ALICE), id);
    expect(messageDetailSchema.parse(detail)).toBeTruthy();
    expect(detail).toMatchObject({
      id,
      from: 'News <news@example.org>',
      to: ['Alice <alice@example.com>'],
      cc: ['sales@example.com'],
      replyTo: ['replies@example.org'],
      subject: 'Newsletter',
      text: 'Plain version',
      htmlSanitised: true,
      remoteImages: 1,
      truncated: false,
      parseError: null,
      seen: false,
    });
    // cid: points at the embedded image's signed link; the tracker is held back, not fetched.
    const logo = detail.inlineImages['logo@news'] as string;
    expect(detail.html).toBe(
      `<p>Hello <img src="${logo}" /> <img data-lifeboat-remote-src="https://tracker.example/p.gif" /></p>`,
    );
    expect(detail.headers).toContainEqual({ name: 'Subject', value: 'Newsletter' });
    expect(detail.attachments).toEqual([
      {
        index: 0,
        filename: 'logo.png',
        contentType: 'image/png',
        size: png.length,
        contentId: 'logo@news',
        inline: true,
      },
      {
        index: 1,
        filename: 'terms.pdf',
        contentType: 'application/pdf',
        size: 8,
        contentId: null,
        inline: false,
      },
    ]);
    const url = detail.inlineImages['logo@news'] as string;
    expect(Object.keys(detail.inlineImages)).toEqual(['logo@news']);
    const subject = h.links.verify(url.replace('/mail/api/files/', ''));
    expect(subject).toEqual({ user: 'alice', messageId: id, part: 0, address: 'alice@example.com' });
    expect((await fetchLinkedPart(h.ctx, subject)).body.equals(png)).toBe(true);
  });

  it('answers not found, the same way, for another user’s message and for one that does not exist', async () => {
    const h = await webmailHarness();
    const bobs = await h.receive(await note('Private'), { recipients: ['bob@example.com'] });
    const errors = await Promise.all(
      [bobs, 'no-such-message'].map((id) => readMessage(h.ctx, h.userOf(ALICE), id).catch((e: unknown) => e)),
    );
    expect(errors[0]).toBeInstanceOf(NotFoundError);
    expect(errors[1]).toBeInstanceOf(NotFoundError);
    expect((errors[0] as Error).message).toBe(`message ${bobs} not found`);
    expect((await readMessage(h.ctx, h.userOf(BOB), bobs)).subject).toBe('Private');
  });

  it('answers not found for quarantined mail and probe messages addressed to the user', async () => {
    const h = await webmailHarness();
    const bad = await h.receive(await note('Malware'), {
      recipients: ['alice@example.com'],
      verdicts: VIRUS,
    });
    const probe = await h.receive(await note('probe'), { recipients: ['alice@example.com'], probe: true });
    await expect(readMessage(h.ctx, h.userOf(ALICE), bad)).rejects.toThrow(NotFoundError);
    await expect(readMessage(h.ctx, h.userOf(ALICE), probe)).rejects.toThrow(NotFoundError);
  });
});

describe('setMessageFlags', () => {
  it('sets the user’s own marks and leaves the delivery as it was', async () => {
    const h = await webmailHarness();
    await h.store.putHold({
      scope: '*',
      reason: 'continuity',
      since: h.clock.now().toISOString(),
      by: 'ops',
    });
    const id = await h.receive(await note('Held'), { recipients: ['alice@example.com', 'bob@example.com'] });
    const before = await h.store.listDeliveries(id);
    expect(await setMessageFlags(h.ctx, h.userOf(ALICE), id, { seen: true, flagged: true })).toEqual({
      id,
      seen: true,
      flagged: true,
    });
    expect(await h.store.listDeliveries(id)).toEqual(before);
    expect((await readMessage(h.ctx, h.userOf(BOB), id)).seen).toBe(false);
  });

  it('answers not found for a message the user may not see, and marks nothing', async () => {
    const h = await webmailHarness();
    const id = await h.receive(await note('Bob only'), { recipients: ['bob@example.com'] });
    await expect(setMessageFlags(h.ctx, h.userOf(ALICE), id, { seen: true })).rejects.toThrow(NotFoundError);
    expect(await h.store.getMailboxFlags('alice', [id])).toEqual({});
  });
});

describe('linkFor and fetchLinkedPart', () => {
  it('links to the raw message and to each attachment, bytes exact', async () => {
    const h = await webmailHarness();
    const content = Buffer.from([0, 1, 2, 250, 251, 252]);
    const raw = await note('With file', { attachments: [{ filename: 'data.bin', content }] });
    const id = await h.receive(raw, { recipients: ['sales@example.com'] });
    const user = h.userOf(ALICE);
    const token = (url: string) => url.slice(url.lastIndexOf('/') + 1);
    const part = await fetchLinkedPart(h.ctx, h.links.verify(token((await linkFor(h.ctx, user, id, 0)).url)));
    expect(part).toMatchObject({ filename: 'data.bin', inline: false });
    expect(part.body.equals(content)).toBe(true);
    const whole = await fetchLinkedPart(
      h.ctx,
      h.links.verify(token((await linkFor(h.ctx, user, id, 'raw')).url)),
    );
    expect(whole).toMatchObject({ contentType: 'message/rfc822', filename: `${id}.eml` });
    expect(whole.body.equals(raw)).toBe(true);
    await expect(linkFor(h.ctx, user, id, 1)).rejects.toThrow(NotFoundError);
    await expect(linkFor(h.ctx, h.userOf(BOB), id, 'raw')).rejects.toThrow(NotFoundError);
  });

  it('refuses a link whose message was quarantined after the link was made', async () => {
    const h = await webmailHarness();
    const id = await h.receive(await note('Later found bad'), { recipients: ['alice@example.com'] });
    const link = await linkFor(h.ctx, h.userOf(ALICE), id, 'raw');
    const [d] = await h.store.listDeliveries(id);
    await h.setState(d as NonNullable<typeof d>, 'quarantined');
    const subject = h.links.verify(link.url.slice(link.url.lastIndexOf('/') + 1));
    await expect(fetchLinkedPart(h.ctx, subject)).rejects.toThrow(NotFoundError);
  });
});
