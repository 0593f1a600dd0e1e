import type {
  Clock,
  ContinuityStore,
  Logger,
  MessageStore,
  MetricsBucketRecord,
  MetricsResolution,
  MetricsUpdate,
  StateCounts,
} from '../ports.js';
import { RECORD_TTL_SECONDS } from '../storage-layout.js';
import { type LifeboatConfig, recordDays } from './config.js';
import { ValidationError } from './errors.js';
import { deliveryStates } from './model.js';

/**
 * Mail flow as time buckets in the store, per minute and per hour, so the console charts the
 * last hours and days from a few hundred small reads instead of scanning messages. Each bucket
 * holds counters (ADD) and sampled gauges (SET); latencies are kept as fixed histograms, which
 * add up across writers and still give a p50 and a p95.
 */

/**
 * Upper bounds of the end-to-end delivery latency histogram (receipt to the primary's 250), in
 * seconds: from a healthy relay (a second) to mail held through a day-long outage. The last
 * bucket is open-ended.
 */
export const LATENCY_BOUNDS_SECONDS = [
  1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600, 86400,
] as const;

/**
 * Upper bounds of the SMTP transaction time histogram, in milliseconds: the figure the organic
 * probe's `p95LatencySeconds` threshold watches, from a LAN relay to the route's socket timeout.
 */
export const SMTP_BOUNDS_MS = [
  100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000,
] as const;

/** Upper bounds of the round-trip probe's time, in seconds, up to its longest sensible timeout. */
export const RTT_BOUNDS_SECONDS = [5, 10, 30, 60, 120, 300, 600, 1800, 3600] as const;

/**
 * The counters a bucket keeps, per delivery (recipient): accepted (counted from the message records
 * once the minute has ended), then each outcome.
 */
export const FLOW_COUNTERS = ['accepted', 'delivered', 'deferred', 'failed'] as const;
export type FlowCounter = (typeof FLOW_COUNTERS)[number];

/** What one transition adds to the flow. */
export interface FlowDelta {
  counts?: Partial<Record<FlowCounter, number>> | undefined;
  /** End-to-end latency of each delivery that reached the primary, in seconds. */
  latencySeconds?: readonly number[] | undefined;
  /** Each SMTP transaction's duration, in milliseconds. */
  smtpMs?: readonly number[] | undefined;
  /** Each returned round-trip probe's time, in milliseconds. */
  probeRttMs?: readonly number[] | undefined;
  /** Deliveries per state right now (the store's counters), sampled into the bucket. */
  depth?: StateCounts | undefined;
}

/** The histogram bucket a value falls in: the first bound it does not exceed, else the open-ended one. */
function bucketOf(bounds: readonly number[], value: number): number {
  const i = bounds.findIndex((b) => value <= b);
  return i === -1 ? bounds.length : i;
}

function addHistogram(
  into: Record<string, number>,
  prefix: string,
  bounds: readonly number[],
  values: readonly number[] | undefined,
): void {
  for (const v of values ?? []) {
    if (!Number.isFinite(v) || v < 0) continue;
    const name = `${prefix}_${bucketOf(bounds, v)}`;
    into[name] = (into[name] ?? 0) + 1;
    into[`${prefix}_sum`] = (into[`${prefix}_sum`] ?? 0) + v;
  }
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const floorTo = (at: Date, ms: number) => new Date(Math.floor(at.getTime() / ms) * ms);

/**
 * The bucket updates a flow delta makes at `at`: its counts and gauges to this minute's bucket, its
 * gauges (the queue depth a probe round samples) to this hour's too. The hour takes the minute
 * buckets' counts when a probe round rolls them up ({@link rollUpFlow}), not from every delivery:
 * that was two of a message's DynamoDB write units. Minute buckets live two days; hour buckets as
 * long as the message records (`historyDays`).
 */
export function metricsUpdates(
  at: Date,
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>,
  delta: FlowDelta,
): MetricsUpdate[] {
  const add: Record<string, number> = {};
  for (const [name, n] of Object.entries(delta.counts ?? {})) if (n) add[name] = n;
  addHistogram(add, 'lat', LATENCY_BOUNDS_SECONDS, delta.latencySeconds);
  addHistogram(add, 'smtp', SMTP_BOUNDS_MS, delta.smtpMs);
  addHistogram(
    add,
    'rtt',
    RTT_BOUNDS_SECONDS,
    delta.probeRttMs?.map((ms) => ms / 1000),
  );
  const set: Record<string, number> = {};
  if (delta.depth) for (const s of deliveryStates) set[`depth_${s}`] = delta.depth[s];
  if (Object.keys(add).length === 0 && Object.keys(set).length === 0) return [];
  const hour = floorTo(at, HOUR_MS);
  const updates: MetricsUpdate[] = [{ ...minuteBucket(floorTo(at, MINUTE_MS)), add, set }];
  if (Object.keys(set).length > 0) updates.push({ ...hourBucket(hour, config), set });
  return updates;
}

const epoch = (d: Date) => Math.floor(d.getTime() / 1000);

function minuteBucket(minute: Date) {
  return {
    resolution: 'minute' as const,
    start: minute.toISOString(),
    expiresAt: epoch(minute) + 60 + RECORD_TTL_SECONDS.minuteMetrics,
  };
}

function hourBucket(hour: Date, config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>) {
  return {
    resolution: 'hour' as const,
    start: hour.toISOString(),
    expiresAt: epoch(hour) + 3600 + recordDays(config) * 86_400,
  };
}

/**
 * How long after a minute ends its bucket is rolled into its hour: a writer that read the clock
 * inside the minute has written by then.
 */
export const ROLL_UP_DELAY_MS = 30_000;

/**
 * Minutes after its first count that the roll-up counts a minute's `accepted` again, for its last
 * time, with the mail ingested late (Lambda retries a failed asynchronous invocation one minute and
 * then two minutes after it failed): the minute's bucket is corrected then, and the hour takes that
 * count, so the hour's `accepted` trails the other counters by these minutes.
 */
export const ACCEPTED_RECOUNT_MINUTES = 5;

/** The gauge of an hour bucket naming the last minute rolled into it (epoch milliseconds of its start). */
export const ROLLED_THROUGH = 'rolled_through';

/** The gauge of an hour bucket naming the last minute whose `accepted` count it holds. */
export const ACCEPTED_THROUGH = 'accepted_through';

/**
 * The counters (and histogram counts and sums) a minute bucket hands to its hour when it is rolled
 * up; never a gauge, and never `accepted`, which the hour takes from the count ({@link rollUpFlow}).
 */
const isCounter = (name: string) =>
  ((FLOW_COUNTERS as readonly string[]).includes(name) && name !== 'accepted') ||
  /^(lat|smtp|rtt)_(\d+|sum)$/.test(name);

/**
 * Deliveries accepted per minute of receipt: the envelope recipients of the messages received in
 * [from, to), as ingest created one delivery for each (a sent copy, written by the outbound worker,
 * is not mail taken in), for each run of minutes [first, last] (epoch milliseconds of their starts),
 * one listing a run. Keyed by the minute's start.
 */
async function acceptedPerMinute(
  store: Pick<MessageStore, 'listReceived'>,
  runs: readonly (readonly [number, number])[],
): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  const iso = (ms: number) => new Date(ms).toISOString();
  const lists = await Promise.all(
    runs.map(([from, to]) => store.listReceived(iso(from), iso(to + MINUTE_MS))),
  );
  for (const m of lists.flat()) {
    if (m.sentCopyOf !== undefined) continue;
    const minute = Math.floor(Date.parse(m.receivedAt) / MINUTE_MS) * MINUTE_MS;
    counts.set(minute, (counts.get(minute) ?? 0) + m.recipients.length);
  }
  return counts;
}

/**
 * Adds the minute buckets that ended since the last roll-up into their hour buckets: the counts of
 * each minute once, in one update per hour that also moves the hour's ROLLED_THROUGH mark, so a
 * round that dies half-way leaves every hour either rolled or not. Looks at this hour and the one
 * before it, so rounds at least an hour apart would leave an hour's counts in its minute buckets
 * only (the probe runs every interval; ProbeNotRunning alarms long before). One run at a time, as
 * the probe runs (a reserved concurrency of one; one probe run at a time on the single-node
 * runtime). Never throws: the figures serve the console.
 *
 * `accepted` is not written as mail comes in (that was a write unit a message): when a minute has
 * ended, this counts it from the message records (`listReceived`, that minute's records only) and
 * sets it on the minute's bucket; ACCEPTED_RECOUNT_MINUTES later it counts the minute once more,
 * with the mail ingested late, corrects the bucket, and the hour adds that count in the same update
 * that moves its ACCEPTED_THROUGH mark. The minute buckets are written first and set, not added to,
 * so a round that dies between them and the hour is repeated whole by the next. Mail ingested more
 * than ACCEPTED_RECOUNT_MINUTES after its minute ended is in neither.
 */
export async function rollUpFlow(deps: FlowDeps): Promise<void> {
  if (!deps.continuity) return;
  const continuity = deps.continuity;
  try {
    const now = deps.clock.now().getTime();
    // The newest minute that has ended, ROLL_UP_DELAY_MS ago or more.
    const through = Math.floor((now - ROLL_UP_DELAY_MS) / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    // The newest minute whose `accepted` count is final: its hour takes it.
    const final = through - ACCEPTED_RECOUNT_MINUTES * MINUTE_MS;
    const firstHour = Math.floor(through / HOUR_MS) * HOUR_MS - HOUR_MS;
    const iso = (ms: number) => new Date(ms).toISOString();
    const [hours, minutes] = await Promise.all([
      continuity.listMetrics('hour', iso(firstHour), iso(through + 1)),
      continuity.listMetrics('minute', iso(firstHour), iso(through + MINUTE_MS)),
    ]);
    const marks: { hour: number; rolled: number; accepted: number }[] = [];
    for (let hour = firstHour; hour <= through; hour += HOUR_MS) {
      const stored = hours.find((b) => Date.parse(b.start) === hour)?.values;
      const rolled = stored?.[ROLLED_THROUGH] ?? hour - MINUTE_MS;
      // An hour rolled up before `accepted` was counted here holds ingest's counts through its
      // ROLLED_THROUGH mark.
      marks.push({ hour, rolled, accepted: stored?.[ACCEPTED_THROUGH] ?? rolled });
    }
    const latest = marks.at(-1);
    // Nothing ended since the last roll-up: the other round of this minute rolled it.
    if (!latest || latest.rolled >= through) return;

    const updates: MetricsUpdate[] = [];
    let counted = new Map<number, number>();
    if (deps.store) {
      // Counted: the minutes that ended since the last roll-up (their first count, for the minute
      // charts) and the minutes leaving the recount window (their last, which the hour takes).
      const toCount = new Set<number>();
      for (const { hour, rolled, accepted } of marks) {
        const lastMinute = hour + HOUR_MS - MINUTE_MS;
        for (let m = rolled + MINUTE_MS; m <= Math.min(through, lastMinute); m += MINUTE_MS) toCount.add(m);
        for (let m = accepted + MINUTE_MS; m <= Math.min(final, lastMinute); m += MINUTE_MS) toCount.add(m);
      }
      const sorted = [...toCount].filter((m) => m >= firstHour).sort((a, b) => a - b);
      const runs: [number, number][] = [];
      for (const m of sorted) {
        const run = runs.at(-1);
        if (run && run[1] + MINUTE_MS === m) run[1] = m;
        else runs.push([m, m]);
      }
      counted = await acceptedPerMinute(deps.store, runs);
      for (const minute of sorted) {
        const n = counted.get(minute) ?? 0;
        const stored = minutes.find((b) => Date.parse(b.start) === minute)?.values.accepted ?? 0;
        if (n !== stored) updates.push({ ...minuteBucket(new Date(minute)), set: { accepted: n } });
      }
    }
    for (const { hour, rolled, accepted } of marks) {
      const lastMinute = hour + HOUR_MS - MINUTE_MS;
      const rolledTo = Math.max(rolled, Math.min(through, lastMinute));
      // Without the records to count from, `accepted` stays where it is.
      const acceptedTo = deps.store ? Math.max(accepted, Math.min(final, lastMinute)) : accepted;
      if (rolledTo === rolled && acceptedTo === accepted) continue;
      const add: Record<string, number> = {};
      for (const m of minutes) {
        const start = Date.parse(m.start);
        if (start <= rolled || start > rolledTo) continue;
        for (const [name, n] of Object.entries(m.values))
          if (isCounter(name)) add[name] = (add[name] ?? 0) + n;
      }
      for (let minute = accepted + MINUTE_MS; minute <= acceptedTo; minute += MINUTE_MS) {
        const n = counted.get(minute) ?? 0;
        if (n) add.accepted = (add.accepted ?? 0) + n;
      }
      updates.push({
        ...hourBucket(new Date(hour), deps.config),
        add,
        set: { [ROLLED_THROUGH]: rolledTo, [ACCEPTED_THROUGH]: acceptedTo },
      });
    }
    // In this order: the minutes' counts (set, so repeating them is harmless), then each hour.
    if (updates.length > 0) await continuity.addMetrics(updates);
  } catch (err) {
    deps.log.warn('flow metrics not rolled up', { error: (err as Error).message });
  }
}

export interface FlowDeps {
  continuity?: ContinuityStore | undefined;
  /** Where a roll-up counts the deliveries accepted in the minutes that ended; without it, none are. */
  store?: Pick<MessageStore, 'listReceived'> | undefined;
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>;
  clock: Clock;
  log: Logger;
}

/**
 * Adds a transition to the flow buckets. Never throws: the figures serve the console, and a
 * failed update must not fail the delivery or the probe round that made it.
 */
export async function recordFlow(deps: FlowDeps, delta: FlowDelta): Promise<void> {
  if (!deps.continuity) return;
  const updates = metricsUpdates(deps.clock.now(), deps.config, delta);
  if (updates.length === 0) return;
  try {
    await deps.continuity.addMetrics(updates);
  } catch (err) {
    deps.log.warn('flow metrics not recorded', { error: (err as Error).message });
  }
}

/**
 * Most buckets one request returns: two days of minutes (as long as they are kept), or 31 days of
 * hours. Enough for any chart a phone can show, and small enough for one Lambda response.
 */
export const MAX_BUCKETS: Record<MetricsResolution, number> = { minute: 2 * 24 * 60, hour: 31 * 24 };

/** A distribution summarised from a histogram: the count and bucket upper bounds at p50 and p95. */
export interface Distribution {
  count: number;
  /** The upper bound of the histogram bucket holding the median; null with no sample. */
  p50: number | null;
  p95: number | null;
  /** Mean of the samples; null with no sample. */
  mean: number | null;
}

function distribution(
  values: Record<string, number>,
  prefix: string,
  bounds: readonly number[],
): Distribution {
  const counts = Array.from({ length: bounds.length + 1 }, (_, i) => values[`${prefix}_${i}`] ?? 0);
  const count = counts.reduce((a, b) => a + b, 0);
  if (count === 0) return { count: 0, p50: null, p95: null, mean: null };
  const at = (p: number) => {
    const rank = Math.ceil((p / 100) * count);
    let seen = 0;
    for (const [i, n] of counts.entries()) {
      seen += n;
      // The open-ended bucket reports the highest bound: "at least this".
      if (seen >= rank) return bounds[Math.min(i, bounds.length - 1)] as number;
    }
    return bounds[bounds.length - 1] as number;
  };
  return { count, p50: at(50), p95: at(95), mean: (values[`${prefix}_sum`] ?? 0) / count };
}

/** One point of every series. */
export interface FlowPoint {
  start: string;
  accepted: number;
  delivered: number;
  deferred: number;
  failed: number;
  /** Receipt to the primary's 250, in seconds. */
  latencySeconds: Distribution;
  /** SMTP transaction time, in milliseconds. */
  smtpMs: Distribution;
  /** Round-trip probe time, in seconds. */
  probeRttSeconds: Distribution;
  /** Deliveries per state as last sampled in the bucket; null when no probe round ran in it. */
  depth: StateCounts | null;
}

/** The figures a chart draws its threshold lines from, as configured. */
export interface FlowThresholds {
  smtpP95Seconds: number;
  failureRatio: number;
  minSamples: number;
  windowMinutes: number;
  oldestDeferredMinutes: number;
  consecutiveFailures: number;
  /** Round trips slower than this count as failed; null without a round-trip probe. */
  roundTripTimeoutSeconds: number | null;
}

export interface FlowSeries {
  resolution: MetricsResolution;
  from: string;
  to: string;
  /** One point per bucket in [from, to), empty buckets included as zeros. */
  points: FlowPoint[];
  thresholds: FlowThresholds;
  /** Histogram bucket bounds, so a chart can say what p50 and p95 mean. */
  bounds: {
    latencySeconds: readonly number[];
    smtpMs: readonly number[];
    probeRttSeconds: readonly number[];
  };
}

function point(start: string, values: Record<string, number>): FlowPoint {
  const hasDepth = deliveryStates.some((s) => values[`depth_${s}`] !== undefined);
  return {
    start,
    accepted: values.accepted ?? 0,
    delivered: values.delivered ?? 0,
    deferred: values.deferred ?? 0,
    failed: values.failed ?? 0,
    latencySeconds: distribution(values, 'lat', LATENCY_BOUNDS_SECONDS),
    smtpMs: distribution(values, 'smtp', SMTP_BOUNDS_MS),
    probeRttSeconds: distribution(values, 'rtt', RTT_BOUNDS_SECONDS),
    depth: hasDepth
      ? (Object.fromEntries(deliveryStates.map((s) => [s, values[`depth_${s}`] ?? 0])) as StateCounts)
      : null,
  };
}

/**
 * The flow series of a time range at one resolution, read from the stored buckets (one query),
 * with the thresholds from the config so a chart can draw them.
 * @throws ValidationError when the range is empty or holds more than MAX_BUCKETS buckets
 */
export async function readFlowSeries(
  deps: { continuity: ContinuityStore; config: LifeboatConfig },
  query: { from: Date; to: Date; resolution: MetricsResolution },
): Promise<FlowSeries> {
  const step = query.resolution === 'minute' ? MINUTE_MS : HOUR_MS;
  const from = floorTo(query.from, step);
  const to = new Date(Math.ceil(query.to.getTime() / step) * step);
  const problems: string[] = [];
  if (to.getTime() <= from.getTime()) problems.push('to: must be after from');
  const buckets = (to.getTime() - from.getTime()) / step;
  if (buckets > MAX_BUCKETS[query.resolution]) {
    problems.push(
      `to: at most ${MAX_BUCKETS[query.resolution]} ${query.resolution} buckets per request, the range holds ${buckets}`,
    );
  }
  if (problems.length) throw new ValidationError('query', problems);
  const stored = await deps.continuity.listMetrics(query.resolution, from.toISOString(), to.toISOString());
  const byStart = new Map<string, MetricsBucketRecord>(stored.map((b) => [b.start, b]));
  const points: FlowPoint[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += step) {
    const start = new Date(t).toISOString();
    points.push(point(start, byStart.get(start)?.values ?? {}));
  }
  const t = deps.config.continuity.thresholds;
  return {
    resolution: query.resolution,
    from: from.toISOString(),
    to: to.toISOString(),
    points,
    thresholds: {
      smtpP95Seconds: t.p95LatencySeconds,
      failureRatio: t.failureRatio,
      minSamples: t.minSamples,
      windowMinutes: t.windowMinutes,
      oldestDeferredMinutes: t.oldestDeferredMinutes,
      consecutiveFailures: t.consecutiveFailures,
      roundTripTimeoutSeconds: deps.config.continuity.probes.roundTrip?.timeoutSeconds ?? null,
    },
    bounds: {
      latencySeconds: LATENCY_BOUNDS_SECONDS,
      smtpMs: SMTP_BOUNDS_MS,
      probeRttSeconds: RTT_BOUNDS_SECONDS,
    },
  };
}
