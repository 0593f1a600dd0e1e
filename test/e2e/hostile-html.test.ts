import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../infra/local/self-signed.js';
import { parseForReading } from '../../lambdas/core/mailbox.js';
import { appSecurityHeaders } from '../../lambdas/webmail/headers.js';
import { type MessageDetail, messageDetailSchema } from '../../lambdas/webmail/schemas.js';
import { repoRoot } from '../support/runtime.js';
import { webmailHarness } from '../support/webmail.js';
import { describeRequiring } from './support/requirements.js';

// Every hostile message of test/fixtures/hostile/ rendered the way the reading pane renders it:
// the real read endpoint (webmail handler over the in-memory stores), then web/src/mail/render.ts
// bundled into a page served with the app's own security headers, into an iframe sandboxed as
// the reading pane sandboxes it, in Debian's Chromium. Every URL in the messages points at
// canary.example, which Chromium resolves to a canary server on loopback speaking both HTTP and
// HTTPS: any request that leaves, from any frame, is seen there and by the page's request
// listener. Screenshots: test-artifacts/hostile-html/.

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const FIXTURES = path.join(repoRoot, 'test/fixtures/hostile');
const ARTIFACTS = path.join(repoRoot, 'test-artifacts/hostile-html');
const CANARY_HOST = 'canary.example';
/** Longer than the slowest timed trick in the suite (a meta refresh after 1 s). */
const SETTLE_MS = 1_500;

/**
 * What may load once the user allows remote images, by message: its https images (the server
 * makes a protocol-relative URL https; the app's own CSP allows no plain-http image). Everything
 * else hostile stays unloaded even then.
 */
const LOADED_WHEN_ALLOWED: Record<string, string[]> = {
  'remote-images': [
    '/banner.png',
    '/pixel.gif?u=alice',
    '/photo-1x.png',
    '/picture.png',
    '/protocol-relative.png',
    '/table-bg.png',
    '/td-bg.png',
  ],
  'css-exfiltration': ['/hero.png', '/inline-style.png', '/quoted.png'],
  'script-tags': ['/handler.png'],
  // Its URL was split by a quoted-printable soft line break; decoded, it is an ordinary image.
  'malformed-mime': ['/qp-split.png'],
};

/** The harness page's script: the reading pane's rendering path, with headers set as text. */
const HARNESS = `
import { buildMessageDocument } from './web/src/mail/render.ts';
async function mount(srcdoc, sandboxed) {
  const frame = document.createElement('iframe');
  frame.id = 'body';
  frame.title = 'Message body';
  if (sandboxed) {
    frame.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox');
    frame.setAttribute('referrerpolicy', 'no-referrer');
  }
  const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
  frame.srcdoc = srcdoc;
  document.getElementById('body').replaceWith(frame);
  await loaded;
}
window.showMessage = async (id, allowRemote) => {
  const res = await fetch('/mail/api/messages/' + encodeURIComponent(id));
  const m = await res.json();
  document.getElementById('subject').textContent = m.subject ?? '';
  document.getElementById('from').textContent = m.from ?? '';
  const files = document.getElementById('files');
  files.replaceChildren(...m.attachments.map((a) => {
    const li = document.createElement('li');
    li.textContent = a.filename ?? '';
    return li;
  }));
  const rendered = m.html ? buildMessageDocument(m.html, { allowRemote, inlineImages: m.inlineImages }) : null;
  await mount(rendered ? rendered.srcdoc : '<p>(no HTML)</p>', true);
  return { remoteBlocked: rendered ? rendered.remoteBlocked : 0 };
};
// One layer at a time: the renderer on HTML as sent, or the server's output in a bare frame.
window.showRendered = async (html, inlineImages) => {
  await mount(buildMessageDocument(html, { allowRemote: false, inlineImages }).srcdoc, true);
  return { remoteBlocked: 0 };
};
window.showBare = async (html) => {
  await mount(html, false);
  return { remoteBlocked: 0 };
};
`;
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Reading pane</title>
<script src="/harness.js"></script>
<style>body{font:14px system-ui;margin:8px}iframe{width:100%;height:640px;border:1px solid #999}</style>
</head><body><h1 id="subject"></h1><p id="from"></p><ul id="files"></ul><iframe id="body"></iframe></body></html>`;

interface Canary {
  port: number;
  /** Paths (with query) of every HTTP request that reached it, over TLS or not. */
  hits: string[];
  /** TCP connections, including any that never became a request. */
  connections: number;
  close(): Promise<void>;
}

/** A 1×1 PNG, so an allowed image really loads. */
const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
);

/** HTTP and HTTPS on one port: the first byte of a TLS connection is a handshake record (0x16). */
async function startCanary(): Promise<Canary> {
  const canary = { hits: [] as string[], connections: 0 };
  const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    canary.hits.push(req.url ?? '');
    if (/\.(?:png|gif)(?:\?|$)/.test(req.url ?? '')) {
      res.writeHead(200, { 'content-type': 'image/png' }).end(PIXEL);
    } else res.writeHead(200, { 'content-type': 'text/html' }).end('<p>the canary</p>');
  };
  const now = Date.now();
  const tls = makeSelfSignedCertificate({
    commonName: CANARY_HOST,
    dnsNames: [CANARY_HOST],
    ipAddresses: ['127.0.0.1'],
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 86_400_000),
  });
  const plain = http.createServer(answer);
  const secure = https.createServer(tls, answer);
  const server = net.createServer((socket) => {
    canary.connections++;
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    get hits() {
      return canary.hits;
    },
    get connections() {
      return canary.connections;
    },
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        plain.closeAllConnections();
        secure.closeAllConnections();
      }),
  };
}

function chromiumUnavailableReason(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return `${CHROMIUM} is not installed (apt-get install chromium)`;
  }
}

describeRequiring([chromiumUnavailableReason()], 'hostile HTML mail in Chromium', () => {
  const fixtures = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => f.replace(/\.eml$/, ''))
    .sort();
  const ids: Record<string, string> = {};
  let harness: Awaited<ReturnType<typeof webmailHarness>>;
  let canary: Canary;
  let app: http.Server;
  let origin: string;
  let browser: Browser;

  beforeAll(async () => {
    harness = await webmailHarness();
    for (const name of fixtures) {
      ids[name] = await harness.receive(readFileSync(path.join(FIXTURES, `${name}.eml`)), {
        recipients: ['alice@example.com'],
        index: false,
      });
    }
    canary = await startCanary();
    const bundle = await build({
      stdin: { contents: HARNESS, resolveDir: repoRoot, loader: 'ts', sourcefile: 'harness.ts' },
      bundle: true,
      write: false,
      format: 'iife',
      target: 'es2022',
      minify: true,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]?.contents ?? new Uint8Array();
    app = http.createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const headers = appSecurityHeaders();
      if (url.pathname === '/') {
        res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (url.pathname === '/bare') {
        // No CSP at all: what the server's sanitiser lets through would run here.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (url.pathname === '/harness.js') {
        res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(script);
      } else if (url.pathname.startsWith('/mail/api/')) {
        // Alice is signed in: the API Gateway authorizer's claims, as the local server passes them.
        const out = await harness.call(req.method ?? 'GET', url.pathname, {
          query: Object.fromEntries(url.searchParams),
        });
        res.writeHead(out.status, out.headers as http.OutgoingHttpHeaders).end(out.bytes);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        ...CHROMIUM_FLAGS,
        // Every hostile URL's host, on whatever port, reaches the canary; nothing reaches a real network.
        `--host-resolver-rules=MAP ${CANARY_HOST} 127.0.0.1:${canary.port}, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`,
        '--ignore-certificate-errors',
      ],
    });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    await canary?.close();
  });

  /** A fresh page with listeners on everything a hostile message could make happen. */
  async function openPage(pagePath = '/'): Promise<{
    context: BrowserContext;
    page: Page;
    requests: string[];
    /** Requests the browser stopped itself (CSP): reported to the listener, never sent. */
    stoppedByCsp: Set<string>;
    dialogs: string[];
    popups: Page[];
    mainNavigations: string[];
  }> {
    const context = await browser.newContext({
      viewport: { width: 1000, height: 900 },
      ignoreHTTPSErrors: true,
    });
    const page = await context.newPage();
    const requests: string[] = [];
    const stoppedByCsp = new Set<string>();
    const dialogs: string[] = [];
    const popups: Page[] = [];
    const mainNavigations: string[] = [];
    context.on('request', (r) => requests.push(r.url()));
    context.on('requestfailed', (r) => {
      if (/csp|blocked/i.test(r.failure()?.errorText ?? '')) stoppedByCsp.add(r.url());
    });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('popup', (p) => popups.push(p));
    await page.goto(`${origin}${pagePath}`);
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) mainNavigations.push(f.url());
    });
    return { context, page, requests, stoppedByCsp, dialogs, popups, mainNavigations };
  }

  function show(
    page: Page,
    name: string,
    allowRemote: boolean,
  ): Promise<{ remoteBlocked: number; frame: Frame }> {
    return run(page, `showMessage(${JSON.stringify(ids[name])}, ${allowRemote})`);
  }

  /** Runs one of the harness's functions and waits for the frame to do whatever it would. */
  async function run(page: Page, call: string): Promise<{ remoteBlocked: number; frame: Frame }> {
    // Strings, not functions: these run in the page, and the test code is type-checked without the DOM.
    const result = (await page.evaluate(call)) as { remoteBlocked: number };
    await delay(SETTLE_MS);
    const frame = page.frames().find((f) => f.parentFrame() === page.mainFrame());
    if (!frame) throw new Error('no message frame');
    return { ...result, frame };
  }

  const canaryRequests = (urls: string[]) => urls.filter((u) => u.includes(CANARY_HOST));
  const pathOf = (u: string) => {
    const url = new URL(u);
    return url.pathname + url.search;
  };

  it('renders every hostile message with no request leaving, no script run, no navigation, and only the remote images after consent', async () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
    for (const name of fixtures) {
      const { context, page, requests, stoppedByCsp, dialogs, popups, mainNavigations } = await openPage();
      const hitsBefore = canary.hits.length;
      const connectionsBefore = canary.connections;

      const blocked = await show(page, name, false);
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-blocked.png`), fullPage: true });
      // Before consent: nothing but the app's own origin, seen by the page and by the canary alike.
      expect(
        requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && u !== 'about:srcdoc'),
        name,
      ).toEqual([]);
      expect(canary.hits.slice(hitsBefore), name).toEqual([]);
      expect(canary.connections - connectionsBefore, name).toBe(0);
      // Nothing that could run is in the frame, and nothing ran.
      const active = await blocked.frame.evaluate(
        `document.querySelectorAll('script,iframe,frame,object,embed,form,input,button,textarea,select,svg,math,meta[http-equiv="refresh"],base[href],link,[onerror],[onload],[onclick]').length`,
      );
      expect(active, name).toBe(0);
      const expected = LOADED_WHEN_ALLOWED[name] ?? [];
      if (expected.length) expect(blocked.remoteBlocked, name).toBeGreaterThan(0);

      // After consent: exactly the message's remote images, and still no script, redirect or font.
      const allowed = await show(page, name, true);
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-allowed.png`), fullPage: true });
      expect(allowed.remoteBlocked, name).toBe(0);
      const loaded = [...new Set(canary.hits.slice(hitsBefore))].sort();
      expect(loaded, name).toEqual([...expected].sort());
      // The page's listener sees the images; Chromium does not report every CSS background fetch
      // to it, so the canary's log is the exact record and the listener must show nothing else
      // but what the message's own CSP stopped in the browser (a plain-http image: https only).
      const sent = canaryRequests(requests).filter((u) => !stoppedByCsp.has(u));
      for (const p of sent.map(pathOf)) expect(expected, name).toContain(p);

      expect(dialogs, name).toEqual([]);
      expect(popups, name).toEqual([]);
      expect(mainNavigations, name).toEqual([]);
      expect(page.url(), name).toBe(`${origin}/`);
      expect(await page.evaluate('typeof window.__pwned'), name).toBe('undefined');
      await context.close();
    }
  });

  it('keeps every hostile message inert with either layer alone: the renderer on the HTML as sent, or the server’s output in a bare frame', async () => {
    for (const name of fixtures) {
      const mail = await parseForReading(readFileSync(path.join(FIXTURES, `${name}.eml`)));
      if (!mail.html) continue;
      const detail = messageDetailSchema.parse(
        (await harness.call('GET', `/mail/api/messages/${ids[name]}`)).body,
      );
      const layers = [
        // The browser's layer alone: DOMPurify, the document's CSP and the sandbox, on unsanitised HTML.
        {
          page: '/',
          call: `showRendered(${JSON.stringify(mail.html)}, ${JSON.stringify(detail.inlineImages)})`,
        },
        // The server's layer alone: its output in an iframe with no sandbox, on a page with no CSP.
        { page: '/bare', call: `showBare(${JSON.stringify(detail.html)})` },
      ];
      for (const layer of layers) {
        const { context, page, requests, dialogs, popups, mainNavigations } = await openPage(layer.page);
        const hitsBefore = canary.hits.length;
        const connectionsBefore = canary.connections;
        await run(page, layer.call);
        const label = `${name} via ${layer.page}`;
        await page.screenshot({
          path: path.join(ARTIFACTS, `${name}-layer${layer.page.replace('/', '-')}.png`),
        });
        expect(canary.hits.slice(hitsBefore), label).toEqual([]);
        expect(canary.connections - connectionsBefore, label).toBe(0);
        expect(canaryRequests(requests), label).toEqual([]);
        expect(dialogs, label).toEqual([]);
        expect(popups, label).toEqual([]);
        expect(mainNavigations, label).toEqual([]);
        expect(await page.evaluate('typeof window.__pwned'), label).toBe('undefined');
        await context.close();
      }
    }
  });

  it('shows subjects, names and file names that carry markup and line breaks as text', async () => {
    const { context, page, dialogs } = await openPage();
    await show(page, 'header-injection', false);
    const detail: MessageDetail = messageDetailSchema.parse(
      (await harness.call('GET', `/mail/api/messages/${ids['header-injection']}`)).body,
    );
    expect(detail.subject).toContain('<script>');
    // Text, as the API gave it: no element was made from it.
    expect(await page.locator('#subject').textContent()).toBe(detail.subject);
    expect(await page.locator('#subject *').count()).toBe(0);
    expect(await page.locator('#from').textContent()).toBe(detail.from);
    expect(await page.locator('#files li').allTextContents()).toEqual(
      detail.attachments.map((a) => a.filename ?? ''),
    );
    expect(await page.locator('#files img, #files script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'header-injection-headers.png'), fullPage: true });
    await context.close();
  });

  it('clicks links the sanitiser disarmed without effect, and opens a real link in a new tab without opener or referrer', async () => {
    const { context, page, dialogs, popups, mainNavigations } = await openPage();
    const { frame } = await show(page, 'javascript-urls', false);
    const hitsBefore = canary.hits.length;
    for (const id of ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'j9']) {
      await frame.locator(`#${id}`).click();
    }
    await delay(SETTLE_MS);
    expect(popups).toEqual([]);
    expect(canary.hits.slice(hitsBefore)).toEqual([]);
    const popup = context.waitForEvent('page');
    await frame.locator('#j8').click();
    const opened = await popup;
    await opened.waitForLoadState();
    expect(new URL(opened.url()).pathname).toBe('/clicked');
    expect(await opened.evaluate('window.opener')).toBeNull();
    expect(await opened.evaluate('document.referrer')).toBe('');
    // The new tab is a browser page of its own, which asks for its icon.
    expect(canary.hits.slice(hitsBefore).filter((p) => p !== '/favicon.ico')).toEqual(['/clicked']);
    expect(dialogs).toEqual([]);
    expect(mainNavigations).toEqual([]);
    expect(page.url()).toBe(`${origin}/`);
    await context.close();
  });
});
