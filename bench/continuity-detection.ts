import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Context } from '../lambdas/adapters/context.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { createSmtpProber } from '../lambdas/adapters/smtp-prober.js';
import { type LifeboatConfig, parseConfig, type RouteConfig } from '../lambdas/core/config.js';
import { awsProbeTicks, awsProbeWindowMs } from '../lambdas/core/probe-cycle.js';
import { oncePerInterval } from '../lambdas/core/route-checks.js';
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

/**
 * Mail flowing: the worked month's organisation (500 users × 100 messages a day, bench/aws-cost.ts)
 * receives 0.58 messages a second on average; arrivals are a Poisson process from a fixed seed.
 */
const MAIL_PER_SECOND = (500 * 100) / 86_400;
/**
 * Lambda retries an asynchronous invocation it throttled (the probe's reserved concurrency of one
 * is busy) after about a second at first, and drops it after the probe's maximum event age.
 */
const THROTTLE_RETRY_MS = 1_000;
const MAX_EVENT_AGE_MS = 60_000;

/** A small seeded generator, so every run sees the same arrivals. */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

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

/**
 * One outage on a fresh store: healthy runs, the primary down `offsetMs` into a minute, runs until
 * the page. With `mail`, messages arrive all along and each delivery after the outage fails as the
 * mailer would see it (at once when refused; after the route's connect timeout when silent), asking
 * for the route's check as deliver does in AWS (once per route per probe interval, an asynchronous
 * invoke of the probe with `{ check }`, held back by Lambda while an invocation runs).
 */
async function drill(
  offsetMs: number,
  failure: Failure,
  endpoints: Endpoints,
  mail: boolean,
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
  type Invocation = { at: number; event: unknown; scheduled: boolean };
  const queue: Invocation[] = [];
  const ticks = awsProbeTicks(config);
  // The stack's invocations of each minute: EventBridge's at its start; each later tick's when its
  // queue's delay ends, the message the schedule sent at the run's start, as the event source
  // mapping hands it over.
  for (let run = 0; run < GIVE_UP_RUNS; run++) {
    const runAt = T0 + run * RUN_EVERY_MS;
    for (const [tick, seconds] of ticks.entries()) {
      const message = { tick, time: new Date(runAt).toISOString() };
      queue.push({
        at: runAt + seconds * 1000,
        event:
          tick === 0
            ? {}
            : {
                Records: [
                  {
                    eventSource: 'aws:sqs',
                    body: JSON.stringify(message),
                    attributes: { SentTimestamp: String(runAt) },
                  },
                ],
              },
        scheduled: true,
      });
    }
  }
  if (mail) {
    // Deliveries of messages arriving after the outage fail; each asks for a check (deliver's limiter).
    const random = seeded(offsetMs + (failure === 'silent' ? 1 : 0));
    const gap = () => -Math.log(1 - random()) * (1000 / MAIL_PER_SECOND);
    const route = config.routes[0] as RouteConfig;
    const failsAfterMs = failure === 'refused' ? 0 : route.connectTimeoutSeconds * 1000;
    let failedAt = 0;
    const checks = oncePerInterval(
      {
        async requestCheck(name) {
          queue.push({ at: failedAt, event: { check: name }, scheduled: false });
        },
      },
      { now: () => new Date(failedAt) },
      config.continuity.probes.intervalSeconds * 1000,
    );
    for (let t = T0 + gap(); t < T0 + GIVE_UP_RUNS * RUN_EVERY_MS; t += gap()) {
      if (t < downAt) continue;
      failedAt = t + failsAfterMs;
      await checks.requestCheck(route.name);
    }
  }
  queue.sort((a, b) => a.at - b.at);
  let healthyRunMs = 0;
  let busyUntil = 0;
  let runs = 0;
  for (const inv of queue) {
    // One invocation at a time (reserved concurrency 1): Lambda retries a throttled one a second
    // after the running one ends (a tick's mapping while the message is hidden, a check's event
    // queue), and drops it past the maximum event age; the probe itself drops a stale tick.
    let start = inv.at;
    if (start < busyUntil) start = busyUntil + THROTTLE_RETRY_MS;
    if (start - inv.at > MAX_EVENT_AGE_MS) continue;
    clock.current = new Date(Math.max(start, clock.now().getTime()));
    const began = clock.now().getTime();
    const result = await handler(inv.event, {
      getRemainingTimeInMillis: () => began + LAMBDA_TIMEOUT_MS - clock.now().getTime(),
    });
    busyUntil = clock.now().getTime();
    if (inv.scheduled && inv.at === T0) healthyRunMs = busyUntil - began;
    if (result.rounds > 0 && began >= downAt) runs++;
    if (pages.firstAlertAt !== undefined) {
      if (pages.firstAlertAt < downAt) throw new Error('paged before the primary went down');
      return { offsetMs, seconds: (pages.firstAlertAt - downAt) / 1000, runs, healthyRunMs };
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
  type Kind = `${Failure}.${'quiet' | 'mail'}`;
  const kinds: Kind[] = ['refused.quiet', 'silent.quiet', 'refused.mail', 'silent.mail'];
  const results = Object.fromEntries(kinds.map((k) => [k, [] as Drill[]])) as Record<Kind, Drill[]>;
  let healthyRunMs = 0;
  try {
    for (const kind of kinds) {
      const [failure, flow] = kind.split('.') as [Failure, 'quiet' | 'mail'];
      // Drills share nothing but the loopback endpoints, so several run at once: their waits are
      // real (an SMTP check takes ~0.1 s against smtp-server), their clocks their own.
      const drills = await mapWithConcurrency(OFFSETS_MS, DRILLS_AT_ONCE, (offset) =>
        drill(offset, failure, endpoints, flow === 'mail'),
      );
      for (const d of drills) {
        healthyRunMs = Math.max(healthyRunMs, d.healthyRunMs);
        results[kind].push({ offsetMs: d.offsetMs, seconds: d.seconds, runs: d.runs });
      }
    }
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silentServer.close(resolve));
    await primary.stop();
  }

  const summary = (kind: Kind) => {
    const seconds = results[kind].map((d) => d.seconds);
    return {
      median: median(seconds),
      p95: percentile(seconds, 95),
      min: Math.min(...seconds),
      max: Math.max(...seconds),
    };
  };
  const row = (kind: Kind, what: string): Row => {
    const s = summary(kind);
    return {
      id: `detection.seconds.${kind}`,
      figure: `Detection at the shipped AWS defaults (${what} → first page), seconds`,
      value: `median ${fmt(s.median)} s, p95 ${fmt(s.p95)} s`,
      reference: 'none: Postfix neither probes nor pages',
      ratio: '—',
      aim: `p95 ≤ ${AIM_SECONDS} s`,
      verdict: s.p95 <= AIM_SECONDS ? 'PASS' : 'MISS',
      data: { ...s, drills: results[kind] },
    };
  };
  const said = (kind: Kind) => {
    const x = summary(kind);
    return `median ${fmt(x.median)} s, p95 ${fmt(x.p95)} s, range ${fmt(x.min)}–${fmt(x.max)} s`;
  };
  const notes = [
    `Detection: the probe handler exactly as Lambda runs it (createProbeHandler with each tick's window, every continuity setting at its default: rounds every 30 s, a confirming check 10 s after a failed one, checks that give up after 10 s, two failed checks to page), invoked as the stack invokes it: at the start of each simulated minute as EventBridge's rate(1 minute) does, and 30 s later as the tick queue's event source mapping does (the handler dropping a tick that waited too long behind a running one), with Lambda's remaining time counting down from the 60 s timeout, one invocation at a time (a throttled one retried a second after the running one ends); waits move a simulated clock, so ${OFFSETS_MS.length} outages per kind take seconds, not hours. The SMTP check is the real prober against loopback: an smtp-server while the primary is up; after the outage a closed port (refused: the primary stopped) or a listener that accepts and never greets (no answer: packets dropped, its 10 s timeout waited at 1/${SILENT_TIME_SCALE} and counted in full). Outages begin every 0.5 s across the minute after two healthy runs; timed from the outage to the first admin page in the outbox.`,
    `With mail flowing: messages arrive as the worked month's organisation receives them (${MAIL_PER_SECOND.toFixed(2)} a second, Poisson, seeded); each delivery after the outage fails as the mailer sees it (at once when refused, after the route's 30 s connect timeout when silent) and asks for the route's check as deliver does in AWS (once per route per probe interval, an asynchronous invoke of the probe with { check }); the probe runs it no sooner than 10 s after its last round and confirms it 10 s later.`,
    `Quiet, refused: ${said('refused.quiet')}. Quiet, no answer: ${said('silent.quiet')}. Why: the first failed check comes 0–30 s after the outage (the next of the rounds at :00 and :30), its confirmation 10 s after that check began, and the page with it; a silent primary adds the confirming check's 10 s timeout. Mail flowing, refused: ${said('refused.mail')}; no answer: ${said('silent.mail')}. A refused delivery asks at once, so the page comes about 10 s after the first message after the outage (later when a scheduled round had just run); a silent primary holds the delivery for its connect timeout (30 s), by when the schedule's own round has usually found it.`,
    `Cost: a probe invocation in normal times lasts ${fmt(healthyRunMs / 1000)} s here (one round against loopback); the 30 s between a minute's two rounds is the tick queue's delivery delay, not Lambda time. A requested check runs only after a delivery could not connect, so it costs nothing in a month without an outage. bench/aws-cost.ts prices the schedule.`,
  ];
  return {
    rows: [
      row('refused.quiet', 'primary refusing connections, no mail'),
      row('silent.quiet', 'primary silent, no mail'),
      row('refused.mail', 'primary refusing connections, mail flowing'),
      row('silent.mail', 'primary silent, mail flowing'),
    ],
    notes,
  };
}

export const detectionFigure: Figure = { name: 'detection', run: measureDetection };
