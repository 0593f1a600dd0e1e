import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { MAX_DIRECTORY_BYTES } from '../../lambdas/core/directory.js';
import type { HttpEvent, HttpResult } from '../../lambdas/handlers/api.js';

/** Largest request body the local API reads; admin requests are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Marks the claims of a request made with the local admin token (the CLI's): a machine credential
 * held by whoever can read the data folder, not a sign-in, so the admin API asks it for no second
 * factor. Set here only; no token the built-in provider issues can carry it (its claims are listed).
 */
export const LOCAL_TOKEN_CLAIM = 'lifeboat:local-admin-token';

/** Where the local admin token lives: only someone who can read the data folder may act as admin. */
export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}

/** Reads the local admin token, creating it (mode 600) on first start. */
export function ensureAdminToken(dataDir: string): string {
  const file = adminTokenFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * Largest request body of the webmail API: flags and, later, a message being sent with its
 * attachments go through the files and send routes' own limits; a JSON body past this is a mistake.
 */
export const MAX_WEBMAIL_BODY_BYTES = 1024 * 1024;

/** Largest directory import: the directory's own limit, with room for the JSON that carries it. */
export const MAX_IMPORT_BODY_BYTES = MAX_DIRECTORY_BYTES + 64 * 1024;

/**
 * Largest replay request: its skip list of Message-IDs (MAX_SKIP_TEXT_CHARS) with the JSON around
 * it, within the 6 MB of request Lambda takes in AWS, so a list that starts a replay there does here.
 */
export const MAX_REPLAY_BODY_BYTES = 6 * 1024 * 1024;

export interface LocalApiOptions {
  token: string;
  adminGroup: string;
  handler: (event: HttpEvent) => Promise<HttpResult>;
  /** Local-only endpoints (under /local/), for an admin holding the token; the Lambda API has none. */
  local?: (path: string, method: string, body: string, actor: string) => Promise<HttpResult | undefined>;
  /** Takes the bytes of a signed upload (`PUT /mail/api/upload/<token>`). */
  upload?: (req: http.IncomingMessage, res: http.ServerResponse, token: string) => void;
  /**
   * Verifies a bearer token as API Gateway's JWT authorizer does: the claims, or undefined for a
   * missing, expired, altered or foreign token. Unset: only the admin token is known.
   */
  authorize?: (authorization: string | undefined) => Promise<Record<string, unknown> | undefined>;
  /** The webmail API (`/mail/api/*`), behind `authorize`. */
  webmail?: (event: HttpEvent) => Promise<HttpResult>;
  /** The OpenID provider under `/oidc`, once it knows its origin (after the port is bound). */
  oidc?: () => ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  /** The web app's files; answers false for a path that is not one. */
  web?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;
}

const jsonError = (res: http.ServerResponse, status: number, error: string, message?: string) =>
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(message ? { error, message } : { error }));

/** Writes a handler's result, decoding a base64 body (a download) as API Gateway does. */
function writeResult(req: http.IncomingMessage, res: http.ServerResponse, r: HttpResult): void {
  res.writeHead(r.statusCode, r.headers);
  if (req.method === 'HEAD') res.end();
  else res.end(r.isBase64Encoded ? Buffer.from(r.body, 'base64') : r.body);
}

/** The request body up to `limit` bytes; null (after a 413) when it is larger. */
function readBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  limit: number,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > limit) {
        refused = true;
        jsonError(res, 413, 'TOO_LARGE', `the request body is larger than ${limit} bytes`);
        req.destroy();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on('error', () => resolve(null));
  });
}

/**
 * The runtime's one HTTP server, on loopback: the admin API (its handler, standing in for API
 * Gateway and its JWT authorizer), the webmail API, the built-in OpenID provider under `/oidc`
 * and the web app. On the admin API a request with the local admin token gets the claims a
 * verified admin token would carry, the `x-lifeboat-actor` header naming who acts (for the audit
 * log); a verified ID token gets its own claims. Anything else gets no claims, so the handler
 * itself refuses it.
 */
export function createLocalApi(options: LocalApiOptions): http.Server {
  const authorize = options.authorize ?? (async () => undefined);
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const p = url.pathname;
    const fail = () => {
      if (!res.headersSent) jsonError(res, 500, 'INTERNAL');
      else res.end();
    };

    if (p === '/oidc' || p.startsWith('/oidc/')) {
      const oidc = options.oidc?.();
      if (!oidc) jsonError(res, 503, 'NOT_READY', 'sign-in is starting');
      else oidc(req, res);
      return;
    }

    // A signed upload's bytes (the local stand-in for an S3 presigned PUT): streamed with their own
    // limit, never through the API's JSON body reader.
    const upload = /^\/mail\/api\/upload\/([A-Za-z0-9._-]{1,1024})$/.exec(p);
    if (upload && options.upload) {
      options.upload(req, res, upload[1] as string);
      return;
    }

    if (p.startsWith('/mail/api/') && options.webmail) {
      const webmail = options.webmail;
      void (async () => {
        const body = await readBody(req, res, MAX_WEBMAIL_BODY_BYTES);
        if (body === null) return;
        const claims = await authorize(req.headers.authorization);
        const event: HttpEvent = {
          rawPath: p,
          requestContext: {
            http: { method: req.method ?? 'GET' },
            ...(claims ? { authorizer: { jwt: { claims } } } : {}),
          },
          queryStringParameters: Object.fromEntries(url.searchParams),
          ...(body.length ? { body: body.toString('utf8') } : {}),
        };
        writeResult(req, res, await webmail(event));
      })().catch(fail);
      return;
    }

    if (!p.startsWith('/admin/') && !p.startsWith('/local/') && p !== '/admin') {
      void (async () => {
        if (!(await options.web?.(req, res))) jsonError(res, 404, 'NOT_FOUND');
      })().catch(fail);
      return;
    }

    void (async () => {
      const body = await readBody(
        req,
        res,
        p === '/admin/users/import'
          ? MAX_IMPORT_BODY_BYTES
          : p === '/admin/replays'
            ? MAX_REPLAY_BODY_BYTES
            : MAX_BODY_BYTES,
      );
      if (body === null) return;
      const auth = req.headers.authorization ?? '';
      const actor = String(req.headers['x-lifeboat-actor'] ?? 'local-admin').slice(0, 100);
      const authorised = auth === `Bearer ${options.token}`;
      if (p.startsWith('/local/')) {
        if (!authorised) {
          jsonError(res, 401, 'UNAUTHENTICATED');
          return;
        }
        const r = await options.local?.(p, req.method ?? 'GET', body.toString('utf8'), actor);
        if (r) writeResult(req, res, r);
        else jsonError(res, 404, 'NOT_FOUND');
        return;
      }
      const claims = authorised
        ? { sub: 'local-admin', email: actor, groups: [options.adminGroup], [LOCAL_TOKEN_CLAIM]: true }
        : await authorize(req.headers.authorization);
      const event: HttpEvent = {
        rawPath: p,
        requestContext: {
          http: { method: req.method ?? 'GET' },
          ...(claims ? { authorizer: { jwt: { claims } } } : {}),
        },
        queryStringParameters: Object.fromEntries(url.searchParams),
        ...(body.length ? { body: body.toString('utf8') } : {}),
      };
      writeResult(req, res, await options.handler(event));
    })().catch(fail);
  });
}
