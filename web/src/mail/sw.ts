/**
 * The mail page's service worker (`/mail/sw.js`, scope `/mail/`): keeps the app shell so a reload
 * on a flaky connection still opens the app. scripts/build-web.mjs bundles it with the list of
 * files to keep (the page and its hashed assets) and a version that changes with them.
 *
 * - Navigations under /mail/: the network first, the kept page when the network fails.
 * - /assets/*: names carry a content hash, so the kept copy is always right (cache first).
 * - /app-config.json: the network first, the kept copy when offline.
 * - Never /mail/api/* (personal mail, signed links), /oidc/* or anything carrying a token:
 *   those go to the network untouched and nothing of them is stored.
 */

declare const __SHELL_FILES__: string[];
declare const __SHELL_VERSION__: string;

// The worker's own globals, declared here so the app's DOM-typed build checks this file too.
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(r: Promise<Response> | Response): void;
}
interface WorkerScope {
  addEventListener(type: 'install' | 'activate', listener: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (e: FetchEvent) => void): void;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  location: Location;
}
const worker = self as unknown as WorkerScope;

const CACHE = `lifeboat-mail-${__SHELL_VERSION__}`;
const SHELL = '/mail/';
const CONFIG = '/app-config.json';

worker.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([SHELL, CONFIG, ...__SHELL_FILES__]))
      .then(() => worker.skipWaiting()),
  );
});

worker.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((k) => k.startsWith('lifeboat-mail-') && k !== CACHE).map((k) => caches.delete(k)),
        ),
      )
      .then(() => worker.clients.claim()),
  );
});

/** Never stored: the API (mail and signed links), the sign-in provider, and any request with credentials. */
function neverCache(url: URL, request: Request): boolean {
  return (
    url.pathname.startsWith('/mail/api/') ||
    url.pathname.startsWith('/oidc/') ||
    request.headers.has('authorization')
  );
}

/** The network's answer (kept under `key` when there is one), else the kept copy. */
async function networkFirst(request: Request, key: string | null): Promise<Response> {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && key) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(key ?? SHELL);
    if (kept) return kept;
    throw err;
  }
}

async function cacheFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

worker.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== worker.location.origin || neverCache(url, request)) return;
  if (request.mode === 'navigate' && url.pathname.startsWith('/mail/')) {
    // Every page under /mail/ is the one app page; only the plain /mail/ is stored (never the
    // sign-in callback's /mail/?code=…), and it stands in for any of them when the network fails.
    const key = url.pathname === SHELL && url.search === '' ? SHELL : null;
    event.respondWith(networkFirst(request, key));
    return;
  }
  if (url.pathname === CONFIG) {
    event.respondWith(networkFirst(request, CONFIG));
    return;
  }
  if (url.pathname.startsWith('/assets/')) event.respondWith(cacheFirst(request));
});
