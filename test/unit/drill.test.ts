import { describe, expect, it } from 'vitest';
import type { DrillReportRow } from '../../lambdas/console/drill.js';
import { blankEvent } from '../../lambdas/core/continuity.js';
import {
  acknowledgeEvent,
  invokeContinuity,
  revokeContinuity,
  runHandover,
} from '../../lambdas/core/continuity-service.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import {
  advanceDrill,
  buildDrillReport,
  createDrillSignInRecorder,
  type DrillDeps,
  drillReportCsv,
  drillReportHtml,
  getDrill,
  startDrill,
} from '../../lambdas/core/drill.js';
import { drillNoticeConfig } from '../../lambdas/core/drill-scope.js';
import { composeNotice } from '../../lambdas/core/notices.js';
import { runProbeCycle } from '../../lambdas/core/probe-cycle.js';
import { continuityStatus } from '../../lambdas/handlers/webmail-routes.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';
import { MemorySendingStore } from '../support/memory-sending.js';

const STAFF_PHONE = '+447700900789';
const TEST_USER_PHONE = '+447700900555';

/**
 * The continuity harness with `onprem` (ceo@, cfo@) as a test route, a directory user with a phone
 * on it, and the drill records in memory.
 */
function drillHarness() {
  const h = continuityHarness();
  const config = testConfig({
    routes: [
      {
        name: 'onprem',
        addresses: ['ceo@example.com', 'cfo@example.com'],
        hosts: [{ host: '10.0.0.5' }],
        test: true,
      },
      {
        name: 'cloud',
        domains: ['example.com', 'example.net'],
        hosts: [{ host: 'mx1.cloud.test', port: 587 }],
      },
    ],
    continuity: {
      paging: { adminPhones: ['+447700900123'], adminEmails: ['oncall@alerts.example.org'] },
      staff: { phones: [STAFF_PHONE] },
    },
    webmail: {
      users: [{ id: 'ceo', name: 'The CEO', addresses: ['ceo@example.com'], phone: TEST_USER_PHONE }],
    },
  });
  h.deps.config = config;
  const jobs = new MemorySendingStore();
  const deps: DrillDeps = { ...h.deps, jobs };
  /** One scheduled probe run of one round, `seconds` after the last. */
  const round = async (seconds: number) => {
    h.clock.advance(seconds);
    return runProbeCycle(deps, { windowMs: 0, sleep: async () => true });
  };
  const row = (rows: DrillReportRow[], step: DrillReportRow['step']) => rows.find((r) => r.step === step);
  return { ...h, config, jobs, deps, round, row };
}

describe('a drill on a test route', () => {
  it('runs the real detection, holds only its scope, and reports each step against the targets', async () => {
    const h = drillHarness();
    const drill = await startDrill(h.deps, 'alice', {
      route: 'onprem',
      confirmProduction: false,
      auto: false,
      probeMessages: 2,
    });
    expect(drill.production).toBe(false);

    // Two failed checks in a row open the event, as in an outage: 20 s after the start.
    expect((await h.round(10)).last.org.state).toBe('normal');
    const opened = await h.round(10);
    expect(opened.last.org.state).toBe('alerting');
    const eventId = opened.last.org.eventId as string;
    const event = await h.store.getEvent(eventId);
    expect(event).toMatchObject({ drill: drill.id, scope: 'onprem' });
    const pages = await h.store.listNotifications(10);
    expect(pages.map((p) => p.text).every((t) => t.includes('DRILL'))).toBe(true);

    h.clock.advance(120);
    await acknowledgeEvent(h.deps, eventId, 'alice');
    h.clock.advance(60);
    await invokeContinuity(h.deps, 'alice');
    // Only the staff in scope are texted, and the text says DRILL.
    const texts = (await h.store.listNotifications(20)).filter((n) => n.notice === 'staff-invoked');
    expect(texts.map((t) => t.to)).toEqual([[TEST_USER_PHONE]]);
    expect(texts[0]?.text).toContain('DRILL');

    // The next round sends the probe messages through the held scope.
    await h.round(30);
    let d = await getDrill(h.deps, drill.id);
    expect(d.probes).toMatchObject({ held: 4, delivered: 0 });
    expect(d.probes.messageIds).toHaveLength(2);

    // Mail outside the scope flows during the drill; mail inside it is held.
    await h.receive('m-cloud', ['bob@example.com']);
    await h.receive('m-ceo', ['ceo@example.com']);
    await deliverMessage('m-cloud', h.deps);
    expect(await h.queue()).toMatchObject({
      'm-cloud bob@example.com': 'delivered',
      'm-ceo ceo@example.com': 'held (continuity)',
    });
    expect(h.primary.sent.map((s) => s.messageId)).toEqual(['m-cloud']);

    // A test user signs in to the webmail, later than the target.
    h.clock.advance(2000);
    const signIn = createDrillSignInRecorder(h.deps, { cacheMs: 0 });
    await signIn({ id: 'bob', addresses: ['bob@example.com'] });
    await signIn({ id: 'ceo', addresses: ['ceo@example.com'] });

    h.clock.advance(60);
    await revokeContinuity(h.deps, 'alice');
    h.clock.advance(45);
    expect(await runHandover(h.deps, 10_000)).toMatchObject({ done: true });
    await h.round(30);

    d = await getDrill(h.deps, drill.id);
    expect(d.state).toBe('completed');
    expect(d.probes).toMatchObject({ held: 0, delivered: 4 });
    const report = d.report;
    if (!report) throw new Error('no report');
    const r = (step: DrillReportRow['step']) => h.row(report.rows, step);
    expect(r('detected')).toMatchObject({ sinceStartSeconds: 20, measuredSeconds: 20, result: 'pass' });
    expect(r('paged')).toMatchObject({ measuredSeconds: 0, result: 'pass' });
    expect(r('acknowledged')).toMatchObject({
      by: 'alice',
      sincePreviousSeconds: 120,
      measuredSeconds: 120,
      result: 'pass',
    });
    expect(r('invoked')).toMatchObject({ sincePreviousSeconds: 60, measuredSeconds: 180, result: 'pass' });
    expect(r('staff-notified')).toMatchObject({ measuredSeconds: 0, result: 'pass' });
    expect(r('probes-sent')).toMatchObject({ sinceStartSeconds: 230, result: 'none' });
    expect(r('first-sign-in')).toMatchObject({ by: 'ceo', measuredSeconds: 2030, result: 'fail' });
    expect(r('revoked')).toMatchObject({ sinceStartSeconds: 2290, result: 'none' });
    expect(r('handed-over')).toMatchObject({ measuredSeconds: 45, result: 'pass' });
    expect(r('all-clear')).toMatchObject({ sinceStartSeconds: 2335 });
    expect(report).toMatchObject({ passed: false, counts: { pass: 6, fail: 1, missed: 0 } });
    // The admins' actions on its event are in the audit log, marked as the drill's.
    const acts = (await h.store.listAudit(50)).filter((e) =>
      ['acknowledge', 'invoke', 'revoke'].includes(e.action),
    );
    expect(acts.map((e) => e.detail.startsWith(`DRILL ${drill.id}: `))).toEqual([true, true, true]);
    // Mail outside the scope went at once; the scope's held mail after the revoke, in arrival order.
    expect(h.primary.sent.map((s) => s.messageId.replace(/;$/, ''))).toEqual([
      'm-cloud',
      `drill-${drill.id}-1`,
      `drill-${drill.id}-2`,
      'm-ceo',
    ]);
  });

  it('runs unattended with auto: acknowledged, invoked and revoked by Lifeboat, and passes', async () => {
    const h = drillHarness();
    const drill = await startDrill(h.deps, 'alice', {
      route: 'onprem',
      confirmProduction: false,
      auto: true,
      probeMessages: 1,
    });
    await h.round(10);
    const run = await h.round(10);
    // The second round detects, and the drill acknowledges, invokes, sends and revokes at once,
    // and the probe run carries on with the hand-over.
    expect(run.last.org.state).toBe('recovering');
    expect(await runHandover(h.deps, 10_000)).toMatchObject({ done: true });
    await h.round(30);
    const d = await getDrill(h.deps, drill.id);
    expect(d.state).toBe('completed');
    expect(d.report).toMatchObject({ passed: true, counts: { fail: 0, missed: 0 } });
    expect(d.steps.find((s) => s.step === 'invoked')?.by).toBe('lifeboat-drill');
    expect(h.row(d.report?.rows ?? [], 'first-sign-in')).toMatchObject({ result: 'none', at: null });
  });

  it('ends the drill and opens a real event when a real outage starts during it', async () => {
    const h = drillHarness();
    const drill = await startDrill(h.deps, 'alice', {
      route: 'onprem',
      confirmProduction: false,
      auto: false,
      probeMessages: 1,
    });
    await h.round(10);
    const drillEvent = (await h.round(10)).last.org.eventId as string;
    h.prober.down = true;
    await h.round(10);
    const real = await h.round(10);
    expect(real.last.org.state).toBe('alerting');
    expect(real.last.org.eventId).not.toBe(drillEvent);
    const realEvent = await h.store.getEvent(real.last.org.eventId as string);
    expect(realEvent?.scope).toBe('*');
    expect(realEvent?.drill).toBeUndefined();
    expect((await h.store.getEvent(drillEvent))?.closedAt).not.toBeNull();
    const d = await getDrill(h.deps, drill.id);
    expect(d.state).toBe('completed');
    expect(d.outcome).toContain('steps not reached');
  });
});

describe('a drill on test mailboxes', () => {
  it('holds the named mailbox only, while the rest of its route flows', async () => {
    const h = drillHarness();
    h.deps.config = { ...h.config, drill: { ...h.config.drill, testMailboxes: ['drill@example.com'] } };
    const drill = await startDrill(h.deps, 'alice', {
      mailboxes: ['drill@example.com'],
      confirmProduction: false,
      auto: false,
      probeMessages: 1,
    });
    expect(drill.holdScope).toBe('mailboxes:drill@example.com');
    await h.round(10);
    const eventId = (await h.round(10)).last.org.eventId as string;
    await invokeContinuity(h.deps, 'alice');
    expect((await h.store.getEvent(eventId))?.scope).toBe('mailboxes:drill@example.com');
    await h.receive('m1', ['drill@example.com', 'bob@example.com']);
    await deliverMessage('m1', h.deps);
    expect(await h.queue()).toMatchObject({
      'm1 drill@example.com': 'held (continuity)',
      'm1 bob@example.com': 'delivered',
    });
    // The webmail's banner says it is a drill, and whose mail it covers.
    const user = (addresses: string[]) => ({ id: 'u', name: 'U', addresses, groups: [] });
    const status = (addresses: string[]) =>
      continuityStatus({ config: h.deps.config, continuity: h.store }, user(addresses));
    expect(await status(['drill@example.com'])).toMatchObject({
      state: 'continuity',
      scopeCoversMe: true,
      drill: true,
    });
    expect(await status(['bob@example.com'])).toMatchObject({ scopeCoversMe: false, drill: true });
  });
});

describe('drillNoticeConfig', () => {
  it('marks the staff text DRILL even when the template does not name the organisation, and texts only the scope', async () => {
    const h = drillHarness();
    const config = {
      ...h.config,
      continuity: {
        ...h.config.continuity,
        staff: {
          ...h.config.continuity.staff,
          templates: {
            ...h.config.continuity.staff.templates,
            invoke: { ...h.config.continuity.staff.templates.invoke, sms: 'Mail is down: use {webmailUrl}' },
          },
        },
      },
    };
    const event = { ...blankEvent('ev1', h.clock.now(), 'probe', 'onprem'), drill: 'd1' };
    const [text] = composeNotice('staff-invoked', event, drillNoticeConfig(config, 'onprem'));
    expect(text).toMatchObject({
      to: [TEST_USER_PHONE],
      text: expect.stringMatching(/^DRILL: Mail is down/),
    });
  });
});

describe('drillReportCsv and drillReportHtml', () => {
  it('write every step with its result, the CSV spreadsheet-safe and the page without script', async () => {
    const h = drillHarness();
    const drill = await startDrill(h.deps, '=cmd|evil', {
      route: 'onprem',
      confirmProduction: false,
      auto: false,
      probeMessages: 1,
      reason: '<script>x</script>',
    });
    const report = buildDrillReport({ ...drill, state: 'cancelled', outcome: '<b>cancelled</b>' }, h.config);
    const csv = drillReportCsv(report).split('\r\n');
    expect(csv[0]).toBe(
      'step,label,at,by,since_start_s,since_previous_s,target_s,target_from,measured_s,result,detail',
    );
    expect(csv).toHaveLength(2 + 12);
    expect(csv[1]).toContain("'=cmd|evil");
    expect(csv[2]).toMatch(/^detected,.*,60,started,,missed,$/);
    const html = drillReportHtml(report);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>cancelled');
    expect(html).toContain('NOT PASSED');
  });

  it('advances nothing when no drill runs', async () => {
    const h = drillHarness();
    expect(await advanceDrill(h.deps)).toBeNull();
  });
});
