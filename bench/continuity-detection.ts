import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Context } from '../lambdas/adapters/context.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { createSmtpProber } from '../lambdas/adapters/smtp-prober.js';
import { type LifeboatConfig, parseConfig, type RouteConfig } from '../lambdas/core/config.js';
import { awsProbeTicks, awsProbeWindowMs } from '../lambdas/core/probe-cycle.js';
import { mapWithConcurrency } from '../lambdas/core/sweep.js';
import { createProbeHandler } from '../lambdas/handlers/probe.js';
import type { Mailer, NotificationRecord, Notifier, SmtpProber } from '../lambdas/ports.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../test/support/memory-store.js';
import { BenchPrimary } from './continuity-sink.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt, median, percentile } from './stats.js';

/** Aim: the first page within a minute of the primary going down, for 95 % of outage start times. */
export const AIM_SECONDS = 60;
/**
 * Outage start times, spread evenly over one scheduled minute (every half second, each in the
 * middle of its slot): where in the probe's cycle an outage begins decides most of the wait.
 */
const OFFSETS_MS = Array.from({ length: 120 }, (_, i) => i * 500 + 250);
/** Drills run at once (each on its own store and simulated clock). */
const DRILLS_AT_ONCE = 12;
/** Healthy scheduled runs before each outage, so the streaks start clean. */
const HEALTHY_RUNS = 2;
/** A drill with no page by then has failed. */
const GIVE_UP_RUNS = 10;
/** EventBridge's rate(1 minute), the probe schedule at the default `intervalSeconds`. */
const RUN_EVERY_MS = 60_000;
/** The probe function's timeout at the defaults (one schedule interval): Lambda's remaining time counts down from it. */
const LAMBDA_TIMEOUT_MS = 60_000;
/**
 * A silent primary's check really waits for its timeout, divided by this (the simulated clock
 * then moves on by the whole timeout): the real prober's timeout path, without minutes of waiting.
 */
const SILENT_TIME_SCALE = 100;
const DOMAIN = 'corp.test';
const T0 = Date.parse('2026-11-23T03:00:00Z');

type Failure = 'refused' | 'silent';

/** Notes the simulated time at which the first page to the admins reached the notifier (it is in the outbox by then). */
class PageClock implements Notifier {
  firstAlertAt: number | undefined;
  constructor(private readonly clock: ManualClock) {}
  async send(n: NotificationRecord): Promise<void> {
    if (n.audience === 'admins' && n.notice === 'alert') this.firstAlertAt ??= this.clock.now().getTime();
  }
}

/** Loopback endpoints standing for the primary: up (an smtp-server), refusing, and silent (accepts, never greets). */
interface Endpoints {
  up: number;
  refused: number;
  silent: number;
}

/**
 * The real SMTP prober, pointed by the simulated clock at the primary up or down. Simulated time
 * moves on by the check's real duration, or for a silent primary by its whole timeout (waited
 * for in real time at 1/{@link SILENT_TIME_SCALE}).
 */
class SimulatedPrimary implements SmtpProber {
  constructor(
    private readonly real: SmtpProber,
    private readonly clock: ManualClock,
    private readonly endpoints: Endpoints,
    private readonly outage: { downAt: number; failure: Failure },
  ) {}

  async check(route: RouteConfig, host: { host: string; port: number }, recipient: string) {
    const t = this.clock.now().getTime();
    const down = t >= this.outage.downAt;
    const silent = down && this.outage.failure === 'silent';
    const port = !down ? this.endpoints.up : silent ? this.endpoints.silent : this.endpoints.refused;
    const timeoutSeconds = route.connectTimeoutSeconds;
    const started = performance.now();
    const result = await this.real.check(
      silent ? { ...route, connectTimeoutSeconds: timeoutSeconds / SILENT_TIME_SCALE } : route,
      { host: host.host, port },
      recipient,
    );
    const elapsed = silent ? timeoutSeconds * 1000 : performance.now() - started;
    this.clock.current = new Date(Math.max(this.clock.now().getTime(), t + elapsed));
    return result;
  }
}

function drillConfig(): LifeboatConfig {
  // Everything at its shipped default but the route and somewhere to page.
  return parseConfig(
    {
      organisation: 'Lifeboat bench',
      hostname: 'lifeboat.bench.test',
      domains: [DOMAIN],
      routes: [{ name: 'primary', domains: [DOMAIN], hosts: [{ host: '127.0.0.1', port: 25 }], tls: 'none' }],
      continuity: { paging: { adminPhones: ['+447700900123'], adminEmails: ['oncall@alerts.example.org'] } },
    },
    'bench detection config',
  );
}

const noMail: Mailer = {
  async send() {
    throw new Error('the detection drill sends no mail');
  },
};

interface Drill {
  offsetMs: number;
  /** Primary down → first admin page in the outbox, simulated seconds. */
  seconds: number;
  /** Probe runs from the outage to the page. */
  runs: number;
}

/** One outage on a fresh store: healthy runs, the primary down `offsetMs` into a minute, runs until the page. */
async function drill(
  offsetMs: number,
  failure: Failure,
  endpoints: Endpoints,
): Promise<Drill & { healthyRunMs: number }> {
  const config = drillConfig();
  const store = new MemoryStore();
  const clock = new ManualClock(new Date(T0));
  const downAt = T0 + HEALTHY_RUNS * RUN_EVERY_MS + offsetMs;
  const pages = new PageClock(clock);
  const prober = new SimulatedPrimary(createSmtpProber({ hostname: config.hostname }), clock, endpoints, {
    downAt,
    failure,
  });
  const ctx = {
    config,
    store,
    continuity: store,
    notifier: pages,
    prober,
    blobs: new MemoryBlobs(),
    mailer: noMail,
    clock,
    log: silentLogger,
  } as unknown as Context;
  // The handler as lambdas/handlers/probe.ts exports it for Lambda, its waits on the simulated clock.
  const handler = createProbeHandler(() => ctx, {
    windowMs: awsProbeWindowMs,
    sleep: async (ms) => {
      clock.advance(ms / 1000);
      return true;
    },
  });
  let healthyRunMs = 0;
  // The stack's invocations of each minute: EventBridge's at its start, the tick state machine's after.
  const ticks = awsProbeTicks(config);
  for (let run = 0; run < GIVE_UP_RUNS; run++) {
    for (const [tick, seconds] of ticks.entries()) {
      const start = T0 + run * RUN_EVERY_MS + seconds * 1000;
      if (clock.now().getTime() > start)
        throw new Error(`the probe invocation before ${new Date(start).toISOString()} overran it`);
      clock.current = new Date(start);
      await handler(tick === 0 ? {} : { tick }, {
        getRemainingTimeInMillis: () => start + LAMBDA_TIMEOUT_MS - clock.now().getTime(),
      });
      if (run === 0 && tick === 0) healthyRunMs = clock.now().getTime() - start;
      if (pages.firstAlertAt !== undefined) break;
    }
    if (pages.firstAlertAt !== undefined) {
      if (pages.firstAlertAt < downAt) throw new Error('paged before the primary went down');
      return {
        offsetMs,
        seconds: (pages.firstAlertAt - downAt) / 1000,
        runs: run - HEALTHY_RUNS + 1,
        healthyRunMs,
      };
    }
  }
  throw new Error(`no page within ${GIVE_UP_RUNS} minutes of an outage ${offsetMs} ms into the minute`);
}

async function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Figure 4a: seconds from the primary going down to the first admin page in the outbox, at the
 * shipped AWS defaults (a probe invocation at the start of each minute and one 30 s later, a
 * confirming check 10 s after a failed one, two failures to page), over outage start times spread across the minute.
 */
export async function measureDetection(): Promise<FigureResult> {
  const primary = new BenchPrimary();
  await primary.start(0);
  const closed = net.createServer();
  const refused = await listenOn(closed);
  await new Promise((resolve) => closed.close(resolve));
  const sockets = new Set<net.Socket>();
  const silentServer = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const silent = await listenOn(silentServer);
  const endpoints = { up: primary.port, refused, silent };
  const results: Record<Failure, Drill[]> = { refused: [], silent: [] };
  let healthyRunMs = 0;
  try {
    for (const failure of ['refused', 'silent'] as const) {
      // Drills share nothing but the loopback endpoints, so several run at once: their waits are
      // real (an SMTP check takes ~0.1 s against smtp-server), their clocks their own.
      const drills = await mapWithConcurrency(OFFSETS_MS, DRILLS_AT_ONCE, (offset) =>
        drill(offset, failure, endpoints),
      );
      for (const d of drills) {
        healthyRunMs = Math.max(healthyRunMs, d.healthyRunMs);
        results[failure].push({ offsetMs: d.offsetMs, seconds: d.seconds, runs: d.runs });
      }
    }
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silentServer.close(resolve));
    await primary.stop();
  }

  const summary = (failure: Failure) => {
    const seconds = results[failure].map((d) => d.seconds);
    return {
      median: median(seconds),
      p95: percentile(seconds, 95),
      min: Math.min(...seconds),
      max: Math.max(...seconds),
    };
  };
  const row = (failure: Failure, what: string): Row => {
    const s = summary(failure);
    return {
      id: `detection.seconds.${failure}`,
      figure: `Detection at the shipped AWS defaults (primary ${what} → first page), seconds`,
      value: `median ${fmt(s.median)} s, p95 ${fmt(s.p95)} s`,
      reference: 'none: Postfix neither probes nor pages',
      ratio: '—',
      aim: `p95 ≤ ${AIM_SECONDS} s`,
      verdict: s.p95 <= AIM_SECONDS ? 'PASS' : 'MISS',
      data: { ...s, drills: results[failure] },
    };
  };
  const refusedSummary = summary('refused');
  const silentSummary = summary('silent');
  const notes = [
    `Detection: the probe handler exactly as Lambda runs it (createProbeHandler with each tick's window, every continuity setting at its default: rounds every 30 s, a confirming check 10 s after a failed one, checks that give up after 10 s, two failed checks to page), invoked as the stack invokes it: at the start of each simulated minute as EventBridge's rate(1 minute) does, and 30 s later as the tick state machine does, with Lambda's remaining time counting down from the 60 s timeout; waits move a simulated clock, so ${OFFSETS_MS.length} outages per kind take seconds, not hours. The SMTP check is the real prober against loopback: an smtp-server while the primary is up; after the outage a closed port (refused: the primary stopped) or a listener that accepts and never greets (no answer: packets dropped, its 10 s timeout waited at 1/${SILENT_TIME_SCALE} and counted in full). Outages begin every 0.5 s across the minute after two healthy runs; timed from the outage to the first admin page in the outbox.`,
    `Refused: median ${fmt(refusedSummary.median)} s, p95 ${fmt(refusedSummary.p95)} s, range ${fmt(refusedSummary.min)}–${fmt(refusedSummary.max)} s. No answer: median ${fmt(silentSummary.median)} s, p95 ${fmt(silentSummary.p95)} s, range ${fmt(silentSummary.min)}–${fmt(silentSummary.max)} s. Why: the first failed check comes 0–30 s after the outage (the next of the rounds at :00 and :30), its confirmation 10 s after that check began, and the page with it; a silent primary adds the confirming check's 10 s timeout. Before, with one round a minute and no confirming check, the page came 60–120 s after the outage.`,
    `Cost: a probe invocation in normal times lasts ${fmt(healthyRunMs / 1000)} s here (one round against loopback); the 30 s between a minute's two rounds is the tick state machine's wait, not Lambda time. Before, one invocation did both rounds and waited between them, about 31 s of Lambda a minute. bench/aws-cost.ts prices both.`,
  ];
  return { rows: [row('refused', 'refusing connections'), row('silent', 'silent')], notes };
}

export const detectionFigure: Figure = { name: 'detection', run: measureDetection };
