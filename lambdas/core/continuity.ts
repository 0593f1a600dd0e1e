import type { LifeboatConfig } from './config.js';
import { LifeboatError, ValidationError } from './errors.js';

/** The organisation's continuity state (DESIGN.md, "Continuity: the state of the organisation"). */
export const orgStates = ['normal', 'alerting', 'continuity', 'recovering'] as const;
export type OrgStateName = (typeof orgStates)[number];

export type ProbeKind = 'organic' | 'smtp' | 'roundtrip';

/** One probe's finding for one route in one round. */
export interface ProbeResult {
  probe: ProbeKind;
  route: string;
  ok: boolean;
  /** What happened, e.g. `mx1:25: connect ECONNREFUSED` or `3 of 4 attempts failed`. */
  detail: string;
  figures: Record<string, number>;
  /** A drill's simulated failure of its scope, not a finding of a real probe. */
  simulated?: boolean | undefined;
}

/** A finding kept as an event's evidence. */
export interface Evidence extends ProbeResult {
  at: string;
}

/** Consecutive outcomes per route and probe, for thresholds and hysteresis. */
export interface ProbeStreak {
  failures: number;
  successes: number;
}

export interface OrgState {
  state: OrgStateName;
  /** The open event, if any. */
  eventId: string | null;
  since: string;
  /** `route/probe` → streak. */
  streaks: Record<string, ProbeStreak>;
  /** Healthy rounds in a row (for all-clear). */
  healthyRounds: number;
  /** When the last probe round ran. */
  lastRoundAt: string | null;
  version: number;
}

export type InvokeMode = 'manual' | 'auto' | 'scheduled';

export interface HandoverProgress {
  startedAt: string;
  /** Deliveries held when the hand-over began. */
  total: number;
  /** Deliveries released to the primary so far. */
  released: number;
  finishedAt: string | null;
}

export interface ContinuityEvent {
  id: string;
  openedAt: string;
  closedAt: string | null;
  /** The organisation state this event is in now (`normal` once closed). */
  state: OrgStateName;
  openedBy: 'probe' | 'admin' | 'schedule';
  /** Routes held during the event; `*` is every route. */
  scope: string;
  evidence: Evidence[];
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  invokedAt: string | null;
  invokedBy: string | null;
  invokeMode: InvokeMode | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastPagedAt: string | null;
  pages: number;
  /** Set when probes say flow is back while in continuity (admins are told once). */
  recoveredAt: string | null;
  scheduledStart: string | null;
  scheduledEnd: string | null;
  reason: string | null;
  handover: HandoverProgress | null;
  /**
   * Actions of the last transition not yet carried out, written with the transition itself, so
   * a worker that dies half-way (an API function timing out while it holds a large queue) leaves
   * a record that the next probe round or a retry of the same request completes.
   */
  pendingActions?: Action[] | undefined;
  /** Until when the worker that wrote `pendingActions` may still be carrying them out. */
  pendingUntil?: string | null | undefined;
  /** Each time an admin moved the planned end (`scheduledEnd`) later, oldest first. */
  extensions?: EventExtension[] | undefined;
  /**
   * The drill this event rehearses (its id): its outage is simulated for its scope only, its pages
   * and texts say DRILL, and its report is timed from its steps. Absent for a real event.
   */
  drill?: string | undefined;
}

/** A drill running while the probes run: the scope whose outage it simulates. */
export interface ActiveDrill {
  id: string;
  /** The hold scope of its event: a route name or `mailboxes:…`. */
  scope: string;
}

/** An admin's extension of an event's planned end. */
export interface EventExtension {
  at: string;
  by: string;
  hours: number;
  /** The planned end before and after. */
  from: string;
  to: string;
}

export type Notice =
  | 'alert'
  | 'repeat'
  | 'all-clear'
  | 'invoked'
  | 'staff-invoked'
  | 'flow-restored'
  | 'revoked'
  | 'recovered'
  | 'scheduled';

/** What a transition asks the service to do; the pure core never does I/O itself. */
export type Action =
  | { type: 'notify'; notice: Notice }
  | { type: 'hold'; scope: string }
  | { type: 'start-handover' }
  | { type: 'lift-hold'; scope: string };

export interface AuditNote {
  actor: string;
  action: string;
  detail: string;
}

export interface Step {
  org: OrgState;
  event: ContinuityEvent | null;
  /** An event this step closed besides `event` (a drill ended by a real outage): written too. */
  closed?: ContinuityEvent | undefined;
  actions: Action[];
  audit: AuditNote[];
  /** Set when the actions are the event's pending ones, taken over; otherwise those stay pending. */
  resumes?: boolean;
}

export type ContinuitySettings = LifeboatConfig['continuity'];

/** The actor recorded for automatic transitions. */
export const SYSTEM = 'lifeboat';

export class ContinuityStateError extends LifeboatError {
  constructor(message: string) {
    super('CONTINUITY_STATE', message);
  }
}

export function initialOrgState(now: Date): OrgState {
  return {
    state: 'normal',
    eventId: null,
    since: now.toISOString(),
    streaks: {},
    healthyRounds: 0,
    lastRoundAt: null,
    version: 0,
  };
}

/** A new event record with nothing recorded yet. */
export function blankEvent(
  id: string,
  now: Date,
  openedBy: ContinuityEvent['openedBy'],
  scope: string,
): ContinuityEvent {
  return {
    id,
    openedAt: now.toISOString(),
    closedAt: null,
    state: 'alerting',
    openedBy,
    scope,
    evidence: [],
    acknowledgedAt: null,
    acknowledgedBy: null,
    invokedAt: null,
    invokedBy: null,
    invokeMode: null,
    revokedAt: null,
    revokedBy: null,
    lastPagedAt: null,
    pages: 0,
    recoveredAt: null,
    scheduledStart: null,
    scheduledEnd: null,
    reason: null,
    handover: null,
  };
}

const minutes = (m: number) => m * 60_000;

/**
 * Updates the per-route, per-probe streaks with one round's results and says which results
 * breach the thresholds. Organic findings breach on their own figures; SMTP checks and round
 * trips breach after `consecutiveFailures` failures in a row.
 */
export function applyRound(
  streaks: Record<string, ProbeStreak>,
  results: readonly ProbeResult[],
  thresholds: ContinuitySettings['thresholds'],
): { streaks: Record<string, ProbeStreak>; breaches: ProbeResult[] } {
  const next = { ...streaks };
  const breaches: ProbeResult[] = [];
  for (const r of results) {
    const key = `${r.route}/${r.probe}`;
    const prev = next[key] ?? { failures: 0, successes: 0 };
    const streak = r.ok
      ? { failures: 0, successes: prev.successes + 1 }
      : { failures: prev.failures + 1, successes: 0 };
    next[key] = streak;
    if (!r.ok && (r.probe === 'organic' || streak.failures >= thresholds.consecutiveFailures))
      breaches.push(r);
  }
  return { streaks: next, breaches };
}

/** An event's scope in words: every route, one route, or the mailboxes a drill names. */
export function scopeLabel(scope: string): string {
  if (scope === '*') return 'all routes';
  return scope.startsWith('mailboxes:') ? `mailboxes ${scope.slice('mailboxes:'.length)}` : `route ${scope}`;
}

function invoke(org: OrgState, event: ContinuityEvent, now: Date, mode: InvokeMode, actor: string): Step {
  const e: ContinuityEvent = {
    ...event,
    state: 'continuity',
    invokedAt: now.toISOString(),
    invokedBy: actor,
    invokeMode: mode,
  };
  return {
    org: { ...org, state: 'continuity', eventId: e.id, since: now.toISOString() },
    event: e,
    // Pages first: they are what admins and staff wait for, while holding a large queue can
    // take a while (and deliver holds any due delivery at claim time meanwhile).
    actions: [
      { type: 'notify', notice: 'invoked' },
      { type: 'notify', notice: 'staff-invoked' },
      { type: 'hold', scope: e.scope },
    ],
    audit: [
      {
        actor,
        action: 'invoke',
        detail: `${e.drill ? `DRILL ${e.drill}: ` : ''}continuity invoked (${mode}) for ${scopeLabel(e.scope)}${
          e.reason ? `: ${e.reason}` : ''
        }`,
      },
    ],
  };
}

/**
 * One probe round through the state machine:
 * normal → alerting on a breach (page); alerting → normal after enough healthy rounds
 * (all-clear); alerting repeats its page until acknowledged and invokes automatically when
 * configured; continuity tells admins once when flow is back; a scheduled event starts and ends
 * on time. `newId` names an event this round opens.
 */
export function stepRound(
  org: OrgState,
  event: ContinuityEvent | null,
  results: readonly ProbeResult[],
  now: Date,
  settings: ContinuitySettings,
  newId: () => string,
  drill: ActiveDrill | null = null,
): Step {
  const nowIso = now.toISOString();
  const { streaks, breaches: allBreaches } = applyRound(org.streaks, results, settings.thresholds);
  // A drill on mailboxes counts its simulated failures under its scope, which no real probe ever
  // reports on: once no drill runs, that streak is dropped rather than kept failing for ever.
  for (const key of Object.keys(streaks)) {
    if (key.startsWith('mailboxes:') && !(drill && key.startsWith(`${drill.scope}/`))) delete streaks[key];
  }
  // While continuity holds mail nothing is attempted, so the organic window keeps the failures
  // from before the hold for as long as the hold lasts: on a quiet domain it would never say the
  // primary is back. Recovery is judged on the synthetic checks (and the round trip) alone then.
  const judgeOrganic = org.state !== 'continuity';
  const judged = judgeOrganic ? results : results.filter((r) => r.probe !== 'organic');
  const breaches = judgeOrganic ? allBreaches : allBreaches.filter((b) => b.probe !== 'organic');
  const healthy = breaches.length === 0;
  // All-clear counts rounds in which every probe passed: a single failure that is not yet a
  // breach still breaks the run, or a flapping primary would close and reopen its event.
  // A round trip in flight reports nothing: until one comes back, the last one's failure stands,
  // or the rounds between two timeouts would clear an outbound outage and page it again.
  const roundTripFailing =
    settings.probes.roundTrip !== undefined &&
    !results.some((r) => r.probe === 'roundtrip') &&
    Object.entries(streaks).some(([key, s]) => key.endsWith('/roundtrip') && s.failures > 0);
  const allPassed = judged.every((r) => r.ok) && !roundTripFailing;
  let o: OrgState = {
    ...org,
    streaks,
    healthyRounds: allPassed ? org.healthyRounds + 1 : 0,
    lastRoundAt: nowIso,
  };
  let e = event;
  const actions: Action[] = [];
  const audit: AuditNote[] = [];
  const evidence = breaches.map((b) => ({ ...b, at: nowIso }));
  // Evidence is capped so an event record stays small however long the outage runs.
  const addEvidence = (ev: ContinuityEvent) => ({
    ...ev,
    evidence: [...ev.evidence, ...evidence].slice(-50),
  });

  // A real outage during a drill ends the drill: its event must not stand in for the real one.
  const realBreaches = breaches.filter((b) => !b.simulated);
  let closed: ContinuityEvent | undefined;
  if (e?.drill && realBreaches.length > 0 && !e.closedAt) {
    const why = 'a real outage was detected during the drill';
    if (o.state === 'alerting') {
      // Closed now, and the real event opens in this same round below, paging as usual.
      closed = { ...e, state: 'normal', closedAt: nowIso };
      audit.push({ actor: SYSTEM, action: 'drill-interrupted', detail: `drill ${e.drill} ended: ${why}` });
      o = { ...o, state: 'normal', eventId: null, since: nowIso };
      e = null;
    } else if (o.state === 'continuity') {
      // The drill's scope is handed over at once; once it is, the next round opens the real event.
      const step = revokeStep(o, e, now, SYSTEM, why);
      return { ...step, org: { ...step.org, streaks, lastRoundAt: nowIso, healthyRounds: 0 } };
    }
  }
  const finish = (step: Step): Step => (closed ? { ...step, closed } : step);

  switch (o.state) {
    case 'normal': {
      if (e?.scheduledStart && Date.parse(e.scheduledStart) <= now.getTime()) {
        const step = invoke(o, e, now, 'scheduled', SYSTEM);
        return { ...step, audit: [...step.audit] };
      }
      if (!healthy) {
        // Only a drill's own simulated failure opens a drill event, scoped to the drill; any real
        // breach opens a real event for every route.
        const rehearsal = drill !== null && realBreaches.length === 0 ? drill : null;
        e = addEvidence(blankEvent(newId(), now, 'probe', rehearsal ? rehearsal.scope : '*'));
        e = { ...e, lastPagedAt: nowIso, pages: 1, ...(rehearsal ? { drill: rehearsal.id } : {}) };
        o = { ...o, state: 'alerting', eventId: e.id, since: nowIso };
        actions.push({ type: 'notify', notice: 'alert' });
        audit.push({
          actor: SYSTEM,
          action: 'alert',
          detail: `${rehearsal ? `DRILL ${rehearsal.id}: ` : ''}${breaches.map((b) => `${b.route} ${b.probe}: ${b.detail}`).join('; ')}`,
        });
      }
      break;
    }
    case 'alerting': {
      if (!e) throw new ContinuityStateError('alerting without an event');
      if (!healthy) e = addEvidence(e);
      if (o.healthyRounds >= settings.thresholds.healthyRoundsForAllClear) {
        e = { ...e, state: 'normal', closedAt: nowIso };
        o = { ...o, state: 'normal', eventId: null, since: nowIso };
        actions.push({ type: 'notify', notice: 'all-clear' });
        audit.push({
          actor: SYSTEM,
          action: 'all-clear',
          detail: `${o.healthyRounds} healthy probe rounds in a row`,
        });
        break;
      }
      const auto = settings.autoInvokeAfterMinutes;
      if (auto !== null && !e.acknowledgedAt && now.getTime() - Date.parse(e.openedAt) >= minutes(auto)) {
        const step = invoke(o, e, now, 'auto', SYSTEM);
        return step;
      }
      if (
        !e.acknowledgedAt &&
        e.lastPagedAt &&
        now.getTime() - Date.parse(e.lastPagedAt) >= minutes(settings.paging.repeatMinutes)
      ) {
        e = { ...e, lastPagedAt: nowIso, pages: e.pages + 1 };
        actions.push({ type: 'notify', notice: 'repeat' });
      }
      break;
    }
    case 'continuity': {
      if (!e) throw new ContinuityStateError('continuity without an event');
      if (!healthy) e = addEvidence(e);
      if (e.scheduledEnd && Date.parse(e.scheduledEnd) <= now.getTime()) {
        return revokeStep(o, e, now, SYSTEM, 'the scheduled window ended');
      }
      // Flow can only be "restored" if the probes saw it fail during this event: after a manual
      // invocation for an outage they cannot see, or at the start of maintenance, it never was.
      const sawFailure = e.evidence.length > 0;
      if (sawFailure && o.healthyRounds >= settings.thresholds.healthyRoundsForAllClear && !e.recoveredAt) {
        e = { ...e, recoveredAt: nowIso };
        actions.push({ type: 'notify', notice: 'flow-restored' });
        audit.push({
          actor: SYSTEM,
          action: 'flow-restored',
          detail: 'probes healthy again; revoke to hand mail over',
        });
      } else if (!healthy && e.recoveredAt) {
        e = { ...e, recoveredAt: null };
      }
      break;
    }
    case 'recovering':
      // The hand-over drives recovering → normal; probes only record evidence meanwhile.
      if (e && !healthy) e = addEvidence(e);
      break;
  }
  return finish({ org: o, event: e, actions, audit });
}

/**
 * A drill's event ends without a hand-over: the drill was cancelled, or stopped, before continuity
 * was invoked for it (nothing is held). An event already invoked is revoked instead (revokeByAdmin).
 * @throws ContinuityStateError when the event is not a drill's open, uninvoked event
 */
export function endDrillEvent(
  org: OrgState,
  event: ContinuityEvent,
  now: Date,
  actor: string,
  why: string,
): Step {
  if (!event.drill || event.closedAt || org.eventId !== event.id || org.state !== 'alerting') {
    throw new ContinuityStateError(`event ${event.id} is not a drill's open alert`);
  }
  const nowIso = now.toISOString();
  return {
    org: { ...org, state: 'normal', eventId: null, since: nowIso, healthyRounds: 0 },
    event: { ...event, state: 'normal', closedAt: nowIso },
    actions: [],
    audit: [{ actor, action: 'drill-end', detail: `drill ${event.drill} event closed: ${why}` }],
  };
}

function revokeStep(org: OrgState, event: ContinuityEvent, now: Date, actor: string, why: string): Step {
  const nowIso = now.toISOString();
  return {
    org: { ...org, state: 'recovering', since: nowIso },
    event: { ...event, state: 'recovering', revokedAt: nowIso, revokedBy: actor },
    actions: [{ type: 'notify', notice: 'revoked' }, { type: 'start-handover' }],
    audit: [
      {
        actor,
        action: 'revoke',
        detail: `${event.drill ? `DRILL ${event.drill}: ` : ''}continuity revoked: ${why}; handing held mail over`,
      },
    ],
  };
}

/** An admin acknowledges the page: repeats stop, and so does the automatic invocation countdown. */
export function acknowledge(org: OrgState, event: ContinuityEvent, now: Date, actor: string): Step {
  if (event.closedAt) throw new ContinuityStateError(`event ${event.id} is closed`);
  if (event.acknowledgedAt) return { org, event, actions: [], audit: [] };
  return {
    org,
    event: { ...event, acknowledgedAt: now.toISOString(), acknowledgedBy: actor },
    actions: [],
    audit: [
      {
        actor,
        action: 'acknowledge',
        detail: `${event.drill ? `DRILL ${event.drill}: ` : ''}event ${event.id} acknowledged`,
      },
    ],
  };
}

/** An admin invokes continuity, from an alert or without one (an outage the probes cannot see). */
export function invokeByAdmin(
  org: OrgState,
  event: ContinuityEvent | null,
  now: Date,
  actor: string,
  newId: () => string,
  scope = '*',
  reason: string | null = null,
): Step {
  if (org.state === 'continuity' && event && hasPendingActions(event)) {
    // A retry of an invocation that died half-way: complete what it left undone.
    return resumePending(org, event, now, actor);
  }
  if (org.state === 'continuity' || org.state === 'recovering') {
    throw new ContinuityStateError(
      `continuity is already ${org.state === 'continuity' ? 'invoked' : 'handing over'}`,
    );
  }
  const e = event
    ? { ...event, reason: reason ?? event.reason }
    : { ...blankEvent(newId(), now, 'admin', scope), reason };
  const acked = e.acknowledgedAt ? e : { ...e, acknowledgedAt: now.toISOString(), acknowledgedBy: actor };
  return invoke(org, acked, now, 'manual', actor);
}

/** Whether a transition's actions are still to be carried out, by whoever comes next. */
export function hasPendingActions(event: ContinuityEvent): boolean {
  return (event.pendingActions?.length ?? 0) > 0;
}

/**
 * Whether pending actions are free to be taken over at `now`: their worker's time is up, so it
 * is not still carrying them out (which would page twice).
 */
export function pendingActionsDue(event: ContinuityEvent, now: Date): boolean {
  return hasPendingActions(event) && (!event.pendingUntil || Date.parse(event.pendingUntil) <= now.getTime());
}

/** Takes over the actions a dead worker left pending; the state does not change. */
export function resumePending(org: OrgState, event: ContinuityEvent, now: Date, actor: string): Step {
  const actions = event.pendingActions ?? [];
  if (!pendingActionsDue(event, now)) {
    throw new ContinuityStateError(
      'the last change is still being carried out (pages being sent, mail being held); try again in a minute',
    );
  }
  return {
    org,
    event,
    actions,
    resumes: true,
    audit: [
      {
        actor,
        action: 'resume',
        detail: `completed what the last change left undone: ${actions.map((a) => ('notice' in a ? `${a.type} ${a.notice}` : a.type)).join(', ')}`,
      },
    ],
  };
}

/** An admin revokes continuity: held mail is handed over, then the organisation is back to normal. */
export function revokeByAdmin(org: OrgState, event: ContinuityEvent | null, now: Date, actor: string): Step {
  if (org.state !== 'continuity' || !event) throw new ContinuityStateError('continuity is not invoked');
  return revokeStep(org, event, now, actor, 'by an admin');
}

/**
 * An admin moves the planned end of an event `hours` later: a maintenance window that runs long,
 * before or while continuity is invoked for it. The event may not then last longer than
 * `maxEventHours` from its start (when it was invoked, or is planned to be): the queue lifetime
 * and the raw mail's retention are sized for that, so held mail never expires inside an event.
 * @throws ContinuityStateError when the event is closed, handing over, or has no planned end
 *   (continuity invoked for an outage lasts until it is revoked)
 * @throws ValidationError when the event would last longer than maxEventHours
 */
export function extendEvent(
  org: OrgState,
  event: ContinuityEvent,
  now: Date,
  actor: string,
  hours: number,
  maxEventHours: number,
): Step {
  if (event.closedAt) throw new ContinuityStateError(`event ${event.id} is closed`);
  if (event.revokedAt || org.state === 'recovering')
    throw new ContinuityStateError(`event ${event.id} is already handing over`);
  if (!event.scheduledEnd)
    throw new ContinuityStateError(
      `event ${event.id} has no planned end: continuity invoked for an outage lasts until it is revoked`,
    );
  const start = Date.parse(event.invokedAt ?? event.scheduledStart ?? event.openedAt);
  const end = new Date(Date.parse(event.scheduledEnd) + hours * 3_600_000);
  const total = (end.getTime() - start) / 3_600_000;
  if (total > maxEventHours) {
    throw new ValidationError('request body', [
      `hours: the event would last ${Math.ceil(total)} hours from its start, more than continuity.maxEventHours (${maxEventHours}), which the queue lifetime and retention are sized for; at most ${Math.max(0, Math.floor(maxEventHours - (Date.parse(event.scheduledEnd) - start) / 3_600_000))} more`,
    ]);
  }
  const extension: EventExtension = {
    at: now.toISOString(),
    by: actor,
    hours,
    from: event.scheduledEnd,
    to: end.toISOString(),
  };
  return {
    org,
    event: {
      ...event,
      scheduledEnd: extension.to,
      extensions: [...(event.extensions ?? []), extension],
    },
    actions: [],
    audit: [
      {
        actor,
        action: 'extend',
        detail: `event ${event.id} extended by ${hours} h: planned end ${extension.to} (was ${extension.from})`,
      },
    ],
  };
}

/** Plans continuity for maintenance: it starts and ends on its own at the given times. */
export function scheduleMaintenance(
  org: OrgState,
  now: Date,
  actor: string,
  newId: () => string,
  window: { start: Date; end: Date; scope?: string; reason?: string },
): Step {
  if (org.state !== 'normal') throw new ContinuityStateError(`cannot schedule while ${org.state}`);
  if (window.end.getTime() <= window.start.getTime())
    throw new ContinuityStateError('the window must end after it starts');
  if (window.end.getTime() <= now.getTime()) throw new ContinuityStateError('the window is already over');
  const e: ContinuityEvent = {
    ...blankEvent(newId(), now, 'schedule', window.scope ?? '*'),
    state: 'normal',
    scheduledStart: window.start.toISOString(),
    scheduledEnd: window.end.toISOString(),
    reason: window.reason ?? null,
  };
  return {
    org: { ...org, eventId: e.id },
    event: e,
    actions: [{ type: 'notify', notice: 'scheduled' }],
    audit: [
      { actor, action: 'schedule', detail: `maintenance from ${e.scheduledStart} to ${e.scheduledEnd}` },
    ],
  };
}

/** What a hand-over has not yet seen through, counted when it would finish. */
export interface HandoverBacklog {
  /** Deliveries of the event's scope still held for it. */
  held: number;
  /**
   * Deliveries of the scope still `delivering` (a send under way, or a worker that died holding
   * it) or released to `queued` with nobody sending them.
   */
  inFlight: number;
}

/**
 * The hand-over finished: the hold is lifted and the event closes. Only when every delivery it
 * released is delivered, failed or back in the queue (deferred): a delivery still in flight
 * might yet arrive after mail that is newer, or twice, after admins were told it was all over.
 * Every delivery held when it began has been released by then, so `released` is at least the
 * total, whatever a worker stopped mid-batch did not get to count.
 * @throws ContinuityStateError while anything is still held or in flight
 */
export function finishHandover(
  org: OrgState,
  event: ContinuityEvent,
  now: Date,
  released: number,
  backlog: HandoverBacklog,
): Step {
  if (backlog.held > 0 || backlog.inFlight > 0) {
    throw new ContinuityStateError(
      `the hand-over is not finished: ${backlog.held} deliveries still held, ${backlog.inFlight} in flight`,
    );
  }
  const nowIso = now.toISOString();
  const handover = event.handover ?? { startedAt: nowIso, total: released, released, finishedAt: null };
  const count = Math.max(released, handover.total);
  return {
    org: { ...org, state: 'normal', eventId: null, since: nowIso, healthyRounds: 0 },
    event: {
      ...event,
      state: 'normal',
      closedAt: nowIso,
      handover: { ...handover, released: count, finishedAt: nowIso },
    },
    actions: [
      { type: 'lift-hold', scope: event.scope },
      { type: 'notify', notice: 'recovered' },
    ],
    audit: [
      {
        actor: SYSTEM,
        action: 'recovered',
        detail: `hand-over complete: ${count} deliveries handed over`,
      },
    ],
  };
}
