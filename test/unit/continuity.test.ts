import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../lambdas/core/config.js';
import {
  acknowledge,
  applyRound,
  type ContinuityEvent,
  ContinuityStateError,
  finishHandover,
  initialOrgState,
  invokeByAdmin,
  type Notice,
  type OrgState,
  type ProbeResult,
  revokeByAdmin,
  type Step,
  SYSTEM,
  scheduleMaintenance,
  stepRound,
} from '../../lambdas/core/continuity.js';
import { testConfig } from '../support/fixtures.js';

const t0 = new Date('2026-11-22T10:00:00.000Z');
/** The time `m` minutes after t0 (probe rounds run once a minute by default). */
const at = (m: number) => new Date(t0.getTime() + m * 60_000);

type ContinuityInput = NonNullable<ConfigInput['continuity']>;

function settingsWith(continuity: ContinuityInput = {}) {
  return testConfig({ continuity }).continuity;
}

const smtp = (ok: boolean, route = 'cloud'): ProbeResult => ({
  probe: 'smtp',
  route,
  ok,
  detail: ok ? 'mx1.cloud.test:587 ok' : 'mx1.cloud.test:587 connect ECONNREFUSED',
  figures: { hostsUp: ok ? 1 : 0, hosts: 1, latencyMs: 40 },
});

const organic = (ok: boolean, route = 'cloud'): ProbeResult => ({
  probe: 'organic',
  route,
  ok,
  detail: ok ? '8 attempts, 0 failed' : '6 of 8 attempts failed in 10 min',
  figures: {
    attempts: 8,
    failed: ok ? 0 : 6,
    failureRatio: ok ? 0 : 0.75,
    p95LatencyMs: 900,
    oldestDeferredSeconds: 0,
  },
});

const down = [smtp(false)];
const up = [smtp(true)];

/**
 * Drives the pure state machine the way the service does: the event the next round sees is the
 * one the organisation record points at.
 */
class Machine {
  org: OrgState = initialOrgState(t0);
  event: ContinuityEvent | null = null;
  notices: Notice[] = [];
  steps: Step[] = [];
  private ids = 0;
  readonly newId = () => `ev${++this.ids}`;
  constructor(readonly settings = settingsWith()) {}

  apply(step: Step): Step {
    this.org = step.org;
    this.event = step.org.eventId ? step.event : null;
    this.steps.push(step);
    for (const a of step.actions) if (a.type === 'notify') this.notices.push(a.notice);
    return step;
  }
  round(minute: number, results: readonly ProbeResult[]): Step {
    return this.apply(stepRound(this.org, this.event, results, at(minute), this.settings, this.newId));
  }
  /** Rounds once a minute from `from` to `to` inclusive. */
  rounds(from: number, to: number, results: readonly ProbeResult[]): Step {
    let last: Step | undefined;
    for (let m = from; m <= to; m++) last = this.round(m, results);
    return last as Step;
  }
  /** Opens an event with two failed SMTP checks at minutes 0 and 1. */
  alerting(): this {
    this.round(0, down);
    this.round(1, down);
    return this;
  }
  invoke(minute: number, actor = 'ops@example.org'): Step {
    return this.apply(invokeByAdmin(this.org, this.event, at(minute), actor, this.newId));
  }
}

describe('applyRound', () => {
  const thresholds = settingsWith().thresholds;

  it('counts failures per route and probe, so one failure on each of two routes is no breach', () => {
    const { streaks, breaches } = applyRound({}, [smtp(false, 'cloud'), smtp(false, 'onprem')], thresholds);
    expect(breaches).toEqual([]);
    expect(streaks).toEqual({
      'cloud/smtp': { failures: 1, successes: 0 },
      'onprem/smtp': { failures: 1, successes: 0 },
    });
  });

  it('starts the failure count again after a success', () => {
    const first = applyRound({}, [smtp(false)], thresholds);
    const second = applyRound(first.streaks, [smtp(true)], thresholds);
    const third = applyRound(second.streaks, [smtp(false)], thresholds);
    expect(third.breaches).toEqual([]);
    expect(third.streaks['cloud/smtp']).toEqual({ failures: 1, successes: 0 });
  });
});

describe('stepRound', () => {
  describe('normal', () => {
    it('does not page on one failed SMTP check', () => {
      const m = new Machine();
      const step = m.round(0, down);
      expect(step.org.state).toBe('normal');
      expect(step.event).toBeNull();
      expect(m.notices).toEqual([]);
    });

    it('opens an event and pages when the SMTP check fails consecutiveFailures rounds in a row', () => {
      const m = new Machine(settingsWith({ thresholds: { consecutiveFailures: 3 } }));
      m.round(0, down);
      m.round(1, down);
      expect(m.org.state).toBe('normal');
      const step = m.round(2, down);
      expect(step.org).toMatchObject({ state: 'alerting', eventId: 'ev1', since: at(2).toISOString() });
      expect(step.event).toMatchObject({
        id: 'ev1',
        state: 'alerting',
        openedBy: 'probe',
        scope: '*',
        openedAt: at(2).toISOString(),
        lastPagedAt: at(2).toISOString(),
        pages: 1,
      });
      expect(step.actions).toEqual([{ type: 'notify', notice: 'alert' }]);
      expect(step.audit).toEqual([
        { actor: SYSTEM, action: 'alert', detail: 'cloud smtp: mx1.cloud.test:587 connect ECONNREFUSED' },
      ]);
    });

    it('pages at once when real deliveries breach the organic thresholds', () => {
      const m = new Machine();
      const step = m.round(0, [organic(false), smtp(true)]);
      expect(step.org.state).toBe('alerting');
      expect(m.notices).toEqual(['alert']);
    });

    it('stays normal while every probe passes', () => {
      const m = new Machine();
      m.rounds(0, 120, [organic(true), smtp(true)]);
      expect(m.org.state).toBe('normal');
      expect(m.notices).toEqual([]);
    });
  });

  describe('alerting', () => {
    it('says all clear and closes the event after healthyRoundsForAllClear healthy rounds', () => {
      const m = new Machine().alerting();
      m.round(2, up);
      m.round(3, up);
      expect(m.org.state).toBe('alerting');
      const step = m.round(4, up);
      expect(step.org).toMatchObject({ state: 'normal', eventId: null });
      expect(step.event).toMatchObject({ id: 'ev1', state: 'normal', closedAt: at(4).toISOString() });
      expect(m.notices).toEqual(['alert', 'all-clear']);
      expect(step.audit).toEqual([
        { actor: SYSTEM, action: 'all-clear', detail: '3 healthy probe rounds in a row' },
      ]);
    });

    it('keeps one event open and pages once while the primary flaps (fail, ok, fail, ok …)', () => {
      const m = new Machine().alerting();
      for (let minute = 2; minute < 20; minute++) m.round(minute, minute % 2 ? down : up);
      m.round(20, down);
      m.round(21, down);
      expect(m.org).toMatchObject({ state: 'alerting', eventId: 'ev1' });
      expect(m.event?.pages).toBe(1);
      expect(m.notices).toEqual(['alert']);
    });

    it('pages again after 30 minutes while nobody acknowledges', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: null })).alerting();
      m.rounds(2, 30, down);
      expect(m.notices).toEqual(['alert']);
      const step = m.round(31, down);
      expect(step.actions).toEqual([{ type: 'notify', notice: 'repeat' }]);
      expect(step.event).toMatchObject({ pages: 2, lastPagedAt: at(31).toISOString() });
      m.rounds(32, 61, down);
      expect(m.notices).toEqual(['alert', 'repeat', 'repeat']);
      expect(m.event?.pages).toBe(3);
    });

    it('repeats at paging.repeatMinutes', () => {
      const m = new Machine(
        settingsWith({ autoInvokeAfterMinutes: null, paging: { repeatMinutes: 5 } }),
      ).alerting();
      m.rounds(2, 5, down);
      expect(m.notices).toEqual(['alert']);
      m.round(6, down);
      expect(m.notices).toEqual(['alert', 'repeat']);
    });

    it('stops paging once an admin acknowledges', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: null })).alerting();
      m.apply(acknowledge(m.org, m.event!, at(5), 'ops@example.org'));
      m.rounds(6, 180, down);
      expect(m.notices).toEqual(['alert']);
      expect(m.event).toMatchObject({ pages: 1, acknowledgedBy: 'ops@example.org' });
    });

    it('invokes continuity automatically exactly autoInvokeAfterMinutes after the alert', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: 20 })).alerting();
      m.rounds(2, 20, down);
      expect(m.org.state).toBe('alerting');
      const step = m.round(21, down);
      expect(step.org).toMatchObject({ state: 'continuity', eventId: 'ev1' });
      expect(step.event).toMatchObject({
        state: 'continuity',
        invokeMode: 'auto',
        invokedBy: SYSTEM,
        invokedAt: at(21).toISOString(),
      });
      expect(step.actions).toEqual([
        { type: 'notify', notice: 'invoked' },
        { type: 'notify', notice: 'staff-invoked' },
        { type: 'hold', scope: '*' },
      ]);
    });

    it('invokes automatically even while the primary flaps, counting from the alert', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: 10 })).alerting();
      for (let minute = 2; minute <= 10; minute++) m.round(minute, minute % 2 ? down : up);
      expect(m.org.state).toBe('alerting');
      expect(m.round(11, up).org.state).toBe('continuity');
    });

    it('never invokes automatically once an admin has acknowledged', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: 20 })).alerting();
      m.apply(acknowledge(m.org, m.event!, at(3), 'ops@example.org'));
      m.rounds(4, 600, down);
      expect(m.org.state).toBe('alerting');
      expect(m.notices).not.toContain('invoked');
    });

    it('never invokes automatically when autoInvokeAfterMinutes is null', () => {
      const m = new Machine(settingsWith({ autoInvokeAfterMinutes: null })).alerting();
      m.rounds(2, 600, down);
      expect(m.org.state).toBe('alerting');
      expect(m.notices).not.toContain('invoked');
    });
  });

  describe('continuity', () => {
    it('tells admins once that flow is restored when the probes are healthy again', () => {
      const m = new Machine().alerting();
      m.invoke(5);
      m.rounds(6, 10, down);
      m.round(11, up);
      m.round(12, up);
      expect(m.notices).not.toContain('flow-restored');
      const step = m.round(13, up);
      expect(step.actions).toEqual([{ type: 'notify', notice: 'flow-restored' }]);
      expect(step.event?.recoveredAt).toBe(at(13).toISOString());
      m.rounds(14, 60, up);
      expect(m.notices.filter((n) => n === 'flow-restored')).toHaveLength(1);
      expect(m.org.state).toBe('continuity');
    });

    it('tells admins again when flow comes back after failing anew', () => {
      const m = new Machine().alerting();
      m.invoke(5);
      m.rounds(6, 8, up);
      m.rounds(9, 11, down);
      expect(m.event?.recoveredAt).toBeNull();
      m.rounds(12, 14, up);
      expect(m.notices.filter((n) => n === 'flow-restored')).toHaveLength(2);
    });

    it('does not say flow is restored when the probes never saw the primary fail', () => {
      // An admin invokes for an outage the probes cannot see, or maintenance starts: the primary
      // was healthy all along, so "accepts mail again, revoke" would be wrong.
      const m = new Machine();
      m.rounds(0, 10, up);
      m.invoke(11);
      m.rounds(12, 40, up);
      expect(m.notices).not.toContain('flow-restored');
    });

    it('never leaves continuity on its own', () => {
      const m = new Machine().alerting();
      m.invoke(5);
      m.rounds(6, 600, up);
      expect(m.org.state).toBe('continuity');
      expect(m.notices).not.toContain('all-clear');
    });
  });

  describe('recovering', () => {
    it('only records evidence while the hand-over runs', () => {
      const m = new Machine().alerting();
      m.invoke(5);
      m.apply(revokeByAdmin(m.org, m.event, at(10), 'ops@example.org'));
      const before = m.event!.evidence.length;
      const step = m.rounds(11, 100, down);
      expect(step.org.state).toBe('recovering');
      expect(step.actions).toEqual([]);
      expect(m.event!.evidence.length).toBeGreaterThan(before);
    });
  });
});

describe('event evidence', () => {
  it('records the probe, route, detail, figures and time of each breach', () => {
    const m = new Machine();
    m.round(0, [organic(false, 'onprem'), smtp(true)]);
    expect(m.event?.evidence).toEqual([
      {
        probe: 'organic',
        route: 'onprem',
        ok: false,
        detail: '6 of 8 attempts failed in 10 min',
        figures: { attempts: 8, failed: 6, failureRatio: 0.75, p95LatencyMs: 900, oldestDeferredSeconds: 0 },
        at: at(0).toISOString(),
      },
    ]);
  });

  it('adds each breaching round while alerting, not healthy rounds or a lone failure', () => {
    const m = new Machine().alerting();
    m.round(2, up);
    m.round(3, down);
    m.round(4, down);
    expect(m.event?.evidence.map((e) => e.at)).toEqual([at(1).toISOString(), at(4).toISOString()]);
  });

  it('keeps only the newest 50 findings however long the outage runs', () => {
    const m = new Machine(settingsWith({ autoInvokeAfterMinutes: null })).alerting();
    m.rounds(2, 500, down);
    expect(m.event?.evidence).toHaveLength(50);
    expect(m.event?.evidence.at(-1)?.at).toBe(at(500).toISOString());
    expect(m.event?.evidence[0]?.at).toBe(at(451).toISOString());
  });
});

describe('acknowledge', () => {
  it('records who acknowledged and when, in the audit log', () => {
    const m = new Machine().alerting();
    const step = acknowledge(m.org, m.event!, at(4), 'ops@example.org');
    expect(step.event).toMatchObject({
      acknowledgedAt: at(4).toISOString(),
      acknowledgedBy: 'ops@example.org',
    });
    expect(step.audit).toEqual([
      { actor: 'ops@example.org', action: 'acknowledge', detail: 'event ev1 acknowledged' },
    ]);
  });

  it('keeps the first acknowledgement when a second admin clicks too', () => {
    const m = new Machine().alerting();
    m.apply(acknowledge(m.org, m.event!, at(4), 'ops@example.org'));
    const step = acknowledge(m.org, m.event!, at(5), 'other@example.org');
    expect(step.event?.acknowledgedBy).toBe('ops@example.org');
    expect(step.audit).toEqual([]);
  });

  it('refuses a closed event', () => {
    const m = new Machine().alerting();
    const closed = m.rounds(2, 4, up).event!;
    expect(() => acknowledge(m.org, closed, at(5), 'ops@example.org')).toThrow(ContinuityStateError);
  });
});

describe('invokeByAdmin', () => {
  it('invokes from an alert, acknowledging it, and holds every route', () => {
    const m = new Machine().alerting();
    const step = m.invoke(3);
    expect(step.org).toMatchObject({ state: 'continuity', eventId: 'ev1' });
    expect(step.event).toMatchObject({
      state: 'continuity',
      invokeMode: 'manual',
      invokedBy: 'ops@example.org',
      acknowledgedBy: 'ops@example.org',
    });
    // Pages before the hold: holding a large queue must not delay or, if it dies, lose them.
    expect(step.actions).toEqual([
      { type: 'notify', notice: 'invoked' },
      { type: 'notify', notice: 'staff-invoked' },
      { type: 'hold', scope: '*' },
    ]);
    expect(step.audit).toEqual([
      { actor: 'ops@example.org', action: 'invoke', detail: 'continuity invoked (manual) for all routes' },
    ]);
  });

  it('stops the alert paging once continuity is invoked', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.rounds(4, 120, down);
    expect(m.notices).toEqual(['alert', 'invoked', 'staff-invoked']);
  });

  it('invokes without an alert, opening an event for an outage the probes cannot see', () => {
    const m = new Machine();
    const step = m.apply(
      invokeByAdmin(
        m.org,
        null,
        at(0),
        'ops@example.org',
        m.newId,
        'onprem',
        'on-premises server room flooded',
      ),
    );
    expect(step.org).toMatchObject({ state: 'continuity', eventId: 'ev1' });
    expect(step.event).toMatchObject({
      openedBy: 'admin',
      scope: 'onprem',
      reason: 'on-premises server room flooded',
      evidence: [],
      pages: 0,
    });
    expect(step.actions.at(-1)).toEqual({ type: 'hold', scope: 'onprem' });
    expect(step.audit[0]?.detail).toBe(
      'continuity invoked (manual) for route onprem: on-premises server room flooded',
    );
  });

  it('refuses to invoke when continuity is already invoked', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    expect(() => m.invoke(4, 'other@example.org')).toThrow(ContinuityStateError);
    expect(() => m.invoke(4, 'other@example.org')).toThrow('continuity is already invoked');
  });

  it('refuses to invoke while the hand-over runs', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(4), 'ops@example.org'));
    expect(() => m.invoke(5)).toThrow(ContinuityStateError);
  });
});

describe('revokeByAdmin', () => {
  it('moves to recovering and starts the hand-over', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    const step = m.apply(revokeByAdmin(m.org, m.event, at(40), 'ops@example.org'));
    expect(step.org).toMatchObject({ state: 'recovering', eventId: 'ev1' });
    expect(step.event).toMatchObject({
      state: 'recovering',
      revokedAt: at(40).toISOString(),
      revokedBy: 'ops@example.org',
      closedAt: null,
    });
    expect(step.actions).toEqual([{ type: 'notify', notice: 'revoked' }, { type: 'start-handover' }]);
    expect(step.audit).toEqual([
      {
        actor: 'ops@example.org',
        action: 'revoke',
        detail: 'continuity revoked: by an admin; handing held mail over',
      },
    ]);
  });

  it('refuses when continuity is not invoked', () => {
    const m = new Machine().alerting();
    expect(() => revokeByAdmin(m.org, m.event, at(3), 'ops@example.org')).toThrow(ContinuityStateError);
    expect(() => revokeByAdmin(initialOrgState(t0), null, at(3), 'ops@example.org')).toThrow(
      'continuity is not invoked',
    );
  });

  it('refuses a second revoke while the first hand-over runs', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(4), 'ops@example.org'));
    expect(() => revokeByAdmin(m.org, m.event, at(5), 'ops@example.org')).toThrow(ContinuityStateError);
  });
});

describe('scheduleMaintenance', () => {
  const window = { start: at(60), end: at(180), reason: 'Exchange CU upgrade' };

  it('plans the window without holding anything yet, and tells admins', () => {
    const m = new Machine();
    const step = m.apply(scheduleMaintenance(m.org, at(0), 'ops@example.org', m.newId, window));
    expect(step.org).toMatchObject({ state: 'normal', eventId: 'ev1' });
    expect(step.event).toMatchObject({
      openedBy: 'schedule',
      state: 'normal',
      scheduledStart: at(60).toISOString(),
      scheduledEnd: at(180).toISOString(),
      reason: 'Exchange CU upgrade',
      invokedAt: null,
    });
    expect(step.actions).toEqual([{ type: 'notify', notice: 'scheduled' }]);
    expect(step.audit[0]).toMatchObject({ actor: 'ops@example.org', action: 'schedule' });
  });

  it('starts continuity at its start time, not a round earlier', () => {
    const m = new Machine();
    m.apply(scheduleMaintenance(m.org, at(0), 'ops@example.org', m.newId, window));
    m.rounds(1, 59, up);
    expect(m.org.state).toBe('normal');
    const step = m.round(60, up);
    expect(step.org.state).toBe('continuity');
    expect(step.event).toMatchObject({
      invokeMode: 'scheduled',
      invokedBy: SYSTEM,
      invokedAt: at(60).toISOString(),
    });
    expect(step.actions).toContainEqual({ type: 'hold', scope: '*' });
  });

  it('ends at its end time and hands the held mail over', () => {
    const m = new Machine();
    m.apply(scheduleMaintenance(m.org, at(0), 'ops@example.org', m.newId, window));
    m.rounds(1, 179, up);
    expect(m.org.state).toBe('continuity');
    const step = m.round(180, up);
    expect(step.org.state).toBe('recovering');
    expect(step.event).toMatchObject({ revokedBy: SYSTEM, revokedAt: at(180).toISOString() });
    expect(step.actions).toEqual([{ type: 'notify', notice: 'revoked' }, { type: 'start-handover' }]);
    expect(step.audit[0]?.detail).toContain('the scheduled window ended');
  });

  it('refuses a window that ends before it starts', () => {
    const m = new Machine();
    expect(() =>
      scheduleMaintenance(m.org, at(0), 'ops@example.org', m.newId, { start: at(60), end: at(30) }),
    ).toThrow('the window must end after it starts');
  });

  it('refuses a window that is already over', () => {
    const m = new Machine();
    expect(() =>
      scheduleMaintenance(m.org, at(200), 'ops@example.org', m.newId, { start: at(60), end: at(180) }),
    ).toThrow('the window is already over');
  });

  it('refuses to schedule while an event is open', () => {
    const m = new Machine().alerting();
    expect(() => scheduleMaintenance(m.org, at(2), 'ops@example.org', m.newId, window)).toThrow(
      ContinuityStateError,
    );
  });
});

describe('finishHandover', () => {
  it('returns to normal, closes the event with its progress and lifts the hold', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(40), 'ops@example.org'));
    const event = {
      ...m.event!,
      handover: { startedAt: at(40).toISOString(), total: 12, released: 0, finishedAt: null },
    };
    const step = finishHandover(m.org, event, at(45), 12, { held: 0, inFlight: 0 });
    expect(step.org).toMatchObject({ state: 'normal', eventId: null });
    expect(step.event).toMatchObject({
      state: 'normal',
      closedAt: at(45).toISOString(),
      handover: {
        startedAt: at(40).toISOString(),
        total: 12,
        released: 12,
        finishedAt: at(45).toISOString(),
      },
    });
    expect(step.actions).toEqual([
      { type: 'lift-hold', scope: '*' },
      { type: 'notify', notice: 'recovered' },
    ]);
    expect(step.audit[0]?.detail).toBe('hand-over complete: 12 deliveries handed over');
  });

  it('refuses to finish while a delivery it released is still in flight or held', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(40), 'ops@example.org'));
    expect(() => finishHandover(m.org, m.event!, at(45), 12, { held: 0, inFlight: 1 })).toThrow(
      /not finished: 0 deliveries still held, 1 in flight/,
    );
    expect(() => finishHandover(m.org, m.event!, at(45), 12, { held: 2, inFlight: 0 })).toThrow(
      ContinuityStateError,
    );
  });

  it('counts every delivery held at the start as handed over, even those a stopped worker did not count', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(40), 'ops@example.org'));
    const event = {
      ...m.event!,
      handover: { startedAt: at(40).toISOString(), total: 12, released: 9, finishedAt: null },
    };
    const step = finishHandover(m.org, event, at(45), 9, { held: 0, inFlight: 0 });
    expect(step.event?.handover?.released).toBe(12);
  });

  it('pages afresh for a new outage after the hand-over', () => {
    const m = new Machine().alerting();
    m.invoke(3);
    m.apply(revokeByAdmin(m.org, m.event, at(40), 'ops@example.org'));
    m.apply(finishHandover(m.org, m.event!, at(45), 0, { held: 0, inFlight: 0 }));
    m.round(46, up);
    m.round(47, down);
    const step = m.round(48, down);
    expect(step.org).toMatchObject({ state: 'alerting', eventId: 'ev2' });
    expect(step.actions).toEqual([{ type: 'notify', notice: 'alert' }]);
  });
});
