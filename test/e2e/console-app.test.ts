import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NotificationRecord } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
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

// The admin console as an admin on call uses it: Chromium against `npm start` (a child process),
// a test primary that goes down, the page's SMS read from the outbox and its link opened on a
// phone, then acknowledge, invoke, the queue filling, revoke and the hand-over; a deferred
// message rerouted to another server from a desktop. Screenshots: test-artifacts/console/.

const FOLDER = 'console';
/** How long a page may take to show what a step waits for, on a busy machine. */
const SHOWS = { timeout: 20_000 };
/** Alice is an admin (the admin group in the directory); Bob is not. */
const ADMINS = STAFF.map((u) => (u.id === 'alice' ? { ...u, groups: ['lifeboat-admins'] } : u));
/** Messages that arrive during the outage and are held, then handed over. */
const HELD = 5;

describeRequiring([chromiumUnavailableReason()], 'admin console in Chromium', () => {
  let rt: WebmailRuntime;
  let fallback: TestPrimary;
  let browser: Browser;
  let phone: Page;
  let desktop: Page;
  /** The event page the admins' SMS linked to. */
  let eventUrl = '';
  const contexts: BrowserContext[] = [];

  async function newPage(options: BrowserContextOptions): Promise<Page> {
    const context = await browser.newContext({ ...options, acceptDownloads: true });
    contexts.push(context);
    return context.newPage();
  }

  async function outbox(): Promise<NotificationRecord[]> {
    return (await rt.admin<{ notifications: NotificationRecord[] }>('GET', '/admin/outbox?limit=100'))
      .notifications;
  }

  /** The size of a control, for the 44 px targets. */
  async function smallestSide(page: Page, name: string | RegExp): Promise<number> {
    const box = await page.getByRole('button', { name }).first().boundingBox();
    return Math.min(box?.width ?? 0, box?.height ?? 0);
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    fallback = await TestPrimary.start();
    rt = await startWebmailRuntime((primary) => ({
      routes: [
        { name: 'primary', domains: [STAFF_DOMAIN], hosts: [{ host: '127.0.0.1', port: primary.port }] },
        // An alternate server for a long outage: mail can be rerouted to it.
        {
          name: 'fallback',
          addresses: [`archive@${STAFF_DOMAIN}`],
          hosts: [{ host: '127.0.0.1', port: fallback.port }],
        },
      ],
      webmail: { users: ADMINS },
      continuity: {
        autoInvokeAfterMinutes: null,
        probes: { intervalSeconds: 10, confirmAfterSeconds: 2 },
        paging: { adminPhones: ['+447700900901'] },
        staff: { phones: [STAFF[1]?.phone as string] },
        // Slow enough that the hand-over is seen moving.
        handover: { ratePerSecond: 2, concurrency: 1 },
      },
    }));
    browser = await launchChromium();
    // Mail before the outage, delivered: the flow charts have something to draw.
    for (let i = 0; i < 3; i++) {
      await rt.send({
        from: 'bob@example.com',
        to: `alice@${STAFF_DOMAIN}`,
        subject: `Before ${i}`,
        text: 'ok',
      });
    }
    await until('the mail is delivered', 30_000, () => rt.primary.transactions.length >= 3);
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await rt?.stop();
    await fallback?.stop();
  });

  it('reroutes a deferred message to another server, from a desktop', async () => {
    await rt.primary.refuse();
    await rt.send({
      from: 'orders@customer.example',
      to: `bob@${STAFF_DOMAIN}`,
      subject: 'Order 4711 during the outage',
      text: 'Please confirm.',
    });
    desktop = await newPage(DESKTOP);
    await desktop.goto(`${rt.origin}/console/queue?state=deferred`);
    await signInWithPassword(desktop, 'alice');
    const row = desktop.getByRole('link', { name: new RegExp(`bob@${STAFF_DOMAIN}`) });
    await row.waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-01-queue-deferred');
    await row.click();
    await desktop.getByRole('heading', { name: 'Order 4711 during the outage' }).waitFor(SHOWS);
    // The attempt and the refusal, in the primary's (here the socket's) words.
    await desktop
      .getByText(/ECONNREFUSED/)
      .first()
      .waitFor(SHOWS);
    await desktop.getByRole('button', { name: 'Reroute…' }).click();
    const sheet = desktop.getByRole('dialog', { name: 'Reroute this delivery' });
    await sheet.getByLabel('To route').selectOption('fallback');
    await sheet.getByLabel(/Reason/).fill('long outage: to the standby server');
    await screenshot(desktop, FOLDER, 'desktop-02-reroute-sheet');
    await sheet.getByRole('button', { name: 'Reroute' }).click();
    await desktop.getByText('Reroute: done for 1 delivery.').waitFor(SHOWS);
    await until('the standby server has the message', 30_000, () =>
      fallback.transactions.some((t) => t.to.includes(`bob@${STAFF_DOMAIN}`)),
    );
    await desktop.reload();
    await desktop.getByRole('heading', { name: 'Order 4711 during the outage' }).waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-03-rerouted');
    await desktop.locator('.badge-delivered').waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-03-rerouted');
    const attempts = desktop.getByRole('region', { name: 'Attempts' });
    await attempts
      .getByText(/delivered/)
      .first()
      .waitFor(SHOWS);
    await attempts
      .getByText(/route fallback/)
      .first()
      .waitFor(SHOWS);
  }, 90_000);

  it('lands on the event from the SMS link after one sign-in, acknowledges and invokes on a phone', async () => {
    let link: string | undefined;
    await until('the admins are paged with a link', 60_000, async () => {
      const sms = (await outbox()).find(
        (n) => n.audience === 'admins' && n.channel === 'sms' && n.notice === 'alert',
      );
      link = /https?:\/\/\S+\/events\/[\w-]+/.exec(sms?.text ?? '')?.[0];
      return link !== undefined;
    });
    expect(link).toMatch(new RegExp(`^${rt.origin}/console/events/`));
    eventUrl = link as string;
    phone = await newPage(PHONE);
    await phone.goto(link as string);
    await signInWithPassword(phone, 'alice');
    await phone.waitForURL(link as string);
    await phone.getByRole('heading', { name: /Alerting/ }).waitFor(SHOWS);
    await phone.getByRole('heading', { name: 'SMTP check · route primary' }).waitFor(SHOWS);
    await phone.getByText('Failed checks in a row').first().waitFor(SHOWS);
    expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(await smallestSide(phone, 'Acknowledge')).toBeGreaterThanOrEqual(44);
    await screenshot(phone, FOLDER, 'phone-01-event-from-sms');

    await phone.getByRole('button', { name: 'Acknowledge' }).tap();
    const ack = phone.getByRole('dialog', { name: 'Acknowledge the page' });
    await ack.getByText(/Repeat pages stop/).waitFor();
    await screenshot(phone, FOLDER, 'phone-02-acknowledge-sheet');
    await ack.getByRole('button', { name: 'Acknowledge' }).tap();
    await phone
      .getByText(/Acknowledged by alice@example.com/)
      .first()
      .waitFor(SHOWS);

    await phone.getByRole('button', { name: 'Invoke continuity…' }).tap();
    const invoke = phone.getByRole('dialog', { name: 'Invoke continuity' });
    await invoke.getByLabel(/Reason/).fill('Exchange is down');
    await screenshot(phone, FOLDER, 'phone-03-invoke-sheet');
    await invoke.getByRole('button', { name: 'Invoke continuity' }).tap();
    await phone.getByRole('heading', { name: /Continuity/ }).waitFor(SHOWS);
    await phone.getByText('Staff texted where to read mail').waitFor(SHOWS);
    await phone
      .getByText(/Continuity invoked/)
      .first()
      .waitFor(SHOWS);
    await screenshot(phone, FOLDER, 'phone-04-invoked-timeline');
  }, 120_000);

  it('shows the queue filling with held mail, then revokes and shows the hand-over finish', async () => {
    await phone.getByRole('link', { name: 'Queue' }).tap();
    await phone.getByRole('heading', { name: 'Queue' }).waitFor(SHOWS);
    for (let i = 0; i < HELD; i++) {
      await rt.send({
        from: 'carol@example.org',
        to: `alice@${STAFF_DOMAIN}`,
        subject: `Held ${i}`,
        text: `During the outage ${i}`,
      });
    }
    // The queue reads itself again: the held mail appears without a reload.
    await expect
      .poll(() => phone.locator('.badge-held').count(), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(HELD);
    await screenshot(phone, FOLDER, 'phone-05-queue-filling');

    await rt.primary.accept();
    await phone.getByRole('link', { name: 'Status' }).tap();
    await phone.getByRole('link', { name: 'Open the event' }).tap();
    await phone.getByRole('button', { name: 'Revoke and hand over…' }).tap();
    const revoke = phone.getByRole('dialog', { name: 'Revoke continuity' });
    await revoke.getByText(/held deliveries go to the primary/).waitFor();
    await screenshot(phone, FOLDER, 'phone-06-revoke-sheet');
    await revoke.getByRole('button', { name: 'Revoke and hand over' }).tap();
    await phone.getByRole('heading', { name: 'Hand-over' }).waitFor(SHOWS);
    await screenshot(phone, FOLDER, 'phone-07-handover-running');
    await phone.getByText(/^Finished: \d+ of \d+ handed over/).waitFor({ timeout: 60_000 });
    await phone.getByText('Handed over', { exact: true }).waitFor(SHOWS);
    await until('every held message reached the primary', 30_000, () =>
      Array.from({ length: HELD }, (_, i) => `Held ${i}`).every((s) =>
        rt.primary.transactions.some((t) => t.raw.toString('latin1').includes(`Subject: ${s}`)),
      ),
    );
    await screenshot(phone, FOLDER, 'phone-08-handed-over');
    await phone.evaluate("document.getElementById('timeline-h').scrollIntoView()");
    await screenshot(phone, FOLDER, 'phone-09-timeline');
    // Who did what, from the audit log.
    await phone
      .getByText(/alice@example.com\s*acknowledge/)
      .first()
      .waitFor(SHOWS);
    await phone
      .getByText(/alice@example.com\s*invoke/)
      .first()
      .waitFor(SHOWS);
    await phone
      .getByText(/alice@example.com\s*revoke/)
      .first()
      .waitFor(SHOWS);
  }, 150_000);

  it('draws the status with charts, and exports the audit log as CSV', async () => {
    await desktop.goto(`${rt.origin}/console/`);
    await desktop.getByRole('heading', { name: 'Routes' }).waitFor(SHOWS);
    await desktop.getByRole('figure', { name: /Mail flow/ }).waitFor(SHOWS);
    await desktop.locator('.chart canvas').first().waitFor(SHOWS);
    expect(await desktop.locator('.chart canvas').count()).toBe(5);
    await screenshot(desktop, FOLDER, 'desktop-04-status');
    await desktop.evaluate("document.getElementById('flow-h').scrollIntoView()");
    await screenshot(desktop, FOLDER, 'desktop-05-status-charts');
    await phone.getByRole('link', { name: 'Status' }).tap();
    await phone.locator('.chart canvas').first().waitFor(SHOWS);
    await screenshot(phone, FOLDER, 'phone-10-status');
    await phone.evaluate("document.getElementById('flow-h').scrollIntoView()");
    await screenshot(phone, FOLDER, 'phone-11-status-charts');

    // The same event page in dark mode, as a phone at night shows it.
    const dark = await newPage({ ...PHONE, colorScheme: 'dark' });
    await dark.goto(eventUrl);
    await signInWithPassword(dark, 'alice');
    await dark.getByRole('heading', { name: 'Timeline' }).waitFor(SHOWS);
    await screenshot(dark, FOLDER, 'phone-12-event-dark');

    await desktop.getByRole('link', { name: 'Audit' }).click();
    await desktop.getByLabel('Action').fill('reroute');
    await desktop.getByRole('button', { name: 'Search' }).click();
    await desktop.getByText('long outage: to the standby server', { exact: false }).waitFor(SHOWS);
    await screenshot(desktop, FOLDER, 'desktop-06-audit');
    const [download] = await Promise.all([
      desktop.waitForEvent('download'),
      desktop.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const csv = await readFile(await download.path(), 'utf8');
    expect(csv.split('\n')[0]).toContain('actor');
    expect(csv).toContain('reroute');
    expect(csv).not.toContain('invoke,');
  }, 60_000);

  it('previews quarantined mail safely: the body in the sandboxed frame, remote images held back, the read audited', async () => {
    // The EICAR test string, which the local verdicts take for a virus, sent as it is (7bit) so
    // the raw message carries it: the message is quarantined.
    await rt.send({
      from: 'billing@bad.example',
      to: `bob@${STAFF_DOMAIN}`,
      subject: 'Invoice with a test virus',
      text: 'See the invoice.',
      html: '<p>See <b>the invoice</b> attached.</p><img src="https://tracker.bad.example/open.gif" alt="">',
      attachments: [
        {
          filename: 'invoice.com.txt',
          content: 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*',
          contentTransferEncoding: '7bit',
        },
      ],
    });
    await desktop.goto(`${rt.origin}/console/quarantine`);
    const row = desktop.getByRole('button', { name: /Invoice with a test virus/ });
    await row.waitFor(SHOWS);
    await row.click();
    const preview = desktop.getByRole('region', { name: 'Preview' });
    await preview.getByText(/invoice\.com\.txt/).waitFor(SHOWS);
    await preview.getByText(/policy:virus/).waitFor(SHOWS);
    await preview.getByRole('region', { name: 'Remote images' }).waitFor(SHOWS);
    const frame = preview.locator('iframe[title="Message body"]');
    expect(await frame.getAttribute('sandbox')).toBe('allow-popups allow-popups-to-escape-sandbox');
    await desktop.frameLocator('iframe[title="Message body"]').getByText('the invoice').waitFor(SHOWS);
    // The tracker was held back: the frame's image has no src until the admin asks.
    expect(
      await desktop.frameLocator('iframe[title="Message body"]').locator('img[src*="tracker"]').count(),
    ).toBe(0);
    await screenshot(desktop, FOLDER, 'desktop-07-quarantine-preview');
    const audit = await rt.admin<{ entries: { action: string; actor: string }[] }>(
      'GET',
      '/admin/audit?action=quarantine-view',
    );
    expect(audit.entries[0]).toMatchObject({ action: 'quarantine-view', actor: 'alice@example.com' });
  }, 60_000);

  it('extends a planned maintenance window from its event page, on a phone', async () => {
    const start = new Date(Date.now() + 3_600_000);
    const end = new Date(start.getTime() + 2 * 3_600_000);
    const planned = await rt.admin<{ event: { id: string; scheduledEnd: string } }>(
      'POST',
      '/admin/continuity/schedule',
      { start: start.toISOString(), end: end.toISOString(), reason: 'firmware upgrade' },
    );
    await phone.goto(`${rt.origin}/console/events/${planned.event.id}`);
    await phone.getByRole('button', { name: 'Extend…' }).tap();
    const sheet = phone.getByRole('dialog', { name: 'Extend the window' });
    await sheet.getByLabel('Hours to add').fill('3');
    await sheet.getByText(/will end at/).waitFor();
    await screenshot(phone, FOLDER, 'phone-14-extend-sheet');
    await sheet.getByRole('button', { name: 'Extend' }).tap();
    await phone.getByText('Extended by 3 hours').waitFor(SHOWS);
    await screenshot(phone, FOLDER, 'phone-15-extended-timeline');
    const after = await rt.admin<{ scheduledEnd: string }>('GET', `/admin/events/${planned.event.id}`);
    expect(Date.parse(after.scheduledEnd) - Date.parse(planned.event.scheduledEnd)).toBe(3 * 3_600_000);
  }, 60_000);

  it('tells a signed-in member of staff who is not an admin so, and the API refuses them', async () => {
    const page = await newPage(PHONE);
    await page.goto(`${rt.origin}/console/`);
    await signInWithPassword(page, 'bob');
    await page.getByRole('heading', { name: 'You are not an administrator' }).waitFor(SHOWS);
    await screenshot(page, FOLDER, 'phone-13-not-admin');
  }, 60_000);
});
