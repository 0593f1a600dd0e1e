import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import { STAFF_NOTICE } from '../../lambdas/core/staff-notices.js';
import type { NotificationRecord, Notifier } from '../../lambdas/ports.js';
import { runLifeboat } from '../support/cli.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, routeTo, TEST_DOMAIN } from '../support/runtime.js';

/** The runtime's SMS transport, refusing one number as SNS refuses an opted-out phone. */
class RecordingNotifier implements Notifier {
  sent: NotificationRecord[] = [];
  async send(n: NotificationRecord) {
    if (n.to.includes('+447700900003')) throw new Error('Phone number is opted out');
    this.sent.push(n);
    return { messageId: `sns-${this.sent.length}` };
  }
}

describe('lifeboat notify and lifeboat settings', () => {
  let dir: string;
  let primary: TestPrimary;
  let runtime: Runtime;
  let configFile: string;
  let notifier: RecordingNotifier;

  const lifeboat = (...args: string[]) => runLifeboat(args, { configFile, cwd: dir });

  beforeEach(async () => {
    dir = await makeDataDir();
    primary = await TestPrimary.start();
    notifier = new RecordingNotifier();
    const apiPort = await freePort();
    const input: ConfigInput = {
      organisation: 'CLI tests',
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
      local: { dataDir: path.join(dir, 'data'), apiPort, smtpPort: await freePort() },
      webmail: {
        users: [
          {
            id: 'bob',
            name: 'Bob',
            addresses: [`bob@${TEST_DOMAIN}`],
            groups: ['sales'],
            phone: '+447700900002',
          },
          {
            id: 'cat',
            name: 'Cat',
            addresses: [`cat@${TEST_DOMAIN}`],
            groups: ['sales'],
            phone: '+447700900003',
          },
          { id: 'dan', name: 'Dan', addresses: [`dan@${TEST_DOMAIN}`], groups: ['ops'] },
        ],
      },
    };
    configFile = await writeConfigFile(dir, input);
    runtime = await startRuntime({
      config: parseConfig(input, 'test config'),
      ports: { smtp: 0, api: apiPort },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      deliverOnIngest: false,
      notifier,
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('previews a notice with --dry-run and sends nothing', async () => {
    const run = await lifeboat(
      'notify',
      '--template',
      'invoke',
      '--group',
      'sales',
      '--channel',
      'sms',
      '--dry-run',
    );
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /^SMS \(\d+ characters, 2 segments, gsm-7\):\n {2}CLI tests: our email is down\./,
    );
    expect(run.out).toContain('Would reach 2 by SMS and 0 by email (2 people, 0 skipped)');
    expect(run.out).toContain('Nothing was sent (--dry-run).');
    expect(notifier.sent).toEqual([]);
  });

  it('sends a notice, exits 1 when a text was refused, and shows each recipient with notify status', async () => {
    const run = await lifeboat(
      'notify',
      '--text',
      'Drill at 3pm',
      '--group',
      'sales',
      '--channel',
      'sms',
      '--as',
      'ops@example.org',
    );
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^notice (\S+): done, 1 sent, 1 failed, 0 skipped\n/);
    expect(run.out).toContain('failed   sms   cat +4477…003: Phone number is opted out');
    expect(notifier.sent.map((n) => [n.to, n.text, n.notice])).toEqual([
      [['+447700900002'], 'Drill at 3pm', STAFF_NOTICE],
    ]);
    const id = /^notice (\S+):/.exec(run.out)?.[1] as string;
    const status = await lifeboat('notify', 'status', id);
    expect(status.code).toBe(0);
    expect(status.out).toContain(`notice ${id} by ops@example.org`);
    expect(status.out).toContain('sent     sms   bob +4477…002 (sns-1)');
    const list = await lifeboat('notify', 'status');
    expect(list.out).toContain(`${id}`);
    expect(list.out).toContain('own text  done: 1 sent, 1 failed, 0 skipped');
  });

  it('refuses a notice with neither a template nor a text as a misused command', async () => {
    expect((await lifeboat('notify', '--group', 'sales')).code).toBe(2);
  });

  it('sets, shows and resets a threshold, and refuses an invalid value with the schema’s reason', async () => {
    const set = await lifeboat(
      'settings',
      'set',
      'continuity.thresholds.consecutiveFailures',
      '5',
      '--reason',
      'flappy link',
    );
    expect(set).toMatchObject({
      code: 0,
      out: '* continuity.thresholds.consecutiveFailures = 5   (overridden: deployed value is 2)\n',
    });
    const show = await lifeboat('settings', 'show');
    expect(show.out).toContain('* continuity.thresholds.consecutiveFailures = 5');
    expect(show.out).toContain('~ continuity.paging.adminPhones = []');
    const phones = await lifeboat(
      'settings',
      'set',
      'continuity.paging.adminPhones',
      '+447700900111, +447700900222',
    );
    expect(phones.out).toContain('continuity.paging.adminPhones = ["+447700900111","+447700900222"]');
    const bad = await lifeboat('settings', 'set', 'continuity.thresholds.failureRatio', 'lots');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/continuity\.thresholds\.failureRatio/);
    const reset = await lifeboat('settings', 'reset', 'continuity.thresholds.consecutiveFailures');
    expect(reset.out).toBe('~ continuity.thresholds.consecutiveFailures = 2\n');
    const audit = await runtime.ctx.continuity.listAudit(20);
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['settings-override', 'settings-override', 'settings-reset']),
    );
  });

  it('refuses a setting that may not be changed from the CLI', async () => {
    const run = await lifeboat('settings', 'set', 'routes.0.hosts', '[]');
    expect(run.code).toBe(2);
    expect(run.err).toContain('cannot be changed from the console or the CLI');
  });
});
