import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import { runLifeboat } from '../support/cli.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { OidcClient } from '../support/oidc-client.js';
import { makeDataDir } from '../support/runtime.js';

describe('lifeboat users', () => {
  let dir: string;
  let rt: Runtime;
  let configFile: string;

  /** Runs `lifeboat <args>` as `npx lifeboat` would, with `stdin` as standard input. */
  const lifeboat = (args: string[], stdin = '') => runLifeboat(args, { configFile, cwd: dir, stdin });

  const me = async (token: string) =>
    fetch(`${rt.origin}/mail/api/me`, { headers: { authorization: `Bearer ${token}` } });

  beforeEach(async () => {
    dir = await makeDataDir();
    const apiPort = await freePort();
    const input: ConfigInput = {
      organisation: 'Users tests',
      domains: ['example.com'],
      routes: [
        { name: 'primary', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 25 }], tls: 'none' },
      ],
      webmail: {
        users: [
          { id: 'alice', name: 'Alice Smith', addresses: ['alice@example.com'], phone: '+447700900101' },
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
      indexBatchMs: 0,
      directoryCheckMs: 0,
    });
  });

  afterEach(async () => {
    await rt.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the staff with their addresses, phone and status', async () => {
    const run = await lifeboat(['users']);
    expect(run.code).toBe(0);
    expect(run.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+PHONE\s+ADDRESSES$/);
    expect(run.out).toMatch(/alice\s+Alice Smith\s+enrolled\s+\+447700900101\s+alice@example.com/);
  });

  it('adds a user with a password who can then sign in and read their mailbox, without a restart', async () => {
    const run = await lifeboat(
      [
        'users',
        'add',
        'dave',
        '--name',
        'Dave Brown',
        '--address',
        'dave@example.com',
        '--address',
        'support@example.com',
        '--password-stdin',
        '--as',
        'ops@example.org',
      ],
      'a long enough secret\n',
    );
    expect(run).toMatchObject({ code: 0, out: 'dave created, password set\n', err: '' });

    const tokens = await new OidcClient(rt.origin as string).signInWithPassword(
      'dave',
      'a long enough secret',
    );
    const res = await me(tokens.id_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      id: 'dave',
      addresses: ['dave@example.com', 'support@example.com'],
    });
    const audit = await rt.ctx.continuity.listAudit(10);
    expect(audit.map((a) => [a.actor, a.action, a.detail])).toEqual(
      expect.arrayContaining([
        ['ops@example.org', 'staff-add', 'dave created'],
        ['ops@example.org', 'password-set', 'dave'],
      ]),
    );
    expect((await lifeboat(['users'])).out).toMatch(
      /dave\s+Dave Brown\s+federated-only\s+-\s+dave@example.com, support@example.com/,
    );
  });

  it('refuses an address that is already another user’s', async () => {
    const run = await lifeboat([
      'users',
      'add',
      'mallory',
      '--name',
      'Mallory',
      '--address',
      'alice@example.com',
    ]);
    expect(run.code).toBe(1);
    expect(run.err).toContain('alice@example.com is already an address of user');
    expect((await lifeboat(['users'])).out).not.toContain('mallory');
  });

  it('imports nothing from a file with a bad row, naming each row’s line', async () => {
    const file = path.join(dir, 'staff.csv');
    await writeFile(
      file,
      [
        'id,name,addresses,phone',
        'erin,Erin Green,erin@example.com,+447700900105',
        'frank,Frank Black,frank@elsewhere.example,',
        'gina,Gina Grey,not-an-address,',
      ].join('\n'),
    );
    const run = await lifeboat(['users', 'import', 'staff.csv']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('line 3.addresses.0: frank@elsewhere.example is not in an accepted domain');
    expect(run.err).toContain('line 4.addresses.0: must be an email address');
    expect((await lifeboat(['users'])).out).not.toContain('erin');
  });

  it('imports every row of a good file', async () => {
    const file = path.join(dir, 'staff.json');
    await writeFile(
      file,
      JSON.stringify({
        users: [
          { id: 'erin', name: 'Erin Green', addresses: ['erin@example.com'], phone: '+447700900105' },
          {
            id: 'alice',
            name: 'Alice Smith-Jones',
            addresses: ['alice@example.com', 'accounts@example.com'],
          },
        ],
      }),
    );
    const run = await lifeboat(['users', 'import', 'staff.json']);
    expect(run).toMatchObject({ code: 0, out: 'imported 2 users from staff.json: 1 created, 1 updated\n' });
    const list = (await lifeboat(['users'])).out;
    expect(list).toMatch(/erin\s+Erin Green\s+enrolled/);
    expect(list).toContain('Alice Smith-Jones');
    expect(list).toContain('alice@example.com, accounts@example.com');
  });

  it('sets a password with passwd, which the sign-in page then takes', async () => {
    const run = await lifeboat(['users', 'passwd', 'alice', '--password-stdin'], 'new password for alice\n');
    expect(run).toMatchObject({ code: 0, out: 'password of alice set\n' });
    const tokens = await new OidcClient(rt.origin as string).signInWithPassword(
      'alice',
      'new password for alice',
    );
    expect((await me(tokens.id_token)).status).toBe(200);
  });

  it('refuses a password shorter than eight characters and changes nothing', async () => {
    const run = await lifeboat(['users', 'passwd', 'alice', '--password-stdin'], 'short\n');
    expect(run.code).toBe(1);
    expect(run.err).toContain('must be at least 8 characters');
    expect(await rt.webmail.credentials.ids()).not.toContain('alice');
  });

  it('keeps /admin/users for admins: a signed-in member of staff is refused', async () => {
    await lifeboat(['users', 'passwd', 'alice', '--password-stdin'], 'new password for alice\n');
    const tokens = await new OidcClient(rt.origin as string).signInWithPassword(
      'alice',
      'new password for alice',
    );
    const res = await fetch(`${rt.origin}/admin/users`, {
      headers: { authorization: `Bearer ${tokens.id_token}` },
    });
    expect(res.status).toBe(403);
  });

  it('asks for --password-stdin when there is no terminal to prompt on', async () => {
    const run = await lifeboat(['users', 'passwd', 'alice']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('--password-stdin');
  });
});
