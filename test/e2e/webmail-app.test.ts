import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NotificationRecord } from '../../lambdas/ports.js';
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

// The staff webmail as a person uses it: Chromium against `npm start` (a child process, with its
// own OpenID provider, API and web server on one origin), a test primary that goes down, and
// continuity invoked over the admin API. Screenshots of every step: test-artifacts/webmail-app/.

/** The bytes of the attachment the test downloads and compares. */
const FIGURES = Buffer.from('region,revenue\nnorth,120\nsouth,95\n');
/** A 2×2 PNG for the image preview. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR4nGP8z8DwnwEIGBkZGBgYAAAdAQP/0UMOAgAAAABJRU5ErkJggg==',
  'base64',
);
/** Where the newsletter's images live: no request may go there before the user allows it. */
const REMOTE_HOST = 'images.newsletter.example';
/** Longest wait for mail to show without a reload: the app polls every 15 s. */
const NEW_MAIL_WITHIN_MS = 40_000;
const ALICE_PHONE = STAFF[0]?.phone as string;
/** How long a page may take to show what a step waits for, on a busy machine. */
const SHOWS = { timeout: 15_000 };

describeRequiring([chromiumUnavailableReason()], 'staff webmail in Chromium', () => {
  let rt: WebmailRuntime;
  let browser: Browser;
  let origin: string;
  const contexts: BrowserContext[] = [];

  async function newPage(options: BrowserContextOptions): Promise<Page> {
    const context = await browser.newContext({ ...options, acceptDownloads: true });
    contexts.push(context);
    return context.newPage();
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    rt = await startWebmailRuntime();
    origin = rt.origin;
    browser = await launchChromium();

    // Yesterday's mail, delivered to the primary before anything went wrong.
    await rt.send({
      from: '"Bob Jones" <bob@example.com>',
      to: `alice@${STAFF_DOMAIN}`,
      subject: 'Quarterly figures',
      text: 'Hi Alice,\n\nthe figures for the quarter are attached, and a photo of the whiteboard.\n\nBob',
      attachments: [
        { filename: 'figures-q3.csv', content: FIGURES, contentType: 'text/csv' },
        { filename: 'whiteboard.png', content: PNG, contentType: 'image/png' },
      ],
    });
    await rt.send({
      from: '"Acme Weekly" <news@acme.example>',
      to: `alice@${STAFF_DOMAIN}`,
      subject: 'This week at Acme: new offices',
      text: 'Acme Weekly: we moved.',
      html: `<h1>Acme Weekly</h1><p>We moved! <img src="https://${REMOTE_HOST}/pixel.gif" alt="" width="1" height="1"> See the <a href="https://acme.example/offices">new offices</a>.</p><p><img src="https://${REMOTE_HOST}/offices.jpg" alt="The new offices"></p>`,
    });
    await rt.send({
      from: '"Carol White" <carol@example.com>',
      to: `alice@${STAFF_DOMAIN}`,
      subject: 'Lunch on Friday?',
      text: 'Shall we try the new place on the corner?',
    });
    await until(
      'the primary has taken the three messages',
      30_000,
      () => rt.primary.transactions.length >= 3,
    );
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await rt?.stop();
  });

  let desktop: Page;

  it('signs a user in and lists the mail from before the outage, newest first', async () => {
    desktop = await newPage(DESKTOP);
    await desktop.goto(`${origin}/mail/`);
    await desktop.getByLabel('Username or email address').waitFor();
    await screenshot(desktop, 'webmail-app', 'desktop-01-sign-in');
    await signInWithPassword(desktop, 'alice');
    const rows = desktop.getByRole('list').first().getByRole('link');
    await expect.poll(() => rows.count(), SHOWS).toBe(3);
    const labels = await rows.evaluateAll((links) => links.map((a) => a.getAttribute('aria-label') ?? ''));
    expect(labels[0]).toContain('Lunch on Friday?');
    expect(labels[2]).toContain('Quarterly figures');
    expect(labels.every((l) => l.startsWith('Unread.'))).toBe(true);
    await screenshot(desktop, 'webmail-app', 'desktop-02-mailbox');
  });

  it('finds a message with from:bob has:attachment, opens it and downloads the attachment', async () => {
    const search = desktop.getByRole('searchbox', { name: 'Search mail' });
    await search.fill('from:bob has:attachment');
    await search.press('Enter');
    await expect
      .poll(() => desktop.getByRole('heading', { name: 'Search results' }).isVisible(), SHOWS)
      .toBe(true);
    const result = desktop.getByRole('link', { name: /Quarterly figures/ });
    await result.waitFor();
    await expect.poll(() => desktop.locator('a.row').count(), SHOWS).toBe(1);
    await screenshot(desktop, 'webmail-app', 'desktop-03-search');
    await result.click();
    await desktop.getByRole('heading', { name: 'Quarterly figures' }).waitFor();
    await desktop.getByRole('img', { name: 'Preview of whiteboard.png' }).waitFor();
    await screenshot(desktop, 'webmail-app', 'desktop-04-message');

    const [download] = await Promise.all([
      desktop.waitForEvent('download'),
      desktop.getByRole('button', { name: 'Download figures-q3.csv' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('figures-q3.csv');
    const saved = await download.path();
    expect(await readFile(saved)).toEqual(FIGURES);
    // Opened, so read: the row lost its unread mark.
    await expect
      .poll(() => desktop.getByRole('link', { name: /Quarterly figures/ }).getAttribute('aria-label'), SHOWS)
      .not.toMatch(/^Unread/);
  });

  it('shows an HTML newsletter with its remote images blocked until the user allows them', async () => {
    const remote: string[] = [];
    desktop.context().on('request', (r) => {
      if (new URL(r.url()).hostname === REMOTE_HOST) remote.push(r.url());
    });
    await desktop.context().route(`https://${REMOTE_HOST}/**`, (route) => route.fulfill({ status: 204 }));
    await desktop.getByRole('button', { name: 'Clear search' }).click();
    await desktop.getByRole('link', { name: /This week at Acme/ }).click();
    await desktop.getByRole('heading', { name: 'This week at Acme: new offices' }).waitFor();
    const body = desktop.frameLocator('iframe[title="Message body"]');
    await body.getByRole('heading', { name: 'Acme Weekly' }).waitFor();
    await desktop.getByRole('button', { name: 'Show remote images' }).waitFor();
    const frame = desktop.locator('iframe[title="Message body"]');
    expect(await frame.getAttribute('sandbox')).toBe('allow-popups allow-popups-to-escape-sandbox');
    await screenshot(desktop, 'webmail-app', 'desktop-05-newsletter-blocked');
    expect(remote).toEqual([]);

    await desktop.getByRole('button', { name: 'Show remote images' }).click();
    await until('the remote images are fetched once allowed', 10_000, () => remote.length > 0);
    await expect
      .poll(() => desktop.getByRole('button', { name: 'Show remote images' }).count(), SHOWS)
      .toBe(0);
  });

  it('shows mail that arrives during an outage without a reload, under the continuity banner', async () => {
    await desktop.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await rt.primary.refuse();
    await rt.admin('POST', '/admin/continuity/invoke', { reason: 'primary datacentre power' });
    await desktop
      .getByRole('status')
      .filter({ hasText: 'Your mail server is down' })
      .waitFor({ timeout: 70_000 });
    await rt.send({
      from: '"Bob Jones" <bob@example.com>',
      to: `sales@${STAFF_DOMAIN}`,
      subject: 'Urgent: order 4711 during the outage',
      text: 'Can you confirm the order today? Bob',
    });
    const row = desktop.getByRole('link', { name: /Urgent: order 4711/ });
    await row.waitFor({ timeout: NEW_MAIL_WITHIN_MS });
    expect(await row.getAttribute('aria-label')).toMatch(/Held/);
    expect(
      await desktop.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);
    await screenshot(desktop, 'webmail-app', 'desktop-06-outage-new-mail');
  });

  it('works the same on a phone, signed in with a code texted to the personal phone', async () => {
    // The staff text that continuity sent links to the webmail: the phone opens that link.
    const { notifications } = await rt.admin<{ notifications: NotificationRecord[] }>(
      'GET',
      '/admin/outbox?limit=50',
    );
    const staffText = notifications.find((n) => n.audience === 'staff' && n.channel === 'sms');
    const link = /https?:\/\/\S+\/mail\/?/.exec(staffText?.text ?? '')?.[0] ?? `${origin}/mail/`;

    const phone = await newPage(PHONE);
    await phone.goto(link);
    await phone.getByLabel('Username or email address').fill('alice');
    await phone.getByRole('button', { name: 'Text me a code' }).click();
    await phone.getByLabel('6-digit code').waitFor();
    let code: string | undefined;
    await until('the sign-in code is in the outbox', 10_000, async () => {
      const { notifications: texts } = await rt.admin<{ notifications: NotificationRecord[] }>(
        'GET',
        '/admin/outbox?limit=50',
      );
      const sms = texts.find((n) => n.notice === 'sign-in-code' && n.to.includes(ALICE_PHONE));
      code = /\b(\d{6})\b/.exec(sms?.text ?? '')?.[1];
      return code !== undefined;
    });
    await phone.getByLabel('6-digit code').fill(code as string);
    await screenshot(phone, 'webmail-app', 'phone-01-code');
    await phone.getByRole('button', { name: 'Sign in' }).click();

    await phone.getByRole('link', { name: /Urgent: order 4711/ }).waitFor({ timeout: 20_000 });
    await phone.getByRole('status').filter({ hasText: 'Your mail server is down' }).waitFor();
    expect(await phone.locator('a.row').count()).toBe(4);
    await screenshot(phone, 'webmail-app', 'phone-02-mailbox');

    await phone.getByRole('searchbox', { name: 'Search mail' }).fill('from:bob has:attachment');
    await phone.getByRole('searchbox', { name: 'Search mail' }).press('Enter');
    await phone.getByRole('link', { name: /Quarterly figures/ }).tap();
    await phone.getByRole('heading', { name: 'Quarterly figures' }).waitFor();
    // One column: the list gives way to the message.
    expect(await phone.getByRole('heading', { name: 'Search results' }).isVisible()).toBe(false);
    const back = phone.getByRole('button', { name: 'Back to the list' });
    const box = await back.boundingBox();
    expect(Math.min(box?.width ?? 0, box?.height ?? 0)).toBeGreaterThanOrEqual(44);
    await screenshot(phone, 'webmail-app', 'phone-03-message');
    const [download] = await Promise.all([
      phone.waitForEvent('download'),
      phone.getByRole('button', { name: 'Download figures-q3.csv' }).tap(),
    ]);
    expect(await readFile(await download.path())).toEqual(FIGURES);

    await back.tap();
    await phone.getByRole('heading', { name: 'Search results' }).waitFor();
    await screenshot(phone, 'webmail-app', 'phone-04-back-to-results');

    await phone.getByRole('button', { name: 'Clear search' }).tap();
    await phone.getByRole('link', { name: /This week at Acme/ }).tap();
    await phone
      .frameLocator('iframe[title="Message body"]')
      .getByRole('heading', { name: 'Acme Weekly' })
      .waitFor();
    await phone.getByRole('button', { name: 'Show remote images' }).waitFor();
    await screenshot(phone, 'webmail-app', 'phone-05-newsletter');
  });

  it('opens a link to one message after sign-in, and keeps the app shell for a reload offline', async () => {
    const page = await newPage(DESKTOP);
    const first = await desktop.locator('a.row').first().getAttribute('data-id');
    await page.goto(`${origin}/mail/#/m/${encodeURIComponent(first as string)}`);
    await signInWithPassword(page, 'alice');
    await page.waitForURL((u) => u.hash === `#/m/${encodeURIComponent(first as string)}`);
    await page.getByRole('article').getByRole('heading', { level: 2 }).waitFor();
    await expect.poll(() => page.evaluate('navigator.serviceWorker.controller !== null'), SHOWS).toBe(true);
    await page.context().setOffline(true);
    await page.reload();
    // The shell opens from the service worker's cache; the API cannot be reached, and it says so.
    await page.getByRole('searchbox', { name: 'Search mail' }).waitFor();
    await page.getByRole('alert').first().waitFor();
    await screenshot(page, 'webmail-app', 'desktop-07-offline-reload');
    await page.context().setOffline(false);
  });
  it('offers the company sign-in and the enrolled one where the organisation federates, each with its own client', async () => {
    // AWS's app-config.json names the corporate IdP's client; the local runtime has none, so the
    // test serves the federated form of the file and checks where each button leads. (No service
    // worker: requests it makes would pass the test's route by.)
    const page = await newPage({ ...DESKTOP, serviceWorkers: 'block' });
    await page.route(`${origin}/app-config.json`, async (route) => {
      const config = (await (await route.fetch()).json()) as { oidc: Record<string, unknown> };
      config.oidc.federation = { clientId: 'lifeboat-web-sso', identityProvider: 'EntraID' };
      await route.fulfill({ json: config });
    });
    const authorize: URL[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/oidc/auth')) authorize.push(new URL(r.url()));
    });
    await page.goto(`${origin}/mail/`);
    const company = page.getByRole('button', { name: 'Sign in with your company account' });
    await company.waitFor(SHOWS);
    await screenshot(page, 'webmail-app', 'desktop-08-federated-choice');
    // Nothing left the app before the user chose: a corporate IdP that is down must not strand them.
    expect(authorize).toHaveLength(0);

    await company.click();
    await expect.poll(() => authorize.length, SHOWS).toBeGreaterThan(0);
    expect(authorize[0]?.searchParams.get('client_id')).toBe('lifeboat-web-sso');
    expect(authorize[0]?.searchParams.get('identity_provider')).toBe('EntraID');
    // Let that navigation land (the local provider knows no such client) before going back.
    await page.waitForURL((u) => u.pathname.startsWith('/oidc/'), { waitUntil: 'commit', ...SHOWS });

    authorize.length = 0;
    await page.goto(`${origin}/mail/`);
    await page.getByRole('button', { name: /Company sign-in down/ }).click();
    await expect.poll(() => authorize.length, SHOWS).toBeGreaterThan(0);
    expect(authorize[0]?.searchParams.get('client_id')).toBe('lifeboat-web');
    expect(authorize[0]?.searchParams.get('identity_provider')).toBeNull();
    await signInWithPassword(page, 'alice');
    await page.getByRole('searchbox', { name: 'Search mail' }).waitFor(SHOWS);
  });
});
