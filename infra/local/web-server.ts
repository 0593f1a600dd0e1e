import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { appSecurityHeaders } from '../../lambdas/webmail/headers.js';

/** Where `npm install` (and `npm start`, when stale) builds the web app. */
export const DEFAULT_WEB_DIST = path.resolve(import.meta.dirname, '../../dist/web');

/** The OpenID client of the web app: public (no secret), authorization code with PKCE S256. */
export const WEB_CLIENT_ID = 'lifeboat-web';

/** Scopes the web app asks for: the ID token then carries the name, addresses and phone. */
export const WEB_SCOPE = 'openid profile email phone';

/** `/app-config.json`: how the web app finds its sign-in authority and its API (same shape in AWS). */
export interface AppConfig {
  oidc: { authority: string; clientId: string; scope: string };
  /** Prefix of the API's URLs; '' when the API is on the app's origin (the local runtime). */
  apiBase: string;
}

/** The local runtime's app config: its own `/oidc` provider, its own API. */
export function localAppConfig(origin: string): AppConfig {
  return {
    oidc: { authority: `${origin}/oidc`, clientId: WEB_CLIENT_ID, scope: WEB_SCOPE },
    apiBase: '',
  };
}

/**
 * Content types by extension. Anything else is served as a download (`application/octet-stream`)
 * with `nosniff`, so a stray file in the build is never run as a page.
 */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Compressing below this saves less than the gzip header and the CPU cost. */
const MIN_GZIP_BYTES = 1024;

/** Built assets carry a content hash in their names: a changed file is a new URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Pages, the service worker and the config: always revalidated, so a rebuild is seen at once. */
const REVALIDATE = 'no-cache';

/** The shell served in place of the app while dist/web has no build. */
const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lifeboat webmail is not built</title></head>
<body><main><h1>The web app is not built</h1>
<p>Run <code>npm install</code> in the Lifeboat folder (it builds the web app into <code>dist/web/</code>), then reload this page.</p>
</main></body></html>
`;

export interface WebServerOptions {
  /** The built app. @default DEFAULT_WEB_DIST */
  distDir?: string;
  /** The config the app reads at `/app-config.json`, built per request (the origin is known late). */
  appConfig: () => AppConfig;
  /** Security headers of every page; see lambdas/webmail/headers.ts. */
  headers?: Record<string, string>;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
}

/**
 * Serves the built web app on the runtime's HTTP server: `/` redirects to `/mail/`; `/mail/` and
 * `/console/` and every page under them answer that app's shell (the app routes in the browser),
 * and `/events/<id>` redirects to the console's page of that event; `/assets/*` are
 * the hashed build outputs, cached for a year; `/mail/sw.js` and the shell are revalidated on
 * every load; `/app-config.json` says where to sign in. Only GET and HEAD, only files inside the
 * build folder: a path that leaves it (`..`, encoded or not) is refused.
 * @returns a request handler that answers true when it served the request
 */
export function createWebServer(options: WebServerOptions) {
  const dist = path.resolve(options.distDir ?? DEFAULT_WEB_DIST);
  const headers = options.headers ?? appSecurityHeaders();
  const cache = new Map<string, CachedFile>();

  /** The file under dist for a URL path, or null when the path is not a clean one inside it. */
  function fileFor(urlPath: string): string | null {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return null;
    const segments = decoded.split('/');
    if (segments.some((s) => s === '..' || s === '.' || (s.startsWith('.') && s !== ''))) return null;
    const file = path.resolve(dist, `.${path.posix.normalize(decoded)}`);
    return file.startsWith(`${dist}${path.sep}`) ? file : null;
  }

  async function load(file: string): Promise<CachedFile | null> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch {
      return null;
    }
    if (!info.isFile()) return null;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit;
    const body = await readFile(file);
    const type = contentTypeOf(file);
    const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(type);
    const entry: CachedFile = {
      mtimeMs: info.mtimeMs,
      size: info.size,
      body,
      gzip: compressible && body.length >= MIN_GZIP_BYTES ? gzipSync(body) : null,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    };
    cache.set(file, entry);
    return entry;
  }

  function send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    extra: Record<string, string>,
    body: Buffer | string,
  ): void {
    res.writeHead(status, { ...headers, ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async function serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    cacheControl: string,
  ): Promise<boolean> {
    const entry = await load(file);
    if (!entry) return false;
    const common: Record<string, string> = {
      'content-type': contentTypeOf(file),
      'cache-control': cacheControl,
      etag: entry.etag,
      vary: 'accept-encoding',
    };
    if (req.headers['if-none-match'] === entry.etag) {
      send(req, res, 304, common, '');
      return true;
    }
    const gzip = entry.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? (entry.gzip as Buffer) : entry.body;
    send(
      req,
      res,
      200,
      {
        ...common,
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
        'content-length': String(body.length),
      },
      body,
    );
    return true;
  }

  const notFound = (req: IncomingMessage, res: ServerResponse) =>
    send(
      req,
      res,
      404,
      { 'content-type': 'text/plain; charset=utf-8', 'cache-control': REVALIDATE },
      'Not found\n',
    );

  return async function serveWeb(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://local');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      send(
        req,
        res,
        405,
        { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
        'Method not allowed\n',
      );
      return true;
    }
    if (p === '/' || p === '/mail') {
      send(req, res, 302, { location: '/mail/', 'cache-control': REVALIDATE }, '');
      return true;
    }
    if (p === '/console') {
      send(req, res, 302, { location: '/console/', 'cache-control': REVALIDATE }, '');
      return true;
    }
    // A page sent with `consoleUrl` set to the bare origin links to `/events/<id>`: the console's event.
    const event = /^\/events\/([\w-]{1,64})\/?$/.exec(p);
    if (event) {
      send(req, res, 302, { location: `/console/events/${event[1]}`, 'cache-control': REVALIDATE }, '');
      return true;
    }
    if (p === '/app-config.json') {
      const body = JSON.stringify(options.appConfig());
      send(
        req,
        res,
        200,
        { 'content-type': 'application/json; charset=utf-8', 'cache-control': REVALIDATE },
        body,
      );
      return true;
    }
    const file = fileFor(p);
    if (file === null) {
      send(req, res, 400, { 'content-type': 'text/plain; charset=utf-8' }, 'Bad path\n');
      return true;
    }
    if (p.startsWith('/assets/')) {
      if (!(await serveFile(req, res, file, IMMUTABLE))) notFound(req, res);
      return true;
    }
    if (p.startsWith('/mail/') || p === '/console/' || p.startsWith('/console/')) {
      const app = p.startsWith('/mail/') ? 'mail' : 'console';
      // A file of the app itself (the service worker, the manifest, icons), revalidated.
      if (!p.endsWith('/') && (await serveFile(req, res, file, REVALIDATE))) return true;
      // Anything else that looks like a file is missing, not a page of the app.
      if (/\.[A-Za-z0-9]{1,12}$/.test(p)) {
        notFound(req, res);
        return true;
      }
      const shell = path.join(dist, app, 'index.html');
      if (await serveFile(req, res, shell, REVALIDATE)) return true;
      if (app === 'console') {
        notFound(req, res);
        return true;
      }
      send(
        req,
        res,
        503,
        { 'content-type': 'text/html; charset=utf-8', 'cache-control': REVALIDATE, 'retry-after': '30' },
        NOT_BUILT_PAGE,
      );
      return true;
    }
    // Files at the top of the build (favicon.ico, robots.txt), never folders.
    if (/^\/[^/]+$/.test(p) && (await serveFile(req, res, file, REVALIDATE))) return true;
    return false;
  };
}

/** The Content-Type of a built file, by extension. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}
