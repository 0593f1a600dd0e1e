import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SentItem, SentPage } from '../../lambdas/webmail/schemas.js';
import {
  chromiumUnavailableReason,
  DESKTOP,
  ensureWebBuilt,
  launchChromium,
  screenshot,
} from './support/chromium.js';
import { type DeliveredMessage, PostfixInstance, postfixUnavailableReason } from './support/postfix.js';
import { describeRequiring } from './support/requirements.js';
import {
  STAFF,
  STAFF_DOMAIN,
  signInWithPassword,
  startWebmailRuntime,
  until,
  type WebmailRuntime,
} from './support/webmail-runtime.js';

// Writing mail during an outage with a real Postfix as the primary: `npm start` in a child
// process routes the staff's domain to a private Postfix instance, which is stopped; an admin
// invokes continuity, mail arrives and is held, Alice replies from Chromium with a file attached
// (to an outside sender, through the relay) and writes to Bob (a colleague, kept here). Postfix
// comes back, the admin revokes, and Postfix's Maildir must hold the held inbound mail first, then
// Alice's sent copies, each once. Screenshots: test-artifacts/webmail-send-postfix/.

const FOLDER = 'webmail-send-postfix';
/** The shortest undo window the browser still shows: the test is about the hand-over, not undo. */
const UNDO_SECONDS = 1;
/** How long a page may take to show what a step waits for, on a busy machine. */
const SHOWS = { timeout: 15_000 };
/** The hand-over after revoke: a few messages, Postfix delivering each into its Maildir. */
const HANDED_OVER_WITHIN_MS = 60_000;
const ALICE = `alice@${STAFF_DOMAIN}`;
const BOB = `bob@${STAFF_DOMAIN}`;
/** An outside sender: a reply to her leaves through the relay. */
const DANA = 'dana@partner.test';
const SITE_VISIT_ID = '<site-visit@partner.test>';
const INVOICE_ID = '<invoice-7@partner.test>';
/** The file Alice attaches to her reply. */
const NOTES = 'Access: gate B, ask for Dana.\nParking: level -2.\n';

/**
 * The Message-IDs Postfix received, in the order it received them: cleanup(8) logs each one
 * while the SMTP transaction is still open, so the log order is the order Lifeboat handed over.
 */
function receivedOrder(log: string): string[] {
  return [...log.matchAll(/cleanup\[\d+\]: \w+: message-id=(<[^>\s]+>)/g)].map((m) => m[1] as string);
}

/** How many copies of each Message-ID a list of delivered messages holds. */
function countById(messages: DeliveredMessage[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of messages) if (m.messageId) counts[m.messageId] = (counts[m.messageId] ?? 0) + 1;
  return counts;
}

function isSentCopy(m: DeliveredMessage): boolean {
  return /^X-Lifeboat-Sent-Copy: yes\r?$/im.test(m.original.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '');
}

describeRequiring(
  [chromiumUnavailableReason(), postfixUnavailableReason()],
  'writing mail in the webmail with Postfix as the primary, in Chromium',
  () => {
    let postfix: PostfixInstance;
    let rt: WebmailRuntime;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let notesFile: string;
    let reply: SentItem;
    let toBob: SentItem;

    /** What Alice's webmail API answers (with the page's token). */
    async function sentOf(p: Page): Promise<SentPage> {
      return p.evaluate(async () => {
        // The test's tsconfig has no DOM types: the one browser global used here, typed by hand.
        const store = (globalThis as unknown as { sessionStorage: Record<string, string> }).sessionStorage;
        const key = Object.keys(store).find((k) => k.startsWith('oidc.user:'));
        const token = key ? (JSON.parse(store[key] ?? '{}') as { id_token?: string }).id_token : '';
        const res = await fetch('/mail/api/sent', { headers: { authorization: `Bearer ${token}` } });
        return (await res.json()) as SentPage;
      });
    }

    async function sentItem(subject: string): Promise<SentItem> {
      const item = (await sentOf(page)).items.find((i) => i.subject === subject);
      if (!item) throw new Error(`no sent message "${subject}"`);
      return item;
    }

    beforeAll(async () => {
      await ensureWebBuilt();
      postfix = await PostfixInstance.create({ mode: 'mailbox', domains: [STAFF_DOMAIN] });
      // The test SMTP server the runtime starts stands in for the organisation's relay here.
      rt = await startWebmailRuntime((relay) => ({
        routes: [
          {
            name: 'postfix',
            domains: [STAFF_DOMAIN],
            hosts: [{ host: postfix.address, port: postfix.port }],
            tls: 'none',
            connectTimeoutSeconds: 3,
            socketTimeoutSeconds: 20,
          },
        ],
        local: { relay: { host: '127.0.0.1', port: relay.port, tls: 'none' } },
        webmail: { users: STAFF, send: { undoSeconds: UNDO_SECONDS } },
        continuity: {
          autoInvokeAfterMinutes: null,
          staff: { phones: [STAFF[0]?.phone as string] },
          // One in flight keeps strict order, so Postfix's log shows the hand-over's order.
          handover: { concurrency: 1, ratePerSecond: 1000 },
        },
      }));
      browser = await launchChromium();
      const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-send-postfix-'));
      notesFile = path.join(dir, 'site-notes.txt');
      await writeFile(notesFile, NOTES);

      // The outage: Postfix stops, an admin invokes continuity, and mail arriving now is held.
      await postfix.stop();
      await rt.admin('POST', '/admin/continuity/invoke', { reason: 'primary mail server down' });
      await rt.send({
        from: `"Dana Reed" <${DANA}>`,
        to: ALICE,
        subject: 'Site visit on Thursday',
        messageId: SITE_VISIT_ID,
        text: 'Hi Alice,\n\ncan you send me the access details for Thursday?\n\nDana',
      });
      await rt.send({
        from: `"Dana Reed" <${DANA}>`,
        to: ALICE,
        subject: 'Invoice 7',
        messageId: INVOICE_ID,
        text: 'Invoice 7 is attached to our portal.',
      });
    });

    afterAll(async () => {
      await context?.close().catch(() => undefined);
      await browser?.close();
      await rt?.stop();
      await postfix?.dispose();
    });

    it('replies to a held message with a file attached, through the relay', async () => {
      context = await browser.newContext(DESKTOP);
      page = await context.newPage();
      await page.goto(`${rt.origin}/mail/`);
      await signInWithPassword(page, 'alice');
      await page.getByRole('link', { name: /Site visit on Thursday/ }).click();
      await page.getByRole('heading', { name: 'Site visit on Thursday' }).waitFor(SHOWS);
      await screenshot(page, FOLDER, '01-held-message');
      await page.getByRole('button', { name: 'Reply', exact: true }).click();

      const composer = page.getByRole('dialog', { name: 'Reply' });
      await composer.getByRole('button', { name: `Remove ${DANA}` }).waitFor(SHOWS);
      const body = composer.getByLabel('Message');
      await body.press('Control+Home');
      await body.pressSequentially('Hi Dana, the access details are attached. Alice\n');
      await composer.getByLabel('Files to attach').setInputFiles(notesFile);
      await composer.getByRole('button', { name: 'Remove site-notes.txt' }).waitFor(SHOWS);
      await composer.getByRole('status').filter({ hasText: 'Saved' }).waitFor(SHOWS);
      await screenshot(page, FOLDER, '02-reply-with-file');
      await composer.getByRole('button', { name: 'Send' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: 'Sent.' })
        .waitFor({ timeout: UNDO_SECONDS * 1000 + 15_000 });

      await until('the relay has taken the reply', 30_000, async () => {
        reply = await sentItem('Re: Site visit on Thursday');
        return reply.recipients.every((r) => r.status === 'relayed');
      });
      expect(reply.attachments.map((a) => a.filename)).toEqual(['site-notes.txt']);
      expect(reply.sentCopy).toBe('pending');
      expect(rt.primary.copiesOf(reply.messageIdHeader).map((t) => t.to)).toEqual([[DANA]]);
    });

    it('writes to a colleague, kept here while the primary is down', async () => {
      await page.getByRole('link', { name: 'Inbox', exact: true }).click();
      await page.getByRole('button', { name: 'New message', exact: true }).click();
      const composer = page.getByRole('dialog', { name: 'New message' });
      const to = composer.getByLabel('To', { exact: true });
      await to.waitFor(SHOWS);
      await to.fill(BOB);
      await to.press('Enter');
      await composer.getByLabel('Subject').fill('Stand-up moved to 10:00');
      await composer.getByLabel('Message').fill('Bob, tomorrow the stand-up is at 10:00.');
      await screenshot(page, FOLDER, '03-to-colleague');
      await composer.getByRole('button', { name: 'Send' }).click();
      // The reply's "Sent." may still show: wait for this message itself to have left.
      await until('the message to Bob sent', UNDO_SECONDS * 1000 + 15_000, async () => {
        const item = (await sentOf(page)).items.find((i) => i.subject === 'Stand-up moved to 10:00');
        if (item?.sentAt) toBob = item;
        return item?.sentAt != null;
      });
      expect(toBob.sentCopy).toBe('pending');
      // Internal mail never leaves through the relay, and Postfix is still down.
      expect(rt.primary.copiesOf(toBob.messageIdHeader)).toEqual([]);
      expect(await postfix.messageIds()).toEqual([]);
      await page.getByRole('link', { name: 'Sent', exact: true }).click();
      await page.getByRole('article', { name: 'Stand-up moved to 10:00' }).waitFor(SHOWS);
      await screenshot(page, FOLDER, '04-sent-during-outage');
    });

    it('hands Postfix the held mail after revoke, then each sent copy once, in Alice’s mailbox', async () => {
      await postfix.start();
      await rt.admin('POST', '/admin/continuity/revoke');
      // The held inbound mail (two for Alice, the message for Bob), then Alice's two sent copies.
      const expectedCopies = 5;
      await postfix.waitForMessages(expectedCopies, HANDED_OVER_WITHIN_MS);
      await until('the sent copies reported handed over', 30_000, async () => {
        const items = (await sentOf(page)).items;
        return items.filter((i) => i.sentCopy === 'handed-over').length === 2;
      });
      await until('Lifeboat back in normal', 30_000, async () => {
        const s = await rt.admin<{ state: string }>('GET', '/admin/status');
        return s.state === 'normal';
      });
      await postfix.waitForQueueSize(0, { timeoutMs: 30_000 });
      await page.reload();
      await page
        .getByRole('article', { name: 'Stand-up moved to 10:00' })
        .getByText('Copy handed back to your own mailbox on the mail server.')
        .waitFor(SHOWS);
      await screenshot(page, FOLDER, '05-sent-copies-handed-back');

      const messages = await postfix.messages();
      expect(messages).toHaveLength(expectedCopies);
      const alices = messages.filter((m) => m.recipient === ALICE);
      const bobs = messages.filter((m) => m.recipient === BOB);
      const copies = alices.filter(isSentCopy);
      // Alice's mailbox: the held inbound mail once each, and one marked copy of each message she sent.
      expect(countById(alices.filter((m) => !isSentCopy(m)))).toEqual({
        [SITE_VISIT_ID]: 1,
        [INVOICE_ID]: 1,
      });
      expect(countById(copies)).toEqual({ [reply.messageIdHeader]: 1, [toBob.messageIdHeader]: 1 });
      // Bob's: the colleague's message once, as inbound mail (not marked as a sent copy).
      expect(countById(bobs)).toEqual({ [toBob.messageIdHeader]: 1 });
      expect(bobs.some(isSentCopy)).toBe(false);
      // The copy is the message Alice sent: threaded on Dana's, with the file.
      const replyCopy = copies
        .find((m) => m.messageId === reply.messageIdHeader)
        ?.original.toString('latin1');
      expect(replyCopy).toMatch(new RegExp(`^In-Reply-To: ${SITE_VISIT_ID}`, 'im'));
      expect(replyCopy).toContain('site-notes.txt');

      // The order Postfix received them in: all the held inbound mail, then the sent copies.
      const order = receivedOrder(await postfix.log());
      expect(order).toHaveLength(expectedCopies);
      expect(order.slice(0, 3).sort()).toEqual([SITE_VISIT_ID, INVOICE_ID, toBob.messageIdHeader].sort());
      expect(order.slice(3).sort()).toEqual([reply.messageIdHeader, toBob.messageIdHeader].sort());
    });
  },
);
