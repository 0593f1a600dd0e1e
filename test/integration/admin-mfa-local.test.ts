import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCode, totpStep } from '../../infra/local/oidc-totp.js';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import { runLifeboat } from '../support/cli.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { claimsOf, OidcClient } from '../support/oidc-client.js';
import { makeDataDir } from '../support/runtime.js';

const PASSWORD = 'a long enough secret';

/**
 * Admins on the built-in sign-in: a password alone does not open the admin API; a password and an
 * authenticator code (enrolled with `lifeboat users totp`) does, once per code.
 */
describe('admin sign-in with an authenticator on the local runtime', () => {
  let dir: string;
  let rt: Runtime;
  let configFile: string;

  const lifeboat = (...args: string[]) => runLifeboat(args, { configFile, cwd: dir, stdin: `${PASSWORD}\n` });

  const status = (token: string) =>
    fetch(`${rt.origin}/admin/status`, { headers: { authorization: `Bearer ${token}` } });

  /** Enrols an authenticator for the user; resolves with its secret, read from the command's output. */
  async function enrol(id: string): Promise<string> {
    const run = await lifeboat('users', 'totp', id);
    expect(run.code).toBe(0);
    expect(run.out).toContain(`otpauth://totp/Lifeboat%20MFA%20tests%3A${id}?secret=`);
    return /secret ([A-Z2-7]+)/.exec(run.out)?.[1] as string;
  }

  beforeEach(async () => {
    dir = await makeDataDir();
    const apiPort = await freePort();
    const input: ConfigInput = {
      organisation: 'MFA tests',
      domains: ['example.com'],
      routes: [
        { name: 'primary', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 25 }], tls: 'none' },
      ],
      webmail: {
        users: [
          {
            id: 'alice',
            name: 'Alice',
            addresses: ['alice@example.com'],
            groups: ['lifeboat-admins'],
            phone: '+447700900101',
          },
          { id: 'bob', name: 'Bob', addresses: ['bob@example.com'] },
        ],
      },
      local: { dataDir: path.join(dir, 'data'), apiPort, smtpPort: await freePort() },
    };
    configFile = await writeConfigFile(dir, input);
    rt = await startRuntime({
      config: parseConfig(input, 'test config'),
      ports: { smtp: 0, api: apiPort },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      deliverOnIngest: false,
      directoryCheckMs: 0,
    });
    for (const id of ['alice', 'bob'])
      expect((await lifeboat('users', 'passwd', id, '--password-stdin')).code).toBe(0);
  });

  afterEach(async () => {
    await rt.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an admin signed in with a password only, saying how to enrol an authenticator', async () => {
    const tokens = await new OidcClient(rt.origin as string).signInWithPassword('alice', PASSWORD);
    expect(claimsOf(tokens.id_token).amr).toEqual(['pwd']);
    const res = await status(tokens.id_token);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('MFA_REQUIRED');
    expect(body.message).toContain('lifeboat users totp alice');
  });

  it('admits the admin with a password and the authenticator code, which then works no second time', async () => {
    const secret = await enrol('alice');
    const code = totpCode(secret, totpStep(rt.ctx.clock.now()));
    const tokens = await new OidcClient(rt.origin as string).signInWithTotp('alice', PASSWORD, code);
    expect(claimsOf(tokens.id_token).amr).toEqual(['pwd', 'otp']);
    expect((await status(tokens.id_token)).status).toBe(200);
    await expect(new OidcClient(rt.origin as string).signInWithTotp('alice', PASSWORD, code)).rejects.toThrow(
      /authenticator code answered 401: [\s\S]*That code was used already/,
    );
    const audit = await rt.ctx.continuity.listAudit(20);
    expect(audit.map((a) => a.action)).toContain('totp-enrol');
  });

  it('asks an admin refused for a password-only sign-in for the code once they enrol, though their session is still open', async () => {
    const client = new OidcClient(rt.origin as string);
    const first = await client.signInWithPassword('alice', PASSWORD);
    expect((await status(first.id_token)).status).toBe(403);
    const secret = await enrol('alice');
    // The same browser signs in again: its session had no second factor, so the page asks again.
    const code = totpCode(secret, totpStep(rt.ctx.clock.now()));
    const again = await client.signInWithTotp('alice', PASSWORD, code);
    expect(claimsOf(again.id_token).amr).toEqual(['pwd', 'otp']);
    expect((await status(again.id_token)).status).toBe(200);
  });

  it('signs an enrolled admin in with a texted code for the webmail, which the admin API takes as one factor', async () => {
    await enrol('alice');
    const client = new OidcClient(rt.origin as string);
    const page = await client.start();
    expect((await client.post(`${page}/code/send`, { username: 'alice' })).status).toBe(200);
    const [texted] = await rt.ctx.continuity.listNotifications(1);
    const code = /^(\d{6}) /.exec(texted?.text ?? '')?.[1] as string;
    const res = await client.exchange(
      await client.finish(await client.post(`${page}/code`, { username: 'alice', code })),
    );
    const tokens = (await res.json()) as { id_token: string };
    expect(claimsOf(tokens.id_token).amr).toEqual(['sms', 'otp']);
    const refused = await status(tokens.id_token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toContain('sms, otp: one factor');
  });

  it('refuses a wrong authenticator code', async () => {
    const secret = await enrol('alice');
    const right = totpCode(secret, totpStep(rt.ctx.clock.now()));
    const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
    await expect(
      new OidcClient(rt.origin as string).signInWithTotp('alice', PASSWORD, wrong),
    ).rejects.toThrow(/authenticator code answered 401: [\s\S]*That code is not right/);
  });

  it('does not take an authenticator code without the password first', async () => {
    const secret = await enrol('alice');
    const client = new OidcClient(rt.origin as string);
    const page = await client.start();
    const res = await client.post(`${page}/totp`, {
      username: 'alice',
      code: totpCode(secret, totpStep(rt.ctx.clock.now())),
    });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Sign in with your password first.');
  });

  it('refuses a member of staff with both factors: the admin API is for admins', async () => {
    const secret = await enrol('bob');
    const tokens = await new OidcClient(rt.origin as string).signInWithTotp(
      'bob',
      PASSWORD,
      totpCode(secret, totpStep(rt.ctx.clock.now())),
    );
    const res = await status(tokens.id_token);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('FORBIDDEN');
  });

  it('keeps the CLI working with the data folder’s admin token, a machine credential', async () => {
    const run = await lifeboat('status');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^continuity: NORMAL/);
  });
});
