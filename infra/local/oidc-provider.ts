import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import type { Adapter, AdapterPayload, Configuration } from 'oidc-provider';
import type { Directory, DirectoryUser } from '../../lambdas/core/directory.js';
import type { Clock, Logger } from '../../lambdas/ports.js';
import { appSecurityHeaders } from '../../lambdas/webmail/headers.js';
import {
  type BreakGlass,
  CODE_TTL_MS,
  createWindowCounter,
  MAX_PASSWORD_FAILURES,
  PASSWORD_WINDOW_MS,
} from './oidc-break-glass.js';
import type { CredentialStore } from './oidc-credentials.js';
import { ID_TOKEN_ALG, type OidcKeys, publicJwk } from './oidc-keys.js';
import { codePage, errorPage, loggedOutPage, loginPage, logoutPage, totpPage } from './oidc-login-page.js';
import type { TotpStore } from './oidc-totp.js';
import { WEB_CLIENT_ID } from './web-server.js';

/**
 * oidc-provider 9 warns at import on a Node.js before 22 ("Unsupported runtime"); Lambda runs 22,
 * and the local runtime supports 20.19 or newer, on which the provider runs and is tested. The
 * one notice is kept out of the terminal; every other warning passes.
 */
async function importProvider(): Promise<typeof import('oidc-provider')> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
}

const { default: Provider, errors, interactionPolicy } = await importProvider();

/** Where the provider is served on the runtime's HTTP server; its issuer is `<origin>/oidc`. */
export const OIDC_PATH = '/oidc';

/** Largest sign-in form read: a name, a password and a code. */
const MAX_FORM_BYTES = 8 * 1024;

/**
 * ID tokens live an hour, as Cognito's do by default; the web app renews them with the refresh
 * token (a month, Cognito's default too) while the user keeps the app open.
 */
const ID_TOKEN_TTL_S = 60 * 60;
const REFRESH_TOKEN_TTL_S = 30 * 24 * 60 * 60;
/** A sign-in page left open this long must be started again (Cognito's managed login: 1 hour too). */
const INTERACTION_TTL_S = 60 * 60;
/** After a right password, the authenticator code must follow within five minutes. */
const SECOND_FACTOR_TTL_MS = 5 * 60 * 1000;

/**
 * The claims each scope releases. They are Cognito's names, so the API reads the same claims in
 * both runtimes: `cognito:username` is the directory id, `cognito:groups` the user's groups,
 * `custom:addresses` the mailboxes, comma-separated.
 */
const CLAIMS: NonNullable<Configuration['claims']> = {
  openid: ['sub', 'auth_time', 'amr', 'cognito:username', 'cognito:groups', 'custom:addresses'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  phone: ['phone_number'],
};

/** The ID token's claims of a directory user, as Cognito would issue them. */
export function claimsOf(user: DirectoryUser): Record<string, unknown> {
  return {
    sub: user.id,
    'cognito:username': user.id,
    'cognito:groups': user.groups,
    'custom:addresses': user.addresses.join(','),
    email: user.addresses[0],
    email_verified: true,
    name: user.name,
    ...(user.phone ? { phone_number: user.phone } : {}),
  };
}

/** The provider's records (sessions, codes, grants) in memory, each dropped when it expires. */
function memoryAdapter(): (name: string) => Adapter {
  const rows = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const live = (key: string) => {
    const row = rows.get(key);
    if (!row) return undefined;
    if (row.expiresAt <= Date.now()) {
      rows.delete(key);
      return undefined;
    }
    return row.payload;
  };
  // Expired rows go on a timer too, so an abandoned sign-in does not stay in memory for ever.
  setInterval(() => {
    for (const key of rows.keys()) live(key);
  }, 60_000).unref();
  return (name) => {
    const key = (id: string) => `${name}:${id}`;
    const find = (pred: (p: AdapterPayload) => boolean) => {
      for (const [k, row] of rows) if (k.startsWith(`${name}:`) && pred(row.payload)) return live(k);
      return undefined;
    };
    return {
      async upsert(id, payload, expiresIn) {
        rows.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      },
      async find(id) {
        return live(key(id));
      },
      async findByUserCode(userCode) {
        return find((p) => p.userCode === userCode);
      },
      async findByUid(uid) {
        return find((p) => p.uid === uid);
      },
      async consume(id) {
        const p = live(key(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        rows.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const [k, row] of rows) if (row.payload.grantId === grantId) rows.delete(k);
      },
    };
  };
}

export interface LocalOidcOptions {
  /** The origin the browser uses (`http://127.0.0.1:8787`); the issuer is `<origin>/oidc`. */
  origin: string;
  organisation: string;
  keys: OidcKeys;
  /** The staff directory as it is now (it changes without a restart). */
  directory: () => Directory;
  credentials: CredentialStore;
  breakGlass: BreakGlass;
  /** Authenticator codes: a user enrolled here gives one after the password (amr pwd, otp). */
  totp: TotpStore;
  clock: Clock;
  log: Logger;
}

export interface LocalOidc {
  issuer: string;
  /** The public keys ID tokens are signed with (the provider's JWKS). */
  jwks: { keys: JWK[] };
  /** Answers a request whose path starts with `/oidc`. */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** Reads an `application/x-www-form-urlencoded` body, refusing one larger than a sign-in form. */
function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

const minutes = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));

/**
 * The local runtime's OpenID provider, standing in for Cognito so the web app and the API run
 * the same code as in AWS: oidc-provider (certified OpenID Connect) with one public client,
 * `lifeboat-web`, authorization code with PKCE S256 only, ID tokens signed RS256 with a key kept
 * in the data folder and carrying Cognito's claim names. Its sign-in page takes a password (the
 * corporate IdP's stand-in) or a one-time code texted to the user's personal phone (break-glass).
 */
export function createLocalOidc(options: LocalOidcOptions): LocalOidc {
  const issuer = `${options.origin}${OIDC_PATH}`;
  const headers = appSecurityHeaders();
  const passwordFailures = createWindowCounter(MAX_PASSWORD_FAILURES, PASSWORD_WINDOW_MS, options.clock);
  const codeFailures = createWindowCounter(MAX_PASSWORD_FAILURES, PASSWORD_WINDOW_MS, options.clock);
  // Sign-ins whose password was right and whose authenticator code is awaited, by interaction:
  // the code page proves nothing by itself, so the password's success is kept here, not in the form.
  const awaitingCode = new Map<string, { id: string; until: number }>();
  const org = options.organisation;
  const html = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, {
      ...headers,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(body);
  };

  // A session from a sign-in without the authenticator code (made before the user enrolled one)
  // asks for a new sign-in once they have one: otherwise it would keep issuing tokens without the
  // second factor, and an admin told to enrol and sign in again would be refused again.
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.push(
    new interactionPolicy.Check(
      'second_factor',
      'the sign-in needs the authenticator code now that the user has one',
      async (ctx) => {
        const session = ctx.oidc.session;
        // A sign-in just made (a texted code, say) stands: it is asked again next time, not now.
        if (!session?.accountId || ctx.oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const amr = (session as unknown as { amr?: string[] }).amr ?? [];
        if (amr.includes('otp') && amr.includes('pwd')) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        return (await options.totp.enrolled(session.accountId))
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: WEB_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${options.origin}/mail/`, `${options.origin}/console/`],
        post_logout_redirect_uris: [`${options.origin}/mail/`, `${options.origin}/console/`],
        id_token_signed_response_alg: ID_TOKEN_ALG,
      },
    ],
    jwks: { keys: [options.keys.signing as never] },
    cookies: { keys: options.keys.cookies },
    responseTypes: ['code'],
    scopes: ['openid', 'profile', 'email', 'phone', 'offline_access'],
    claims: CLAIMS,
    // The ID token carries the scopes' claims, as Cognito's does: the API reads them from it.
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: [ID_TOKEN_ALG] },
    // Public client: PKCE (S256, the only method this version supports) on every request.
    pkce: { required: () => true },
    // Cognito issues a refresh token with every code; so does this provider, so the app renews the same way.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: ID_TOKEN_TTL_S,
      AuthorizationCode: 60,
      IdToken: ID_TOKEN_TTL_S,
      RefreshToken: REFRESH_TOKEN_TTL_S,
      Grant: REFRESH_TOKEN_TTL_S,
      Interaction: INTERACTION_TTL_S,
      Session: REFRESH_TOKEN_TTL_S,
    },
    // The web app is on this origin; a browser still sends Origin with its token request (a POST),
    // and oidc-provider refuses any origin this does not allow. No other origin is allowed.
    clientBasedCORS: (_ctx, origin) => origin === options.origin,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.set(headers);
          ctx.type = 'html';
          ctx.body = logoutPage(org, form);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.set(headers);
          ctx.type = 'html';
          ctx.body = loggedOutPage(org);
        },
      },
    },
    interactions: { policy, url: (_ctx, interaction) => `${OIDC_PATH}/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const user = options.directory().byId(id);
      if (!user) return undefined;
      return { accountId: user.id, claims: async () => ({ ...claimsOf(user), sub: user.id }) };
    },
    // The web app is the organisation's own: no consent screen, as with Cognito's app clients.
    async loadExistingGrant(ctx) {
      const oidc = ctx.oidc;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(oidc.client?.clientId ?? '');
      if (grantId) {
        const found = await oidc.provider.Grant.find(grantId);
        if (found) return found;
      }
      if (!oidc.session?.accountId || !oidc.client) return undefined;
      const grant = new oidc.provider.Grant({
        clientId: oidc.client.clientId,
        accountId: oidc.session.accountId,
      });
      grant.addOIDCScope(String(oidc.params?.scope ?? 'openid'));
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.set(headers);
      ctx.type = 'html';
      ctx.body = errorPage(org, String(out.error_description ?? out.error ?? 'sign-in failed'));
    },
  });
  // Behind the runtime's own server: the request already arrived where it was meant to.
  provider.proxy = false;
  provider.on('server_error', (_ctx, err) =>
    options.log.error('sign-in provider error', { error: err.message }),
  );

  const userFor = (name: string): DirectoryUser | undefined => {
    const d = options.directory();
    return d.byId(name) ?? d.byAddress(name);
  };

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, step: string) {
    let details: Awaited<ReturnType<typeof provider.interactionDetails>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      if (err instanceof errors.SessionNotFound) {
        html(
          res,
          400,
          errorPage(org, 'This sign-in page has expired. Go back to the webmail and sign in again.'),
        );
        return;
      }
      throw err;
    }
    if (details.uid !== uid) {
      html(
        res,
        400,
        errorPage(
          org,
          'This sign-in page is not the one in progress. Go back to the webmail and sign in again.',
        ),
      );
      return;
    }
    const action = `${OIDC_PATH}/interaction/${uid}`;
    const method = req.method ?? 'GET';
    if (step === '' && method === 'GET') {
      if (details.prompt.name === 'consent') {
        // Not reached with loadExistingGrant above; finish it the same way should it ever be.
        const grant = new provider.Grant({
          clientId: String(details.params.client_id),
          accountId: String(details.session?.accountId),
        });
        grant.addOIDCScope(String(details.params.scope ?? 'openid'));
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
        return;
      }
      html(
        res,
        200,
        loginPage({ organisation: org, action, username: String(details.params.login_hint ?? '') }),
      );
      return;
    }
    if (method !== 'POST') {
      res.writeHead(405, { ...headers, allow: 'POST' }).end();
      return;
    }
    const form = await readForm(req);
    if (!form) {
      html(res, 413, errorPage(org, 'The form was too large.'));
      return;
    }
    const username = (form.get('username') ?? '').trim().toLowerCase().slice(0, 254);
    const user = username ? userFor(username) : undefined;

    if (step === 'password') {
      const password = form.get('password') ?? '';
      const key = user?.id ?? username;
      if (passwordFailures.blocked(key)) {
        html(
          res,
          429,
          loginPage({
            organisation: org,
            action,
            username,
            error: `Too many wrong passwords. Try again in ${minutes(passwordFailures.retryAfterMs(key))} minutes, or text yourself a code.`,
          }),
        );
        return;
      }
      const ok =
        username !== '' && (await options.credentials.verify(user?.id ?? username, password)) && user;
      if (!ok) {
        passwordFailures.add(key);
        options.log.warn('sign-in refused: wrong username or password');
        html(
          res,
          401,
          loginPage({ organisation: org, action, username, error: 'Wrong username or password.' }),
        );
        return;
      }
      passwordFailures.clear(key);
      if (await options.totp.enrolled(ok.id)) {
        awaitingCode.set(uid, { id: ok.id, until: options.clock.now().getTime() + SECOND_FACTOR_TTL_MS });
        html(res, 200, totpPage({ organisation: org, action, username: ok.id }));
        return;
      }
      options.log.info('signed in with a password', { user: ok.id });
      await provider.interactionFinished(req, res, {
        login: { accountId: ok.id, amr: ['pwd'], remember: false },
      });
      return;
    }

    if (step === 'totp') {
      const pending = awaitingCode.get(uid);
      if (!pending || pending.until < options.clock.now().getTime() || !user || pending.id !== user.id) {
        awaitingCode.delete(uid);
        html(
          res,
          401,
          loginPage({ organisation: org, action, username, error: 'Sign in with your password first.' }),
        );
        return;
      }
      if (codeFailures.blocked(user.id)) {
        awaitingCode.delete(uid);
        html(
          res,
          429,
          loginPage({
            organisation: org,
            action,
            username,
            error: `Too many wrong codes. Try again in ${minutes(codeFailures.retryAfterMs(user.id))} minutes.`,
          }),
        );
        return;
      }
      const outcome = await options.totp.verify(user.id, (form.get('code') ?? '').slice(0, 16));
      if (outcome === 'ok') {
        awaitingCode.delete(uid);
        codeFailures.clear(user.id);
        options.log.info('signed in with a password and an authenticator code', { user: user.id });
        await provider.interactionFinished(req, res, {
          login: { accountId: user.id, amr: ['pwd', 'otp'], remember: false },
        });
        return;
      }
      codeFailures.add(user.id);
      options.log.warn('sign-in refused: wrong authenticator code', { outcome });
      html(
        res,
        401,
        totpPage({
          organisation: org,
          action,
          username: user.id,
          error:
            outcome === 'replayed'
              ? 'That code was used already. Wait for the next one in your authenticator app.'
              : 'That code is not right. Check the time on your phone, and type the code your authenticator app shows now.',
        }),
      );
      return;
    }

    if (step === 'code/send') {
      if (!username) {
        html(
          res,
          400,
          loginPage({ organisation: org, action, error: 'Type your username first, then ask for a code.' }),
        );
        return;
      }
      const outcome = user
        ? await options.breakGlass.send(user.id, user.phone)
        : { sent: false as const, reason: 'no-phone' as const };
      if (!outcome.sent && outcome.reason !== 'no-phone') {
        const error =
          outcome.reason === 'too-soon'
            ? 'A code was texted less than a minute ago. Wait for it, or ask again in a minute.'
            : 'Too many codes were texted in the last hour. Try again later.';
        html(res, 429, codePage({ organisation: org, action, username, error }));
        return;
      }
      // The same answer whether or not the user exists or has a phone: the page tells nobody which.
      html(
        res,
        200,
        codePage({
          organisation: org,
          action,
          username,
          notice: `If ${username} has a personal mobile number on file, a 6-digit code is on its way by text. It works for ${CODE_TTL_MS / 60_000} minutes.`,
        }),
      );
      return;
    }

    if (step === 'code') {
      const code = (form.get('code') ?? '').slice(0, 16);
      const outcome = user ? options.breakGlass.verify(user.id, code) : 'none';
      if (outcome === 'ok' && user) {
        options.log.info('signed in with a texted code', { user: user.id });
        await provider.interactionFinished(req, res, {
          login: { accountId: user.id, amr: ['sms', 'otp'], remember: false },
        });
        return;
      }
      const error = {
        wrong: 'That code is not right. Check the text and try again.',
        expired: 'That code has expired. Ask for a new one.',
        locked: 'Too many wrong codes: that code no longer works. Ask for a new one.',
        none: 'No code is waiting for this user. Ask for one.',
        ok: '',
      }[outcome];
      options.log.warn('sign-in refused: wrong one-time code', { outcome });
      html(res, outcome === 'locked' ? 429 : 401, codePage({ organisation: org, action, username, error }));
      return;
    }
    res.writeHead(404, headers).end();
  }

  const callback = provider.callback();
  return {
    issuer,
    jwks: { keys: [publicJwk(options.keys.signing)] },
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://local');
      const step =
        /^\/oidc\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(password|totp|code|code\/send))?\/?$/.exec(
          url.pathname,
        );
      if (step) {
        interaction(req, res, step[1] as string, step[2] ?? '').catch((err: Error) => {
          options.log.error('sign-in page failed', { error: err.message });
          if (!res.headersSent)
            html(res, 500, errorPage(org, 'Something went wrong. Go back to the webmail and try again.'));
          else res.end();
        });
        return;
      }
      // oidc-provider routes below its mount point, and finds the mount point again (for the URLs
      // it makes) by comparing the URL it was given with the original one, as under Express.
      const withOriginal = req as IncomingMessage & { originalUrl?: string };
      withOriginal.originalUrl = req.url ?? '/';
      req.url = withOriginal.originalUrl.slice(OIDC_PATH.length) || '/';
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      callback(req, res);
    },
  };
}
