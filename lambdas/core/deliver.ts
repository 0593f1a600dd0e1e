import { randomUUID } from 'node:crypto';
import type {
  AttemptSample,
  BlobStore,
  Clock,
  ContinuityStore,
  Logger,
  Mailer,
  MessageStore,
  RecipientOutcome,
} from '../ports.js';
import type { LifeboatConfig, RouteConfig } from './config.js';
import { type AttemptResult, claimDelivery, completeAttempt, holdDelivery, isDue } from './delivery-state.js';
import { ConflictError } from './errors.js';
import { recordFlow } from './flow-metrics.js';
import { holdReasonFor } from './holds.js';
import type { DeliveryRecord } from './model.js';
import { askForRouteCheck, type RouteChecks, unreachable } from './route-checks.js';
import { groupByRoute } from './routing.js';
import { withTraceHeader } from './trace.js';

export interface DeliverDeps {
  blobs: BlobStore;
  store: MessageStore;
  mailer: Mailer;
  config: LifeboatConfig;
  clock: Clock;
  log: Logger;
  /** Where each transaction's outcome is kept for the organic probe; optional. */
  continuity?: ContinuityStore | undefined;
  /** Test seam: called after each step so a crash can be injected between steps. */
  checkpoint?: ((step: DeliverStep) => void) | undefined;
  /** Told when an attempt could not reach its route, so the probe checks it at once; optional. */
  checks?: RouteChecks | undefined;
}

export type DeliverStep = 'claimed' | 'read' | 'sent' | 'recorded';

export interface DeliverResult {
  messageId: string;
  delivered: number;
  deferred: number;
  failed: number;
  held: number;
  /** Deliveries another worker had already claimed, or that were not due. */
  skipped: number;
}

/**
 * The longest one attempt on a route can reasonably take: connect and greeting on every host in
 * turn, then a transaction allowed two idle timeouts.
 */
export function worstCaseAttemptSeconds(route: RouteConfig): number {
  return route.hosts.length * 2 * route.connectTimeoutSeconds + 2 * route.socketTimeoutSeconds;
}

/**
 * The lease a claim takes: never shorter than an attempt on the route can last, so a slow but
 * live attempt is not taken over (and sent twice) by another worker.
 */
export function leaseSecondsFor(config: Pick<LifeboatConfig, 'queue' | 'routes'>, routeName: string): number {
  const route = config.routes.find((r) => r.name === routeName);
  return Math.max(config.queue.leaseSeconds, route ? worstCaseAttemptSeconds(route) + 30 : 0);
}

/** The raw key and envelope sender the claimed deliveries carry, if every one of them does. */
function carriedSource(claimed: DeliveryRecord[]): { rawKey: string; envelopeFrom: string } | undefined {
  const [first] = claimed;
  if (!first || claimed.some((d) => d.rawKey === undefined || d.envelopeFrom === undefined)) return undefined;
  return { rawKey: first.rawKey as string, envelopeFrom: first.envelopeFrom as string };
}

/**
 * Writes a delivery's next state if nobody changed it meanwhile.
 * @returns false when another worker won the race
 */
async function tryReplace(store: MessageStore, next: DeliveryRecord, expected: number): Promise<boolean> {
  try {
    await store.replaceDelivery(next, expected);
    return true;
  } catch (err) {
    if (err instanceof ConflictError) return false;
    throw err;
  }
}

/**
 * Makes one attempt for every due recipient of a message: one SMTP transaction per route,
 * carrying all of that route's recipients, the stored bytes unchanged behind one trace header.
 * Each recipient is claimed with a conditional write first, so two workers never send it twice.
 */
export async function deliverMessage(messageId: string, deps: DeliverDeps): Promise<DeliverResult> {
  const { store, config, clock } = deps;
  const result: DeliverResult = { messageId, delivered: 0, deferred: 0, failed: 0, held: 0, skipped: 0 };
  const now = clock.now();
  // Holds are read alongside the deliveries: two round trips in the time of one.
  const holdsRead = store.listHolds();
  holdsRead.catch(() => {}); // awaited below when anything is due; a failed read throws there
  const all = await store.listDeliveries(messageId);
  const due = all.filter((d) => isDue(d, now));
  result.skipped = all.length - due.length;
  if (due.length === 0) return result;

  // A draining hold (a hand-over in progress) still holds new mail at ingest, but lets the mail
  // the hand-over released go out.
  const holds = (await holdsRead).filter((h) => !h.draining);
  const leaseId = randomUUID();
  const claimed: DeliveryRecord[] = [];
  for (const d of due) {
    const holdReason = holdReasonFor(d.route, holds, d.recipient);
    // Only due deliveries get here: one still `delivering` is a dead worker's whose lease ran
    // out, and taking it over is a new attempt, which a hold forbids like any other.
    if (holdReason !== null) {
      if (await tryReplace(store, holdDelivery(d, holdReason, now), d.version)) result.held++;
      else result.skipped++;
      continue;
    }
    const next = claimDelivery(d, now, leaseId, leaseSecondsFor(config, d.route));
    if (await tryReplace(store, next, d.version)) claimed.push(next);
    else result.skipped++;
  }
  if (claimed.length === 0) return result;
  (deps.checkpoint ?? (() => {}))('claimed');
  const sent = await sendClaimed(messageId, claimed, deps);
  return addResults(result, sent);
}

function addResults(into: DeliverResult, more: DeliverResult): DeliverResult {
  into.delivered += more.delivered;
  into.deferred += more.deferred;
  into.failed += more.failed;
  into.held += more.held;
  into.skipped += more.skipped;
  return into;
}

/** The outcome the mailer reported for a delivery, as its record keeps it. */
function attemptOf(d: DeliveryRecord, outcomes: RecipientOutcome[]): AttemptResult {
  const outcome = outcomes.find((o) => o.recipient === d.recipient);
  if (!outcome) return { status: 'deferred', response: 'no outcome reported for this recipient' };
  return {
    status: outcome.status,
    response: outcome.host ? `${outcome.host}: ${outcome.response}` : outcome.response,
  };
}

/**
 * Keeps what an attempt did, after its outcomes are written: each reply on its delivery (for the
 * admin's view of the attempts; a first attempt that delivered is the record itself, so nothing
 * is written for it) and the flow buckets. Neither may fail the delivery: errors are logged.
 */
async function recordOutcomes(
  group: DeliveryRecord[],
  outcomes: RecipientOutcome[],
  finished: Date,
  sample: AttemptSample | undefined,
  routeName: string,
  deps: DeliverDeps,
): Promise<void> {
  const counts = { delivered: 0, deferred: 0, failed: 0 };
  const latencySeconds: number[] = [];
  for (const d of group) {
    const result = attemptOf(d, outcomes);
    counts[result.status]++;
    if (result.status === 'delivered')
      latencySeconds.push(Math.max(0, (finished.getTime() - Date.parse(d.receivedAt)) / 1000));
    if (result.status === 'delivered' && d.attempts <= 1) continue;
    await deps.store
      .recordDeliveryAttempt({
        messageId: d.messageId,
        recipient: d.recipient,
        at: finished.toISOString(),
        attempt: d.attempts,
        route: routeName,
        outcome: result.status,
        response: result.response,
      })
      .catch((err: Error) => deps.log.warn('delivery attempt not recorded', { error: err.message }));
  }
  await recordFlow(deps, { counts, latencySeconds, smtpMs: sample ? [sample.latencyMs] : [] });
}

/**
 * Sends one message to deliveries already claimed for it (by `deliverMessage`, or by the
 * hand-over, which releases held mail straight into a claim) and records each outcome. It reads
 * nothing but the raw bytes when the claimed records carry the message's key and sender.
 *
 * Each outcome is written as soon as the primary has replied, before anything else: between
 * the primary's `250` and the recorded `delivered` a crash means the message goes again, so
 * that window holds only the conditional writes themselves (the attempt sample, the holds a
 * deferral needs, the log line and the next transaction all come after).
 */
export async function sendClaimed(
  messageId: string,
  claimed: DeliveryRecord[],
  deps: DeliverDeps,
): Promise<DeliverResult> {
  const { blobs, store, mailer, config, clock, log } = deps;
  const result: DeliverResult = { messageId, delivered: 0, deferred: 0, failed: 0, held: 0, skipped: 0 };
  const checkpoint = deps.checkpoint ?? (() => {});
  // Deliveries carry the message's key and sender; only records older than that need the message read.
  const message = carriedSource(claimed) ?? (await store.getMessage(messageId));
  let raw: Buffer | undefined;
  let readError: string | undefined;
  try {
    if (!message) throw new Error(`message record ${messageId} is missing`);
    raw = await blobs.getRaw(message.rawKey);
  } catch (err) {
    readError = `could not read the stored message: ${(err as Error).message}`;
    log.error('raw message unreadable', { messageId, error: (err as Error).message });
  }
  checkpoint('read');

  const record = async (d: DeliveryRecord, next: DeliveryRecord, routeName: string) => {
    if (!(await tryReplace(store, next, d.version))) {
      log.warn('delivery changed while sending', { messageId, route: routeName, status: next.state });
      result.skipped++;
      return;
    }
    if (next.state === 'delivered') result.delivered++;
    else if (next.state === 'deferred') result.deferred++;
    else if (next.state === 'failed') result.failed++;
    else if (next.state === 'held') result.held++;
  };

  for (const [routeName, group] of groupByRoute(claimed)) {
    const route = config.routes.find((r) => r.name === routeName);
    let outcomes: RecipientOutcome[];
    let sample: AttemptSample | undefined;
    if (!raw || !message) {
      outcomes = group.map((d) => ({
        recipient: d.recipient,
        status: 'deferred',
        response: readError ?? '',
        host: null,
      }));
    } else if (!route) {
      outcomes = group.map((d) => ({
        recipient: d.recipient,
        status: 'failed',
        response: `route ${routeName} is no longer configured`,
        host: null,
      }));
    } else {
      const recipients = group.map((d) => d.recipient);
      const bytes = withTraceHeader(raw, {
        hostname: config.hostname,
        messageId,
        recipients,
        now: clock.now(),
      });
      // A duration, not a time of day: measured on the monotonic clock.
      const started = performance.now();
      try {
        outcomes = await mailer.send(route, { from: message.envelopeFrom, to: recipients }, bytes);
        sample = {
          route: route.name,
          at: clock.now().toISOString(),
          // The primary answered (2xx or 5xx) unless every recipient was deferred.
          ok: outcomes.some((o) => o.status !== 'deferred'),
          latencyMs: performance.now() - started,
        };
      } catch (err) {
        // The mailer reports SMTP outcomes itself; anything thrown is unexpected and retried.
        outcomes = group.map((d) => ({
          recipient: d.recipient,
          status: 'deferred',
          response: `local error: ${(err as Error).message}`,
          host: null,
        }));
      }
    }
    checkpoint('sent');
    const finished = clock.now();
    // Delivered and failed first, all at once: nothing else may run between a 250 and its record.
    const settled = group.filter((d) => attemptOf(d, outcomes).status !== 'deferred');
    await Promise.all(
      settled.map((d) =>
        record(d, completeAttempt(d, attemptOf(d, outcomes), finished, config, null), routeName),
      ),
    );
    // A hold placed while the transaction ran turns a deferral into held; only a deferral needs to know.
    const deferred = group.filter((d) => !settled.includes(d));
    if (deferred.length > 0) {
      const currentHolds = (await store.listHolds()).filter((h) => !h.draining);
      for (const d of deferred) {
        const hold = holdReasonFor(d.route, currentHolds, d.recipient);
        await record(d, completeAttempt(d, attemptOf(d, outcomes), finished, config, hold), routeName);
      }
    }
    if (sample && deps.continuity) {
      await deps.continuity
        .recordAttempt(sample)
        .catch((err: Error) => log.warn('attempt sample not recorded', { error: err.message }));
    }
    await recordOutcomes(group, outcomes, finished, sample, routeName, deps);
    // A route that took no connection may be down: its check need not wait for the next round.
    if (sample && unreachable(outcomes)) await askForRouteCheck(deps, routeName);
    checkpoint('recorded');
  }
  log.info('delivery attempt', { ...result });
  return result;
}
