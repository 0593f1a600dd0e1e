import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDemoPrimary } from '../../infra/local/demo-primary.js';
import { createDemoSink } from '../../infra/local/demo-sink.js';
import { listen, type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { invokeContinuity, revokeContinuity } from '../../lambdas/core/continuity-service.js';
import { sentCopyId } from '../../lambdas/core/sending/outbound.js';
import type { SentItem } from '../../lambdas/webmail/schemas.js';
import { freePort } from '../support/lifeboat-process.js';
import { sendRaw } from '../support/runtime.js';
import { compose } from '../support/webmail.js';

const ALICE = { 'cognito:username': 'alice' };
const BOB = { 'cognito:username': 'bob' };

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function files(dir: string): Promise<Buffer[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
}

const close = (s: SMTPServer) => new Promise<void>((r) => s.close(() => r()));

describe('sending from the webmail on the local runtime', () => {
  let dir: string;
  let primary: SMTPServer;
  let sink: SMTPServer;
  let rt: Runtime;
  let config: ReturnType<typeof parseConfig>;

  async function start(): Promise<Runtime> {
    return startRuntime({
      config,
      ports: { smtp: 0, api: 0 },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      directoryCheckMs: 0,
      indexBatchMs: 0,
    });
  }

  async function call(claims: Record<string, unknown>, method: string, p: string, body?: unknown) {
    const res = await rt.webmail.handler({
      rawPath: p,
      requestContext: { http: { method }, authorizer: { jwt: { claims } } },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-send-'));
    const primaryPort = await freePort();
    const sinkPort = await freePort();
    primary = createDemoPrimary(path.join(dir, 'primary'));
    await listen(primary, primaryPort, '127.0.0.1');
    sink = createDemoSink(path.join(dir, 'sink'));
    await listen(sink, sinkPort, '127.0.0.1');
    config = parseConfig({
      domains: ['example.com'],
      routes: [
        {
          name: 'primary',
          domains: ['example.com'],
          hosts: [{ host: '127.0.0.1', port: primaryPort }],
          tls: 'none',
        },
      ],
      webmail: {
        users: [
          { id: 'alice', name: 'Alice Smith', addresses: ['alice@example.com'] },
          { id: 'bob', name: 'Bob Jones', addresses: ['bob@example.com'] },
        ],
        send: { undoSeconds: 0 },
      },
      local: {
        dataDir: path.join(dir, 'data'),
        relay: { host: '127.0.0.1', port: sinkPort, tls: 'none' },
      },
    });
    rt = await start();
  });

  afterEach(async () => {
    await rt.stop();
    await close(primary);
    await close(sink);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('puts a message to a colleague in their mailbox at once, without it leaving through the relay', async () => {
    const sent = await call(ALICE, 'POST', '/mail/api/send', {
      to: ['bob@example.com'],
      subject: 'Lunch?',
      text: 'At one.',
    });
    expect(sent.status).toBe(202);
    const inbox = await waitFor('Bob’s mailbox to list it', async () => {
      const r = await call(BOB, 'GET', '/mail/api/messages');
      return r.body.messages.length > 0 && r.body.messages;
    });
    expect(inbox.map((m: { subject: string }) => m.subject)).toEqual(['Lunch?']);
    // Handed to the primary like inbound mail, and never to the relay.
    await waitFor(
      'the primary to have it',
      async () => (await files(path.join(dir, 'primary'))).length === 1,
    );
    expect(await files(path.join(dir, 'sink'))).toEqual([]);
  });

  it('turns a 5xx from the relay into a notice in the sender’s mailbox', async () => {
    const sent = (
      await call(ALICE, 'POST', '/mail/api/send', {
        to: ['nobody@outside.test', 'partner@outside.test'],
        subject: 'Quote',
      })
    ).body as SentItem;
    const item = await waitFor('the relay’s answers', async () => {
      const r = (await call(ALICE, 'GET', `/mail/api/sent/${sent.id}`)).body as SentItem;
      return r.state !== 'waiting' && r.state !== 'sending' && r;
    });
    expect(item.state).toBe('partly-failed');
    expect(item.recipients.map((r) => [r.address, r.status])).toEqual([
      ['nobody@outside.test', 'bounced'],
      ['partner@outside.test', 'relayed'],
    ]);
    expect(item.recipients[0]?.detail).toMatch(/550/);
    const notice = await waitFor('the notice', async () => {
      const r = await call(ALICE, 'GET', '/mail/api/messages');
      return r.body.messages[0];
    });
    expect(notice.subject).toBe('Undelivered Mail Returned to Sender');
    const out = await files(path.join(dir, 'sink'));
    expect(out).toHaveLength(1);
    expect(out[0]?.toString()).toContain('Subject: Quote');
  });

  it('hands the sent copy to the sender’s mailbox once, after the held inbound mail, across a restart', async () => {
    await invokeContinuity(rt.ctx, 'ops@example.com');
    const inbound = await compose({
      from: 'customer@outside.test',
      to: 'alice@example.com',
      subject: 'Order',
      messageId: '<order@outside.test>',
      text: 'Where is it?',
    });
    await sendRaw(rt.smtpPort, { to: ['alice@example.com'], raw: inbound });
    const sent = (
      await call(ALICE, 'POST', '/mail/api/send', {
        to: ['partner@outside.test', 'bob@example.com'],
        subject: 'Re: Order',
        text: 'Soon.',
      })
    ).body as SentItem;
    await waitFor('the sent copy', async () =>
      rt.stores.store.getDelivery({ messageId: sentCopyId(sent.id), recipient: 'alice@example.com' }),
    );
    await rt.idle();
    expect(await files(path.join(dir, 'primary'))).toEqual([]);

    // A clean restart in the middle of the event changes nothing.
    await rt.stop();
    rt = await start();
    await revokeContinuity(rt.ctx, 'ops@example.com');
    await rt.kickHandover();
    await rt.idle();
    const atPrimary = await files(path.join(dir, 'primary'));
    const subjects = atPrimary.map((f) => /^Subject: (.*)$/m.exec(f.toString())?.[1]);
    expect(subjects).toHaveLength(3);
    // The held inbound mail (the customer's order, Alice's message to Bob) first; the sent copy last.
    expect(subjects.slice(0, 2).sort()).toEqual(['Order', 'Re: Order']);
    const copy = atPrimary[2]?.toString() ?? '';
    expect(copy).toMatch(/^Received: .*\r\n(\s.*\r\n)*X-Lifeboat-Sent-Copy: yes\r\n/);
    const messageIds = atPrimary.map((f) => /^Message-ID: (.*)$/im.exec(f.toString())?.[1]);
    expect(messageIds.filter((m) => m === sent.messageIdHeader)).toHaveLength(2);
    expect((await call(ALICE, 'GET', `/mail/api/sent/${sent.id}`)).body.sentCopy).toBe('handed-over');
  });

  it('deletes a draft’s body when the draft is deleted or sent, and purges what sending leaves once its time is up', async () => {
    const sendingDir = path.join(dir, 'data', 'sending');
    const names = async (folder: string) =>
      (await readdir(path.join(sendingDir, folder)).catch(() => [] as string[])).sort();
    const kept = (await call(ALICE, 'POST', '/mail/api/drafts', { subject: 'Later', text: 'Notes' })).body;
    const dropped = (await call(ALICE, 'POST', '/mail/api/drafts', { subject: 'Never', text: 'No' })).body;
    expect(await names('drafts')).toEqual([kept.id, dropped.id].sort());
    expect((await call(ALICE, 'DELETE', `/mail/api/drafts/${dropped.id}`)).status).toBe(200);
    expect(await names('drafts')).toEqual([kept.id]);

    // A file uploaded for the kept draft, and a message sent (from a draft of its own).
    const ticket = (
      await call(ALICE, 'POST', '/mail/api/uploads', {
        filename: 'plan.txt',
        contentType: 'text/plain',
        size: 4,
        draftId: kept.id,
      })
    ).body;
    const put = await fetch(ticket.url, { method: 'PUT', headers: ticket.headers, body: 'plan' });
    expect(put.status).toBe(200);
    const sent = (
      await call(ALICE, 'POST', '/mail/api/send', { to: ['bob@example.com'], subject: 'Hi', text: 'Hello' })
    ).body as SentItem;
    await waitFor(
      'the message to leave',
      async () => (await call(ALICE, 'GET', `/mail/api/sent/${sent.id}`)).body.state === 'sent',
    );
    // Its draft's body went with the draft; the message as sent stays.
    expect(await names('drafts')).toEqual([kept.id]);
    expect(await names('uploads')).toEqual([ticket.id]);
    expect(await names('outgoing')).toEqual([sent.id]);

    // A day later the upload has gone (as S3's rule on uploads/ does); the draft and Sent stay.
    const day = 86_400_000;
    const twoDays = await rt.sending.purge(new Date(Date.now() + 2 * day));
    expect(twoDays).toMatchObject({ records: 1, uploads: 1, drafts: 0, outgoing: 0 });
    expect(await names('uploads')).toEqual([]);
    expect(await names('drafts')).toEqual([kept.id]);
    expect(await names('outgoing')).toEqual([sent.id]);

    // Past the history window the records go (DynamoDB's TTL), and their files with them.
    const past = await rt.sending.purge(new Date(Date.now() + (config.historyDays + 1) * day));
    expect(past).toMatchObject({ records: 2, drafts: 1, outgoing: 1 });
    expect(await names('drafts')).toEqual([]);
    expect(await names('outgoing')).toEqual([]);
    expect((await call(ALICE, 'GET', '/mail/api/sent')).body.items).toEqual([]);
  });
});
