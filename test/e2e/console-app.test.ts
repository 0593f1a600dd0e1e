import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
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
import { PostfixInstance, postfixUnavailableReason } from './support/postfix.js';
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
// message rerouted to another server from a desktop; a staff notice to a group, a replay of the
// archive into a restored Postfix that skips what it already holds, and a drill with its report.
// Screenshots: test-artifacts/console/.

const FOLDER = 'console';
/** How long a page may take to show what a step waits for, on a busy machine. */
const SHOWS = { timeout: 20_000 };
/** Alice is an admin (the admin group in the directory); Bob is not, and is in the field team. */
const ADMINS = STAFF.map((u) =>
  u.id === 'alice'
    ? { ...u, groups: ['lifeboat-admins'] }
    : u.id === 'bob'
      ? { ...u, groups: ['field-team'] }
      : u,
);
/** The group a staff notice goes to: Bob alone. */
const FIELD_TEAM = 'field-team';
/** Messages for Carol that the replay covers; the first PRESENT are already on the restored primary. */
const REPLAYED = 5;
const PRESENT = 2;
const replayId = (i: number) => `<replay-${i}@partner.test>`;
/** An unattended drill runs through its steps on the probe rounds (every 10 s here). */
const DRILL_WITHIN_MS = 180_000;

/** `YYYY-MM-DDTHH:MM` in local time, as a datetime-local input takes it (the browser's zone is this process's). */
function localMinute(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
/** Messages that arrive during the outage and are held, then handed over. */
const HELD = 5;

describeRequiring(
  [chromiumUnavailableReason(), postfixUnavailableReason()],
  'admin console in Chromium',
  () => {
    let rt: WebmailRuntime;
    let fallback: TestPrimary;
    /** The primary restored from a backup, which the replay fills again. */
    let restored: PostfixInstance;
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
      restored = await PostfixInstance.create({ mode: 'mailbox', domains: [STAFF_DOMAIN] });
      rt = await startWebmailRuntime((primary) => ({
        routes: [
          { name: 'primary', domains: [STAFF_DOMAIN], hosts: [{ host: '127.0.0.1', port: primary.port }] },
          // An alternate server for a long outage: mail can be rerouted to it.
          {
            name: 'fallback',
            addresses: [`archive@${STAFF_DOMAIN}`],
            hosts: [{ host: '127.0.0.1', port: fallback.port }],
          },
          // The primary restored from a backup: a replay sends everything to it.
          {
            name: 'restored',
            addresses: [`restore-check@${STAFF_DOMAIN}`],
            hosts: [{ host: restored.address, port: restored.port }],
            tls: 'none',
          },
          // A route kept for rehearsals: a drill runs on it without touching anyone's mail.
          {
            name: 'lab',
            addresses: [`drill@${STAFF_DOMAIN}`],
            hosts: [{ host: '127.0.0.1', port: fallback.port }],
            test: true,
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
        // Carol is texted as the staff of a drill on the lab route.
        drill: { staffPhones: [STAFF[2]?.phone as string] },
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
      await restored?.dispose();
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

    it('texts a group of staff from a phone, with a preview of the exact text, and the event shows it', async () => {
      const text = 'Mail is down. Read yours in Lifeboat mail; the field team meets at the depot at 9.';
      await phone.getByRole('link', { name: 'Notices' }).tap();
      await phone.getByRole('heading', { name: 'Text staff' }).waitFor(SHOWS);
      await phone.getByRole('button', { name: 'Your own words' }).tap();
      await phone.getByRole('textbox', { name: /^Text \(/ }).fill(text);
      await phone.getByRole('button', { name: 'Groups' }).tap();
      await phone.getByLabel(/^Groups \(/).fill(FIELD_TEAM);
      await phone.getByRole('checkbox', { name: 'Email' }).uncheck();
      expect(await smallestSide(phone, 'Preview and send…')).toBeGreaterThanOrEqual(44);
      await screenshot(phone, FOLDER, 'phone-05a-notice-form');
      await phone.getByRole('button', { name: 'Preview and send…' }).tap();
      const sheet = phone.getByRole('dialog', { name: 'Send this notice' });
      // The preview is the server's: the exact text and what it costs.
      const sms = sheet.getByRole('region', { name: 'Text message' });
      await sms.getByText(text).waitFor(SHOWS);
      await sms.getByText(/1 SMS segment \(GSM-7\)/).waitFor();
      await sheet.getByText(/to 1 person in group field-team/).waitFor();
      await screenshot(phone, FOLDER, 'phone-05b-notice-preview');
      await sheet.getByRole('button', { name: 'Send to 1 person' }).tap();
      const recipients = phone.getByRole('list', { name: 'Recipients' });
      await recipients.getByText('Bob Jones').waitFor(SHOWS);
      await expect.poll(() => recipients.getByText('Sent', { exact: true }).count(), SHOWS).toBe(1);
      await screenshot(phone, FOLDER, 'phone-05c-notice-sent');
      const texted = (await outbox()).filter((n) => n.notice === 'staff-notice');
      expect(texted.map((n) => [n.channel, n.to, n.text])).toEqual([['sms', [STAFF[1]?.phone], text]]);
      // On the open event's timeline, with who sent it.
      await phone.goto(eventUrl);
      await phone.getByText('Staff notice sent to group field-team').waitFor(SHOWS);
      await phone.getByText(/Own words: 1 sent/).waitFor(SHOWS);
    }, 60_000);

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
      // The page reads the quarantine once it opens: open it once the message is there.
      await until('the message is quarantined', 30_000, async () => {
        const q = await rt.admin<{ items: { message: { subject: string | null } | null }[] }>(
          'GET',
          '/admin/quarantine',
        );
        return q.items.some((i) => i.message?.subject === 'Invoice with a test virus');
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

    it('replays the archive into a restored Postfix, skipping the Message-IDs it already holds', async () => {
      const since = new Date(Date.now() - 60_000);
      for (let i = 0; i < REPLAYED; i++) {
        await rt.send({
          from: 'orders@partner.test',
          to: `carol@${STAFF_DOMAIN}`,
          subject: `Order ${i} for the replay`,
          messageId: replayId(i),
          text: `Order ${i}`,
        });
      }
      await until('the mail reached the primary before it failed', 30_000, () =>
        Array.from({ length: REPLAYED }, (_, i) => replayId(i)).every((id) =>
          rt.primary.transactions.some((t) => t.raw.toString('latin1').includes(`Message-ID: ${id}`)),
        ),
      );
      // The restored backup holds the first messages already, as an export of it lists them.
      const backup = nodemailer.createTransport({
        host: restored.address,
        port: restored.port,
        secure: false,
        ignoreTLS: true,
      });
      for (let i = 0; i < PRESENT; i++) {
        await backup.sendMail({
          from: 'orders@partner.test',
          to: `carol@${STAFF_DOMAIN}`,
          subject: `Order ${i} for the replay`,
          messageId: replayId(i),
          text: `Order ${i}`,
        });
      }
      backup.close();
      await restored.waitForMessages(PRESENT);
      const listFile = path.join(
        await mkdtemp(path.join(os.tmpdir(), 'lifeboat-present-')),
        'present-ids.txt',
      );
      await writeFile(listFile, `${(await restored.messageIds()).join('\n')}\n`);

      await desktop.getByRole('link', { name: 'Replay' }).click();
      await desktop.getByRole('heading', { name: 'Replay the archive' }).waitFor(SHOWS);
      await desktop.getByLabel('From').fill(localMinute(since));
      await desktop.getByRole('button', { name: 'These mailboxes' }).click();
      await desktop.getByLabel(/^Addresses/).fill(`carol@${STAFF_DOMAIN}`);
      await desktop.getByLabel('Send to').selectOption('restored');
      await desktop.getByLabel('Or upload the list as a file').setInputFiles(listFile);
      await desktop.getByText(`${PRESENT} Message-IDs to skip, with present-ids.txt.`).waitFor(SHOWS);
      await desktop.getByLabel(/^Reason/).fill('Exchange restored from last night’s backup');
      await screenshot(desktop, FOLDER, 'desktop-08-replay-form');
      await desktop.getByRole('button', { name: 'Replay…' }).click();
      const sheet = desktop.getByRole('dialog', { name: 'Replay into the primary' });
      await sheet.getByText(/is sent again to route restored/).waitFor();
      await sheet.getByText(`${PRESENT} Message-IDs in the list are already there: skipped.`).waitFor();
      await screenshot(desktop, FOLDER, 'desktop-09-replay-sheet');
      await sheet.getByRole('button', { name: 'Start the replay' }).click();
      await desktop.getByRole('heading', { name: 'Finished' }).waitFor({ timeout: 60_000 });
      const tallies = desktop.getByRole('list', { name: 'Outcomes' });
      await tallies.getByText(`${REPLAYED - PRESENT} sent`).waitFor(SHOWS);
      await screenshot(desktop, FOLDER, 'desktop-10-replay-finished');
      // The same report on a phone: readable without scrolling sideways.
      await phone.goto(desktop.url());
      await phone.getByRole('heading', { name: 'Finished' }).waitFor(SHOWS);
      await phone
        .getByRole('list', { name: 'Outcomes' })
        .getByText(`${REPLAYED - PRESENT} sent`)
        .waitFor(SHOWS);
      expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      expect(await smallestSide(phone, 'Download CSV')).toBeGreaterThanOrEqual(44);
      await screenshot(phone, FOLDER, 'phone-19-replay-report');

      // What the restored primary holds now: each of Carol's messages once, those it lacked as replayed copies.
      const held = (await restored.waitForMessages(REPLAYED)).filter((m) =>
        m.messageId?.startsWith('<replay-'),
      );
      const copies = (id: string) => held.filter((m) => m.messageId === id);
      for (let i = 0; i < REPLAYED; i++) expect(copies(replayId(i)), replayId(i)).toHaveLength(1);
      const replayed = held.filter((m) => /^X-Lifeboat-Replay: /im.test(m.original.toString('latin1')));
      expect(replayed.map((m) => m.messageId).sort()).toEqual(
        Array.from({ length: REPLAYED - PRESENT }, (_, i) => replayId(i + PRESENT)).sort(),
      );
      const report = desktop.getByRole('list', { name: 'Report' });
      expect(await report.getByText('Skipped: already on the primary').count()).toBe(PRESENT);
      const [download] = await Promise.all([
        desktop.waitForEvent('download'),
        desktop.getByRole('button', { name: 'Download CSV' }).click(),
      ]);
      const csv = await readFile(await download.path(), 'utf8');
      for (let i = 0; i < REPLAYED; i++) expect(csv).toContain(replayId(i).slice(1, -1));
    }, 120_000);

    it(
      'runs an unattended drill on the test route from a phone and downloads its timed report',
      async () => {
        // A drill starts only while nothing else is under way: the hand-over's event must have closed.
        await until('the event is closed', 60_000, async () => {
          const s = await rt.admin<{ state: string; event: unknown }>('GET', '/admin/status');
          return s.state === 'normal' && s.event === null;
        });
        await phone.getByRole('link', { name: 'Drills' }).tap();
        await phone.getByRole('heading', { name: 'Run a drill' }).waitFor(SHOWS);
        await phone.getByLabel('Route').selectOption('lab');
        await phone.getByRole('checkbox', { name: /Unattended/ }).check();
        await phone.getByLabel(/^Reason/).fill('Monthly rehearsal');
        await phone.getByRole('button', { name: 'Start the drill…' }).tap();
        const sheet = phone.getByRole('dialog', { name: 'Start a drill' });
        await sheet.getByText(/Mail for route lab is held as in an outage/).waitFor();
        await screenshot(phone, FOLDER, 'phone-16-drill-sheet');
        await sheet.getByRole('button', { name: 'Start the drill' }).tap();
        await phone.getByRole('heading', { name: /Running/ }).waitFor(SHOWS);
        await phone.getByText('Outage detected by the probes (event opened)').waitFor(SHOWS);
        await screenshot(phone, FOLDER, 'phone-17-drill-running');
        await phone.getByRole('heading', { name: /Completed/ }).waitFor({ timeout: DRILL_WITHIN_MS });
        await phone.getByRole('heading', { name: 'Timed report' }).waitFor(SHOWS);
        await screenshot(phone, FOLDER, 'phone-18-drill-report');
        const [download] = await Promise.all([
          phone.waitForEvent('download'),
          phone.getByRole('button', { name: 'Download report' }).tap(),
        ]);
        expect(download.suggestedFilename()).toMatch(/^lifeboat-drill-.+\.csv$/);
        const lines = (await readFile(await download.path(), 'utf8')).trim().split(/\r?\n/);
        expect(lines[0]).toMatch(/^step,label,at,/);
        const byStep = new Map(lines.slice(1).map((l) => [l.split(',')[0], l]));
        for (const step of [
          'started',
          'detected',
          'paged',
          'acknowledged',
          'invoked',
          'revoked',
          'handed-over',
        ])
          expect(byStep.get(step), step).toMatch(/,\d{4}-\d\d-\d\dT[^,]+,/);
        expect(byStep.get('acknowledged')).toContain('lifeboat-drill');
        expect(byStep.get('detected')).toMatch(/,(pass|fail),/);
        // The drill's event tells its steps on its timeline.
        await phone.getByRole('link', { name: 'Open its event' }).tap();
        await phone.getByText(/^Drill: Continuity invoked for the scope/).waitFor(SHOWS);
      },
      DRILL_WITHIN_MS + 60_000,
    );

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

    it('changes a threshold from the settings page and resets it to the deployed value', async () => {
      const setting = 'continuity.thresholds.consecutiveFailures';
      const inEffect = async () =>
        (
          await rt.admin<{ entries: { path: string; value: unknown; source: string }[] }>(
            'GET',
            '/admin/settings',
          )
        ).entries.find((e) => e.path === setting);
      const deployed = (await inEffect())?.value;
      await desktop.getByRole('link', { name: 'Settings' }).click();
      await desktop.getByRole('heading', { name: 'Thresholds' }).waitFor(SHOWS);
      await desktop.getByRole('button', { name: `Change ${setting}` }).click();
      const sheet = desktop.getByRole('dialog', { name: 'Change a setting' });
      await sheet.getByLabel('New value').fill('4');
      await sheet.getByText(/becomes 4 at once/).waitFor();
      await sheet.getByLabel(/^Reason/).fill('fewer false alarms at night');
      await screenshot(desktop, FOLDER, 'desktop-11-settings-change');
      await sheet.getByRole('button', { name: 'Change it' }).click();
      await desktop.getByRole('button', { name: `Reset ${setting}` }).waitFor(SHOWS);
      await screenshot(desktop, FOLDER, 'desktop-12-settings-overridden');
      // On a phone: the override and its reset, without scrolling sideways.
      await phone.goto(desktop.url());
      await phone.getByRole('heading', { name: 'Thresholds' }).waitFor(SHOWS);
      await phone.getByRole('button', { name: `Reset ${setting}` }).waitFor(SHOWS);
      expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      expect(await smallestSide(phone, `Reset ${setting}`)).toBeGreaterThanOrEqual(44);
      await screenshot(phone, FOLDER, 'phone-20-settings-overridden');
      expect(await inEffect()).toMatchObject({ value: 4, source: 'overridden' });
      await desktop.getByRole('button', { name: `Reset ${setting}` }).click();
      await desktop
        .getByRole('dialog', { name: 'Reset to the deployed value' })
        .getByRole('button', { name: 'Reset' })
        .click();
      await desktop
        .getByRole('button', { name: `Reset ${setting}` })
        .waitFor({ state: 'detached', ...SHOWS });
      expect(await inEffect()).toMatchObject({ value: deployed, source: 'deployed' });
    }, 60_000);
  },
);
