import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { poolStaffTarget } from '../../infra/local/cli-users.js';
import {
  createBreakGlass,
  MAX_CODE_ATTEMPTS,
  MAX_CODES_PER_HOUR,
} from '../../infra/local/oidc-break-glass.js';
import { createCredentialStore, credentialsFile } from '../../infra/local/oidc-credentials.js';
import { createWebServer, localAppConfig } from '../../infra/local/web-server.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { continuityStatus } from '../../lambdas/handlers/webmail-routes.js';
import type { NotificationRecord, StaffProvisioner } from '../../lambdas/ports.js';
import { ManualClock } from '../support/memory-store.js';

const PHONE = '+447700900101';

function breakGlass(options: { failSend?: boolean } = {}) {
  const clock = new ManualClock();
  const outbox: NotificationRecord[] = [];
  const sent: NotificationRecord[] = [];
  const bg = createBreakGlass({
    clock,
    log: silentLogger,
    organisation: 'Northwind',
    continuity: {
      async putNotification(n) {
        const i = outbox.findIndex((o) => o.id === n.id);
        if (i >= 0) outbox[i] = n;
        else outbox.push(n);
      },
    },
    notifier: {
      async send(n) {
        if (options.failSend) throw new Error('SMS sandbox: number not verified');
        sent.push(n);
      },
    },
  });
  const codeOf = (n: NotificationRecord | undefined) => /\b(\d{6})\b/.exec(n?.text ?? '')?.[1] as string;
  return { clock, outbox, sent, bg, codeOf };
}

describe('createBreakGlass', () => {
  it('texts a 6-digit code to the personal phone, kept in the outbox as an SMS, never an email', async () => {
    const { bg, outbox, sent, codeOf } = breakGlass();
    expect(await bg.send('alice', PHONE)).toEqual({ sent: true });
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({
      channel: 'sms',
      audience: 'staff',
      to: [PHONE],
      notice: 'sign-in-code',
    });
    expect(sent).toEqual(outbox);
    expect(codeOf(outbox[0])).toMatch(/^\d{6}$/);
  });

  it('accepts the code once', async () => {
    const { bg, outbox, codeOf } = breakGlass();
    await bg.send('alice', PHONE);
    const code = codeOf(outbox[0]);
    expect(bg.verify('alice', code)).toBe('ok');
    expect(bg.verify('alice', code)).toBe('none');
  });

  it('refuses the code after five minutes', async () => {
    const { bg, outbox, clock, codeOf } = breakGlass();
    await bg.send('alice', PHONE);
    clock.advance(5 * 60 + 1);
    expect(bg.verify('alice', codeOf(outbox[0]))).toBe('expired');
  });

  it('voids the code after five wrong entries, even for the right one after', async () => {
    const { bg, outbox, codeOf } = breakGlass();
    await bg.send('alice', PHONE);
    const code = codeOf(outbox[0]);
    const wrong = code === '123456' ? '654321' : '123456';
    const outcomes = Array.from({ length: MAX_CODE_ATTEMPTS }, () => bg.verify('alice', wrong));
    expect(outcomes.at(-1)).toBe('locked');
    expect(outcomes.slice(0, -1).every((o) => o === 'wrong')).toBe(true);
    expect(bg.verify('alice', code)).not.toBe('ok');
  });

  it('texts at most one code a minute and five an hour', async () => {
    const { bg, outbox, clock } = breakGlass();
    await bg.send('alice', PHONE);
    expect(await bg.send('alice', PHONE)).toEqual({ sent: false, reason: 'too-soon' });
    for (let i = 1; i < MAX_CODES_PER_HOUR; i++) {
      clock.advance(61);
      expect(await bg.send('alice', PHONE)).toEqual({ sent: true });
    }
    clock.advance(61);
    expect(await bg.send('alice', PHONE)).toEqual({ sent: false, reason: 'too-many' });
    expect(outbox).toHaveLength(MAX_CODES_PER_HOUR);
    clock.advance(60 * 60);
    expect(await bg.send('alice', PHONE)).toEqual({ sent: true });
  });

  it('sends nothing for a user without a personal phone', async () => {
    const { bg, outbox } = breakGlass();
    expect(await bg.send('carol', undefined)).toEqual({ sent: false, reason: 'no-phone' });
    expect(outbox).toEqual([]);
  });

  it('keeps the notifier’s refusal on the outbox record', async () => {
    const { bg, outbox } = breakGlass({ failSend: true });
    await expect(bg.send('alice', PHONE)).rejects.toThrow('SMS sandbox');
    expect(outbox[0]?.error).toBe('SMS sandbox: number not verified');
  });
});

describe('createCredentialStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-cred-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('checks a password against its scrypt hash, in a file only the user can read', async () => {
    const store = createCredentialStore(dir);
    await store.set('Alice', 'correct horse battery');
    expect(await store.verify('alice', 'correct horse battery')).toBe(true);
    expect(await store.verify('alice', 'correct horse batterz')).toBe(false);
    expect(await store.verify('bob', 'correct horse battery')).toBe(false);
    const text = await readFile(credentialsFile(dir), 'utf8');
    expect(text).not.toContain('correct horse');
    expect(text).toMatch(/"alice": "scrypt\$32768\$8\$1\$/);
    expect((await stat(credentialsFile(dir))).mode & 0o777).toBe(0o600);
  });

  it('refuses a password shorter than eight characters', async () => {
    await expect(createCredentialStore(dir).set('alice', 'short')).rejects.toThrow('at least 8 characters');
  });
});

describe('createWebServer', () => {
  it('answers 503 with how to build the app while dist/web has no build', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-web-'));
    const serve = createWebServer({ distDir: dir, appConfig: () => localAppConfig('http://127.0.0.1:1') });
    const server = http.createServer((req, res) => {
      void serve(req, res).then((served) => {
        if (!served) res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mail/`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await res.text()).toContain('Run <code>npm install</code>');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('continuity.staff.webmailUrl', () => {
  const base = {
    organisation: 'T',
    domains: ['example.com'],
    routes: [{ name: 'p', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 25 }] }],
  };

  it('defaults to the local runtime’s webmail on its listen address and port', () => {
    expect(parseConfig(base, 't').continuity.staff.webmailUrl).toBe('http://127.0.0.1:8787/mail/');
    const wide = parseConfig({ ...base, local: { listen: '0.0.0.0', apiPort: 9000 } }, 't');
    expect(wide.continuity.staff.webmailUrl).toBe('http://127.0.0.1:9000/mail/');
  });

  it('keeps the configured address', () => {
    const config = parseConfig(
      { ...base, continuity: { staff: { webmailUrl: 'https://mail.example.com/mail/' } } },
      't',
    );
    expect(config.continuity.staff.webmailUrl).toBe('https://mail.example.com/mail/');
  });
});

describe('continuityStatus', () => {
  const config = parseConfig(
    {
      organisation: 'T',
      domains: ['example.com', 'example.org'],
      routes: [
        { name: 'exchange', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 25 }] },
        { name: 'google', domains: ['example.org'], hosts: [{ host: '127.0.0.1', port: 26 }] },
      ],
    },
    't',
  );
  const user = { id: 'alice', name: 'Alice', addresses: ['alice@example.com'], groups: [] };
  const during = (scope: string) => ({
    async getOrg() {
      return { state: 'continuity', eventId: 'e1', since: '2026-11-22T09:00:00.000Z' } as never;
    },
    async getEvent() {
      return { id: 'e1', scope } as never;
    },
  });

  it('says the event covers me when it holds my route or every route', async () => {
    for (const scope of ['exchange', '*']) {
      expect(await continuityStatus({ config, continuity: during(scope) }, user)).toEqual({
        state: 'continuity',
        since: '2026-11-22T09:00:00.000Z',
        scopeCoversMe: true,
      });
    }
  });

  it('says it does not when the event holds another route only', async () => {
    const status = await continuityStatus({ config, continuity: during('google') }, user);
    expect(status.scopeCoversMe).toBe(false);
  });
});

describe('poolStaffTarget', () => {
  function fakePool() {
    const upserts: string[] = [];
    const provisioner: StaffProvisioner = {
      async list() {
        return [];
      },
      async upsert(user) {
        upserts.push(user.id);
        return 'created';
      },
    };
    return { upserts, target: poolStaffTarget(provisioner, ['example.com']) };
  }

  it('creates nothing in the user pool when one row of the file is wrong, naming its line', async () => {
    const { upserts, target } = fakePool();
    const csv = 'id,name,addresses\nerin,Erin,erin@example.com\nfrank,Frank,frank@other.example\n';
    await expect(target.import('csv', csv)).rejects.toThrow('line 3.addresses.0');
    expect(upserts).toEqual([]);
  });

  it('creates each user of a good file', async () => {
    const { upserts, target } = fakePool();
    const csv =
      'id,name,addresses,phone\nerin,Erin,erin@example.com,+447700900105\ngus,Gus,gus@example.com,\n';
    expect(await target.import('csv', csv)).toEqual({ created: 2, updated: 0 });
    expect(upserts).toEqual(['erin', 'gus']);
  });

  it('says the SDK’s refusal in one line', async () => {
    const target = poolStaffTarget({
      list: async () => {
        throw Object.assign(new Error('User pool eu-west-1_x does not exist.'), {
          name: 'ResourceNotFoundException',
        });
      },
      upsert: async () => 'created',
    });
    await expect(target.list()).rejects.toThrow(
      'user pool: ResourceNotFoundException: User pool eu-west-1_x does not exist.',
    );
  });
});
