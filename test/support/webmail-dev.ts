/**
 * A development server for the web app alone: dist/web, `/app-config.json`, a stand-in OpenID
 * provider that signs Alice in at once, and the real webmail handler over in-memory stores with a
 * few demo messages. For working on the views without the whole runtime
 * (`npx tsx test/support/webmail-dev.ts [port]`); the browser tests run against `npm start`.
 *
 * The stand-in provider's ID tokens are NOT signed and the API trusts them as they are: it never
 * runs anywhere but on loopback, for a developer.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createWebmailHandler } from '../../lambdas/handlers/webmail.js';
import { repoRoot } from './runtime.js';
import { compose, webmailHarness } from './webmail.js';

const DIST = path.join(repoRoot, 'dist', 'web');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
};

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A small picture: a 2×2 PNG, enough to preview. */
export const DEMO_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR4nGP8z8DwnwEIGBkZGBgYAAAdAQP/0UMOAgAAAABJRU5ErkJggg==',
  'base64',
);

/** Seeds a mailbox that shows each kind of row: read, unread, held, with attachments, HTML with remote images. */
async function seed(h: Awaited<ReturnType<typeof webmailHarness>>): Promise<void> {
  await h.receive(
    await compose({
      from: '"Bob Jones" <bob@example.com>',
      to: 'alice@example.com',
      subject: 'Quarterly figures',
      text: 'Hi Alice,\n\nthe figures for the quarter are attached, and a photo of the whiteboard.\n\nBob',
      attachments: [
        {
          filename: 'figures-q3.csv',
          content: 'region,revenue\nnorth,120\nsouth,95\n',
          contentType: 'text/csv',
        },
        { filename: 'whiteboard.png', content: DEMO_PNG, contentType: 'image/png' },
      ],
    }),
    { recipients: ['alice@example.com'], minutesAgo: 60 * 26, state: 'delivered' },
  );
  await h.receive(
    await compose({
      from: '"Acme Weekly" <news@acme.example>',
      to: 'alice@example.com',
      subject: 'This week at Acme: new offices',
      html: '<h1>Acme Weekly</h1><p>We moved! <img src="https://tracker.example/pixel.gif" alt="">See the <a href="https://acme.example/offices">new offices</a>.</p><p><img src="https://cdn.acme.example/offices.jpg" alt="The new offices"></p>',
      text: 'Acme Weekly: we moved.',
    }),
    { recipients: ['alice@example.com'], minutesAgo: 60 * 20, state: 'delivered' },
  );
  for (let i = 0; i < 60; i++) {
    await h.receive(
      await compose({
        from: `"Colleague ${i}" <c${i}@example.com>`,
        to: 'alice@example.com',
        subject: `Status update number ${i}`,
        text: `Update ${i}: all is well here.`,
      }),
      { recipients: ['alice@example.com'], minutesAgo: 60 * 24 * 3 + i * 30, state: 'delivered' },
    );
  }
  await h.receive(
    await compose({
      from: '"Carol White" <carol@example.com>',
      to: 'sales@example.com',
      subject: 'Order 4711 during the outage',
      text: 'Can you confirm the order? Thanks, Carol',
    }),
    { recipients: ['sales@example.com'], minutesAgo: 15, state: 'held' },
  );
}

/** Starts the server; `receive` adds a message (as if it arrived now), `setStatus` the continuity state. */
export async function startWebmailDev(port = 0) {
  const h = await webmailHarness();
  h.clock.current = new Date();
  await seed(h);
  const handler = createWebmailHandler(() => h.ctx);
  const codes = new Map<string, { nonce?: string; user: string }>();
  let status = { state: 'normal', since: null as string | null, scopeCoversMe: true };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
        const origin = `http://${req.headers.host}`;
        const body = Buffer.concat(chunks).toString('utf8');
        const p = url.pathname;
        const send = (
          code: number,
          type: string,
          data: string | Buffer,
          extra: Record<string, string> = {},
        ) => res.writeHead(code, { 'content-type': type, ...extra }).end(data);
        if (p === '/app-config.json') {
          return send(
            200,
            'application/json',
            JSON.stringify({
              oidc: { authority: `${origin}/oidc`, clientId: 'lifeboat-web', scope: 'openid profile email' },
              apiBase: '',
            }),
          );
        }
        if (p === '/oidc/.well-known/openid-configuration') {
          return send(
            200,
            'application/json',
            JSON.stringify({
              issuer: `${origin}/oidc`,
              authorization_endpoint: `${origin}/oidc/auth`,
              token_endpoint: `${origin}/oidc/token`,
              end_session_endpoint: `${origin}/oidc/session/end`,
              jwks_uri: `${origin}/oidc/jwks`,
              response_types_supported: ['code'],
              code_challenge_methods_supported: ['S256'],
            }),
          );
        }
        if (p === '/oidc/auth') {
          const code = randomBytes(12).toString('hex');
          codes.set(code, {
            user: url.searchParams.get('login_hint') ?? 'alice',
            ...(url.searchParams.get('nonce') ? { nonce: url.searchParams.get('nonce') as string } : {}),
          });
          const back = new URL(url.searchParams.get('redirect_uri') ?? `${origin}/mail/`);
          back.searchParams.set('code', code);
          back.searchParams.set('state', url.searchParams.get('state') ?? '');
          return send(302, 'text/plain', '', { location: back.href });
        }
        if (p === '/oidc/token') {
          const code = new URLSearchParams(body).get('code') ?? '';
          const grant = codes.get(code);
          if (!grant) return send(400, 'application/json', '{"error":"invalid_grant"}');
          codes.delete(code);
          const now = Math.floor(Date.now() / 1000);
          const idToken = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
            iss: `${origin}/oidc`,
            aud: 'lifeboat-web',
            sub: grant.user,
            'cognito:username': grant.user,
            name: grant.user === 'alice' ? 'Alice Smith' : grant.user,
            email: `${grant.user}@example.com`,
            iat: now,
            exp: now + 3600,
            ...(grant.nonce ? { nonce: grant.nonce } : {}),
          })}.`;
          return send(
            200,
            'application/json',
            JSON.stringify({
              id_token: idToken,
              access_token: 'dev',
              token_type: 'Bearer',
              expires_in: 3600,
            }),
          );
        }
        if (p === '/oidc/session/end') {
          return send(302, 'text/plain', '', {
            location: url.searchParams.get('post_logout_redirect_uri') ?? '/mail/',
          });
        }
        if (p === '/mail/api/status') return send(200, 'application/json', JSON.stringify(status));
        if (p.startsWith('/mail/api/')) {
          const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          const claims = token
            ? JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
            : null;
          const result = await handler({
            rawPath: p,
            requestContext: {
              http: { method: req.method ?? 'GET' },
              ...(claims ? { authorizer: { jwt: { claims } } } : {}),
            },
            ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
            ...(body ? { body } : {}),
          });
          return send(
            result.statusCode,
            result.headers['content-type'] ?? 'application/json',
            result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body,
            result.headers,
          );
        }
        const file = p === '/mail/' || p === '/mail' ? 'mail/index.html' : p.slice(1);
        try {
          const data = await readFile(path.join(DIST, path.normalize(file)));
          return send(200, TYPES[path.extname(file)] ?? 'application/octet-stream', data);
        } catch {
          return send(404, 'text/plain', 'not found');
        }
      })().catch((err: Error) => res.writeHead(500).end(err.message));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    harness: h,
    setStatus(state: string) {
      status = { state, since: state === 'normal' ? null : new Date().toISOString(), scopeCoversMe: true };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1]?.endsWith('webmail-dev.ts')) {
  const dev = await startWebmailDev(Number(process.argv[2] ?? 5180));
  dev.setStatus('continuity');
  console.log(`webmail dev server: ${dev.url}/mail/`);
}
