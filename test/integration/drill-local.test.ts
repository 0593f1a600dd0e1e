import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../../infra/local/cli-api.js';
import { drillCommand } from '../../infra/local/cli-drill.js';
import type { Drill, DrillReport } from '../../lambdas/console/drill.js';
import type { NotificationRecord } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import { hostOf, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

// An unattended drill end to end on the local runtime: the admin API over HTTP starts it, probe
// rounds run as the runtime's timer runs them (by hand, on a manual clock), a real SMTP server
// stands for the test route's server and another for the production primary.

const ADMIN_PHONE = '+447700900123';
const TEST_PHONE = '+447700900555';
const DRILL_MAILBOX = 'drill@example.com';
const ONCALL = 'oncall@ops.example.org';

async function api<T>(
  rt: TestRuntime,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T; text: string; type: string }> {
  const res = await fetch(`http://127.0.0.1:${rt.apiPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${rt.adminToken}`, 'x-lifeboat-actor': ONCALL },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    body: (type.startsWith('application/json') ? JSON.parse(text) : null) as T,
    text,
    type,
  };
}

describe.sequential('an unattended drill on the local runtime', () => {
  let primary: TestPrimary;
  let testServer: TestPrimary;
  let rt: TestRuntime;
  let drill: Drill;

  beforeAll(async () => {
    primary = await TestPrimary.start();
    testServer = await TestPrimary.start();
    const config = testConfig(primary, {
      routes: [
        {
          name: 'drill',
          addresses: [DRILL_MAILBOX],
          hosts: [hostOf(testServer)],
          test: true,
          connectTimeoutSeconds: 5,
          socketTimeoutSeconds: 10,
        },
        {
          name: 'primary',
          domains: ['example.com'],
          hosts: [hostOf(primary)],
          connectTimeoutSeconds: 5,
          socketTimeoutSeconds: 10,
        },
      ],
      continuity: {
        paging: { adminPhones: [ADMIN_PHONE] },
        handover: { ratePerSecond: 1000, concurrency: 1 },
      },
      drill: { staffPhones: [TEST_PHONE] },
    });
    rt = await startTestRuntime({ config, api: true });
  });

  afterAll(async () => {
    await rt?.stop();
    await primary?.stop();
    await testServer?.stop();
  });

  /** One probe round, `seconds` after the last, as the runtime's probe timer runs it. */
  const round = (seconds: number) => {
    rt.clock.advance(seconds);
    return rt.probe({});
  };

  it('starts from the admin API', async () => {
    const res = await api<Drill>(rt, 'POST', '/admin/drills', {
      route: 'drill',
      auto: true,
      probeMessages: 2,
    });
    expect(res.status).toBe(201);
    drill = res.body;
    expect(drill).toMatchObject({ state: 'running', startedBy: ONCALL, auto: true });
  });

  it('is detected by the probes and runs to the hand-over, while other mail is delivered', async () => {
    expect(await round(15)).toMatchObject({ state: 'normal' });
    await rt.sendAndSettle({ to: ['alice@example.com'], raw: 'Subject: during the drill\r\n\r\nhello\r\n' });
    expect(primary.transactions).toHaveLength(1);
    // Detected, acknowledged, invoked, probe mail sent and held, revoked; the run hands over.
    const detected = await round(15);
    expect(detected).toMatchObject({ handover: { done: true } });
    await round(30);
    const d = (await api<Drill>(rt, 'GET', `/admin/drills/${drill.id}`)).body;
    expect(d.state).toBe('completed');
    expect(d.probes).toMatchObject({ delivered: 2 });
    // The probe messages reached the test route's server only, marked as a drill.
    expect(testServer.transactions.map((t) => t.to)).toEqual([[DRILL_MAILBOX], [DRILL_MAILBOX]]);
    expect(
      testServer.transactions.every((t) => t.raw.toString().includes(`X-Lifeboat-Drill: ${drill.id}`)),
    ).toBe(true);
    expect(primary.transactions).toHaveLength(1);
    const outbox = (await api<{ notifications: NotificationRecord[] }>(rt, 'GET', '/admin/outbox?limit=50'))
      .body.notifications;
    expect(outbox.filter((n) => n.eventId === d.eventId).every((n) => n.text.includes('DRILL'))).toBe(true);
    expect(outbox.find((n) => n.notice === 'staff-invoked')?.to).toEqual([TEST_PHONE]);
    expect((await api<{ state: string }>(rt, 'GET', '/admin/status')).body.state).toBe('normal');
  });

  it('keeps a timed report that passes, readable as JSON, CSV and a page, and from the CLI', async () => {
    const res = await api<DrillReport>(rt, 'GET', `/admin/drills/${drill.id}/report`);
    expect(res.status).toBe(200);
    const report = res.body;
    expect(report).toMatchObject({ passed: true, counts: { fail: 0, missed: 0 } });
    const detected = report.rows.find((r) => r.step === 'detected');
    expect(detected).toMatchObject({ sinceStartSeconds: 30, result: 'pass' });
    expect(report.rows.filter((r) => r.at !== null).map((r) => r.step)).toEqual([
      'started',
      'detected',
      'paged',
      'acknowledged',
      'invoked',
      'staff-notified',
      'probes-sent',
      'probes-visible',
      'revoked',
      'handed-over',
      'all-clear',
    ]);
    const csv = await api(rt, 'GET', `/admin/drills/${drill.id}/report.csv`);
    expect(csv.type).toContain('text/csv');
    expect(csv.text.split('\r\n').filter(Boolean)).toHaveLength(13);
    const html = await api(rt, 'GET', `/admin/drills/${drill.id}/report.html`);
    expect(html.text).toContain('PASSED: every target met');

    let printed = '';
    const call = adminClient({
      host: '127.0.0.1',
      port: rt.apiPort as number,
      dataDir: rt.dataDir,
      actor: ONCALL,
    });
    expect(
      await drillCommand(['report', drill.id], { csv: true }, call, (t) => {
        printed += t;
      }),
    ).toBe(0);
    expect(printed).toBe(csv.text);
    printed = '';
    expect(
      await drillCommand(['status'], {}, call, (t) => {
        printed += t;
      }),
    ).toBe(0);
    expect(printed).toContain(`${drill.id}  completed`);
  });
});
