/**
 * The staff web app's load: the JavaScript the mail page and the admin console load (gzip, as the
 * runtime and CloudFront serve it), and the time from navigation to the first mailbox render (and
 * the console's first status render, on a phone) in Chromium
 * with a cold cache and the network throttled to a slow 4G profile, against `npm start`.
 *
 * "First mailbox render" is the app's own `lifeboat:first-mailbox` performance mark: the first
 * page of the list is on screen. The user is signed in already (tokens in the tab, as after a
 * reload or the sign-in redirect); the HTTP cache and the service worker's cache are emptied
 * before each load, so every byte comes over the throttled link.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { CDPSession, Page } from 'playwright-core';
import { buildWeb, WEB_OUT_DIR, webBuildIsFresh } from '../scripts/build-web.mjs';
import {
  CHROMIUM,
  chromiumUnavailableReason,
  DESKTOP,
  launchChromium,
  PHONE,
} from '../test/e2e/support/chromium.js';
import {
  STAFF,
  STAFF_DOMAIN,
  signInWithPassword,
  startWebmailRuntime,
  until,
} from '../test/e2e/support/webmail-runtime.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt, median } from './stats.js';

/** Aim: the mail page's JavaScript, gzip. */
export const AIM_JS_GZIP_KB = 100;
/** Aim: first mailbox render on a slow 4G link, cold cache. */
export const AIM_FIRST_RENDER_MS = 1000;

/**
 * Lighthouse's mobile "slow 4G" (its simulated throttling, also Chrome DevTools' "Slow 4G"):
 * 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up. CDP applies the latency per request.
 */
export const SLOW_4G = {
  name: 'slow 4G (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up)',
  latency: 150,
  downloadThroughput: (1.6 * 1024 * 1024) / 8,
  uploadThroughput: (750 * 1024) / 8,
};
/** Lighthouse's mobile CPU slowdown, for the second first-render row. */
const CPU_SLOWDOWN = 4;
/** Cold loads per row; the figure is their median. */
const LOADS = 5;
/** Messages in the mailbox: more than a page (50), so the list is a full first page. */
const MESSAGES = 60;

/**
 * The files the mail page loads: its module scripts and what they import statically (`js`), the
 * chunks it loads later with import() (`lazy`: the reading pane), and its style sheets.
 */
async function pageAssets(
  app: 'mail' | 'console' = 'mail',
): Promise<{ js: string[]; lazy: string[]; css: string[] }> {
  const html = await readFile(path.join(WEB_OUT_DIR, app, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
  const js = new Set(refs.filter((r) => r.endsWith('.js')));
  const lazy = new Set<string>();
  for (const file of [...js]) {
    const text = await readFile(path.join(WEB_OUT_DIR, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*"\.\/([^"]+\.js)"/g)) js.add(`/assets/${m[1]}`);
    for (const m of text.matchAll(/import\("\.\/([^"]+\.js)"\)/g)) lazy.add(`/assets/${m[1]}`);
  }
  for (const f of js) lazy.delete(f);
  return { js: [...js], lazy: [...lazy], css: refs.filter((r) => r.endsWith('.css')) };
}

async function gzipBytes(files: string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += gzipSync(await readFile(path.join(WEB_OUT_DIR, f))).length;
  return total;
}

/** The performance mark each page sets once its first view is on screen. */
const FIRST_RENDER_MARK = 'lifeboat:first-mailbox';
/** The console's: the status view shows the state, the routes and the queue (web/src/console/status.tsx). */
const CONSOLE_FIRST_RENDER_MARK = 'lifeboat:console-first-status';

async function coldLoad(
  page: Page,
  cdp: CDPSession,
  url: string,
  cpu: number,
  mark = FIRST_RENDER_MARK,
): Promise<number> {
  // Empty every cache the page could load from: the service worker's and the HTTP cache.
  await page.evaluate(`(async () => {
    for (const r of await navigator.serviceWorker.getRegistrations()) await r.unregister();
    for (const k of await caches.keys()) await caches.delete(k);
  })()`);
  await cdp.send('Network.clearBrowserCache');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, ...SLOW_4G });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: cpu });
  await page.goto('about:blank');
  await page.goto(url);
  // A function, not a string: the page's CSP has no 'unsafe-eval' for a string predicate.
  await page.waitForFunction((name) => performance.getEntriesByName(name).length > 0, mark, {
    timeout: 30_000,
  });
  const ms = await page.evaluate<number>(
    `performance.getEntriesByName(${JSON.stringify(mark)})[0].startTime`,
  );
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  return ms;
}

const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

export const webAppFigure: Figure = {
  name: 'web-app',
  async run(): Promise<FigureResult> {
    if (!webBuildIsFresh()) await buildWeb();
    const { js, lazy, css } = await pageAssets();
    const jsGzip = await gzipBytes(js);
    const lazyGzip = await gzipBytes(lazy);
    const cssGzip = await gzipBytes(css);
    const rows: Row[] = [
      {
        id: 'web.mail.js_gzip',
        figure: 'Webmail: JavaScript of the mail page (gzip)',
        value: `${fmt((jsGzip + lazyGzip) / 1024)} KB`,
        reference: `${fmt(jsGzip / 1024)} KB before the list shows, ${fmt(lazyGzip / 1024)} KB for the reading pane after it; CSS ${fmt(cssGzip / 1024)} KB`,
        ratio: '—',
        aim: `≤ ${AIM_JS_GZIP_KB} KB`,
        verdict: verdict((jsGzip + lazyGzip) / 1024 <= AIM_JS_GZIP_KB),
        data: {
          jsGzipBytes: jsGzip,
          lazyJsGzipBytes: lazyGzip,
          cssGzipBytes: cssGzip,
          files: [...js, ...lazy, ...css],
        },
      },
    ];
    const consoleAssets = await pageAssets('console');
    const consoleJs = await gzipBytes(consoleAssets.js);
    const consoleLazy = await gzipBytes(consoleAssets.lazy);
    const consoleCharts = await gzipBytes(consoleAssets.lazy.filter((f) => /\/charts-[^/]+\.js$/.test(f)));
    rows.push({
      id: 'web.console.js_gzip',
      figure:
        'Admin console: JavaScript of the console page (gzip), without the chunks of views not yet opened',
      value: `${fmt(consoleJs / 1024)} KB`,
      reference: `${fmt(consoleLazy / 1024)} KB more in chunks each view loads when first opened: the status charts (uPlot) ${fmt(consoleCharts / 1024)} KB, the quarantine preview's renderer, the notices, replay, drill and settings pages; CSS ${fmt((await gzipBytes(consoleAssets.css)) / 1024)} KB`,
      ratio: '—',
      aim: `≤ ${AIM_JS_GZIP_KB} KB`,
      verdict: verdict(consoleJs / 1024 <= AIM_JS_GZIP_KB),
      data: {
        jsGzipBytes: consoleJs,
        lazyJsGzipBytes: consoleLazy,
        files: [...consoleAssets.js, ...consoleAssets.lazy],
      },
    });
    const notes: string[] = [];
    const missing = chromiumUnavailableReason();
    if (missing) {
      rows.push({
        id: 'web.mail.first_render',
        figure: 'Webmail: first mailbox render, slow 4G, cold cache',
        value: '—',
        reference: missing,
        ratio: '—',
        aim: `≤ ${AIM_FIRST_RENDER_MS} ms`,
        verdict: 'SKIP',
      });
      return { rows, notes };
    }

    // Alice is an admin too, for the console's row.
    const rt = await startWebmailRuntime({
      webmail: { users: STAFF.map((u) => (u.id === 'alice' ? { ...u, groups: ['lifeboat-admins'] } : u)) },
    });
    const browser = await launchChromium();
    try {
      for (let i = 0; i < MESSAGES; i++) {
        await rt.send({
          from: `"Colleague ${i}" <c${i}@example.org>`,
          to: `alice@${STAFF_DOMAIN}`,
          subject: `Status update ${i} from the northern office`,
          text: `Update ${i}: the shipment left this morning and should arrive on Thursday.`,
        });
      }
      await until('the mail is delivered', 60_000, () => rt.primary.transactions.length >= MESSAGES);
      for (const [label, device, cpu] of [
        ['desktop', DESKTOP, 1],
        ['phone', PHONE, 1],
        ['phone', PHONE, CPU_SLOWDOWN],
      ] as const) {
        const context = await browser.newContext(device);
        const page = await context.newPage();
        await page.goto(`${rt.origin}/mail/`);
        await signInWithPassword(page, 'alice');
        await page.getByRole('link', { name: /Status update 59/ }).waitFor({ timeout: 30_000 });
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        const times: number[] = [];
        for (let n = 0; n < LOADS; n++) times.push(await coldLoad(page, cdp, `${rt.origin}/mail/`, cpu));
        await context.close();
        const ms = median(times);
        const cpuWords = cpu === 1 ? '' : `, CPU ${cpu}× slower`;
        rows.push({
          id: `web.mail.first_render.${label}${cpu === 1 ? '' : `.cpu${cpu}`}`,
          figure: `Webmail: first mailbox render, ${label}, slow 4G${cpuWords}, cold cache (median of ${LOADS})`,
          value: `${fmt(ms)} ms`,
          reference: `min ${fmt(Math.min(...times))} ms, max ${fmt(Math.max(...times))} ms`,
          ratio: '—',
          aim: `≤ ${AIM_FIRST_RENDER_MS} ms`,
          verdict: verdict(ms <= AIM_FIRST_RENDER_MS),
          data: { times, network: SLOW_4G, cpuSlowdown: cpu, device: label },
        });
      }
      // The console on a phone, as the admins' SMS link opens it (signed in already in this tab).
      {
        const context = await browser.newContext(PHONE);
        const page = await context.newPage();
        await page.goto(`${rt.origin}/console/`);
        await signInWithPassword(page, 'alice');
        await page.getByRole('heading', { name: 'Routes' }).waitFor({ timeout: 30_000 });
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        const times: number[] = [];
        for (let n = 0; n < LOADS; n++)
          times.push(await coldLoad(page, cdp, `${rt.origin}/console/`, 1, CONSOLE_FIRST_RENDER_MARK));
        await context.close();
        const ms = median(times);
        rows.push({
          id: 'web.console.first_render.phone',
          figure: `Admin console: first status render, phone, slow 4G, cold cache (median of ${LOADS})`,
          value: `${fmt(ms)} ms`,
          reference: `min ${fmt(Math.min(...times))} ms, max ${fmt(Math.max(...times))} ms; the charts come after`,
          ratio: '—',
          aim: `≤ ${AIM_FIRST_RENDER_MS} ms`,
          verdict: verdict(ms <= AIM_FIRST_RENDER_MS),
          data: { times, network: SLOW_4G, device: 'phone' },
        });
      }
      notes.push(
        `Web app first render: Chromium (${CHROMIUM}) against npm start on loopback, network ${SLOW_4G.name} by CDP Network.emulateNetworkConditions, HTTP and service-worker caches emptied before each load, the user signed in already; a mailbox of ${MESSAGES} messages (a full first page of 50). The figure is the app's lifeboat:first-mailbox mark, from navigation start.`,
      );
    } finally {
      await browser.close();
      await rt.stop();
    }
    return { rows, notes };
  },
};
