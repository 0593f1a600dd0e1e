import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webmailLayout } from '../../infra/local/local-webmail.js';
import { oidcKeysFile } from '../../infra/local/oidc-keys.js';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { INDEX_PREFIX, indexKey } from '../../lambdas/storage-layout.js';
import { freePort } from '../support/lifeboat-process.js';
import { ManualClock } from '../support/memory-store.js';
import { claimsOf, OidcClient } from '../support/oidc-client.js';
import { makeDataDir, sendRaw } from '../support/runtime.js';
import { compose } from '../support/webmail.js';

const ALICE_PHONE = '+447700900101';
const BOB_PHONE = '+447700900102';
const STAFF_PHONE = '+447700900456';
const PASSWORD = 'correct horse battery';
/** The attachment's bytes, checked byte for byte after the signed download. */
const REPORT = Buffer.from('%PDF-1.4 quarterly figures\n'.repeat(40));
/** Bigger than the web server's gzip threshold, so the gzip path is taken. */
const APP_JS = `console.log(${JSON.stringify('lifeboat '.repeat(400))});\n`;

describe('the local runtime’s webmail, signed in through its own OpenID provider', () => {
  let dir: string;
  let rt: Runtime;
  let origin: string;
  const clock = new ManualClock(new Date());
  let aliceMessage: string;
  let bobMessage: string;
  let aliceToken: string;

  const api = (p: string, token?: string, init: RequestInit = {}) =>
    fetch(`${origin}${p}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
    });

  /** The latest text in the outbox to `phone`. */
  async function lastTextTo(phone: string) {
    const texts = await rt.ctx.continuity.listNotifications(50);
    return texts.find((n) => n.channel === 'sms' && n.to.includes(phone));
  }

  /** A token signed with the provider's own key, with the claims a test needs. */
  async function mint(claims: Record<string, unknown>, aud = 'lifeboat-web', iss = `${origin}/oidc`) {
    const keys = JSON.parse(await readFile(oidcKeysFile(path.join(dir, 'data')), 'utf8'));
    const key = await importJWK(keys.signing, 'RS256');
    const now = Math.floor(clock.now().getTime() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: keys.signing.kid })
      .setIssuer(iss)
      .setAudience(aud)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(key);
  }

  beforeAll(async () => {
    dir = await makeDataDir();
    const web = path.join(dir, 'web');
    await mkdir(path.join(web, 'mail'), { recursive: true });
    await mkdir(path.join(web, 'assets'), { recursive: true });
    await writeFile(
      path.join(web, 'mail', 'index.html'),
      '<!doctype html><title>Lifeboat</title><div id="app"></div>',
    );
    await writeFile(path.join(web, 'mail', 'sw.js'), 'self.addEventListener("fetch", () => {});\n');
    await writeFile(path.join(web, 'assets', 'app-3f2a1b.js'), APP_JS);
    const config = parseConfig(
      {
        organisation: 'Webmail tests',
        domains: ['example.com'],
        routes: [
          {
            name: 'primary',
            domains: ['example.com'],
            hosts: [{ host: '127.0.0.1', port: await freePort() }],
            tls: 'none',
          },
        ],
        webmail: {
          users: [
            {
              id: 'alice',
              name: 'Alice Smith',
              addresses: ['alice@example.com', 'sales@example.com'],
              groups: ['lifeboat-admins'],
              phone: ALICE_PHONE,
            },
            { id: 'bob', name: 'Bob Jones', addresses: ['bob@example.com'], phone: BOB_PHONE },
            { id: 'carol', name: 'Carol White', addresses: ['carol@example.com'] },
          ],
        },
        continuity: { staff: { phones: [STAFF_PHONE] } },
        local: { dataDir: path.join(dir, 'data') },
      },
      'test config',
    );
    rt = await startRuntime({
      config,
      ports: { smtp: 0, api: 0 },
      clock,
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      deliverOnIngest: false,
      webDist: web,
      indexBatchMs: 0,
      directoryCheckMs: 0,
    });
    origin = rt.origin as string;
    for (const id of ['alice', 'bob', 'carol']) await rt.webmail.credentials.set(id, PASSWORD);

    const withReport = await compose({
      from: 'Dora Finance <dora@supplier.example>',
      to: 'alice@example.com',
      subject: 'Quarterly figures',
      text: 'The figures are attached.',
      attachments: [{ filename: 'figures.pdf', content: REPORT, contentType: 'application/pdf' }],
    });
    aliceMessage = (await sendRaw(rt.smtpPort, { to: ['alice@example.com'], raw: withReport })).id;
    const forBob = await compose({
      from: 'Eve <eve@elsewhere.example>',
      to: 'bob@example.com',
      subject: 'Private to Bob',
      text: 'Only Bob reads this; the figures are attached.',
      attachments: [{ filename: 'bob.pdf', content: REPORT, contentType: 'application/pdf' }],
    });
    bobMessage = (await sendRaw(rt.smtpPort, { to: ['bob@example.com'], raw: forBob })).id;
    await rt.idle();
    await rt.webmail.indexQueue.idle();
    aliceToken = (await new OidcClient(origin).signInWithPassword('alice', PASSWORD)).id_token;
  });

  afterAll(async () => {
    await rt?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('the OpenID provider', () => {
    it('publishes its issuer under /oidc with code + PKCE S256 only', async () => {
      const res = await fetch(`${origin}/oidc/.well-known/openid-configuration`);
      const meta = (await res.json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(`${origin}/oidc`);
      expect(meta.response_types_supported).toEqual(['code']);
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
      expect(meta.id_token_signing_alg_values_supported).toEqual(['RS256']);
    });

    it('issues an ID token with Cognito’s claim names after a password sign-in', () => {
      const claims = claimsOf(aliceToken);
      expect(claims).toMatchObject({
        iss: `${origin}/oidc`,
        aud: 'lifeboat-web',
        sub: 'alice',
        'cognito:username': 'alice',
        'cognito:groups': ['lifeboat-admins'],
        'custom:addresses': 'alice@example.com,sales@example.com',
        email: 'alice@example.com',
        email_verified: true,
        name: 'Alice Smith',
        phone_number: ALICE_PHONE,
        amr: ['pwd'],
      });
      expect(typeof claims.auth_time).toBe('number');
    });

    it('serves a sign-in page without script, with the app’s headers and labelled fields', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      const res = await client.get(page);
      const html = await res.text();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(html).not.toMatch(/<script/i);
      expect(html).toContain('<label for="username">');
      expect(html).toContain('<label for="password">');
      expect(html).toContain('Text me a code');
    });

    it('refuses an authorization request without PKCE', async () => {
      const client = new OidcClient(origin);
      const params = new URLSearchParams({
        client_id: 'lifeboat-web',
        response_type: 'code',
        redirect_uri: `${origin}/mail/`,
        scope: 'openid',
        state: 's',
      });
      const res = await client.get(`/oidc/auth?${params}`);
      const location = new URL(res.headers.get('location') ?? '', origin);
      expect(location.pathname).toBe('/mail/');
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('code')).toBeNull();
    });

    it('exchanges the code when the browser sends the app’s Origin, and refuses another origin', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      const form = await client.post(`${page}/password`, { username: 'bob', password: PASSWORD });
      const code = await client.finish(form);
      const foreign = await client.exchange(code, client.verifier, { origin: 'https://evil.example' });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
      const res = await client.exchange(code, client.verifier, { origin });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    });

    it('refuses the code with the wrong PKCE verifier', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      const code = await client.finish(
        await client.post(`${page}/password`, { username: 'bob', password: PASSWORD }),
      );
      const res = await client.exchange(code, 'x'.repeat(43));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_grant');
    });

    it('refuses a wrong password, then pauses password sign-in after five', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      for (let i = 0; i < 5; i++) {
        const res = await client.post(`${page}/password`, {
          username: 'carol',
          password: 'not her password',
        });
        expect(res.status).toBe(401);
        expect(await res.text()).toContain('Wrong username or password');
      }
      const right = await client.post(`${page}/password`, { username: 'carol', password: PASSWORD });
      expect(right.status).toBe(429);
      expect(right.headers.get('location')).toBeNull();
      expect(await right.text()).toContain('Too many wrong passwords');
    });

    it('signs in with a code texted to the personal phone, which lands in the outbox and works once', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      const asked = await client.post(`${page}/code/send`, { username: 'bob@example.com' });
      expect(asked.status).toBe(200);
      const text = await lastTextTo(BOB_PHONE);
      expect(text).toMatchObject({
        channel: 'sms',
        audience: 'staff',
        to: [BOB_PHONE],
        notice: 'sign-in-code',
      });
      const code = /\b(\d{6})\b/.exec(text?.text ?? '')?.[1] as string;
      expect(code).toMatch(/^\d{6}$/);

      const wrong = await client.post(`${page}/code`, {
        username: 'bob@example.com',
        code: code === '000000' ? '111111' : '000000',
      });
      expect(wrong.status).toBe(401);
      const right = await client.post(`${page}/code`, { username: 'bob@example.com', code });
      const tokens = await client.exchange(await client.finish(right));
      const idToken = ((await tokens.json()) as { id_token: string }).id_token;
      expect(claimsOf(idToken)).toMatchObject({ sub: 'bob', amr: ['sms', 'otp'] });

      const again = new OidcClient(origin);
      const page2 = await again.start();
      const reused = await again.post(`${page2}/code`, { username: 'bob@example.com', code });
      expect(reused.status).toBe(401);
      expect(reused.headers.get('location')).toBeNull();
    });

    it('texts no second code within a minute, and refuses a code after five minutes', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      await client.post(`${page}/code/send`, { username: 'alice' });
      const first = await lastTextTo(ALICE_PHONE);
      const soon = await client.post(`${page}/code/send`, { username: 'alice' });
      expect(soon.status).toBe(429);
      expect((await lastTextTo(ALICE_PHONE))?.id).toBe(first?.id);
      const code = /\b(\d{6})\b/.exec(first?.text ?? '')?.[1] as string;
      clock.advance(5 * 60 + 1);
      const late = await client.post(`${page}/code`, { username: 'alice', code });
      expect(late.status).toBe(401);
      expect(await late.text()).toContain('expired');
    });

    it('never says whether a user exists or has a phone when a code is asked for', async () => {
      const client = new OidcClient(origin);
      const page = await client.start();
      const before = (await rt.ctx.continuity.listNotifications(100)).length;
      const nobody = await client.post(`${page}/code/send`, { username: 'nobody@example.com' });
      const noPhone = await client.post(`${page}/code/send`, { username: 'carol' });
      expect(nobody.status).toBe(200);
      expect(noPhone.status).toBe(200);
      // The pages differ only in the name typed.
      expect((await nobody.text()).replaceAll('nobody@example.com', 'X')).toBe(
        (await noPhone.text()).replaceAll('carol', 'X'),
      );
      expect((await rt.ctx.continuity.listNotifications(100)).length).toBe(before);
    });
  });

  describe('the API’s token check (API Gateway’s JWT authorizer, locally)', () => {
    it('answers 401 JSON without a token', async () => {
      const res = await api('/mail/api/me');
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(((await res.json()) as { error: string }).error).toBe('UNAUTHENTICATED');
    });

    it('answers 401 to a token whose claims were altered', async () => {
      const [h, , s] = aliceToken.split('.');
      const payload = Buffer.from(
        JSON.stringify({ ...claimsOf(aliceToken), sub: 'bob', 'cognito:username': 'bob' }),
      ).toString('base64url');
      const res = await api('/mail/api/me', `${h}.${payload}.${s}`);
      expect(res.status).toBe(401);
    });

    it('answers 401 to a token for another audience, another issuer, or signed with another key', async () => {
      const claims = { sub: 'alice', 'cognito:username': 'alice' };
      const otherKey = (await generateKeyPair('RS256')).privateKey;
      const now = Math.floor(clock.now().getTime() / 1000);
      const foreign = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'other' })
        .setIssuer(`${origin}/oidc`)
        .setAudience('lifeboat-web')
        .setExpirationTime(now + 600)
        .sign(otherKey);
      for (const token of [
        await mint(claims, 'another-client'),
        await mint(claims, 'lifeboat-web', 'https://evil.example/oidc'),
        foreign,
      ]) {
        expect((await api('/mail/api/me', token)).status).toBe(401);
      }
      expect((await api('/mail/api/me', await mint(claims))).status).toBe(200);
    });

    it('answers 401 once the token has expired', async () => {
      const saved = clock.current;
      clock.advance(2 * 60 * 60);
      try {
        expect((await api('/mail/api/me', aliceToken)).status).toBe(401);
      } finally {
        clock.current = saved;
      }
      expect((await api('/mail/api/me', aliceToken)).status).toBe(200);
    });

    it('answers 403 to a signed-in user who owns no address', async () => {
      const res = await api('/mail/api/me', await mint({ sub: 'stranger', 'cognito:username': 'stranger' }));
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe('FORBIDDEN');
    });
  });

  describe('the search index', () => {
    const indexed = (address: string) =>
      access(
        path.join(webmailLayout(rt.layout.dataDir).indexDir, indexKey(address).slice(INDEX_PREFIX.length)),
      ).then(
        () => true,
        () => false,
      );

    it('is written for a directory user’s mailbox and for no address without a user', async () => {
      const forNobody = await compose({
        from: 'Eve <eve@elsewhere.example>',
        to: 'dave@example.com',
        subject: 'To an address no user has',
        text: 'Relayed to the primary; nobody searches it here.',
      });
      await sendRaw(rt.smtpPort, { to: ['dave@example.com'], raw: forNobody });
      await rt.idle();
      await rt.webmail.indexQueue.idle();
      expect(await indexed('alice@example.com')).toBe(true);
      expect(await indexed('dave@example.com')).toBe(false);
    });
  });

  describe('the mailbox through the real server', () => {
    it('lists my mail and not another user’s', async () => {
      const res = await api('/mail/api/messages', aliceToken);
      const page = (await res.json()) as { messages: { id: string; subject: string }[] };
      expect(res.status).toBe(200);
      expect(page.messages.map((m) => m.id)).toEqual([aliceMessage]);
      expect(page.messages[0]?.subject).toBe('Quarterly figures');
    });

    it('reads my message and answers 404 for another user’s message id', async () => {
      const mine = await api(`/mail/api/messages/${aliceMessage}`, aliceToken);
      expect(mine.status).toBe(200);
      expect(((await mine.json()) as { attachments: { filename: string }[] }).attachments[0]?.filename).toBe(
        'figures.pdf',
      );
      const theirs = await api(`/mail/api/messages/${bobMessage}`, aliceToken);
      expect(theirs.status).toBe(404);
      expect(((await theirs.json()) as { error: string }).error).toBe('NOT_FOUND');
    });

    it('finds my message by search with operators, and never another user’s', async () => {
      const q = (query: string) => api(`/mail/api/search?${new URLSearchParams({ q: query })}`, aliceToken);
      const hit = (await (await q('from:dora has:attachment')).json()) as { messages: { id: string }[] };
      expect(hit.messages.map((m) => m.id)).toEqual([aliceMessage]);
      const bobs = (await (await q('Private')).json()) as { messages: { id: string }[] };
      expect(bobs.messages).toEqual([]);
    });

    it('downloads an attachment through a signed link without the token, and refuses an altered link', async () => {
      const res = await api(`/mail/api/messages/${aliceMessage}/links?part=0`, aliceToken);
      const { url } = (await res.json()) as { url: string };
      expect(url.startsWith('/mail/api/files/')).toBe(true);
      const file = await fetch(`${origin}${url}`);
      expect(file.status).toBe(200);
      expect(Buffer.from(await file.arrayBuffer()).equals(REPORT)).toBe(true);
      expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="figures.pdf"/);
      expect(file.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
      const altered = `${url.slice(0, -3)}${url.endsWith('AAA') ? 'BBB' : 'AAA'}`;
      expect((await fetch(`${origin}${altered}`)).status).toBe(403);
    });

    it('downloads the raw message through its signed link', async () => {
      const { url } = (await (
        await api(`/mail/api/messages/${aliceMessage}/links?part=raw`, aliceToken)
      ).json()) as {
        url: string;
      };
      const raw = Buffer.from(await (await fetch(`${origin}${url}`)).arrayBuffer()).toString('utf8');
      expect(raw).toContain('Subject: Quarterly figures');
    });

    it('tells the banner the continuity state and whether it covers my mail', async () => {
      const normal = await (await api('/mail/api/status', aliceToken)).json();
      expect(normal).toEqual({ state: 'normal', since: null, scopeCoversMe: false });
      const invoked = await api('/admin/continuity/invoke', rt.adminToken, { method: 'POST', body: '{}' });
      expect(invoked.status).toBe(200);
      const status = (await (await api('/mail/api/status', aliceToken)).json()) as Record<string, unknown>;
      expect(status).toMatchObject({ state: 'continuity', scopeCoversMe: true });
      expect(typeof status.since).toBe('string');
      // Staff are texted the address of the webmail this server answers on.
      expect((await lastTextTo(STAFF_PHONE))?.text).toContain(`${origin}/mail/`);
    });
  });

  describe('the web app’s files', () => {
    it('redirects / to /mail/', async () => {
      const res = await fetch(`${origin}/`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/mail/');
    });

    it('serves the app shell for /mail/ and any page under it, revalidated, with the security headers', async () => {
      for (const p of ['/mail/', '/mail/message/m0001']) {
        const res = await fetch(`${origin}${p}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control')).toBe('no-cache');
        expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('permissions-policy')).toBe('camera=(), microphone=(), geolocation=()');
        expect(await res.text()).toContain('<div id="app">');
      }
    });

    it('caches hashed assets for a year and gzips them for a browser that accepts it', async () => {
      const res = await fetch(`${origin}/assets/app-3f2a1b.js`, { headers: { 'accept-encoding': 'gzip' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(res.headers.get('content-encoding')).toBe('gzip');
      expect(await res.text()).toBe(APP_JS);
    });

    it('serves the service worker revalidated on every load', async () => {
      const res = await fetch(`${origin}/mail/sw.js`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    });

    it('tells the app where to sign in', async () => {
      const res = await fetch(`${origin}/app-config.json`);
      expect(await res.json()).toEqual({
        oidc: { authority: `${origin}/oidc`, clientId: 'lifeboat-web', scope: 'openid profile email phone' },
        apiBase: '',
      });
    });

    it('refuses a path that climbs out of the build folder', async () => {
      for (const p of [
        '/assets/..%2f..%2fdata%2fadmin-token',
        '/mail/..%2f..%2fdata%2foidc-keys.json',
        '/assets/%2e%2e/%2e%2e/data/admin-token',
      ]) {
        const res = await fetch(`${origin}${p}`);
        expect([400, 404]).toContain(res.status);
        const body = await res.text();
        expect(body).not.toContain(rt.adminToken);
        expect(body).not.toContain('"kty"');
      }
    });

    it('answers 404 for a missing asset instead of the app shell', async () => {
      expect((await fetch(`${origin}/assets/missing-123.js`)).status).toBe(404);
      expect((await fetch(`${origin}/mail/missing.js`)).status).toBe(404);
    });
  });
});
