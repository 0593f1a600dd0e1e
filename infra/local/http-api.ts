import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { HttpEvent, HttpResult } from '../../lambdas/handlers/api.js';

/** Largest request body the local API reads; admin requests are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

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

export interface LocalApiOptions {
  token: string;
  adminGroup: string;
  handler: (event: HttpEvent) => Promise<HttpResult>;
  /** Local-only endpoints (under /local/), for an admin holding the token; the Lambda API has none. */
  local?: (path: string, method: string, body: string) => Promise<HttpResult | undefined>;
}

/**
 * Serves the admin API handler on loopback, standing in for API Gateway and its JWT authorizer:
 * a request with the local admin token gets the claims a verified admin token would carry, the
 * `x-lifeboat-actor` header naming who acts (for the audit log). Anything else gets no claims,
 * so the handler itself refuses it.
 */
export function createLocalApi(options: LocalApiOptions): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":"TOO_LARGE"}');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://local');
      const auth = req.headers.authorization ?? '';
      const actor = String(req.headers['x-lifeboat-actor'] ?? 'local-admin').slice(0, 100);
      const authorised = auth === `Bearer ${options.token}`;
      if (url.pathname.startsWith('/local/')) {
        if (!authorised) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"UNAUTHENTICATED"}');
          return;
        }
        (
          options.local?.(url.pathname, req.method ?? 'GET', Buffer.concat(chunks).toString('utf8')) ??
          Promise.resolve(undefined)
        )
          .then((r) =>
            r
              ? res.writeHead(r.statusCode, r.headers).end(r.body)
              : res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"NOT_FOUND"}'),
          )
          .catch(() =>
            res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"INTERNAL"}'),
          );
        return;
      }
      const event: HttpEvent = {
        rawPath: url.pathname,
        requestContext: {
          http: { method: req.method ?? 'GET' },
          ...(authorised
            ? {
                authorizer: {
                  jwt: { claims: { sub: 'local-admin', email: actor, groups: [options.adminGroup] } },
                },
              }
            : {}),
        },
        queryStringParameters: Object.fromEntries(url.searchParams),
        ...(chunks.length ? { body: Buffer.concat(chunks).toString('utf8') } : {}),
      };
      options
        .handler(event)
        .then((r) => res.writeHead(r.statusCode, r.headers).end(r.body))
        .catch(() => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"INTERNAL"}'));
    });
  });
}
