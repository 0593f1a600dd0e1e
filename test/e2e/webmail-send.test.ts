import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import type { Browser, BrowserContext, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SentPage } from '../../lambdas/webmail/schemas.js';
import {
  chromiumUnavailableReason,
  DESKTOP,
  ensureWebBuilt,
  launchChromium,
  PHONE,
  screenshot,
} from './support/chromium.js';
import { describeRequiring } from './support/requirements.js';
import {
  STAFF,
  STAFF_DOMAIN,
  signInWithPassword,
  startWebmailRuntime,
  until,
  type WebmailRuntime,
} from './support/webmail-runtime.js';

// Writing mail from the webmail as staff do during an outage: Chromium against `npm start` (a
// child process), the test primary down and continuity invoked over the admin API. Alice replies
// on her phone with a file attached, takes one message back with Undo, writes to Bob, who sees it
// in his own webmail, and follows each recipient in Sent until the hand-over gives her the copy;
// then replies to all, forwards a message with its attachment and forwards one whole as an
// attachment, each checked as the primary received it.
// Screenshots of every step: test-artifacts/webmail-send/.

const FOLDER = 'webmail-send';
/** Seconds a sent message waits for Undo: long enough to press it on a busy machine, short for the test. */
const UNDO_SECONDS = 6;
/** How long a page may take to show what a step waits for, on a busy machine. */
const SHOWS = { timeout: 15_000 };
/** Mail for a colleague shows in their webmail without a reload: the undo window, then one 15 s poll. */
const COLLEAGUE_SEES_WITHIN_MS = UNDO_SECONDS * 1000 + 30_000;
/** The file Bob sends Alice, which she forwards. */
const FIGURES = 'quarter,revenue\nQ3,1204500\n';
/** The file Alice attaches to her reply. */
const NOTES = 'Access: gate B, ask for Dana.\nParking: level -2.\n';

describeRequiring([chromiumUnavailableReason()], 'writing mail in the webmail, in Chromium', () => {
  let rt: WebmailRuntime;
  let browser: Browser;
  let origin: string;
  let notesFile: string;
  const contexts: BrowserContext[] = [];

  async function newPage(options: BrowserContextOptions): Promise<Page> {
    const context = await browser.newContext(options);
    contexts.push(context);
    return context.newPage();
  }

  /** What the webmail API answers the user signed in on a page (with that page's token). */
  async function apiOf<T>(page: Page, p: string): Promise<T> {
    return page.evaluate(async (p) => {
      // The test's tsconfig has no DOM types: the one browser global used here, typed by hand.
      const store = (globalThis as unknown as { sessionStorage: Record<string, string> }).sessionStorage;
      const key = Object.keys(store).find((k) => k.startsWith('oidc.user:'));
      const token = key ? (JSON.parse(store[key] ?? '{}') as { id_token?: string }).id_token : '';
      const res = await fetch(p, { headers: { authorization: `Bearer ${token}` } });
      return (await res.json()) as T;
    }, p);
  }
  const sentOf = (page: Page) => apiOf<SentPage>(page, '/mail/api/sent');

  async function minSide(l: Locator): Promise<number> {
    const box = await l.boundingBox();
    return Math.min(box?.width ?? 0, box?.height ?? 0);
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    rt = await startWebmailRuntime({ webmail: { users: STAFF, send: { undoSeconds: UNDO_SECONDS } } });
    origin = rt.origin;
    browser = await launchChromium();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-send-'));
    notesFile = path.join(dir, 'site-notes.txt');
    await writeFile(notesFile, NOTES);

    await rt.send({
      from: '"Bob Jones" <bob@example.com>',
      to: `alice@${STAFF_DOMAIN}`,
      cc: `carol@${STAFF_DOMAIN}`,
      subject: 'Site visit on Thursday',
      messageId: '<site-visit@example.com>',
      text: 'Hi Alice,\n\ncan you send me the access details for Thursday?\n\nBob',
    });
    await rt.send({
      from: '"Carol White" <carol@example.com>',
      to: `alice@${STAFF_DOMAIN}`,
      subject: 'Lunch on Friday?',
      text: 'Shall we try the new place on the corner?',
    });
    await until('the primary has taken both messages', 30_000, () => rt.primary.transactions.length >= 2);
    // The outage: the primary refuses, an admin invokes continuity.
    await rt.primary.refuse();
    await rt.admin('POST', '/admin/continuity/invoke', { reason: 'primary datacentre power' });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await rt?.stop();
  });

  let phone: Page;
  let desktop: Page;
  let bob: Page;

  it('replies on a phone with a file uploaded from the phone, and offers Undo while it waits', async () => {
    phone = await newPage(PHONE);
    await phone.goto(`${origin}/mail/`);
    await signInWithPassword(phone, 'alice');
    await phone.getByRole('link', { name: /Site visit on Thursday/ }).tap();
    await phone.getByRole('heading', { name: 'Site visit on Thursday' }).waitFor();
    const reply = phone.getByRole('button', { name: 'Reply', exact: true });
    expect(await minSide(reply)).toBeGreaterThanOrEqual(44);
    await screenshot(phone, FOLDER, 'phone-01-message');
    await reply.tap();

    const composer = phone.getByRole('dialog', { name: 'Reply' });
    await composer.waitFor(SHOWS);
    // The server filled the draft in: Bob as the recipient, Re: and the quote.
    await composer.getByRole('button', { name: 'Remove bob@example.com' }).waitFor(SHOWS);
    expect(await composer.getByLabel('Subject').inputValue()).toBe('Re: Site visit on Thursday');
    const body = composer.getByLabel('Message');
    expect(await body.inputValue()).toContain('can you send me the access details');
    // A sheet over the whole screen.
    const sheet = await composer.boundingBox();
    expect(sheet?.width).toBe(390);
    await body.press('Control+Home');
    await body.pressSequentially('Hi Bob, the access details are attached. Alice\n');

    await composer.getByLabel('Files to attach').setInputFiles(notesFile);
    await composer.getByRole('button', { name: 'Remove site-notes.txt' }).waitFor(SHOWS);
    await composer.getByRole('status').filter({ hasText: 'Saved' }).waitFor(SHOWS);
    const send = composer.getByRole('button', { name: 'Send' });
    expect(await minSide(send)).toBeGreaterThanOrEqual(44);
    await screenshot(phone, FOLDER, 'phone-02-reply');
    await send.tap();

    const toast = phone.getByRole('status').filter({ hasText: /Sending in \d+ s/ });
    await toast.waitFor(SHOWS);
    expect(await minSide(toast.getByRole('button', { name: 'Undo' }))).toBeGreaterThanOrEqual(44);
    await screenshot(phone, FOLDER, 'phone-03-undo-toast');
    await phone
      .getByRole('status')
      .filter({ hasText: 'Sent.' })
      .waitFor({ timeout: UNDO_SECONDS * 1000 + 10_000 });

    const { items } = await sentOf(phone);
    const sent = items.find((i) => i.subject === 'Re: Site visit on Thursday');
    expect(sent?.attachments.map((a) => a.filename)).toEqual(['site-notes.txt']);
    expect(sent?.recipients.map((r) => r.address)).toEqual(['bob@example.com']);
  });

  it('takes a message back with Undo and shows it again in the composer', async () => {
    desktop = await newPage(DESKTOP);
    await desktop.goto(`${origin}/mail/`);
    await signInWithPassword(desktop, 'alice');
    await desktop.getByRole('link', { name: /Lunch on Friday/ }).waitFor(SHOWS);
    // `c` writes a new message; a panel at the bottom right, the mailbox still there beside it.
    await desktop.locator('body').press('c');
    const composer = desktop.getByRole('dialog', { name: 'New message' });
    await composer.getByLabel('To', { exact: true }).waitFor(SHOWS);
    const panel = await composer.boundingBox();
    expect(panel?.width).toBeLessThan(700);
    await composer.getByLabel('To', { exact: true }).fill('carol@example.com');
    await composer.getByLabel('To', { exact: true }).press('Enter');
    await composer.getByLabel('Subject').fill('Lunch: yes, 12:30');
    await composer.getByLabel('Message').fill('See you there.');
    await composer.getByRole('button', { name: 'Send' }).click();

    await desktop.getByRole('button', { name: 'Undo' }).click();
    const back = desktop.getByRole('dialog', { name: 'New message' });
    await back.getByLabel('Subject').waitFor(SHOWS);
    expect(await back.getByLabel('Subject').inputValue()).toBe('Lunch: yes, 12:30');
    expect(await back.getByLabel('Message').inputValue()).toBe('See you there.');
    await back.getByRole('button', { name: 'Remove carol@example.com' }).waitFor();
    await screenshot(desktop, FOLDER, 'desktop-01-undone-back-in-composer');

    // Closed, it waits in Drafts.
    await back.getByRole('button', { name: 'Close and keep the draft' }).click();
    await desktop.getByRole('link', { name: 'Drafts', exact: true }).click();
    await desktop.getByRole('button', { name: /Edit draft: Lunch: yes, 12:30/ }).waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-02-drafts');

    const { items } = await sentOf(desktop);
    const undone = items.find((i) => i.subject === 'Lunch: yes, 12:30');
    expect(undone?.state).toBe('undone');
    expect(undone?.recipients.map((r) => r.status)).toEqual(['undone']);
  });

  it('writes to a colleague, who sees it in their own webmail at once', async () => {
    bob = await newPage(DESKTOP);
    await bob.goto(`${origin}/mail/`);
    await signInWithPassword(bob, 'bob');
    await bob.getByRole('heading', { name: 'Inbox' }).waitFor(SHOWS);

    await desktop.getByRole('link', { name: 'Inbox', exact: true }).click();
    await desktop.getByRole('button', { name: 'New message', exact: true }).click();
    const composer = desktop.getByRole('dialog', { name: 'New message' });
    const to = composer.getByLabel('To', { exact: true });
    await to.waitFor(SHOWS);
    // A pasted list becomes chips; what is not an address is marked before anything is sent.
    await to.focus();
    await desktop.evaluate((text) => {
      // A paste as the browser makes it (the test's tsconfig has no DOM types, so typed by hand).
      const w = globalThis as unknown as {
        DataTransfer: new () => { setData: (type: string, value: string) => void };
        ClipboardEvent: new (type: string, init: object) => object;
        document: { activeElement: { dispatchEvent: (e: object) => boolean } | null };
      };
      const data = new w.DataTransfer();
      data.setData('text/plain', text);
      w.document.activeElement?.dispatchEvent(
        new w.ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }),
      );
    }, '"Jones, Bob" <bob@example.com>; bob@example');
    await composer.getByText('Not an email address: bob@example').waitFor();
    expect(await composer.getByText('Jones, Bob', { exact: true }).isVisible()).toBe(true);
    await composer.getByLabel('Subject').fill('Stand-up moved to 10:00');
    await composer.getByLabel('Message').fill('Bob, tomorrow the stand-up is at 10:00.');
    await composer.getByRole('button', { name: 'Send' }).click();
    await composer.getByRole('alert').filter({ hasText: 'not an email address' }).waitFor();
    await screenshot(desktop, FOLDER, 'desktop-03-address-problem');
    await composer.getByRole('button', { name: 'Remove bob@example', exact: true }).click();
    await composer.getByRole('button', { name: 'Send' }).click();
    await desktop
      .getByRole('status')
      .filter({ hasText: /Sending in \d+ s/ })
      .waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-04-undo-toast');

    const row = bob.getByRole('link', { name: /Stand-up moved to 10:00/ });
    await row.waitFor({ timeout: COLLEAGUE_SEES_WITHIN_MS });
    expect(await row.getAttribute('aria-label')).toMatch(/^Unread\. From Alice Smith/);
    await row.click();
    await bob.getByRole('heading', { name: 'Stand-up moved to 10:00' }).waitFor();
    await screenshot(bob, FOLDER, 'desktop-05-bob-reads-it');
    // Alice's reply from the phone reached him too.
    await bob.getByRole('link', { name: /Re: Site visit on Thursday/ }).waitFor();
  });

  it('lists what was sent with each recipient’s status, and the copy handed back after the outage', async () => {
    await desktop.getByRole('link', { name: 'Sent', exact: true }).click();
    const standUp = desktop.getByRole('article', { name: 'Stand-up moved to 10:00' });
    await standUp.waitFor(SHOWS);
    await standUp.getByText('In their mailbox here; on the mail server once it is back').waitFor(SHOWS);
    await standUp.getByText(/a copy goes to your own mailbox on the mail server/).waitFor();
    await desktop.getByRole('article', { name: 'Lunch: yes, 12:30' }).getByText('Undone, not sent').waitFor();
    const reply = desktop.getByRole('article', { name: 'Re: Site visit on Thursday' });
    await reply.getByText('site-notes.txt', { exact: false }).waitFor();
    await screenshot(desktop, FOLDER, 'desktop-06-sent');

    // Newest first.
    const headings = await desktop
      .getByRole('article')
      .evaluateAll((as) => as.map((a) => a.getAttribute('aria-label')));
    expect(headings.slice(0, 3)).toEqual([
      'Stand-up moved to 10:00',
      'Lunch: yes, 12:30',
      'Re: Site visit on Thursday',
    ]);

    // The primary is back; the admin revokes, and the hand-over gives Alice her sent copies.
    await rt.primary.accept();
    await rt.admin('POST', '/admin/continuity/revoke');
    await standUp
      .getByText('Copy handed back to your own mailbox on the mail server.')
      .waitFor({ timeout: 60_000 });
    await standUp.getByText('Delivered to their mailbox').waitFor({ timeout: 30_000 });
    await screenshot(desktop, FOLDER, 'desktop-07-sent-handed-back');
  });

  it('replies to all, forwards with the original’s attachment, and forwards the original as an attachment', async () => {
    await rt.send({
      from: '"Bob Jones" <bob@example.com>',
      to: `alice@${STAFF_DOMAIN}`,
      subject: 'Q3 figures',
      messageId: '<q3-figures@example.com>',
      text: 'The figures are attached.\n\nBob',
      attachments: [{ filename: 'q3-figures.csv', content: FIGURES, contentType: 'text/csv' }],
    });
    await desktop.getByRole('link', { name: 'Inbox', exact: true }).click();

    // Reply all: Bob, who wrote, and Carol, in Cc of his message; never Alice herself.
    await desktop.getByRole('link', { name: /Site visit on Thursday/ }).click();
    await desktop.getByRole('heading', { name: 'Site visit on Thursday' }).waitFor(SHOWS);
    await desktop.getByRole('button', { name: 'Reply all', exact: true }).click();
    const replyAll = desktop.getByRole('dialog', { name: 'Reply all', exact: true });
    await replyAll.getByRole('button', { name: 'Remove bob@example.com' }).waitFor(SHOWS);
    await replyAll.getByRole('button', { name: 'Remove carol@example.com' }).waitFor(SHOWS);
    expect(await replyAll.getByRole('button', { name: /^Remove (alice|sales)@/ }).count()).toBe(0);
    expect(await replyAll.getByLabel('Subject').inputValue()).toBe('Re: Site visit on Thursday');
    const replyBody = replyAll.getByLabel('Message');
    expect(await replyBody.inputValue()).toContain('> can you send me the access details');
    await replyBody.press('Control+Home');
    await replyBody.pressSequentially('Carol, you are coming too. ');
    await screenshot(desktop, FOLDER, 'desktop-08-reply-all');
    await replyAll.getByRole('button', { name: 'Send' }).click();
    await replyAll.waitFor({ state: 'detached', ...SHOWS });

    // Forward with the original's attachment.
    await desktop.getByRole('link', { name: 'Inbox', exact: true }).click();
    const figures = desktop.getByRole('link', { name: /Q3 figures/ });
    await figures.waitFor({ timeout: 30_000 });
    await figures.click();
    await desktop.getByRole('heading', { name: 'Q3 figures' }).waitFor(SHOWS);
    await desktop.getByRole('button', { name: 'Forward', exact: true }).click();
    await screenshot(desktop, FOLDER, 'desktop-09-forward-menu');
    await desktop.getByRole('button', { name: 'Forward with attachments' }).click();
    const forward = desktop.getByRole('dialog', { name: 'Forward', exact: true });
    await forward.getByRole('button', { name: 'Remove q3-figures.csv' }).waitFor(SHOWS);
    expect(await forward.getByLabel('Subject').inputValue()).toBe('Fwd: Q3 figures');
    const forwardBody = await forward.getByLabel('Message').inputValue();
    expect(forwardBody).toContain('---------- Forwarded message ----------');
    expect(forwardBody).toContain('The figures are attached.');
    await forward.getByLabel('To', { exact: true }).fill('carol@example.com');
    await forward.getByLabel('To', { exact: true }).press('Enter');
    await screenshot(desktop, FOLDER, 'desktop-10-forward');
    await forward.getByRole('button', { name: 'Send' }).click();
    await forward.waitFor({ state: 'detached', ...SHOWS });

    // Forward the whole message as an attachment, on a phone.
    const phoneForward = await newPage(PHONE);
    await phoneForward.goto(`${origin}/mail/`);
    await signInWithPassword(phoneForward, 'alice');
    await phoneForward.getByRole('link', { name: /Q3 figures/ }).tap();
    await phoneForward.getByRole('heading', { name: 'Q3 figures' }).waitFor(SHOWS);
    await phoneForward.getByRole('button', { name: 'Forward', exact: true }).tap();
    await phoneForward.getByRole('button', { name: 'Forward as attachment' }).tap();
    const asAttachment = phoneForward.getByRole('dialog', { name: 'Forward as attachment', exact: true });
    await asAttachment.getByRole('button', { name: 'Remove Q3 figures.eml' }).waitFor(SHOWS);
    await asAttachment.getByLabel('To', { exact: true }).fill('bob@example.com');
    await asAttachment.getByLabel('To', { exact: true }).press('Enter');
    await asAttachment.getByLabel('Subject').fill('Fwd: Q3 figures, the original');
    await screenshot(phoneForward, FOLDER, 'phone-07-forward-as-attachment');
    await asAttachment.getByRole('button', { name: 'Send' }).tap();
    await asAttachment.waitFor({ state: 'detached', ...SHOWS });

    // Each left once its undo window was over, and reached the primary (continuity is revoked).
    type Item = SentPage['items'][number];
    const sentAs = async (what: string, which: (i: Item) => boolean) => {
      let item: Item | undefined;
      await until(`${what} sent`, 30_000, async () => {
        item = (await sentOf(desktop)).items.find(which);
        return item?.state === 'sent';
      });
      const id = item?.messageIdHeader ?? '';
      await until(`${what} at the primary`, 30_000, () => rt.primary.copiesOf(id).length > 0);
      const raw = rt.primary.copiesOf(id)[0]?.raw as Buffer;
      return { item, raw, mail: await simpleParser(raw), to: rt.primary.copiesOf(id).flatMap((t) => t.to) };
    };

    const all = await sentAs(
      'the reply to all',
      (i) => i.subject === 'Re: Site visit on Thursday' && i.recipients.length === 2,
    );
    expect(all.item?.recipients.map((r) => [r.address, r.field])).toEqual([
      ['bob@example.com', 'to'],
      ['carol@example.com', 'cc'],
    ]);
    expect(all.mail.inReplyTo).toBe('<site-visit@example.com>');
    expect(all.to.sort()).toEqual(['bob@example.com', 'carol@example.com']);

    const inline = await sentAs('the forward', (i) => i.subject === 'Fwd: Q3 figures');
    expect(inline.mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['q3-figures.csv', FIGURES],
    ]);
    expect(inline.mail.text).toContain('The figures are attached.');
    expect(inline.to).toEqual(['carol@example.com']);

    const whole = await sentAs(
      'the forward as attachment',
      (i) => i.subject === 'Fwd: Q3 figures, the original',
    );
    // The original whole, as a message/rfc822 part (mailparser reads into it: its file is listed).
    const part = whole.raw.toString('latin1').split(/^Content-Type: message\/rfc822.*$/im)[1] ?? '';
    expect(part).toMatch(/^Message-ID: <q3-figures@example\.com>\r?$/im);
    expect(whole.mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['q3-figures.csv', FIGURES],
    ]);
    expect(whole.to).toEqual(['bob@example.com']);
  });

  it('shows Sent on a phone in dark mode, and keeps a signature for new messages', async () => {
    const dark = await newPage({ ...PHONE, colorScheme: 'dark' });
    await dark.goto(`${origin}/mail/#/sent`);
    await signInWithPassword(dark, 'alice');
    await dark.getByRole('article', { name: 'Stand-up moved to 10:00' }).waitFor(SHOWS);
    await screenshot(dark, FOLDER, 'phone-04-sent-dark');

    await dark.locator('details.account summary').tap();
    await dark.getByRole('button', { name: 'Signature…' }).tap();
    const sheet = dark.getByRole('dialog', { name: 'Signature' });
    await sheet.getByRole('textbox', { name: 'Signature' }).fill('Alice Smith\nOperations, Example Ltd');
    await screenshot(dark, FOLDER, 'phone-05-signature-dark');
    await sheet.getByRole('button', { name: 'Save signature' }).tap();
    await dark.getByRole('status').filter({ hasText: 'Signature saved' }).waitFor(SHOWS);

    await dark.getByRole('button', { name: 'New message', exact: true }).tap();
    const composer = dark.getByRole('dialog', { name: 'New message' });
    await expect
      .poll(
        () =>
          composer
            .getByLabel('Message')
            .inputValue()
            .catch(() => ''),
        SHOWS,
      )
      .toContain('Operations, Example Ltd');
    await screenshot(dark, FOLDER, 'phone-06-compose-dark');
    await composer.getByRole('button', { name: 'Discard draft' }).tap();
    await dark.getByRole('status').filter({ hasText: 'Draft discarded' }).waitFor(SHOWS);
  });

  it('keeps what was typed on the server, so a phone that dies mid-sentence loses nothing', async () => {
    const dying = await newPage(PHONE);
    await dying.goto(`${origin}/mail/`);
    await signInWithPassword(dying, 'alice');
    await dying.getByRole('button', { name: 'New message', exact: true }).tap();
    const composer = dying.getByRole('dialog', { name: 'New message' });
    await composer.getByLabel('Subject').waitFor(SHOWS);
    await composer.getByLabel('Subject').fill('Half-written on the train');
    await composer.getByLabel('Message').fill('The supplier called back about the');
    await composer.getByRole('status').filter({ hasText: 'Saved' }).waitFor(SHOWS);
    // The phone dies: no Close, no page unload, nothing more from this browser.
    await dying.context().close();

    const next = await newPage(PHONE);
    await next.goto(`${origin}/mail/#/drafts`);
    await signInWithPassword(next, 'alice');
    await next.getByRole('button', { name: /^Edit draft: Half-written on the train/ }).tap();
    const back = next.getByRole('dialog', { name: 'New message' });
    await expect
      .poll(
        () =>
          back
            .getByLabel('Message')
            .inputValue()
            .catch(() => ''),
        SHOWS,
      )
      .toBe('The supplier called back about the');
    expect(await back.getByLabel('Subject').inputValue()).toBe('Half-written on the train');
    await screenshot(next, FOLDER, 'phone-08-draft-after-the-phone-died');
  });
});
