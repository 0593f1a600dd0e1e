import type { SendingStore } from '../ports.js';
import type { LifeboatConfig } from './config.js';
import type { Step } from './continuity.js';
import { type ContinuityDeps, runProbeRound } from './continuity-service.js';
import { advanceDrill, type DrillDeps, drillToSimulate } from './drill.js';
import { ValidationError } from './errors.js';
import { effectiveConfig } from './settings.js';

/**
 * Time a probe round may take beyond its SMTP checks (which run at once, each at most
 * `probes.checkTimeoutSeconds`): the organic figures, the round trip's bookkeeping, the state
 * write and the pages.
 */
export const ROUND_OVERHEAD_MS = 5_000;

/**
 * A run's last round ends this long before the next run is due, so a scheduled start that comes a
 * little early or a round that runs a little long does not meet the next run (which, at a reserved
 * concurrency of 1, would be throttled).
 */
export const SCHEDULE_SLACK_MS = 5_000;

/** EventBridge schedules run at most once a minute. */
const MIN_SCHEDULE_SECONDS = 60;

/**
 * How long one scheduled probe run on AWS lasts before the next is due: `probes.intervalSeconds`
 * rounded up to whole minutes (the schedule infra/aws/constructs/continuity.ts sets), at least one minute.
 */
export function awsScheduleMs(config: Pick<LifeboatConfig, 'continuity'>): number {
  const seconds = config.continuity.probes.intervalSeconds;
  return Math.max(MIN_SCHEDULE_SECONDS, Math.ceil(seconds / 60) * 60) * 1000;
}

/**
 * Seconds into each scheduled run at which the stack starts a probe invocation, each running one
 * round: 0 (the schedule itself), then every `probes.intervalSeconds` whose round, at its worst,
 * still ends {@link SCHEDULE_SLACK_MS} before the next run ([0, 30] at the defaults). The later
 * ones come from a queue each, which delays the schedule's message by the tick's offset, so no
 * Lambda is billed for the wait: EventBridge schedules, rules and Scheduler alike, start targets
 * only to the minute. At most five ticks fit a run (intervalSeconds 10), the five targets an
 * EventBridge rule may have.
 */
export function awsProbeTicks(config: Pick<LifeboatConfig, 'continuity'>): number[] {
  const { intervalSeconds, checkTimeoutSeconds } = config.continuity.probes;
  const lastStartMs =
    awsScheduleMs(config) - SCHEDULE_SLACK_MS - checkTimeoutSeconds * 1000 - ROUND_OVERHEAD_MS;
  const ticks = [0];
  for (let t = intervalSeconds; t * 1000 <= lastStartMs; t += intervalSeconds) ticks.push(t);
  return ticks;
}

/**
 * How long the probe invocation started at tick `tick` (an index into {@link awsProbeTicks}) has
 * before the next one is due: the window in which it may run a confirming round after its own.
 * @throws ValidationError for a tick this config does not start (an event from an older deploy)
 */
export function awsProbeWindowMs(config: Pick<LifeboatConfig, 'continuity'>, tick = 0): number {
  const ticks = awsProbeTicks(config);
  const at = ticks[tick];
  if (at === undefined) {
    throw new ValidationError('probe event', [
      `tick: ${tick} is past the last tick (${ticks.length - 1}) of continuity.probes.intervalSeconds ${config.continuity.probes.intervalSeconds}`,
    ]);
  }
  const next = ticks[tick + 1];
  return next === undefined ? awsScheduleMs(config) - at * 1000 : (next - at) * 1000;
}

/**
 * How late a tick's invocation may start and still run its round (awsProbeTickWindowMs): a round
 * whose worst case would not end {@link SCHEDULE_SLACK_MS} before the next invocation is due is not
 * started, but a tick that comes within the slack of its time always runs, as the schedule's own does.
 */
export function awsProbeTickStaleAfterMs(config: Pick<LifeboatConfig, 'continuity'>, tick: number): number {
  const { checkTimeoutSeconds } = config.continuity.probes;
  const worstRound = checkTimeoutSeconds * 1000 + ROUND_OVERHEAD_MS;
  return Math.max(SCHEDULE_SLACK_MS, awsProbeWindowMs(config, tick) - SCHEDULE_SLACK_MS - worstRound);
}

/** When a tick's message was scheduled, sent and handed to the probe (epoch milliseconds). */
export interface TickTimes {
  /** The run's scheduled time (EventBridge's event time). */
  scheduledMs: number;
  /** When the schedule put the message on the tick's queue, which delays it by the tick's offset. */
  sentMs: number;
  /** Now: the invocation's start. */
  nowMs: number;
  /** When the last probe round of any run ended (the organisation's lastRoundAt), if one has. */
  lastRoundMs?: number | undefined;
}

/**
 * The window of a tick that arrives by its queue: what is left of awsProbeWindowMs once its lateness
 * (the time it waited behind a run still going, from when its queue's delay ended) is taken off, or
 * null when the tick is stale and must not run, so a late tick never meets the next one: it waited
 * longer than awsProbeTickStaleAfterMs, or the schedule sent it that much after the run's time (a
 * send it retried), or a round already ran since it was due (SQS handed the message over twice, or a
 * requested check ran while it waited). Like the schedule's own invocation, the tick keeps the time
 * EventBridge takes to start a run; a tick that comes early keeps its whole window.
 * @throws ValidationError for a tick this config does not start
 */
export function awsProbeTickWindowMs(
  config: Pick<LifeboatConfig, 'continuity'>,
  tick: number,
  at: TickTimes,
): number | null {
  const window = awsProbeWindowMs(config, tick);
  const staleAfter = awsProbeTickStaleAfterMs(config, tick);
  if (at.sentMs - at.scheduledMs > staleAfter) return null;
  const dueMs = at.sentMs + (awsProbeTicks(config)[tick] ?? 0) * 1000;
  const lateMs = Math.max(0, at.nowMs - dueMs);
  if (lateMs > staleAfter) return null;
  if (at.lastRoundMs !== undefined && at.lastRoundMs >= dueMs) return null;
  return window - lateMs;
}

export interface ProbeCycleOptions {
  /** Time until the next run is due: its schedule's interval. 0 runs one round. */
  windowMs: number;
  /** Milliseconds before the function is stopped (Lambda's getRemainingTimeInMillis). @default no limit */
  remainingMs?: (() => number) | undefined;
  /** Waits `ms` milliseconds of the deps' clock; resolves false when the run is told to stop instead. */
  sleep: (ms: number) => Promise<boolean>;
}

export interface ProbeCycleResult {
  /** The last round's step (the state the run leaves the organisation in). */
  last: Step;
  /** Rounds run, confirming checks included. */
  rounds: number;
  /** Actions (pages, holds) the rounds took together. */
  actions: number;
}

/**
 * Whether the round's SMTP check failed on some route without having failed often enough yet to
 * page: then a confirming check is due soon, not at the next round.
 */
export function awaitsConfirmation(step: Step, settings: ContinuityDeps['config']['continuity']): boolean {
  if (step.org.state !== 'normal') return false;
  return Object.entries(step.org.streaks).some(
    ([key, streak]) =>
      key.endsWith('/smtp') &&
      streak.failures > 0 &&
      streak.failures < settings.thresholds.consecutiveFailures,
  );
}

/**
 * One probe run: probe rounds, one at a time, every `probes.intervalSeconds` from the run's start
 * for as long as its window lasts, and a confirming round `probes.confirmAfterSeconds` after a
 * round whose SMTP check failed without yet breaching, so an outage pages within a minute while a
 * single blip pages nobody. A round is started only if its worst case (the check timeout and
 * {@link ROUND_OVERHEAD_MS}) ends {@link SCHEDULE_SLACK_MS} before the next run is due and before the
 * function is stopped. Stops after a round that leaves the organisation recovering: the hand-over
 * takes the rest of the run.
 */
export async function runProbeCycle(
  deployed: ContinuityDeps & { jobs?: SendingStore | undefined },
  options: ProbeCycleOptions,
): Promise<ProbeCycleResult> {
  // The thresholds and paging contacts in effect: the deployed config with the console's
  // overrides (read through a short cache), in both runtimes.
  const deps: ContinuityDeps = { ...deployed, config: await effectiveConfig(deployed) };
  const { probes } = deps.config.continuity;
  const now = () => deps.clock.now().getTime();
  const start = now();
  const end = start + options.windowMs - SCHEDULE_SLACK_MS;
  const spacing = probes.intervalSeconds * 1000;
  const worstRound = probes.checkTimeoutSeconds * 1000 + ROUND_OVERHEAD_MS;
  let rounds = 0;
  let actions = 0;
  let slot = 0;
  const drills: DrillDeps | null = deps.jobs ? { ...deps, jobs: deps.jobs } : null;
  for (;;) {
    const roundStart = now();
    const drill = drills ? await drillStep(deps, 'drill not simulated', () => drillToSimulate(drills)) : null;
    let last = await runProbeRound(deps, { drill });
    if (drills) {
      const advanced = await drillStep(deps, 'drill not advanced', () => advanceDrill(drills));
      // A drill may have invoked or revoked: the run goes on from the state it left.
      const org = advanced ? await deps.continuity.getOrg() : undefined;
      if (org && org.state !== last.org.state) last = { ...last, org };
    }
    rounds++;
    actions += last.actions.length;
    const done = { last, rounds, actions };
    if (last.org.state === 'recovering') return done;
    while (start + slot * spacing <= roundStart) slot++;
    let next = start + slot * spacing;
    if (probes.confirmAfterSeconds !== null && awaitsConfirmation(last, deps.config.continuity)) {
      next = Math.min(next, roundStart + probes.confirmAfterSeconds * 1000);
    }
    const wait = Math.max(0, next - now());
    if (now() + wait + worstRound > end) return done;
    const remaining = options.remainingMs?.();
    if (remaining !== undefined && remaining < wait + worstRound + SCHEDULE_SLACK_MS) return done;
    if (wait > 0 && !(await options.sleep(wait))) return done;
  }
}

/**
 * A drill's part of a probe round: whatever goes wrong with a drill is logged and never stops the
 * probes, which watch for real outages.
 */
async function drillStep<T>(deps: ContinuityDeps, what: string, run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (err) {
    deps.log.error(what, { error: (err as Error).message });
    return null;
  }
}

/**
 * A probe run a delivery asked for (RouteChecks), having failed to reach a route: one round as soon
 * as `probes.confirmAfterSeconds` have passed since the last round of any run (at once, usually),
 * then its confirming round that long after if the check failed. Whoever asks, and however often,
 * two checks are never closer than a confirming round's spacing, so a blip that fails a few
 * deliveries pages nobody, while an outage with mail flowing pages about `confirmAfterSeconds`
 * after the first delivery fails. The run's window holds just the two rounds: the scheduled runs,
 * which a reserved concurrency of one holds back meanwhile, go on after it.
 * @returns undefined when it ran no round: the organisation is not `normal` (its rounds already
 *   decide), or Lambda would stop the run before its round and confirmation could end.
 */
export async function runRequestedCheck(
  deps: ContinuityDeps,
  options: Omit<ProbeCycleOptions, 'windowMs'>,
): Promise<ProbeCycleResult | undefined> {
  const { probes } = deps.config.continuity;
  const org = await deps.continuity.getOrg();
  if (org && org.state !== 'normal') return undefined;
  const gapMs = (probes.confirmAfterSeconds ?? probes.intervalSeconds) * 1000;
  const worstRound = probes.checkTimeoutSeconds * 1000 + ROUND_OVERHEAD_MS;
  const windowMs = gapMs + worstRound + SCHEDULE_SLACK_MS;
  const last = org?.lastRoundAt ? Date.parse(org.lastRoundAt) : Number.NEGATIVE_INFINITY;
  const wait = Math.max(0, last + gapMs - deps.clock.now().getTime());
  const remaining = options.remainingMs?.();
  if (remaining !== undefined && remaining < wait + windowMs + SCHEDULE_SLACK_MS) return undefined;
  if (wait > 0 && !(await options.sleep(wait))) return undefined;
  return runProbeCycle(deps, { ...options, windowMs });
}
