import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { getStatus } from '../../lambdas/core/continuity-service.js';
import { ConfigError, ValidationError } from '../../lambdas/core/errors.js';
import {
  awsProbeTicks,
  awsProbeWindowMs,
  runProbeCycle,
  SCHEDULE_SLACK_MS,
} from '../../lambdas/core/probe-cycle.js';
import { createProbeHandler } from '../../lambdas/handlers/probe.js';
import type { SmtpProber } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';
import type { ManualClock } from '../support/memory-store.js';

const MINUTE = 60_000;

/**
 * The primary as the SMTP check sees it on the harness clock: down from `downAt` until `upAt`,
 * either refusing at once or silent until the check times out (the clock moves on by the check's
 * timeout, as it would while the checks of one round wait together).
 */
class OutageProber implements SmtpProber {
  /** Clock time of every check, in ms (a round checks each host of each route at once). */
  readonly checks: number[] = [];
  /** Seconds from `t0` at which rounds checked the primary. */
  rounds(t0: number): number[] {
    return [...new Set(this.checks)].map((t) => (t - t0) / 1000);
  }
  constructor(
    private readonly clock: ManualClock,
    private readonly outage: { downAt: number; upAt?: number; mode: 'refused' | 'silent' },
  ) {}
  async check(route: RouteConfig) {
    const t = this.clock.now().getTime();
    this.checks.push(t);
    const { downAt, upAt = Number.POSITIVE_INFINITY, mode } = this.outage;
    if (t < downAt || t >= upAt) return { ok: true, detail: '250 2.1.5 Ok', latencyMs: 20 };
    if (mode === 'refused') return { ok: false, detail: 'connect ECONNREFUSED', latencyMs: 1 };
    // The round's other checks start at the same time; then all wait out their timeout together.
    await new Promise((resolve) => setImmediate(resolve));
    const end = t + route.connectTimeoutSeconds * 1000;
    if (this.clock.now().getTime() < end) this.clock.current = new Date(end);
    return { ok: false, detail: `no answer within ${route.connectTimeoutSeconds} s`, latencyMs: end - t };
  }
}

/**
 * The shipped AWS probe: the handler as `handler` exports it, invoked as the stack invokes it: by a
 * simulated EventBridge once a minute and by the tick queues at each later tick of the minute
 * (awsProbeTicks: 30 s in at the defaults), each with the Lambda timeout of one minute; waits move
 * the harness clock. Returns the rounds of the minute's invocations together.
 */
function awsSchedule(h: ReturnType<typeof continuityHarness>) {
  const handler = createProbeHandler(() => ({ ...h.deps, trigger: undefined }) as unknown as Context, {
    windowMs: awsProbeWindowMs,
    sleep: async (ms) => {
      h.clock.advance(ms / 1000);
      return true;
    },
  });
  return async function invokeAt(t: number) {
    let rounds = 0;
    const ticks = awsProbeTicks(h.deps.config);
    for (const [tick, seconds] of ticks.entries()) {
      const start = t + seconds * 1000;
      expect(h.clock.now().getTime(), 'an invocation overlapped the next').toBeLessThanOrEqual(start);
      h.clock.current = new Date(start);
      // EventBridge's own event, or the later tick's message from its queue as the event source
      // mapping hands it over: sent at the run's start, delayed by the tick's offset.
      const event =
        tick === 0
          ? { source: 'aws.events', 'detail-type': 'Scheduled Event' }
          : {
              Records: [
                {
                  eventSource: 'aws:sqs',
                  body: JSON.stringify({ tick, time: new Date(t).toISOString() }),
                  attributes: { SentTimestamp: String(t) },
                },
              ],
            };
      const result = await handler(event, {
        getRemainingTimeInMillis: () => start + MINUTE - h.clock.now().getTime(),
      });
      rounds += result.rounds;
    }
    return { rounds };
  };
}

/** Seconds from `downAt` to the first page to the admins, running the schedule until then. */
async function detection(offsetMs: number, mode: 'refused' | 'silent'): Promise<number> {
  const h = continuityHarness();
  const t0 = h.clock.now().getTime();
  // Two healthy minutes, then the primary stops `offsetMs` into the third.
  const downAt = t0 + 2 * MINUTE + offsetMs;
  h.deps.prober = new OutageProber(h.clock, { downAt, mode });
  const invokeAt = awsSchedule(h);
  for (let minute = 0; minute < 10; minute++) {
    await invokeAt(t0 + minute * MINUTE);
    const alert = h.notifier.sent.find((n) => n.notice === 'alert' && n.audience === 'admins');
    if (alert) return (Date.parse(alert.at) - downAt) / 1000;
  }
  throw new Error(`no page within 10 minutes of an outage at offset ${offsetMs} ms`);
}

/** Outage start times spread evenly over the schedule's minute, every half second. */
const OFFSETS = Array.from({ length: 120 }, (_, i) => i * 500 + 250);

describe('runProbeCycle at the shipped defaults', () => {
  it('pages within 60 s of a primary that starts refusing connections at any point in the minute', async () => {
    const seconds = [];
    for (const offset of OFFSETS) seconds.push(await detection(offset, 'refused'));
    expect(Math.max(...seconds)).toBeLessThanOrEqual(60);
  });

  it('pages within 60 s of a primary that stops answering at any point in the minute', async () => {
    const seconds = [];
    for (const offset of OFFSETS) seconds.push(await detection(offset, 'silent'));
    expect(Math.max(...seconds)).toBeLessThanOrEqual(60);
  });

  it('does not page on a single failed check followed by a success', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    // A blip of two seconds that the round at 30 s catches.
    const prober = new OutageProber(h.clock, { downAt: t0 + 29_000, upAt: t0 + 31_000, mode: 'refused' });
    h.deps.prober = prober;
    const invokeAt = awsSchedule(h);

    for (let minute = 0; minute < 3; minute++) await invokeAt(t0 + minute * MINUTE);

    // The round at 30 s failed; the confirming check 10 s after it found the primary up again.
    expect(prober.rounds(t0).slice(0, 3)).toEqual([0, 30, 40]);
    expect(h.notifier.sent).toEqual([]);
    expect((await getStatus(h.deps)).state).toBe('normal');
  });

  it('runs a round every 30 s of its minute, one per invocation, and ends before the next run is due', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    const prober = new OutageProber(h.clock, { downAt: Number.POSITIVE_INFINITY, mode: 'refused' });
    h.deps.prober = prober;

    const result = await awsSchedule(h)(t0);

    expect(result.rounds).toBe(2);
    expect(prober.rounds(t0)).toEqual([0, 30]);
    expect(h.clock.now().getTime() - t0).toBeLessThanOrEqual(MINUTE - SCHEDULE_SLACK_MS);
  });

  it('starts no round that the Lambda’s remaining time cannot fit', async () => {
    const h = continuityHarness();
    const prober = new OutageProber(h.clock, { downAt: Number.POSITIVE_INFINITY, mode: 'refused' });
    h.deps.prober = prober;

    const result = await runProbeCycle(h.deps, {
      windowMs: MINUTE,
      remainingMs: () => 25_000,
      sleep: async () => true,
    });

    expect(result.rounds).toBe(1);
  });

  it('returns after the current round when its wait is ended', async () => {
    const h = continuityHarness();
    h.deps.prober = new OutageProber(h.clock, { downAt: 0, mode: 'refused' });

    const result = await runProbeCycle(h.deps, { windowMs: MINUTE, sleep: async () => false });

    expect(result.rounds).toBe(1);
    expect(h.notifier.sent).toEqual([]);
  });

  it('runs one round when it has no window (the local runtime’s timer off, a test calling it)', async () => {
    const h = continuityHarness();
    h.deps.prober = new OutageProber(h.clock, { downAt: 0, mode: 'refused' });

    const result = await createProbeHandler(() => h.deps as unknown as Context)({});

    expect(result.rounds).toBe(1);
  });
});

describe('smtpProbe', () => {
  it('gives a check at most continuity.probes.checkTimeoutSeconds, or the route’s shorter connect timeout', async () => {
    const h = continuityHarness();
    const seen: number[] = [];
    h.deps.prober = {
      async check(route) {
        seen.push(route.connectTimeoutSeconds);
        return { ok: true, detail: 'ok', latencyMs: 1 };
      },
    };
    h.deps.config = testConfig({
      routes: [
        {
          name: 'slow',
          domains: ['example.com'],
          hosts: [{ host: 'mx1.example.com' }],
          connectTimeoutSeconds: 30,
        },
        {
          name: 'quick',
          domains: ['example.net'],
          hosts: [{ host: 'mx2.example.com' }],
          connectTimeoutSeconds: 4,
        },
      ],
    });

    await runProbeCycle(h.deps, { windowMs: 0, sleep: async () => true });

    expect(seen.sort((a, b) => a - b)).toEqual([4, 10]);
  });
});

describe('continuity.probes settings', () => {
  const probes = (p: Record<string, unknown>) => () => testConfig({ continuity: { probes: p } });

  it('default to a round every 30 s, a confirming check 10 s after a failed one and a 10 s check', () => {
    expect(testConfig().continuity.probes).toMatchObject({
      intervalSeconds: 30,
      confirmAfterSeconds: 10,
      checkTimeoutSeconds: 10,
    });
    expect(probes({ confirmAfterSeconds: null })().continuity.probes.confirmAfterSeconds).toBeNull();
  });

  it('refuse a confirming check that would come after the next round', () => {
    expect(probes({ intervalSeconds: 20, confirmAfterSeconds: 25 })).toThrow(
      /continuity\.probes\.confirmAfterSeconds: must not be longer than continuity\.probes\.intervalSeconds \(20\)/,
    );
  });

  it('refuse a check that could outlast the interval between rounds', () => {
    expect(probes({ intervalSeconds: 15, checkTimeoutSeconds: 20 })).toThrow(
      /continuity\.probes\.checkTimeoutSeconds: must not be longer than continuity\.probes\.intervalSeconds \(15\)/,
    );
  });

  it('refuse a wrong type or range rather than falling back to a default', () => {
    expect(probes({ confirmAfterSeconds: 0 })).toThrow(ConfigError);
    expect(probes({ checkTimeoutSeconds: '10' })).toThrow(ConfigError);
  });
});

describe('awsProbeTicks', () => {
  const config = (probes: Record<string, number>) => testConfig({ continuity: { probes } });

  it('starts a round at the schedule and one 30 s later at the defaults, each with 30 s to the next', () => {
    const c = testConfig();
    expect(awsProbeTicks(c)).toEqual([0, 30]);
    expect([awsProbeWindowMs(c, 0), awsProbeWindowMs(c, 1)]).toEqual([30_000, 30_000]);
  });

  it('leaves out a tick whose round could not end 5 s before the next run', () => {
    // 45 s + a 10 s check + 5 s for the round's writes would end at 60 s.
    expect(awsProbeTicks(config({ intervalSeconds: 15, checkTimeoutSeconds: 10 }))).toEqual([0, 15, 30]);
    expect(awsProbeTicks(config({ intervalSeconds: 15, checkTimeoutSeconds: 5 }))).toEqual([0, 15, 30, 45]);
    expect(awsProbeTicks(config({ intervalSeconds: 60 }))).toEqual([0]);
  });

  it('gives the last tick of a longer schedule the rest of it', () => {
    const c = config({ intervalSeconds: 90 });
    expect(awsProbeTicks(c)).toEqual([0, 90]);
    expect(awsProbeWindowMs(c, 1)).toBe(30_000);
  });

  it('refuses a tick the config does not start', () => {
    expect(() => awsProbeWindowMs(testConfig(), 2)).toThrow(ValidationError);
  });
});

describe('createProbeHandler', () => {
  it('runs the round of the tick in its event and refuses an event whose tick is not a number', async () => {
    const h = continuityHarness();
    const prober = new OutageProber(h.clock, { downAt: Number.POSITIVE_INFINITY, mode: 'refused' });
    h.deps.prober = prober;
    const windows: number[] = [];
    const handler = createProbeHandler(() => h.deps as unknown as Context, {
      windowMs: (config, tick) => {
        windows.push(tick);
        return awsProbeWindowMs(config, tick);
      },
      sleep: async () => true,
    });

    expect((await handler({ tick: 1 })).rounds).toBe(1);
    expect(windows).toEqual([1]);
    await expect(handler({ tick: 'one' })).rejects.toBeInstanceOf(ValidationError);
  });
});
