import type { Mailer, RecipientOutcome } from '../ports.js';
import { nextAttemptAt } from './backoff.js';
import type { RouteConfig } from './config.js';
import { type DeliverDeps, deliverMessage, worstCaseAttemptSeconds } from './deliver.js';
import { isDue, postponeDelivery } from './delivery-state.js';
import { ConflictError } from './errors.js';
import type { DeliveryRecord } from './model.js';

/** A fresh delivery is left to its inline first attempt this long before the sweeper steps in. */
export const QUEUED_GRACE_MS = 10_000;

/**
 * Connection failures in a row after which a sweep stops connecting to a route and puts off the
 * rest of its deliveries (Postfix's dead-site throttle). Three rather than one: a single refused
 * connection can be a load balancer's blip, and three attempts against a primary that drops
 * packets cost three connect timeouts, a small part of a sweep's run.
 */
export const DEAD_ROUTE_FAILURES = 3;

/**
 * Time a sweep keeps back after its last attempt could end: the attempt's state writes and the
 * queue metrics that follow the sweep.
 */
export const SWEEP_FINISH_MARGIN_MS = 5_000;

export interface SweepOptions {
  /** Most messages handled in one sweep, so one run fits its time budget. @default 200 */
  maxMessages?: number;
  /** Messages delivered at once. @default 8 */
  concurrency?: number;
  /**
   * Milliseconds left in this run (in Lambda, the context's `getRemainingTimeInMillis`). No message
   * is taken once what is left cannot fit the worst-case attempt on its routes plus
   * {@link SWEEP_FINISH_MARGIN_MS}; it stays due for the next sweep. @default no limit
   */
  remainingMs?: (() => number) | undefined;
  /** Connection failures in a row that make a route dead for the rest of the sweep. @default DEAD_ROUTE_FAILURES */
  deadRouteFailures?: number;
}

export interface SweepResult {
  /** Messages attempted (or whose deliveries were put off) in this sweep. */
  messages: number;
  delivered: number;
  deferred: number;
  failed: number;
  held: number;
  /** Deliveries put off without a connection because their route was dead in this sweep. */
  postponed: number;
  /** Due messages left for the next sweep because the time left could not fit their attempt. */
  leftForLater: number;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * The primary was never reached: every recipient deferred and no host named, which is how the
 * mailer reports a refused or timed-out connection, a greeting that never came or a session
 * that broke. A reply from the primary, even a 4xx, shows the route is alive.
 */
function isConnectionFailure(outcomes: readonly RecipientOutcome[]): boolean {
  return outcomes.length > 0 && outcomes.every((o) => o.status === 'deferred' && o.host === null);
}

/**
 * What one sweep has learnt about each route: connection failures in a row, and whether any
 * attempt reached the primary. A route that has not answered yet in this sweep, or whose last
 * attempt failed, gets one attempt at a time, so a dead primary is contacted at most
 * `limit` times however many workers are waiting for it.
 */
class RouteTracker {
  private readonly failures = new Map<string, number>();
  private readonly answered = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(readonly limit: number) {}

  isDead(route: string): boolean {
    return (this.failures.get(route) ?? 0) >= this.limit;
  }

  reason(route: string): string {
    return `route ${route}: skipped after ${this.limit} consecutive connection failures in this sweep`;
  }

  /** Whether an attempt may start now; otherwise the attempt to wait for first. */
  blockedBy(route: string): Promise<void> | undefined {
    const cautious = !this.answered.has(route) || (this.failures.get(route) ?? 0) > 0;
    return cautious ? this.inFlight.get(route) : undefined;
  }

  /** Marks attempts on `routes` as under way until `done` settles. */
  track(routes: readonly string[], done: Promise<unknown>): void {
    const settled = done.then(
      () => {},
      () => {},
    );
    for (const r of routes) {
      this.inFlight.set(r, settled);
      void settled.then(() => {
        if (this.inFlight.get(r) === settled) this.inFlight.delete(r);
      });
    }
  }

  record(route: string, outcomes: readonly RecipientOutcome[]): void {
    if (isConnectionFailure(outcomes)) {
      this.failures.set(route, (this.failures.get(route) ?? 0) + 1);
    } else {
      this.failures.set(route, 0);
      this.answered.add(route);
    }
  }

  /**
   * The mailer this sweep delivers through: it notes each route's outcomes and does not connect
   * to a dead route at all. deliverMessage records what it returns like any other deferral; the
   * sweep itself puts off a dead route's deliveries before they are claimed, so this guard only
   * serves deliveries that were claimed while their route died.
   */
  wrap(inner: Mailer): Mailer {
    return {
      send: async (route, envelope, raw) => {
        if (this.isDead(route.name)) {
          const response = this.reason(route.name);
          return envelope.to.map((recipient) => ({ recipient, status: 'deferred', response, host: null }));
        }
        const outcomes = await inner.send(route, envelope, raw);
        this.record(route.name, outcomes);
        return outcomes;
      },
    };
  }
}

/** The longest the attempts on a message's routes can take together, in milliseconds (routes go one after another). */
function worstCaseMs(routes: readonly string[], configured: readonly RouteConfig[]): number {
  let seconds = 0;
  for (const name of routes) {
    const route = configured.find((r) => r.name === name);
    if (route) seconds += worstCaseAttemptSeconds(route);
  }
  return seconds * 1000;
}

/**
 * Finds deliveries that are due — deferred retries, leases of crashed workers, and queued mail
 * whose first attempt never ran — and attempts each of their messages once. Two limits keep a
 * sweep against a primary that drops packets inside its run: no message is taken once the time
 * left cannot fit its worst-case attempt, and a route whose connections have failed
 * `deadRouteFailures` times in a row is not contacted again in this sweep; its remaining
 * deliveries are deferred without an attempt.
 */
export async function sweepDue(deps: DeliverDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const maxMessages = options.maxMessages ?? 200;
  const now = deps.clock.now();
  const nowIso = now.toISOString();
  const due = new Map<string, DeliveryRecord[]>();
  const queries: Array<{ state: DeliveryRecord['state']; before: string }> = [
    { state: 'deferred', before: nowIso },
    { state: 'delivering', before: nowIso },
    { state: 'queued', before: new Date(now.getTime() - QUEUED_GRACE_MS).toISOString() },
  ];
  for (const q of queries) {
    let cursor: string | undefined;
    do {
      const page = await deps.store.queryByState({ ...q, limit: 100, cursor });
      for (const d of page.items) {
        const list = due.get(d.messageId);
        if (list) list.push(d);
        else if (due.size < maxMessages) due.set(d.messageId, [d]);
      }
      cursor = page.cursor;
    } while (cursor && due.size < maxMessages);
    if (due.size >= maxMessages) break;
  }

  const tracker = new RouteTracker(options.deadRouteFailures ?? DEAD_ROUTE_FAILURES);
  const mailer = tracker.wrap(deps.mailer);
  const total: SweepResult = {
    messages: 0,
    delivered: 0,
    deferred: 0,
    failed: 0,
    held: 0,
    postponed: 0,
    leftForLater: 0,
  };
  let outOfTime = false;

  /** Defers a dead route's due deliveries of one message without an attempt. */
  const postpone = async (records: DeliveryRecord[]) => {
    for (const d of records) {
      const at = deps.clock.now();
      if (!isDue(d, at)) continue;
      const next = postponeDelivery(
        d,
        at,
        nextAttemptAt(at, d.attempts, deps.config.queue),
        tracker.reason(d.route),
      );
      try {
        await deps.store.replaceDelivery(next, d.version);
        total.postponed++;
      } catch (err) {
        // Another worker moved it since the index was read: it is theirs now.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  };

  const sweepOne = async ([messageId, records]: [string, DeliveryRecord[]]) => {
    const routes = [...new Set(records.map((d) => d.route))].sort();
    // A route not known to answer gets one attempt at a time: wait for the one under way.
    for (let wait = routes.map((r) => tracker.blockedBy(r)).find(Boolean); wait; ) {
      await wait;
      wait = routes.map((r) => tracker.blockedBy(r)).find(Boolean);
    }
    const live = routes.filter((r) => !tracker.isDead(r));
    const remaining = options.remainingMs?.();
    if (
      outOfTime ||
      (live.length > 0 &&
        remaining !== undefined &&
        remaining < worstCaseMs(live, deps.config.routes) + SWEEP_FINISH_MARGIN_MS)
    ) {
      outOfTime = true;
      total.leftForLater++;
      return;
    }
    // Taken before anything else is awaited, so a worker woken with this one waits its turn.
    let finish = () => {};
    tracker.track(live, new Promise<void>((resolve) => (finish = resolve)));
    try {
      total.messages++;
      await postpone(records.filter((d) => tracker.isDead(d.route)));
      if (live.length === 0) return;
      const r = await deliverMessage(messageId, { ...deps, mailer });
      total.delivered += r.delivered;
      total.deferred += r.deferred;
      total.failed += r.failed;
      total.held += r.held;
    } finally {
      finish();
    }
  };

  await mapWithConcurrency([...due], options.concurrency ?? 8, sweepOne);
  for (const route of deps.config.routes) {
    if (tracker.isDead(route.name))
      deps.log.warn('route not contacted for the rest of the sweep', {
        route: route.name,
        failures: tracker.limit,
      });
  }
  if (outOfTime)
    deps.log.warn('sweep stopped taking work: too little time left for another attempt', {
      left: total.leftForLater,
    });
  if (total.messages > 0) deps.log.info('sweep', { ...total });
  return total;
}
