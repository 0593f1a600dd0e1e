import { rm } from 'node:fs/promises';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import type { HttpEvent } from '../../lambdas/handlers/api.js';
import { runLifeboat } from '../support/cli.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, readFixture, routeTo, sendRaw, TEST_DOMAIN } from '../support/runtime.js';

const ALICE = 'alice@example.com';
const ADMIN = { email: 'ops@example.org', groups: ['lifeboat-admins'], amr: ['pwd', 'otp'] };

/**
 * The console's queue actions on the single-node runtime, against real SMTP: a primary that
 * defers, a second test primary as the alternate route, the admin API and the `lifeboat` command.
 */
describe('queue actions on the local runtime', () => {
  let dir: string;
  let main: TestPrimary;
  let alternate: TestPrimary;
  let runtime: Runtime;
  let configFile: string;

  const lifeboat = (...args: string[]) => runLifeboat(args, { configFile, cwd: dir });

  async function admin(method: string, rawPath: string, body?: unknown) {
    const event: HttpEvent = {
      rawPath,
      requestContext: { http: { method }, authorizer: { jwt: { claims: ADMIN } } },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    const res = await runtime.api(event);
    return { status: res.statusCode, body: JSON.parse(res.body) };
  }

  /** A message to alice that the main primary defers (421 at the greeting). */
  async function deferred(from = 'sender@sender.example'): Promise<string> {
    await main.setMode({ kind: 'tempfail', code: 421, at: 'connect' });
    const { id } = await sendRaw(runtime.smtpPort, {
      from,
      to: [ALICE],
      raw: await readFixture('plain.eml'),
    });
    await runtime.idle();
    const d = await runtime.ctx.store.getDelivery({ messageId: id, recipient: ALICE });
    expect(d?.state).toBe('deferred');
    return id;
  }

  beforeEach(async () => {
    dir = await makeDataDir();
    main = await TestPrimary.start();
    alternate = await TestPrimary.start();
    const apiPort = await freePort();
    const input: ConfigInput = {
      organisation: 'Queue actions',
      domains: [TEST_DOMAIN],
      routes: [
        routeTo('main', [main], { domains: [TEST_DOMAIN] }),
        routeTo('alternate', [alternate], { addresses: ['relay-check@example.com'] }),
      ],
      local: { dataDir: path.join(dir, 'data'), apiPort, smtpPort: await freePort() },
    };
    configFile = await writeConfigFile(dir, input);
    runtime = await startRuntime({
      config: parseConfig(input, 'test config'),
      ports: { smtp: 0, api: apiPort },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await main.stop();
    await alternate.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reroutes a deferred delivery to a second primary, which receives it at once, and audits it', async () => {
    const id = await deferred();

    const res = await admin('POST', `/admin/messages/${id}/recipients/${encodeURIComponent(ALICE)}/reroute`, {
      route: 'alternate',
      reason: 'main primary down for the night',
    });
    await runtime.idle();

    expect(res.status).toBe(200);
    expect(alternate.transactions.map((t) => [t.gatewayId, t.to])).toEqual([[id, [ALICE]]]);
    expect(main.transactions).toEqual([]);
    const d = await runtime.ctx.store.getDelivery({ messageId: id, recipient: ALICE });
    expect(d).toMatchObject({ state: 'delivered', route: 'alternate', reroutedFrom: 'main' });
    const detail = await admin('GET', `/admin/messages/${id}/recipients/${encodeURIComponent(ALICE)}`);
    expect(detail.body.attempts.map((a: { outcome: string; route: string }) => [a.outcome, a.route])).toEqual(
      [
        ['deferred', 'main'],
        ['delivered', 'alternate'],
      ],
    );
    expect(detail.body.attempts[0].response).toMatch(/421/);
    expect((await runtime.ctx.continuity.listAudit(1))[0]).toMatchObject({
      actor: 'ops@example.org',
      action: 'reroute',
      target: `${id}/${ALICE}`,
      reason: 'main primary down for the night',
    });
  });

  it('reroutes from the command line too, and the next sweep sends it to the second primary', async () => {
    const id = await deferred();

    const run = await lifeboat(
      'reroute',
      `${id}/${ALICE}`,
      '--route',
      'alternate',
      '--as',
      'ops@example.org',
    );
    await runtime.sweep({});
    await runtime.idle();

    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain(`${id}/${ALICE}: deferred (route alternate)`);
    expect(alternate.transactions.map((t) => t.gatewayId)).toEqual([id]);
    const unknown = await lifeboat('reroute', id, '--route', 'backup');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/one of the configured routes: main, alternate/);
  });

  it('bounces a deferred delivery: the sender on an accepted domain gets a DSN through its route', async () => {
    const id = await deferred('boss@example.com');
    await main.setMode({ kind: 'accept' });

    const run = await lifeboat('bounce', id, '--reason', 'recipient has left', '--as', 'ops@example.org');

    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain(`${id}/${ALICE}: failed`);
    const [dsn] = main.transactions;
    expect(dsn?.from).toBe('');
    expect(dsn?.to).toEqual(['boss@example.com']);
    const parsed = await simpleParser(dsn?.raw as Buffer);
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/report' });
    expect(parsed.text).toContain(`Final-Recipient: rfc822; ${ALICE}`);
    expect(parsed.text).toMatch(/Diagnostic-Code: smtp; 421/);
  });

  it('holds, releases and deletes from the command line, and lists the audit log as CSV', async () => {
    const id = await deferred();

    expect((await lifeboat('hold', id, '--reason', 'legal review')).out).toContain('held');
    expect((await lifeboat('release', `${id}/${ALICE}`)).out).toContain('queued');
    const refused = await lifeboat('release', id);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/release takes held deliveries/);
    expect((await lifeboat('delete', id, '--reason', 'duplicate')).out).toContain('deleted');
    expect(await runtime.ctx.store.getDelivery({ messageId: id, recipient: ALICE })).toBeUndefined();

    const csv = await lifeboat('audit', '--csv', '--target', id);
    expect(csv.code).toBe(0);
    const rows = csv.out.trim().split('\r\n');
    expect(rows[0]).toBe('at,actor,action,target,reason,detail,eventId');
    expect(rows.slice(1).map((r) => r.split(',')[2])).toEqual(['delete', 'release', 'hold']);
    const held = await lifeboat('audit', '--action', 'hold');
    expect(held.out).toContain('(reason: legal review)');
  });
});
