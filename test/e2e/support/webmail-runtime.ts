import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type { Page } from 'playwright-core';
import { createCredentialStore } from '../../../infra/local/oidc-credentials.js';
import { createTotpStore, totpCode, totpStep } from '../../../infra/local/oidc-totp.js';
import type { ConfigInput } from '../../../lambdas/core/config.js';
import { freePort, LifeboatProcess, writeConfigFile } from '../../support/lifeboat-process.js';
import { TestPrimary } from '../../support/primary.js';

/** The domain the staff's mail is for. */
export const STAFF_DOMAIN = 'example.com';

/** The staff of the browser tests and the web bench: Alice owns an alias, each has a personal phone. */
export const STAFF = [
  {
    id: 'alice',
    name: 'Alice Smith',
    addresses: [`alice@${STAFF_DOMAIN}`, `sales@${STAFF_DOMAIN}`],
    phone: '+447700900001',
  },
  { id: 'bob', name: 'Bob Jones', addresses: [`bob@${STAFF_DOMAIN}`], phone: '+447700900002' },
  { id: 'carol', name: 'Carol White', addresses: [`carol@${STAFF_DOMAIN}`], phone: '+447700900003' },
];

/** Every staff member's password on the built-in provider (the corporate IdP's stand-in). */
export const STAFF_PASSWORD = 'correct horse battery';

/** Polls `check` every 200 ms until it holds. */
export async function until(
  what: string,
  withinMs: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > withinMs) throw new Error(`${what} within ${withinMs} ms`);
    await delay(200);
  }
}

/**
 * `npm start` in a child process with a staff directory and their passwords, its primary a test
 * SMTP server the caller can take down, everything (sign-in, API, web app) on one origin. The
 * overrides replace whole top-level settings of the config, except `local`, whose settings are
 * added to the runtime's own data folder and ports.
 */
export async function startWebmailRuntime(
  overrides: Partial<ConfigInput> | ((primary: TestPrimary) => Partial<ConfigInput>) = {},
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-webmail-'));
  const primary = await TestPrimary.start();
  const smtpPort = await freePort();
  const apiPort = await freePort();
  const origin = `http://127.0.0.1:${apiPort}`;
  const dataDir = path.join(dir, 'data');
  // A function sees the primary, for a config whose routes name its port.
  const given = typeof overrides === 'function' ? overrides(primary) : overrides;
  const configFile = await writeConfigFile(dir, {
    domains: [STAFF_DOMAIN],
    routes: [
      { name: 'primary', domains: [STAFF_DOMAIN], hosts: [{ host: '127.0.0.1', port: primary.port }] },
    ],
    webmail: { users: STAFF },
    continuity: { autoInvokeAfterMinutes: null, staff: { phones: [STAFF[0]?.phone as string] } },
    ...given,
    // The folder and ports are the runtime's own; the rest of `local` (a relay) may be given.
    local: { ...given.local, dataDir, smtpPort, apiPort },
  });
  // The data folder is private to the user, as the runtime makes it.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const credentials = createCredentialStore(dataDir);
  for (const u of STAFF) await credentials.set(u.id, STAFF_PASSWORD);
  // Admins sign in with a password and an authenticator code (adminMfa): each gets a secret here.
  const totp = createTotpStore(dataDir, { now: () => new Date() });
  for (const u of (given.webmail?.users ?? STAFF) as Array<{ id: string; groups?: string[] }>) {
    if (!(u.groups ?? []).includes(given.adminGroup ?? 'lifeboat-admins')) continue;
    const { secret } = await totp.enrol(u.id);
    AUTHENTICATORS.set(u.id, { secret, lastStep: -1 });
  }
  let lifeboat: LifeboatProcess;
  try {
    lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
  } catch (err) {
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const adminToken = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();

  /** The admin API with the local admin token, as the CLI calls it. */
  async function admin<T>(method: string, p: string, body?: unknown): Promise<T> {
    const res = await fetch(`${origin}${p}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'x-lifeboat-actor': 'oncall@example.com' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** Sends one message to the runtime's SMTP port, as a sender's MTA would. */
  async function send(mail: SendMailOptions): Promise<void> {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    try {
      const info = await transport.sendMail({ date: new Date(), ...mail });
      if (!/^250 /.test(info.response)) throw new Error(`not accepted: ${info.response}`);
    } finally {
      transport.close();
    }
  }

  return {
    dir,
    dataDir,
    origin,
    smtpPort,
    primary,
    lifeboat,
    adminToken,
    admin,
    send,
    async stop() {
      await lifeboat.stop();
      await primary.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type WebmailRuntime = Awaited<ReturnType<typeof startWebmailRuntime>>;

/** The authenticator secrets of this process's runtime's admins, with the last time step used. */
const AUTHENTICATORS = new Map<string, { secret: string; lastStep: number }>();

/**
 * The code an admin's authenticator app shows: of the current time step, or the next one when the
 * current one's was used (the provider takes each code once); past that, it waits for the next step.
 */
async function authenticatorCode(user: string): Promise<string | undefined> {
  const a = AUTHENTICATORS.get(user);
  if (!a) return undefined;
  for (;;) {
    const now = totpStep(new Date());
    const step = Math.max(a.lastStep + 1, now);
    if (step <= now + 1) {
      a.lastStep = step;
      return totpCode(a.secret, step);
    }
    await delay(1000);
  }
}

/**
 * Signs in on the built-in provider's page with the password, and for an admin the code of their
 * authenticator app, which the page asks for next.
 */
export async function signInWithPassword(page: Page, user: string, password = STAFF_PASSWORD): Promise<void> {
  await page.getByLabel('Username or email address').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const code = await authenticatorCode(user);
  if (code === undefined) return;
  await page.getByLabel('Authenticator code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
