import { randomBytes, randomUUID } from 'node:crypto';
import {
  type BlobStore,
  type Clock,
  type ContinuityStore,
  JOBS_OWNER,
  type Logger,
  type Mailer,
  type MessageStore,
  type Metrics,
  type NotificationRecord,
  type Notifier,
  type SendingStore,
  type SmtpProber,
} from '../ports.js';
import type { LifeboatConfig } from './config.js';
import {
  type Action,
  type ActiveDrill,
  acknowledge,
  blankEvent,
  type ContinuityEvent,
  ContinuityStateError,
  endDrillEvent,
  extendEvent,
  finishHandover,
  initialOrgState,
  invokeByAdmin,
  type OrgState,
  type ProbeResult,
  pendingActionsDue,
  resumePending,
  revokeByAdmin,
  type Step,
  SYSTEM,
  scheduleMaintenance,
  stepRound,
} from './continuity.js';
import { type DeliverStep, leaseSecondsFor, sendClaimed } from './deliver.js';
import { claimDelivery, INTERRUPTED_ATTEMPT, isDue, releaseAndClaim } from './delivery-state.js';
import { drillNoticeConfig } from './drill-scope.js';
import { ConflictError, NotFoundError } from './errors.js';
import { recordFlow, rollUpFlow } from './flow-metrics.js';
import type { DeliveryRecord, DeliveryState } from './model.js';
import { composeNotice } from './notices.js';
import {
  type FailedNotifications,
  failedNotifications,
  recordNotificationFailure,
} from './notification-failures.js';
import { runProbes } from './probes.js';
import { forEachInState, holdScope, inScope, releaseScope } from './queue-ops.js';
import { SENT_COPY_REASON } from './sending/outbound.js';

/** The hold reason continuity uses; admin holds on single deliveries keep their own. */
export const CONTINUITY_REASON = 'continuity';

export interface ContinuityDeps {
  store: MessageStore;
  continuity: ContinuityStore;
  blobs: BlobStore;
  mailer: Mailer;
  prober: SmtpProber;
  notifier: Notifier;
  config: LifeboatConfig;
  clock: Clock;
  log: Logger;
  /** Counters for the alarms (a refused page); absent where nothing watches them. */
  metrics?: Metrics | undefined;
  /** Names new events; time-ordered so listing by id lists by time. */
  newId?: () => string;
  /** The admin job records, where drills are kept; without it no drill runs. */
  jobs?: SendingStore | undefined;
  /** Test seam: called after each hand-over batch so a crash can be injected. */
  handoverCheckpoint?: ((released: number) => void) | undefined;
  /** Test seam: called after each step of a handed-over delivery so a crash can be injected. */
  checkpoint?: ((step: DeliverStep) => void) | undefined;
}

export function newEventId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
}

async function load(deps: ContinuityDeps): Promise<{ org: OrgState; event: ContinuityEvent | null }> {
  const org = (await deps.continuity.getOrg()) ?? initialOrgState(deps.clock.now());
  let event = org.eventId ? ((await deps.continuity.getEvent(org.eventId)) ?? null) : null;
  if (org.eventId && !event) {
    // A worker stopped between writing the organisation record and its event: rebuild the
    // event from the record, so monitoring goes on instead of failing every round.
    const rebuilt: ContinuityEvent = {
      ...blankEvent(org.eventId, new Date(org.since), 'probe', '*'),
      state: org.state,
    };
    deps.log.warn('continuity event record was missing; rebuilt it', {
      eventId: org.eventId,
      state: org.state,
    });
    await deps.continuity.putEvent(rebuilt);
    event = rebuilt;
  }
  return { org, event };
}

async function notify(
  deps: ContinuityDeps,
  notice: Parameters<typeof composeNotice>[0],
  event: ContinuityEvent,
) {
  const now = deps.clock.now();
  // A drill's pages and texts say DRILL, and only the staff in its scope are texted.
  const config = event.drill ? drillNoticeConfig(deps.config, event.scope) : deps.config;
  for (const draft of composeNotice(notice, event, config)) {
    const n: NotificationRecord = { ...draft, id: randomBytes(6).toString('hex'), at: now.toISOString() };
    // The outbox keeps every page whatever happens to the transport, so the console can show it.
    await deps.continuity.putNotification(n);
    try {
      await deps.notifier.send(n);
    } catch (err) {
      deps.log.error('notification not sent', { notice, channel: n.channel, error: (err as Error).message });
      await recordNotificationFailure(deps, n, (err as Error).message);
      await deps.continuity.appendAudit({
        at: now.toISOString(),
        actor: 'lifeboat',
        action: 'notify-failed',
        detail: `${n.channel} ${notice}: ${(err as Error).message}`,
        eventId: event.id,
      });
    }
  }
}

/** What a hand-over sends: mail held by continuity, then the sent copies of the mail staff wrote meanwhile. */
function handedOver(d: DeliveryRecord): boolean {
  return d.reason === CONTINUITY_REASON || d.reason === SENT_COPY_REASON;
}

async function countHeld(deps: ContinuityDeps, scope: string): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.store.queryByState({ state: 'held', limit: 100, cursor });
    n += page.items.filter((d) => inScope(d, scope) && handedOver(d)).length;
    cursor = page.cursor;
  } while (cursor);
  return n;
}

/**
 * How long the worker that commits a transition may still be carrying out its actions: longer
 * than the API function (29 s) and the probe function (at most `queue.leaseSeconds`) can run.
 * Past it, pending actions are a dead worker's, and the next probe round or a retry takes them over.
 */
export function pendingLeaseMs(config: Pick<LifeboatConfig, 'queue'>): number {
  return Math.max(120, config.queue.leaseSeconds) * 1000;
}

/** Carries out one action of a committed step; returns the event as the action left it. */
async function runAction(
  deps: ContinuityDeps,
  action: Action,
  event: ContinuityEvent,
): Promise<ContinuityEvent> {
  const at = deps.clock.now().toISOString();
  switch (action.type) {
    case 'hold': {
      const actor = event.invokedBy ?? 'lifeboat';
      const moved = await holdScope(action.scope, CONTINUITY_REASON, actor, deps);
      deps.log.info('continuity hold placed', { eventId: event.id, scope: action.scope, moved });
      return event;
    }
    case 'start-handover': {
      const hold = (await deps.store.listHolds()).find((h) => h.scope === event.scope);
      await deps.store.putHold({
        scope: event.scope,
        reason: CONTINUITY_REASON,
        since: hold?.since ?? at,
        by: hold?.by ?? event.revokedBy ?? 'lifeboat',
        draining: true,
      });
      const total = await countHeld(deps, event.scope);
      return { ...event, handover: { startedAt: at, total, released: 0, finishedAt: null } };
    }
    case 'lift-hold': {
      // A sent copy recorded as the hand-over finished goes now, with what arrived in its last batch.
      const late = await releaseScope(action.scope, deps, [CONTINUITY_REASON, SENT_COPY_REASON]);
      if (late.length)
        deps.log.info('released mail held during the last hand-over batch', { count: late.length });
      return event;
    }
    case 'notify':
      await notify(deps, action.notice, event);
      return event;
  }
}

/**
 * Persists a step and carries out its actions. The organisation record is written with a
 * conditional write first, so two workers never both apply a transition. The actions are written
 * with the event before any is carried out, and struck off one by one, so a worker that dies
 * half-way leaves the rest for the next probe round or a retry (resumePendingActions).
 */
async function commit(deps: ContinuityDeps, before: OrgState, step: Step): Promise<Step> {
  const now = deps.clock.now();
  // Actions another worker left pending stay pending (for it, or for whoever takes them over)
  // unless this step is the one taking them over.
  const carried = step.resumes ? [] : (step.event?.pendingActions ?? []);
  const lease = new Date(now.getTime() + pendingLeaseMs(deps.config)).toISOString();
  const pending = (rest: Action[]) => {
    const all = [...carried, ...rest];
    const until = rest.length ? lease : (step.event?.pendingUntil ?? null);
    return { pendingActions: all, pendingUntil: all.length ? until : null };
  };
  let event: ContinuityEvent | null = step.event ? { ...step.event, ...pending(step.actions) } : null;
  await deps.continuity.putOrg(step.org, before.version);
  if (step.closed) await deps.continuity.putEvent(step.closed);
  if (event) await deps.continuity.putEvent(event);
  for (const a of step.audit) {
    await deps.continuity.appendAudit({ ...a, at: now.toISOString(), eventId: event?.id ?? null });
  }
  for (const [i, action] of step.actions.entries()) {
    if (!event) break;
    event = { ...(await runAction(deps, action, event)), ...pending(step.actions.slice(i + 1)) };
    await deps.continuity.putEvent(event);
  }
  return { ...step, event };
}

/** Loads, steps and commits, starting again from a fresh read when another worker won the race. */
async function transact(
  deps: ContinuityDeps,
  make: (org: OrgState, event: ContinuityEvent | null) => Step,
): Promise<Step> {
  for (let attempt = 0; ; attempt++) {
    const { org, event } = await load(deps);
    try {
      return await commit(deps, org, make(org, event));
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 4) throw err;
    }
  }
}

const idFor = (deps: ContinuityDeps) => deps.newId ?? (() => newEventId(deps.clock.now()));

/**
 * Keeps the holds in line with the state, in case a worker stopped between writing the state
 * and placing (or lifting) its hold.
 */
async function reconcileHolds(
  deps: ContinuityDeps,
  org: OrgState,
  event: ContinuityEvent | null,
): Promise<void> {
  if (!event || (org.state !== 'continuity' && org.state !== 'recovering')) return;
  const hold = (await deps.store.listHolds()).find((h) => h.scope === event.scope);
  // While recovering the hold must be draining too: otherwise delivery holds again every
  // delivery the hand-over releases, and the hand-over never ends.
  const draining = org.state === 'recovering';
  if (!hold || (draining && !hold.draining)) {
    await deps.store.putHold({
      scope: event.scope,
      reason: CONTINUITY_REASON,
      since: hold?.since ?? event.invokedAt ?? deps.clock.now().toISOString(),
      by: hold?.by ?? event.invokedBy ?? 'lifeboat',
      draining,
    });
  }
}

/**
 * Completes the actions a worker that died half-way through a transition left pending (pages not
 * sent, a hold not placed or lifted), on the open event or, once it closed, the last one.
 * @returns whether anything was pending and is now done
 */
export async function resumePendingActions(deps: ContinuityDeps): Promise<boolean> {
  const { event } = await load(deps);
  const candidate = event ?? (await deps.continuity.listEvents(1))[0] ?? null;
  if (!candidate || !pendingActionsDue(candidate, deps.clock.now())) return false;
  try {
    await transact(deps, (org, current) =>
      resumePending(org, current?.id === candidate.id ? current : candidate, deps.clock.now(), SYSTEM),
    );
  } catch (err) {
    // Another worker took them over first.
    if (err instanceof ContinuityStateError) return false;
    throw err;
  }
  deps.log.warn('completed the actions a stopped worker left pending', { eventId: candidate.id });
  return true;
}

/** The detail a drill's simulated failure carries, as its event's evidence shows it. */
export const DRILL_SIMULATED_DETAIL = 'DRILL: outage simulated for the drill scope';

/**
 * A round's findings as a drill makes the probes see them: its scope fails (a route's own findings
 * give way to the simulated failure), everything else is as found, so a real outage elsewhere
 * still pages.
 */
export function simulateDrill(results: readonly ProbeResult[], drill: ActiveDrill | null): ProbeResult[] {
  if (!drill) return [...results];
  return [
    ...results.filter((r) => r.route !== drill.scope),
    {
      probe: 'smtp',
      route: drill.scope,
      ok: false,
      detail: DRILL_SIMULATED_DETAIL,
      figures: {},
      simulated: true,
    },
  ];
}

/**
 * One probe round: run the probes, step the state machine, page and hold as it says. A running
 * drill (`options.drill`) makes its scope fail for the round, so the usual detection path opens its
 * event.
 */
export async function runProbeRound(
  deps: ContinuityDeps,
  options: { drill?: ActiveDrill | null | undefined } = {},
): Promise<Step> {
  const drill = options.drill ?? null;
  await resumePendingActions(deps);
  const results = simulateDrill(await runProbes({ ...deps }), drill);
  // Each returned probe is reported by one round only; the queue depth is sampled every round.
  const probeRttMs = results.flatMap((r) =>
    r.probe === 'roundtrip' && typeof r.figures?.rttMs === 'number' ? [r.figures.rttMs] : [],
  );
  await rollUpFlow(deps);
  await recordFlow(deps, { probeRttMs, depth: await deps.store.countByState() });
  const step = await transact(deps, (org, event) =>
    stepRound(org, event, results, deps.clock.now(), deps.config.continuity, idFor(deps), drill),
  );
  await reconcileHolds(deps, step.org, step.event);
  return step;
}

export async function acknowledgeEvent(deps: ContinuityDeps, eventId: string, actor: string): Promise<Step> {
  return transact(deps, (org, current) => {
    if (!current || current.id !== eventId) throw new NotFoundError(`open event ${eventId}`);
    return acknowledge(org, current, deps.clock.now(), actor);
  });
}

/**
 * Moves the planned end of the open event `hours` later (see extendEvent), audited on its timeline.
 * @throws NotFoundError when `eventId` is not the open event
 */
export async function extendContinuity(
  deps: ContinuityDeps,
  eventId: string,
  actor: string,
  hours: number,
): Promise<Step> {
  return transact(deps, (org, current) => {
    if (!current || current.id !== eventId) throw new NotFoundError(`open event ${eventId}`);
    return extendEvent(org, current, deps.clock.now(), actor, hours, deps.config.continuity.maxEventHours);
  });
}

export async function invokeContinuity(
  deps: ContinuityDeps,
  actor: string,
  options: { scope?: string; reason?: string } = {},
): Promise<Step> {
  if (options.scope && options.scope !== '*' && !deps.config.routes.some((r) => r.name === options.scope)) {
    throw new NotFoundError(`route ${options.scope}`);
  }
  return transact(deps, (org, event) =>
    invokeByAdmin(
      org,
      // An open alert is the event invoked; an invoked one is passed so a retry completes its actions.
      event && !event.closedAt && (event.state === 'alerting' || event.state === 'continuity') ? event : null,
      deps.clock.now(),
      actor,
      idFor(deps),
      options.scope ?? '*',
      options.reason ?? null,
    ),
  );
}

/**
 * Ends a drill's event that was never invoked (nothing is held): the drill was cancelled or stopped.
 * @throws NotFoundError when `eventId` is not the open event
 */
export async function endDrillAlert(
  deps: ContinuityDeps,
  eventId: string,
  actor: string,
  why: string,
): Promise<Step> {
  return transact(deps, (org, current) => {
    if (!current || current.id !== eventId) throw new NotFoundError(`open event ${eventId}`);
    return endDrillEvent(org, current, deps.clock.now(), actor, why);
  });
}

export async function revokeContinuity(deps: ContinuityDeps, actor: string): Promise<Step> {
  return transact(deps, (org, event) => revokeByAdmin(org, event, deps.clock.now(), actor));
}

export async function scheduleContinuity(
  deps: ContinuityDeps,
  actor: string,
  window: { start: Date; end: Date; scope?: string; reason?: string },
): Promise<Step> {
  return transact(deps, (org) => scheduleMaintenance(org, deps.clock.now(), actor, idFor(deps), window));
}

export interface HandoverResult {
  released: number;
  done: boolean;
}

/**
 * Held deliveries a hand-over reads per query, per delivery it keeps in flight: one query and
 * one progress write per batch instead of per delivery, while a batch stays small enough that
 * mail arriving during the hand-over waits for little more than one batch.
 */
export const HANDOVER_BATCH_PER_SLOT = 5;

/** The oldest deliveries of the event's scope held for `reason`, up to `limit`, in arrival order. */
async function oldestHeld(
  deps: ContinuityDeps,
  scope: string,
  limit: number,
  reason: string = CONTINUITY_REASON,
): Promise<DeliveryRecord[]> {
  const found: DeliveryRecord[] = [];
  let cursor: string | undefined;
  do {
    // Pages no longer than the batch: the index is read again for every batch.
    const page = await deps.store.queryByState({ state: 'held', limit: Math.min(100, limit), cursor });
    for (const d of page.items) {
      if (inScope(d, scope) && d.reason === reason) found.push(d);
      if (found.length >= limit) return found;
    }
    cursor = page.cursor;
  } while (cursor);
  return found;
}

/** A batch as messages, in the order of each message's oldest delivery in it. */
function byMessage(batch: DeliveryRecord[]): DeliveryRecord[][] {
  const groups = new Map<string, DeliveryRecord[]>();
  for (const d of batch) {
    const group = groups.get(d.messageId);
    if (group) group.push(d);
    else groups.set(d.messageId, [d]);
  }
  return [...groups.values()];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once every promise in the set has settled, including ones added meanwhile. */
async function settled(inFlight: Set<Promise<void>>): Promise<void> {
  while (inFlight.size > 0) await Promise.all(inFlight);
}

/** Deliveries of a scope a hand-over has to see through before it may finish, besides held ones. */
interface Unfinished {
  /** Free to be sent now: a stopped worker's expired lease, or released mail nobody claimed. */
  takeable: DeliveryRecord[];
  /** Under a live lease: a worker may be sending them right now. */
  live: number;
}

/**
 * Deliveries of the scope left mid-way (`delivering`, or `queued` by a release nobody claimed),
 * in arrival order. Read when a run starts and before it finishes, never per delivery: a run
 * sees every delivery it releases through to its outcome itself.
 */
async function unfinished(deps: ContinuityDeps, scope: string): Promise<Unfinished> {
  const now = deps.clock.now();
  const takeable: DeliveryRecord[] = [];
  let live = 0;
  for (const state of ['delivering', 'queued'] as const) {
    await forEachInState(deps.store, state, async (d) => {
      if (!inScope(d, scope)) return;
      if (isDue(d, now)) takeable.push(d);
      else live++;
    });
  }
  takeable.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.messageId.localeCompare(b.messageId));
  return { takeable, live };
}

/**
 * Hands held mail back to the primary, oldest first, at most `handover.ratePerSecond` deliveries a
 * second with `handover.concurrency` in flight (1 keeps strict arrival order).
 *
 * Each held delivery is released straight into a claim (one conditional write) and sent with the
 * record in hand; its outcome is the second write. A run reads the held index once per batch and
 * writes its progress once per batch; the slots stay full across batches, so a slow transaction
 * holds up only its own. It returns (or throws) only once every delivery it started has its
 * outcome recorded. Deliveries a stopped run left mid-send go first: once their lease has run out
 * (or at once, after the single-node runtime reclaimed them at start-up) they are sent before
 * anything newer, and while a live lease may still be sending one, nothing newer starts. The event closes only when nothing of its scope is held or in flight any more.
 *
 * Pacing and the budget are durations, measured on the monotonic clock; lease expiry and every
 * recorded time come from `deps.clock`.
 */
export async function runHandover(deps: ContinuityDeps, budgetMs: number): Promise<HandoverResult> {
  const { org, event } = await load(deps);
  if (org.state !== 'recovering' || !event) return { released: 0, done: false };
  await reconcileHolds(deps, org, event);
  const { ratePerSecond, concurrency } = deps.config.continuity.handover;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const spent = () => elapsed() >= budgetMs;
  let released = event.handover?.released ?? 0;
  let thisRun = 0;
  // Deliveries this run has started, for the pace: released ones and ones taken over.
  let starts = 0;
  let left = await unfinished(deps, event.scope);
  if (left.live > 0) {
    deps.log.info('hand-over waits for a delivery another worker may still be sending', {
      eventId: event.id,
      inFlight: left.live,
    });
    return { released: 0, done: false };
  }
  // Deliveries in flight, across batches: the next batch starts as slots come free, so one slow
  // transaction (a new session, a slow reply) holds up its own slot, never the whole batch.
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    while (!spent()) {
      const takingOver = left.takeable.length > 0;
      const size = concurrency * HANDOVER_BATCH_PER_SLOT;
      let batch = takingOver ? left.takeable : await oldestHeld(deps, event.scope, size);
      if (!takingOver && batch.length === 0) {
        // The sent copies go last: only once every held inbound delivery has its outcome, so the
        // primary files the mail that waited before the sender's own copies, whatever the concurrency.
        if (inFlight.size > 0) {
          await settled(inFlight);
          if (failure) throw failure.error;
        }
        batch = await oldestHeld(deps, event.scope, size, SENT_COPY_REASON);
      }
      left = { takeable: [], live: 0 };
      if (batch.length === 0) {
        if (inFlight.size > 0) {
          // The index is read again once their outcomes are recorded: it is only empty then.
          await settled(inFlight);
          if (failure) throw failure.error;
          continue;
        }
        // Finishing checks, never assumes: a delivery still in flight (a worker that died holding
        // it, a retry under way) keeps the event open until it is delivered, failed or back in the
        // queue, and one whose worker is gone is sent now, ahead of anything newer.
        left = await unfinished(deps, event.scope);
        if (left.takeable.length > 0) continue;
        if (left.live > 0) return { released: thisRun, done: false };
        const backlog = { held: batch.length, inFlight: left.live + left.takeable.length };
        await transact(deps, (o, e) => {
          if (o.state !== 'recovering' || !e) throw new ConflictError('the hand-over was already finished');
          return finishHandover(
            o,
            { ...e, handover: e.handover ?? null },
            deps.clock.now(),
            released,
            backlog,
          );
        }).catch((err) => {
          if (!(err instanceof ConflictError)) throw err;
        });
        return { released: thisRun, done: true };
      }
      const batchStarted = deps.clock.now();
      for (const group of byMessage(batch)) {
        // Pace: the n-th delivery of this run may not start before n / rate seconds have passed.
        const wait = (starts / ratePerSecond) * 1000 - elapsed();
        if (wait > 0) await sleep(Math.min(wait, Math.max(0, budgetMs - elapsed())));
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (failure || spent()) break;
        const now = deps.clock.now();
        const leaseId = randomUUID();
        const claimed: DeliveryRecord[] = [];
        for (const d of group) {
          const lease = leaseSecondsFor(deps.config, d.route);
          const next = takingOver
            ? claimDelivery(d, now, leaseId, lease)
            : releaseAndClaim(d, now, leaseId, lease);
          try {
            await deps.store.replaceDelivery(next, d.version);
            claimed.push(next);
            // Taken over, or held again by the runtime's start-up: an earlier run released it.
            if (!takingOver && d.lastError !== INTERRUPTED_ATTEMPT) {
              released++;
              thisRun++;
            }
          } catch (err) {
            // Another worker released it first. Anything else stops the hand-over once the
            // deliveries in flight have finished.
            if (!(err instanceof ConflictError)) failure ??= { error: err };
          }
        }
        starts += claimed.length;
        if (claimed.length === 0) continue;
        const messageId = claimed[0]?.messageId as string;
        const sending: Promise<void> = (async () => {
          deps.checkpoint?.('claimed');
          await sendClaimed(messageId, claimed, deps);
        })().catch((error: unknown) => {
          failure ??= { error };
        });
        inFlight.add(sending);
        void sending.finally(() => inFlight.delete(sending));
      }
      if (!takingOver) {
        try {
          // What the batch released counts from its claims; written after a failure too.
          const fresh = (await deps.continuity.getEvent(event.id)) ?? event;
          await deps.continuity.putEvent({
            ...fresh,
            handover: {
              ...(fresh.handover ?? {
                startedAt: batchStarted.toISOString(),
                total: released,
                finishedAt: null,
              }),
              released,
            },
          });
        } catch (err) {
          failure ??= { error: err };
        }
      }
      if (failure) throw failure.error;
      deps.handoverCheckpoint?.(released);
    }
    return { released: thisRun, done: false };
  } finally {
    // However the run ends, it returns only once every delivery it started has its outcome.
    await settled(inFlight);
  }
}

/** One probe's streak on one route, as the thresholds count it. */
export interface ProbeHealth {
  probe: string;
  /** Failures in a row; 0 once the probe succeeds again. */
  failures: number;
  successes: number;
}

/** One route as the console draws it: where it delivers, whether it is held, its probes' streaks. */
export interface RouteHealth {
  name: string;
  domains: string[];
  /** `host:port` of each host, in the order they are tried. */
  hosts: string[];
  /** A hold covers it (its own or every route's). */
  held: boolean;
  probes: ProbeHealth[];
}

export interface ContinuityStatus {
  state: OrgState['state'];
  since: string;
  lastProbeRoundAt: string | null;
  event: ContinuityEvent | null;
  holds: Awaited<ReturnType<MessageStore['listHolds']>>;
  queue: Record<DeliveryState, number>;
  /** Pages and texts the notifier refused lately (SNS sandbox, spend limit, AccessDenied). */
  failedNotifications: FailedNotifications;
  /** Each configured route with its probes' streaks from the last rounds (read-only, for the console). */
  routes: RouteHealth[];
  /** The drill running now, if any (its event, once detected, is `event` with `drill` set). */
  drill: { id: string; holdScope: string; eventId: string | null; auto: boolean } | null;
}

/** The configured routes with the streaks the probe rounds keep and the holds on them. */
export function routeHealth(
  routes: LifeboatConfig['routes'],
  streaks: OrgState['streaks'],
  holds: readonly { scope: string }[],
): RouteHealth[] {
  return routes.map((r) => ({
    name: r.name,
    domains: [...r.domains],
    hosts: r.hosts.map((h) => `${h.host}:${h.port}`),
    held: holds.some((h) => h.scope === '*' || h.scope === r.name),
    probes: Object.entries(streaks)
      .filter(([key]) => key.startsWith(`${r.name}/`))
      .map(([key, s]) => ({
        probe: key.slice(r.name.length + 1),
        failures: s.failures,
        successes: s.successes,
      })),
  }));
}

export async function getStatus(
  deps: Pick<ContinuityDeps, 'store' | 'continuity' | 'clock'> & {
    config?: Pick<LifeboatConfig, 'routes'> | undefined;
    jobs?: SendingStore | undefined;
  },
): Promise<ContinuityStatus> {
  const org = (await deps.continuity.getOrg()) ?? initialOrgState(deps.clock.now());
  const event = org.eventId ? ((await deps.continuity.getEvent(org.eventId)) ?? null) : null;
  const holds = await deps.store.listHolds();
  return {
    state: org.state,
    since: org.since,
    lastProbeRoundAt: org.lastRoundAt,
    event,
    holds,
    queue: await deps.store.countByState(),
    failedNotifications: await failedNotifications(deps.continuity, deps.clock.now()),
    routes: routeHealth(deps.config?.routes ?? [], org.streaks, holds),
    drill: await runningDrill(deps.jobs),
  };
}

/** The newest drill, if it is running (lambdas/core/drill.ts keeps them; read here without it). */
async function runningDrill(jobs: SendingStore | undefined): Promise<ContinuityStatus['drill']> {
  if (!jobs) return null;
  const newest = (
    await jobs.listSending<{
      id: string;
      state: string;
      holdScope: string;
      eventId: string | null;
      auto: boolean;
    }>('drill', JOBS_OWNER, { limit: 1 })
  ).items[0]?.data;
  return newest?.state === 'running'
    ? { id: newest.id, holdScope: newest.holdScope, eventId: newest.eventId, auto: newest.auto }
    : null;
}
