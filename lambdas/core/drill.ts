import {
  type Drill,
  type DrillReport,
  type DrillReportRow,
  type DrillResult,
  type DrillStepName,
  type DrillTarget,
  drillStepLabels,
  drillSteps,
} from '../console/drill.js';
import { JOBS_OWNER, type SendingRecord, type SendingStore } from '../ports.js';
import { RAW_PREFIX } from '../storage-layout.js';
import { csvCell } from './audit-log.js';
import type { LifeboatConfig } from './config.js';
import { type ActiveDrill, type ContinuityEvent, ContinuityStateError, scopeLabel } from './continuity.js';
import {
  acknowledgeEvent,
  type ContinuityDeps,
  endDrillAlert,
  invokeContinuity,
  revokeContinuity,
} from './continuity-service.js';
import {
  addressInScope,
  DrillError,
  drillStaffPhones,
  probeRecipients,
  resolveDrillScope,
} from './drill-scope.js';
import { ConflictError, NotFoundError } from './errors.js';
import { ingestMessage } from './ingest.js';
import { expiresAfterDays, newSendingId } from './sending/records.js';

/**
 * Days a drill and its report are kept: seven years, as audit evidence of business-continuity
 * testing is commonly kept (ISO 22301 exercises, financial regulators), far past the history window
 * that expires the mail records.
 */
export const DRILL_RECORD_DAYS = 7 * 365 + 2;

/**
 * A drill whose outage the probes have not detected in this long is ended: the probes are not
 * running (or the scope is wrong), and a drill left running would simulate an outage for ever.
 */
export const DRILL_DETECTION_GIVE_UP_MS = 60 * 60_000;

/** The actor an unattended drill acknowledges, invokes and revokes as. */
export const DRILL_ACTOR = 'lifeboat-drill';

/** Prefix of a drill probe message's gateway id (and raw key under `raw/`). */
export const DRILL_PROBE_PREFIX = 'drill-';

/** Everything a drill needs: the continuity service's dependencies and the admin job records. */
export interface DrillDeps extends ContinuityDeps {
  jobs: SendingStore;
}

export type DrillRecord = SendingRecord<Drill>;

/** The newest drill record, if it is still running (only one drill runs at a time). */
export async function activeDrill(jobs: SendingStore): Promise<DrillRecord | null> {
  const page = await jobs.listSending<Drill>('drill', JOBS_OWNER, { limit: 1 });
  const newest = page.items[0];
  return newest && newest.data.state === 'running' ? newest : null;
}

/**
 * The drill whose outage the probes must simulate in this round, if any: a running drill not yet
 * detected while the organisation is normal, or one whose event is open and not yet revoked.
 */
export async function drillToSimulate(
  deps: Pick<DrillDeps, 'jobs' | 'continuity'>,
): Promise<ActiveDrill | null> {
  const rec = await activeDrill(deps.jobs);
  if (!rec) return null;
  const org = await deps.continuity.getOrg();
  const d = rec.data;
  if (d.eventId === null) {
    return !org || (org.state === 'normal' && org.eventId === null) ? { id: d.id, scope: d.holdScope } : null;
  }
  const live = org?.eventId === d.eventId && (org.state === 'alerting' || org.state === 'continuity');
  return live ? { id: d.id, scope: d.holdScope } : null;
}

async function audit(
  deps: Pick<DrillDeps, 'continuity' | 'clock'>,
  actor: string,
  action: string,
  detail: string,
  eventId: string | null = null,
  target?: string,
) {
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action,
    detail,
    eventId,
    ...(target ? { target: `drill/${target}` } : {}),
  });
}

/** What POST /admin/drills takes, parsed (lambdas/console/drill.ts startDrillBodySchema). */
export interface StartDrill {
  route?: string | undefined;
  mailboxes?: string[] | undefined;
  confirmProduction: boolean;
  auto: boolean;
  probeMessages: number;
  reason?: string | undefined;
}

const blankSteps = () => drillSteps.map((step) => ({ step, at: null, by: null, detail: null }));

/**
 * Starts a drill: from now the probes see its scope failing, and the usual detection opens its event.
 * @throws NotFoundError for an unknown route; ValidationError for a mailbox Lifeboat does not serve
 * @throws DrillError DRILL_PRODUCTION for a production scope without `confirmProduction`,
 *   DRILL_BUSY while another drill runs or continuity is not normal
 */
export async function startDrill(deps: DrillDeps, actor: string, request: StartDrill): Promise<Drill> {
  const resolved = resolveDrillScope(deps.config, request);
  if (resolved.production && !request.confirmProduction) {
    throw new DrillError(
      'DRILL_PRODUCTION',
      `a drill here would hold real mail: ${resolved.productionWhy.join('; ')}. Mark it for testing (routes[].test, drill.testMailboxes) or confirm the drill on production (confirmProduction)`,
    );
  }
  const running = await activeDrill(deps.jobs);
  if (running) throw new DrillError('DRILL_BUSY', `drill ${running.id} is still running; cancel it first`);
  const org = await deps.continuity.getOrg();
  if (org && (org.state !== 'normal' || org.eventId !== null)) {
    throw new DrillError(
      'DRILL_BUSY',
      `the organisation is ${org.state === 'normal' ? 'waiting for a planned maintenance window' : `in ${org.state}`}: a drill runs only while all is normal`,
    );
  }
  const now = deps.clock.now();
  const at = now.toISOString();
  const id = newSendingId(now);
  const drill: Drill = {
    id,
    state: 'running',
    scope: resolved.scope,
    holdScope: resolved.holdScope,
    production: resolved.production,
    auto: request.auto,
    reason: request.reason ?? null,
    startedAt: at,
    startedBy: actor,
    finishedAt: null,
    eventId: null,
    steps: blankSteps().map((s) =>
      s.step === 'started'
        ? { ...s, at, by: actor, detail: `outage simulated for ${scopeLabel(resolved.holdScope)}` }
        : s,
    ),
    probes: { count: request.probeMessages, messageIds: [], held: 0, delivered: 0 },
    cancelledBy: null,
    outcome: null,
    report: null,
  };
  await deps.jobs.putSending(
    {
      kind: 'drill',
      user: JOBS_OWNER,
      id,
      version: 1,
      dueAt: null,
      expiresAt: expiresAfterDays(now, DRILL_RECORD_DAYS),
      data: drill,
    },
    0,
  );
  await audit(
    deps,
    actor,
    'drill-start',
    `drill ${id} started on ${scopeLabel(resolved.holdScope)}${resolved.production ? ' (production, confirmed)' : ''}${request.auto ? ', unattended' : ''}`,
    null,
    id,
  );
  deps.log.info('drill started', { drillId: id, auto: request.auto, production: resolved.production });
  return drill;
}

/** One drill. @throws NotFoundError */
export async function getDrill(deps: Pick<DrillDeps, 'jobs'>, id: string): Promise<Drill> {
  const rec = await deps.jobs.getSending<Drill>('drill', JOBS_OWNER, id);
  if (!rec) throw new NotFoundError(`drill ${id}`);
  return rec.data;
}

/** Drills, newest first. */
export async function listDrills(
  deps: Pick<DrillDeps, 'jobs'>,
  query: { limit: number; cursor?: string | undefined },
): Promise<{ drills: Drill[]; cursor: string | null }> {
  const page = await deps.jobs.listSending<Drill>('drill', JOBS_OWNER, query);
  return { drills: page.items.map((r) => r.data), cursor: page.cursor ?? null };
}

/**
 * Rewrites a drill from a fresh read with `change` (null: nothing to write), retrying when another
 * writer (the webmail's sign-in, a probe round) got there first.
 */
async function updateDrill(
  deps: Pick<DrillDeps, 'jobs'>,
  id: string,
  change: (d: Drill) => Drill | null,
): Promise<Drill> {
  for (let attempt = 0; ; attempt++) {
    const rec = await deps.jobs.getSending<Drill>('drill', JOBS_OWNER, id);
    if (!rec) throw new NotFoundError(`drill ${id}`);
    const next = change(rec.data);
    if (next === null || JSON.stringify(next) === JSON.stringify(rec.data)) return rec.data;
    try {
      await deps.jobs.putSending({ ...rec, version: rec.version + 1, data: next }, rec.version);
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 4) throw err;
    }
  }
}

/** Sets a step once: the first time it happened is the one that counts. */
function mark(
  d: Drill,
  step: DrillStepName,
  at: string | null,
  by: string | null,
  detail: string | null = null,
): Drill {
  if (at === null) return d;
  return {
    ...d,
    steps: d.steps.map((s) => (s.step === step && s.at === null ? { step, at, by, detail } : s)),
  };
}

function stepAt(d: Drill, step: DrillStepName): string | null {
  return d.steps.find((s) => s.step === step)?.at ?? null;
}

/**
 * Cancels a running drill: its alert is closed, or its continuity revoked (the held probe mail is
 * handed over as in any revoke); the report is written with what happened so far.
 * @throws NotFoundError; ContinuityStateError when the drill is not running
 */
export async function cancelDrill(deps: DrillDeps, id: string, actor: string): Promise<Drill> {
  const current = await getDrill(deps, id);
  if (current.state !== 'running') throw new ContinuityStateError(`drill ${id} is already ${current.state}`);
  const org = await deps.continuity.getOrg();
  if (current.eventId && org?.eventId === current.eventId) {
    if (org.state === 'alerting') await endDrillAlert(deps, current.eventId, actor, 'drill cancelled');
    else if (org.state === 'continuity') await revokeContinuity(deps, actor);
  }
  await refreshSteps(deps, id);
  const done = await updateDrill(deps, id, (d) =>
    d.state !== 'running'
      ? null
      : finish(
          { ...d, cancelledBy: actor },
          'cancelled',
          `cancelled by ${actor}`,
          deps.clock.now(),
          deps.config,
        ),
  );
  await audit(deps, actor, 'drill-cancel', `drill ${id} cancelled`, current.eventId, id);
  return done;
}

function finish(d: Drill, state: Drill['state'], outcome: string, now: Date, config: LifeboatConfig): Drill {
  const ended: Drill = { ...d, state, outcome, finishedAt: now.toISOString() };
  return { ...ended, report: buildDrillReport(ended, config) };
}

/** Where the drill's event stands, read from the store: the event, and its pages in the outbox. */
async function eventFacts(deps: DrillDeps, d: Drill) {
  let event: ContinuityEvent | null = d.eventId
    ? ((await deps.continuity.getEvent(d.eventId)) ?? null)
    : null;
  const org = await deps.continuity.getOrg();
  if (!event && org?.eventId) {
    const open = (await deps.continuity.getEvent(org.eventId)) ?? null;
    if (open?.drill === d.id) event = open;
  }
  return { org, event };
}

/** Records the steps the event and the outbox show, and the probe mail's states. */
async function refreshSteps(deps: DrillDeps, id: string): Promise<Drill> {
  const d0 = await getDrill(deps, id);
  const { event } = await eventFacts(deps, d0);
  const notices = event
    ? (await deps.continuity.listNotifications(200)).filter((n) => n.eventId === event.id)
    : [];
  const first = (notice: string) =>
    notices.filter((n) => n.notice === notice).sort((a, b) => a.at.localeCompare(b.at))[0] ?? null;
  const counts = await probeStates(deps, d0);
  return updateDrill(deps, id, (d) => {
    let next: Drill = { ...d, probes: { ...d.probes, ...counts } };
    if (!event) return next;
    next = { ...next, eventId: event.id };
    const evidence = event.evidence.at(0);
    next = mark(
      next,
      'detected',
      event.openedAt,
      'lifeboat',
      evidence ? `${evidence.route} ${evidence.probe}: ${evidence.detail}` : null,
    );
    const page = first('alert');
    if (page)
      next = mark(
        next,
        'paged',
        page.at,
        'lifeboat',
        `${page.channel} to ${page.to.length} admin contact(s)`,
      );
    next = mark(next, 'acknowledged', event.acknowledgedAt, event.acknowledgedBy);
    next = mark(next, 'invoked', event.invokedAt, event.invokedBy, event.invokeMode);
    const staff = first('staff-invoked');
    if (staff)
      next = mark(next, 'staff-notified', staff.at, 'lifeboat', `${staff.to.length} phone(s) texted`);
    next = mark(next, 'revoked', event.revokedAt, event.revokedBy);
    const allDelivered =
      next.probes.messageIds.length > 0 && next.probes.delivered >= expectedProbes(deps.config, next);
    if (event.handover?.finishedAt && allDelivered) {
      next = mark(
        next,
        'handed-over',
        event.handover.finishedAt,
        'lifeboat',
        `${next.probes.delivered} probe deliveries delivered; ${event.handover.released} handed over in all`,
      );
    }
    next = mark(next, 'all-clear', event.closedAt, 'lifeboat');
    return next;
  });
}

/** Probe deliveries a drill expects: each probe message to each of its recipients. */
function expectedProbes(config: LifeboatConfig, d: Drill): number {
  return d.probes.messageIds.length * probeRecipients(config, d.holdScope).length;
}

async function probeStates(deps: DrillDeps, d: Drill): Promise<{ held: number; delivered: number }> {
  let held = 0;
  let delivered = 0;
  for (const messageId of d.probes.messageIds) {
    for (const recipient of probeRecipients(deps.config, d.holdScope)) {
      const delivery = await deps.store.getDelivery({ messageId, recipient });
      if (delivery?.state === 'held') held++;
      if (delivery?.state === 'delivered') delivered++;
    }
  }
  return { held, delivered };
}

/** A probe message: plain text, marked as a drill in its subject and a header, the same bytes on every retry. */
function probeMessage(
  config: LifeboatConfig,
  d: Drill,
  n: number,
  to: string[],
): { id: string; raw: Buffer; from: string } {
  const id = `${DRILL_PROBE_PREFIX}${d.id}-${n}`;
  const from = `lifeboat-drill@${config.hostname}`;
  const lines = [
    `From: Lifeboat drill <${from}>`,
    `To: ${to.join(', ')}`,
    `Subject: [DRILL] ${config.organisation} continuity drill ${d.id}: probe ${n} of ${d.probes.count}`,
    `Date: ${new Date(d.startedAt).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@${config.hostname}>`,
    `X-Lifeboat-Drill: ${d.id}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This is probe message ${n} of ${d.probes.count} of a continuity drill (${d.id}).`,
    'It was held by Lifeboat during the drill and handed to your mail server when the drill ended.',
    'You can delete it.',
    '',
  ];
  return { id, raw: Buffer.from(lines.join('\r\n')), from };
}

const PASS: DrillResult = 'pass';

/** Sends the probe messages through the drill's scope: stored and ingested as received mail, so the hold takes them. */
async function sendProbes(deps: DrillDeps, d: Drill): Promise<string[]> {
  const to = probeRecipients(deps.config, d.holdScope);
  const ids: string[] = [];
  for (let n = 1; n <= d.probes.count; n++) {
    const msg = probeMessage(deps.config, d, n, to);
    const rawKey = `${RAW_PREFIX}${msg.id}`;
    await deps.blobs.putRaw(rawKey, msg.raw);
    await ingestMessage(
      {
        messageId: msg.id,
        rawKey,
        envelopeFrom: msg.from,
        recipients: to,
        receivedAt: deps.clock.now().toISOString(),
        verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      },
      deps,
    );
    ids.push(msg.id);
  }
  return ids;
}

/**
 * Moves a running drill on, after each probe round (both runtimes run it from the probe function):
 * records the steps its event shows; sends the probe messages once continuity holds the scope;
 * unattended, acknowledges, invokes and (once the probe mail is held) revokes; once the event has
 * closed, writes the report. A real event opening first, or no detection within an hour, ends it.
 * @returns the drill as it now stands, or null when none runs
 */
export async function advanceDrill(deps: DrillDeps): Promise<Drill | null> {
  const rec = await activeDrill(deps.jobs);
  if (!rec) return null;
  const id = rec.id;
  const now = () => deps.clock.now();
  let { org, event } = await eventFacts(deps, rec.data);
  if (!event) {
    if (org?.eventId && org.state !== 'normal') {
      return updateDrill(deps, id, (d) =>
        d.state === 'running'
          ? finish(
              d,
              'cancelled',
              'a real continuity event opened before the drill was detected; the drill stopped',
              now(),
              deps.config,
            )
          : null,
      );
    }
    if (now().getTime() - Date.parse(rec.data.startedAt) > DRILL_DETECTION_GIVE_UP_MS) {
      return updateDrill(deps, id, (d) =>
        d.state === 'running'
          ? finish(
              d,
              'cancelled',
              'the probes did not detect the simulated outage within an hour: are the probe rounds running?',
              now(),
              deps.config,
            )
          : null,
      );
    }
    return refreshSteps(deps, id);
  }
  if (rec.data.auto && !event.closedAt && event.state === 'alerting') {
    if (!event.acknowledgedAt) await acknowledgeEvent(deps, event.id, DRILL_ACTOR);
    await invokeContinuity(deps, DRILL_ACTOR, { reason: `unattended drill ${id}` });
    ({ org, event } = await eventFacts(deps, rec.data));
  }
  if (event && !event.closedAt && event.state === 'continuity' && rec.data.probes.messageIds.length === 0) {
    const ids = await sendProbes(deps, rec.data);
    const at = now().toISOString();
    await updateDrill(deps, id, (d) =>
      mark(
        { ...d, probes: { ...d.probes, messageIds: ids } },
        'probes-sent',
        at,
        'lifeboat',
        `${ids.length} message(s) to ${probeRecipients(deps.config, d.holdScope).join(', ')}`,
      ),
    );
  }
  let d = await refreshSteps(deps, id);
  const expected = expectedProbes(deps.config, d);
  if (d.probes.messageIds.length > 0 && stepAt(d, 'probes-visible') === null && d.probes.held >= expected) {
    const at = now().toISOString();
    d = await updateDrill(deps, id, (x) =>
      mark(x, 'probes-visible', at, 'lifeboat', `${x.probes.held} held in the test mailbox(es)`),
    );
  }
  if (d.auto && stepAt(d, 'probes-visible') !== null && event?.state === 'continuity' && !event.closedAt) {
    await revokeContinuity(deps, DRILL_ACTOR);
    d = await refreshSteps(deps, id);
  }
  const closed = d.eventId ? await deps.continuity.getEvent(d.eventId) : undefined;
  if (closed?.closedAt) {
    const complete = drillSteps.every((s) => stepAt(d, s) !== null || s === 'first-sign-in');
    const outcome = complete
      ? 'completed'
      : `ended early: steps not reached: ${drillSteps.filter((s) => stepAt(d, s) === null).join(', ')}`;
    d = await updateDrill(deps, id, (x) =>
      x.state === 'running' ? finish(x, 'completed', outcome, now(), deps.config) : null,
    );
    await audit(
      deps,
      'lifeboat',
      'drill-complete',
      `drill ${id} ${outcome}; ${d.report?.passed ? 'every target met' : 'targets missed'}`,
      d.eventId,
      id,
    );
  }
  return d;
}

/**
 * Records a drill's first webmail sign-in: the webmail calls it for every request it serves; the
 * first one from a user with an address in a running drill's scope is the step. Reads are cached
 * for `cacheMs`, so an ordinary request costs nothing most of the time.
 */
export function createDrillSignInRecorder(
  deps: Pick<DrillDeps, 'jobs' | 'config' | 'clock' | 'log'>,
  options: { cacheMs?: number } = {},
): (user: { id: string; addresses: readonly string[] }) => Promise<void> {
  const cacheMs = options.cacheMs ?? 10_000;
  let cached: { at: number; drill: Drill | null } | null = null;
  return async (user) => {
    try {
      const t = deps.clock.now().getTime();
      if (!cached || t - cached.at >= cacheMs) {
        cached = { at: t, drill: (await activeDrill(deps.jobs))?.data ?? null };
      }
      const d = cached.drill;
      if (!d || stepAt(d, 'first-sign-in') !== null) return;
      const address = user.addresses.find((a) => addressInScope(deps.config, a, d.holdScope));
      if (!address) return;
      const at = deps.clock.now().toISOString();
      const next = await updateDrill(deps, d.id, (x) =>
        x.state === 'running' ? mark(x, 'first-sign-in', at, user.id, `${address} in the webmail`) : null,
      );
      cached = { at: t, drill: next };
    } catch (err) {
      // A drill's bookkeeping never fails a member of staff's request.
      deps.log.warn('drill sign-in not recorded', { error: (err as Error).message });
    }
  };
}

/** The organisation's targets as report rows measure them. */
export function drillTargets(config: LifeboatConfig): DrillTarget[] {
  const t = config.drill.targets;
  return [
    { step: 'detected', from: 'started', seconds: t.detectionSeconds },
    { step: 'paged', from: 'detected', seconds: t.pageSeconds },
    { step: 'acknowledged', from: 'paged', seconds: t.acknowledgeSeconds },
    { step: 'invoked', from: 'detected', seconds: t.invokeSeconds },
    { step: 'staff-notified', from: 'invoked', seconds: t.staffNotifiedSeconds },
    { step: 'first-sign-in', from: 'invoked', seconds: t.firstSignInSeconds },
    { step: 'handed-over', from: 'revoked', seconds: t.handoverSeconds },
  ];
}

const seconds = (from: string, to: string) => Math.round(Date.parse(to) - Date.parse(from)) / 1000;

/**
 * The timed report: each step with its time, seconds from the start and from the previous step
 * that happened, and pass/fail against the targets (`missed` when a step with a target never
 * happened; an unattended drill's sign-in, which nobody makes, is not counted).
 */
export function buildDrillReport(d: Drill, config: LifeboatConfig): DrillReport {
  const targets = drillTargets(config);
  let previous: string | null = null;
  const rows: DrillReportRow[] = drillSteps.map((step) => {
    const s = d.steps.find((x) => x.step === step) ?? { at: null, by: null, detail: null };
    const target = targets.find((t) => t.step === step) ?? null;
    const fromAt = target ? stepAt(d, target.from) : null;
    const measured = target && s.at && fromAt ? seconds(fromAt, s.at) : null;
    let result: DrillResult = 'none';
    let detail = s.detail;
    if (target) {
      if (measured !== null) result = measured <= target.seconds ? PASS : 'fail';
      else if (step === 'first-sign-in' && d.auto) detail = 'unattended drill: nobody signs in; not counted';
      else result = 'missed';
    }
    if (s.at === null && detail === null) {
      if (step === 'staff-notified' && drillStaffPhones(config, d.holdScope).length === 0)
        detail = 'no phones in scope (drill.staffPhones, webmail.users)';
      if (
        step === 'paged' &&
        config.continuity.paging.adminPhones.length + config.continuity.paging.adminEmails.length === 0
      )
        detail = 'no admin contacts (continuity.paging)';
    }
    const row: DrillReportRow = {
      step,
      label: drillStepLabels[step],
      at: s.at,
      by: s.by,
      sinceStartSeconds: s.at ? seconds(d.startedAt, s.at) : null,
      sincePreviousSeconds: s.at ? seconds(previous ?? d.startedAt, s.at) : null,
      target,
      measuredSeconds: measured,
      result,
      detail,
    };
    if (s.at) previous = s.at;
    return row;
  });
  const count = (r: DrillResult) => rows.filter((x) => x.result === r).length;
  const counts = { pass: count('pass'), fail: count('fail'), missed: count('missed') };
  return {
    drillId: d.id,
    eventId: d.eventId,
    organisation: config.organisation,
    scope: d.scope,
    production: d.production,
    auto: d.auto,
    state: d.state,
    startedAt: d.startedAt,
    startedBy: d.startedBy,
    finishedAt: d.finishedAt,
    outcome: d.outcome ?? d.state,
    rows,
    passed: d.state === 'completed' && counts.fail === 0 && counts.missed === 0,
    counts,
  };
}

/**
 * The report of an ended drill. @throws NotFoundError; DrillError DRILL_RUNNING while it runs
 */
export async function drillReport(deps: Pick<DrillDeps, 'jobs'>, id: string): Promise<DrillReport> {
  const d = await getDrill(deps, id);
  if (d.state === 'running' || !d.report) {
    throw new DrillError('DRILL_RUNNING', `drill ${id} is still running: its report is written when it ends`);
  }
  return d.report;
}

export const DRILL_CSV_COLUMNS = [
  'step',
  'label',
  'at',
  'by',
  'since_start_s',
  'since_previous_s',
  'target_s',
  'target_from',
  'measured_s',
  'result',
  'detail',
] as const;

const num = (n: number | null) => (n === null ? '' : String(n));

/** The report as CSV (RFC 4180, spreadsheet-safe cells), one row per step. */
export function drillReportCsv(r: DrillReport): string {
  const lines = [DRILL_CSV_COLUMNS.join(',')];
  for (const row of r.rows) {
    lines.push(
      [
        row.step,
        row.label,
        row.at ?? '',
        row.by ?? '',
        num(row.sinceStartSeconds),
        num(row.sincePreviousSeconds),
        num(row.target?.seconds ?? null),
        row.target?.from ?? '',
        num(row.measuredSeconds),
        row.result,
        row.detail ?? '',
      ]
        .map((c) => csvCell(c))
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** Seconds as people read them: `45 s`, `3 min 20 s`, `1 h 5 min`. */
export function formatDuration(s: number | null): string {
  if (s === null) return '';
  const whole = Math.round(s);
  if (whole < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min${whole % 60 ? ` ${whole % 60} s` : ''}`;
  return `${Math.floor(whole / 3600)} h${Math.floor((whole % 3600) / 60) ? ` ${Math.floor((whole % 3600) / 60)} min` : ''}`;
}

/** The report as a printable HTML page (no script, no remote content: a record to file and print). */
export function drillReportHtml(r: DrillReport): string {
  const scope =
    r.scope.kind === 'route' ? `route ${r.scope.route}` : `mailboxes ${r.scope.mailboxes.join(', ')}`;
  const rows = r.rows
    .map(
      (row) =>
        `<tr class="${row.result}"><td>${escapeHtml(row.label)}</td><td>${escapeHtml(row.at ?? '-')}</td><td>${escapeHtml(row.by ?? '')}</td><td>${formatDuration(row.sinceStartSeconds)}</td><td>${formatDuration(row.sincePreviousSeconds)}</td><td>${row.target ? `${formatDuration(row.target.seconds)} from ${escapeHtml(row.target.from)}` : ''}</td><td>${formatDuration(row.measuredSeconds)}</td><td>${row.result === 'none' ? '' : row.result.toUpperCase()}</td><td>${escapeHtml(row.detail ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continuity drill ${escapeHtml(r.drillId)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top}.pass td:nth-child(8){color:#060}.fail td:nth-child(8),.missed td:nth-child(8){color:#a00;font-weight:bold}@media print{body{margin:0}}</style>
</head><body>
<h1>${escapeHtml(r.organisation)}: continuity drill report</h1>
<p><strong>${r.passed ? 'PASSED: every target met' : `NOT PASSED: ${r.counts.fail} failed, ${r.counts.missed} missed`}</strong> (${r.counts.pass} met)</p>
<dl><dt>Drill</dt><dd>${escapeHtml(r.drillId)}${r.eventId ? `, event ${escapeHtml(r.eventId)}` : ''}</dd>
<dt>Scope</dt><dd>${escapeHtml(scope)}${r.production ? ' (production, confirmed)' : ' (test)'}; ${r.auto ? 'unattended' : 'run by admins'}</dd>
<dt>Started</dt><dd>${escapeHtml(r.startedAt)} by ${escapeHtml(r.startedBy)}</dd>
<dt>Finished</dt><dd>${escapeHtml(r.finishedAt ?? '-')}: ${escapeHtml(r.outcome)}</dd></dl>
<table><thead><tr><th>Step</th><th>At (UTC)</th><th>By</th><th>From start</th><th>From previous</th><th>Target</th><th>Measured</th><th>Result</th><th>Note</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
