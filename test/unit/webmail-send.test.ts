import { simpleParser } from 'mailparser';
import { beforeEach, describe, expect, it } from 'vitest';
import { initialOrgState } from '../../lambdas/core/continuity.js';
import {
  dispatchDue,
  SENT_COPY_HEADER,
  SENT_COPY_REASON,
  sentCopyId,
} from '../../lambdas/core/sending/outbound.js';
import { receiveUpload, UPLOAD_PATH } from '../../lambdas/core/sending/uploads.js';
import type { Draft, SentItem, UploadTicket } from '../../lambdas/webmail/schemas.js';
import { sendingHarness } from '../support/sending.js';
import { compose } from '../support/webmail.js';

type Harness = Awaited<ReturnType<typeof sendingHarness>>;
const BOB = { 'cognito:username': 'bob' };

/** Moves the clock past the undo window and runs the outbound worker, as its timer would. */
async function afterUndoWindow(h: Harness): Promise<void> {
  h.clock.advance(h.config.webmail.send.undoSeconds + 1);
  await dispatchDue(h.deps);
}

/** Asks for a signed upload and puts the bytes through it, as the browser does. */
async function upload(h: Harness, bytes: Buffer, claims?: Record<string, unknown>) {
  const ticket = (
    await h.call('POST', '/mail/api/uploads', {
      body: { filename: 'C:\\Users\\alice\\plan.pdf', contentType: 'application/pdf', size: bytes.length },
      ...(claims ? { claims } : {}),
    })
  ).body as unknown as UploadTicket;
  const token = ticket.url.split(UPLOAD_PATH)[1] as string;
  await receiveUpload(h.deps, h.uploads.verify(token), async () => bytes);
  return { ticket, token };
}

describe('POST /mail/api/send', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await sendingHarness();
  });

  it('waits out the undo window, then relays to outside addresses and puts a colleague’s copy in their mailbox', async () => {
    const res = await h.call('POST', '/mail/api/send', {
      body: {
        to: ['Partner <partner@outside.test>', 'bob@example.com'],
        subject: 'Figures',
        text: 'See below.',
      },
    });
    expect(res.status).toBe(202);
    const item = res.body as unknown as SentItem;
    expect(item.state).toBe('waiting');
    expect(item.undoUntil).not.toBeNull();
    expect(h.relay.sent).toHaveLength(0);

    await afterUndoWindow(h);
    expect(h.relay.sent).toHaveLength(1);
    const out = h.relay.sent[0] as (typeof h.relay.sent)[number];
    expect(out.from).toBe('alice@example.com');
    expect(out.to).toEqual(['partner@outside.test']);
    const mail = await simpleParser(out.raw);
    expect(mail.from?.value[0]).toMatchObject({ name: 'Alice Smith', address: 'alice@example.com' });
    expect(mail.messageId).toMatch(/@example\.com>$/);
    expect(mail.date).toBeInstanceOf(Date);

    const bobs = await h.call('GET', '/mail/api/messages', { claims: BOB });
    expect((bobs.body.messages as Array<{ id: string; subject: string }>).map((m) => m.subject)).toEqual([
      'Figures',
    ]);
    const sent = await h.call('GET', `/mail/api/sent/${item.id}`);
    expect(sent.body.state).toBe('sent');
    expect(sent.body.recipients).toEqual([
      expect.objectContaining({ address: 'partner@outside.test', internal: false, status: 'relayed' }),
      expect.objectContaining({ address: 'bob@example.com', internal: true, status: 'queued' }),
    ]);
  });

  it('records every send in the audit log with who and how many recipients, never the subject', async () => {
    await h.call('POST', '/mail/api/send', {
      body: {
        to: ['partner@outside.test'],
        cc: ['bob@example.com'],
        bcc: ['carol@outside.test'],
        subject: 'Secret plans',
      },
    });
    const [entry] = await h.store.listAudit(1);
    expect(entry).toMatchObject({ actor: 'alice', action: 'mail-send' });
    expect(entry?.detail).toContain('3 recipients (1 internal, 2 external)');
    expect(JSON.stringify(entry)).not.toContain('Secret');
  });

  it('keeps Bcc out of the message and in the envelope', async () => {
    await h.call('POST', '/mail/api/send', {
      body: { to: ['partner@outside.test'], bcc: ['hidden@outside.test'], text: 'x' },
    });
    await afterUndoWindow(h);
    const out = h.relay.sent[0] as (typeof h.relay.sent)[number];
    expect(out.to).toEqual(['partner@outside.test', 'hidden@outside.test']);
    expect(out.raw.toString()).not.toContain('hidden@outside.test');
  });

  it('refuses a From that is not one of my addresses', async () => {
    const res = await h.call('POST', '/mail/api/send', {
      body: { from: 'bob@example.com', to: ['x@outside.test'] },
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FROM_NOT_YOURS');
    expect(await h.sending.listSending('outgoing', 'alice', { limit: 10 })).toMatchObject({ items: [] });
  });

  it('sends from an alias of mine', async () => {
    const res = await h.call('POST', '/mail/api/send', {
      body: { from: 'sales@example.com', to: ['x@outside.test'] },
    });
    expect(res.status).toBe(202);
    expect(res.body.from).toBe('sales@example.com');
  });

  it('refuses more recipients than webmail.send.maxRecipients', async () => {
    h = await sendingHarness({
      webmail: { users: (await sendingHarness()).config.webmail.users, send: { maxRecipients: 3 } },
    });
    const to = ['a@outside.test', 'b@outside.test', 'c@outside.test', 'd@outside.test'];
    const res = await h.call('POST', '/mail/api/send', { body: { to } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('TOO_MANY_RECIPIENTS');
  });

  it('refuses a send over the hourly rate limit with the time to wait', async () => {
    h = await sendingHarness({
      webmail: { users: (await sendingHarness()).config.webmail.users, send: { messagesPerHour: 2 } },
    });
    for (let i = 0; i < 2; i++) {
      expect((await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } })).status).toBe(202);
      h.clock.advance(60);
    }
    const res = await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } });
    expect(res.status).toBe(429);
    expect(res.body.error).toBe('RATE_LIMITED');
    expect(Number(res.headers['retry-after'])).toBe(3600 - 120);
    h.clock.advance(3600);
    expect((await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } })).status).toBe(202);
  });

  it('refuses a send that would pass the daily recipient limit', async () => {
    h = await sendingHarness({
      webmail: { users: (await sendingHarness()).config.webmail.users, send: { recipientsPerDay: 3 } },
    });
    expect(
      (await h.call('POST', '/mail/api/send', { body: { to: ['a@outside.test', 'b@outside.test'] } })).status,
    ).toBe(202);
    const res = await h.call('POST', '/mail/api/send', {
      body: { to: ['c@outside.test', 'd@outside.test'] },
    });
    expect(res.status).toBe(429);
    expect(res.body.error).toBe('RATE_LIMITED');
  });

  it('refuses an address that is not one', async () => {
    const res = await h.call('POST', '/mail/api/send', { body: { to: ['not an address'] } });
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([expect.stringContaining('to.0')]);
  });
});

describe('POST /mail/api/sent/{id}/undo', () => {
  it('takes a message back within the window: nothing leaves and the draft comes back', async () => {
    const h = await sendingHarness();
    const sent = (
      await h.call('POST', '/mail/api/send', {
        body: { to: ['x@outside.test', 'bob@example.com'], subject: 'Oops' },
      })
    ).body as unknown as SentItem;
    h.clock.advance(5);
    const res = await h.call('POST', `/mail/api/sent/${sent.id}/undo`);
    expect(res.status).toBe(200);
    expect((res.body.sent as SentItem).state).toBe('undone');
    expect((res.body.draft as Draft).subject).toBe('Oops');
    await afterUndoWindow(h);
    expect(h.relay.sent).toHaveLength(0);
    expect((await h.call('GET', '/mail/api/messages', { claims: BOB })).body.messages).toEqual([]);
    expect(((await h.call('GET', '/mail/api/drafts')).body.drafts as Draft[]).map((d) => d.subject)).toEqual([
      'Oops',
    ]);
  });

  it('answers 409 TOO_LATE once the window is over', async () => {
    const h = await sendingHarness();
    const sent = (await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } }))
      .body as unknown as SentItem;
    await afterUndoWindow(h);
    const res = await h.call('POST', `/mail/api/sent/${sent.id}/undo`);
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('TOO_LATE');
    expect(h.relay.sent).toHaveLength(1);
  });

  it('answers TOO_LATE at the end of the window even before the worker has run', async () => {
    const h = await sendingHarness();
    const sent = (await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } }))
      .body as unknown as SentItem;
    h.clock.advance(h.config.webmail.send.undoSeconds);
    expect((await h.call('POST', `/mail/api/sent/${sent.id}/undo`)).body.error).toBe('TOO_LATE');
  });

  it('does not let another user undo my message', async () => {
    const h = await sendingHarness();
    const sent = (await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } }))
      .body as unknown as SentItem;
    expect((await h.call('POST', `/mail/api/sent/${sent.id}/undo`, { claims: BOB })).status).toBe(404);
  });
});

describe('replies and forwards', () => {
  async function original(h: Harness) {
    const raw = await compose({
      from: 'Customer <customer@outside.test>',
      to: 'alice@example.com, bob@example.com',
      cc: 'carol@outside.test',
      subject: 'Order 1234',
      messageId: '<order-1234@outside.test>',
      references: '<thread-start@outside.test>',
      text: 'Where is my order?\nThanks',
      attachments: [
        {
          filename: 'invoice.pdf',
          content: Buffer.from('%PDF-1.4 invoice bytes'),
          contentType: 'application/pdf',
        },
      ],
    });
    return h.receive(raw, { recipients: ['alice@example.com'] });
  }

  it('a reply is threaded with In-Reply-To and References from the original', async () => {
    const h = await sendingHarness();
    const id = await original(h);
    const draft = (
      await h.call('POST', '/mail/api/drafts', { body: { source: { messageId: id, mode: 'reply' } } })
    ).body as unknown as Draft;
    expect(draft.to).toEqual(['Customer <customer@outside.test>']);
    expect(draft.subject).toBe('Re: Order 1234');
    expect(draft.text).toContain('> Where is my order?');
    expect((await h.call('POST', '/mail/api/send', { body: { draftId: draft.id } })).status).toBe(202);
    await afterUndoWindow(h);
    const mail = await simpleParser((h.relay.sent[0] as { raw: Buffer }).raw);
    expect(mail.inReplyTo).toBe('<order-1234@outside.test>');
    expect(mail.references).toEqual(['<thread-start@outside.test>', '<order-1234@outside.test>']);
  });

  it('reply all adds every To and Cc but my own addresses', async () => {
    const h = await sendingHarness();
    const id = await original(h);
    const draft = (
      await h.call('POST', '/mail/api/drafts', { body: { source: { messageId: id, mode: 'reply-all' } } })
    ).body as unknown as Draft;
    expect(draft.to).toEqual(['Customer <customer@outside.test>']);
    expect(draft.cc).toEqual(['bob@example.com', 'carol@outside.test']);
  });

  it('a forward carries the original’s attachments byte for byte', async () => {
    const h = await sendingHarness();
    const id = await original(h);
    const draft = (
      await h.call('POST', '/mail/api/drafts', { body: { source: { messageId: id, mode: 'forward' } } })
    ).body as unknown as Draft;
    expect(draft.attachments.map((a) => a.filename)).toEqual(['invoice.pdf']);
    const saved = await h.call('PUT', `/mail/api/drafts/${draft.id}`, {
      body: {
        to: ['partner@outside.test'],
        subject: draft.subject,
        text: draft.text,
        attachments: draft.attachments.map((a) => a.ref),
        inReplyTo: draft.inReplyTo,
        version: draft.version,
      },
    });
    expect(saved.status).toBe(200);
    expect((await h.call('POST', '/mail/api/send', { body: { draftId: draft.id } })).status).toBe(202);
    await afterUndoWindow(h);
    const mail = await simpleParser((h.relay.sent[0] as { raw: Buffer }).raw);
    expect(mail.subject).toBe('Fwd: Order 1234');
    expect(mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['invoice.pdf', '%PDF-1.4 invoice bytes'],
    ]);
  });

  it('forwards the original whole as a message/rfc822 attachment', async () => {
    const h = await sendingHarness();
    const id = await original(h);
    const draft = (
      await h.call('POST', '/mail/api/drafts', {
        body: { source: { messageId: id, mode: 'forward-as-attachment' }, to: ['partner@outside.test'] },
      })
    ).body as unknown as Draft;
    await h.call('POST', '/mail/api/send', { body: { draftId: draft.id } });
    await afterUndoWindow(h);
    const raw = (h.relay.sent[0] as { raw: Buffer }).raw.toString();
    expect(raw).toContain('Content-Type: message/rfc822');
    expect(raw).toContain('Message-ID: <order-1234@outside.test>');
  });

  it('cannot forward an attachment of another user’s message', async () => {
    const h = await sendingHarness();
    const id = await original(h);
    const res = await h.call('POST', '/mail/api/send', {
      claims: BOB,
      body: { to: ['x@outside.test'], attachments: [{ kind: 'message-part', messageId: id, part: 0 }] },
    });
    expect(res.status).toBe(404);
  });
});

describe('drafts', () => {
  it('are saved, listed, refused when stale, and deleted', async () => {
    const h = await sendingHarness();
    await h.call('PUT', '/mail/api/signature', { body: { text: 'Alice Smith\nSales' } });
    const d = (await h.call('POST', '/mail/api/drafts', { body: {} })).body as unknown as Draft;
    expect(d.text).toContain('-- \nAlice Smith\nSales');
    const saved = await h.call('PUT', `/mail/api/drafts/${d.id}`, {
      body: { to: ['x@outside.test'], subject: 'Plan', text: 'first words', version: d.version },
    });
    expect(saved.status).toBe(200);
    const stale = await h.call('PUT', `/mail/api/drafts/${d.id}`, {
      body: { subject: 'Old tab', version: d.version },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toBe('CONFLICT');
    const list = (await h.call('GET', '/mail/api/drafts')).body.drafts as Array<{
      subject: string;
      snippet: string;
    }>;
    expect(list).toEqual([expect.objectContaining({ subject: 'Plan', snippet: 'first words' })]);
    expect((await h.call('GET', `/mail/api/drafts/${d.id}`, { claims: BOB })).status).toBe(404);
    expect((await h.call('DELETE', `/mail/api/drafts/${d.id}`)).status).toBe(200);
    expect((await h.call('GET', '/mail/api/drafts')).body.drafts).toEqual([]);
  });

  it('lets a sent message’s draft go once the message has left, so sending never fills the drafts', async () => {
    const h = await sendingHarness();
    const res = await h.call('POST', '/mail/api/send', {
      body: { to: ['partner@outside.test'], subject: 'Figures', text: 'See below.' },
    });
    expect(res.status).toBe(202);
    const kept = await h.deps.sending.listSending('draft', 'alice', { limit: 10 });
    expect(kept.items).toHaveLength(1);

    await afterUndoWindow(h);
    expect(h.relay.sent).toHaveLength(1);
    expect((await h.deps.sending.listSending('draft', 'alice', { limit: 10 })).items).toEqual([]);
  });

  it('keeps a signature per user: mine goes in my new drafts, never in a colleague’s', async () => {
    const h = await sendingHarness();
    await h.call('PUT', '/mail/api/signature', { body: { text: 'Alice Smith\nSales' } });
    await h.call('PUT', '/mail/api/signature', { body: { text: 'Bob Jones\nOperations' }, claims: BOB });
    expect((await h.call('GET', '/mail/api/signature')).body.text).toBe('Alice Smith\nSales');
    const bobs = (await h.call('POST', '/mail/api/drafts', { body: {}, claims: BOB }))
      .body as unknown as Draft;
    expect(bobs.text).toContain('-- \nBob Jones\nOperations');
    expect(bobs.text).not.toContain('Alice Smith');
  });

  it('refuses a body over the limit', async () => {
    const h = await sendingHarness();
    const res = await h.call('POST', '/mail/api/drafts', { body: { text: 'x'.repeat(400_001) } });
    expect(res.status).toBe(400);
  });
});

describe('attachments', () => {
  it('go through a signed upload and are sent', async () => {
    const h = await sendingHarness();
    const { ticket } = await upload(h, Buffer.from('plan bytes'));
    expect(ticket.method).toBe('PUT');
    const res = await h.call('POST', '/mail/api/send', {
      body: { to: ['x@outside.test'], attachments: [{ kind: 'upload', uploadId: ticket.id }] },
    });
    expect(res.status).toBe(202);
    await afterUndoWindow(h);
    const mail = await simpleParser((h.relay.sent[0] as { raw: Buffer }).raw);
    expect(mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['plan.pdf', 'plan bytes'],
    ]);
  });

  it('refuses an upload over the limit, naming it', async () => {
    const h = await sendingHarness();
    const res = await h.call('POST', '/mail/api/uploads', {
      body: { filename: 'big.iso', size: 28_000_001 },
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('ATTACHMENT_TOO_LARGE');
    expect(res.body.message).toContain('28 MB');
  });

  it('refuses attachments that together pass the limit', async () => {
    const h = await sendingHarness();
    const a = await upload(h, Buffer.alloc(15_000_000, 1));
    const b = await upload(h, Buffer.alloc(15_000_000, 2));
    const res = await h.call('POST', '/mail/api/send', {
      body: {
        to: ['x@outside.test'],
        attachments: [
          { kind: 'upload', uploadId: a.ticket.id },
          { kind: 'upload', uploadId: b.ticket.id },
        ],
      },
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('ATTACHMENT_TOO_LARGE');
  });

  it('a signed upload works once', async () => {
    const h = await sendingHarness();
    const { token } = await upload(h, Buffer.from('one'));
    await expect(
      receiveUpload(h.deps, h.uploads.verify(token), async () => Buffer.from('two')),
    ).rejects.toMatchObject({
      code: 'UPLOAD_USED',
    });
  });

  it('another user cannot send my upload', async () => {
    const h = await sendingHarness();
    const { ticket } = await upload(h, Buffer.from('mine'));
    const res = await h.call('POST', '/mail/api/send', {
      claims: BOB,
      body: { to: ['x@outside.test'], attachments: [{ kind: 'upload', uploadId: ticket.id }] },
    });
    expect(res.status).toBe(404);
    expect(h.relay.sent).toHaveLength(0);
  });

  it('an altered upload URL is refused', async () => {
    const h = await sendingHarness();
    const { token } = await upload(h, Buffer.from('x'));
    const [v, payload, mac] = token.split('.') as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), u: 'bob' }),
    ).toString('base64url');
    expect(() => h.uploads.verify(`${v}.${forged}.${mac}`)).toThrow(
      expect.objectContaining({ code: 'UPLOAD_INVALID' }),
    );
  });
});

describe('bounces', () => {
  it('a relay 5xx becomes a notice in my mailbox and the recipient reads bounced', async () => {
    const h = await sendingHarness();
    h.relay.refuse.add('nobody@outside.test');
    const sent = (
      await h.call('POST', '/mail/api/send', {
        body: { to: ['nobody@outside.test', 'x@outside.test'], subject: 'Hi' },
      })
    ).body as unknown as SentItem;
    await afterUndoWindow(h);
    const item = (await h.call('GET', `/mail/api/sent/${sent.id}`)).body as unknown as SentItem;
    expect(item.state).toBe('partly-failed');
    expect(item.recipients.find((r) => r.address === 'nobody@outside.test')).toMatchObject({
      status: 'bounced',
      detail: 'relay.test: 550 5.1.1 no such user',
    });
    const inbox = (await h.call('GET', '/mail/api/messages')).body.messages as Array<{
      subject: string;
      from: string;
    }>;
    expect(inbox).toEqual([expect.objectContaining({ subject: 'Undelivered Mail Returned to Sender' })]);
  });

  it('a 4xx is retried with the queue’s backoff', async () => {
    const h = await sendingHarness();
    h.relay.defer.add('slow@outside.test');
    const sent = (await h.call('POST', '/mail/api/send', { body: { to: ['slow@outside.test'] } }))
      .body as unknown as SentItem;
    await afterUndoWindow(h);
    expect((await h.call('GET', `/mail/api/sent/${sent.id}`)).body.state).toBe('retrying');
    h.relay.defer.clear();
    h.clock.advance(h.config.queue.minBackoffSeconds);
    await dispatchDue(h.deps);
    expect((await h.call('GET', `/mail/api/sent/${sent.id}`)).body.state).toBe('sent');
    expect(h.relay.sent).toHaveLength(2);
  });
});

describe('sent copies', () => {
  it('a message sent during an event gets a marked copy held for the sender’s mailbox, after the held mail', async () => {
    const h = await sendingHarness();
    await h.store.putOrg({ ...initialOrgState(h.clock.now()), state: 'continuity', eventId: 'e1' }, 0);
    await h.store.putHold({
      scope: '*',
      reason: 'continuity',
      since: h.clock.now().toISOString(),
      by: 'admin',
    });
    const sent = (
      await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'], bcc: ['bob@example.com'] } })
    ).body as unknown as SentItem;
    expect(sent.sentCopy).toBe('pending');
    await afterUndoWindow(h);
    const copy = await h.store.getDelivery({
      messageId: sentCopyId(sent.id),
      recipient: 'alice@example.com',
    });
    expect(copy).toMatchObject({ state: 'held', reason: SENT_COPY_REASON });
    const raw = (await h.blobs.getRaw(`raw/${sentCopyId(sent.id)}`)).toString();
    expect(raw.startsWith(`${SENT_COPY_HEADER}: yes\r\nBcc: bob@example.com\r\n`)).toBe(true);
    // Bob's copy is held like inbound mail; Alice's inbox does not list her own sent copy.
    expect(await h.store.getDelivery({ messageId: sent.id, recipient: 'bob@example.com' })).toMatchObject({
      state: 'held',
    });
    expect((await h.call('GET', '/mail/api/messages')).body.messages).toEqual([]);
  });

  it('a message sent outside an event gets no copy', async () => {
    const h = await sendingHarness();
    const sent = (await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'] } }))
      .body as unknown as SentItem;
    await afterUndoWindow(h);
    expect(sent.sentCopy).toBe('none');
    expect(await h.store.listDeliveries(sentCopyId(sent.id))).toEqual([]);
  });
});

describe('GET /mail/api/sent', () => {
  it('lists what I sent, newest first, and only mine', async () => {
    const h = await sendingHarness();
    await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'], subject: 'first' } });
    h.clock.advance(1);
    await h.call('POST', '/mail/api/send', { body: { to: ['x@outside.test'], subject: 'second' } });
    await h.call('POST', '/mail/api/send', {
      claims: BOB,
      body: { to: ['x@outside.test'], subject: 'bob’s' },
    });
    const page = (await h.call('GET', '/mail/api/sent', { query: { limit: '1' } })).body;
    expect((page.items as SentItem[]).map((i) => i.subject)).toEqual(['second']);
    const next = (await h.call('GET', '/mail/api/sent', { query: { cursor: page.cursor as string } })).body;
    expect((next.items as SentItem[]).map((i) => i.subject)).toEqual(['first']);
    expect(next.cursor).toBeNull();
  });
});
