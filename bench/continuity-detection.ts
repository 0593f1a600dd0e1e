import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Runtime, startRuntime } from '../infra/local/runtime.js';
import { createSmtpProber } from '../lambdas/adapters/smtp-prober.js';
import { type LifeboatConfig, parseConfig } from '../lambdas/core/config.js';
import type { NotificationRecord, Notifier, SmtpProber } from '../lambdas/ports.js';
import { BenchPrimary } from './continuity-sink.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt } from './stats.js';

/** Aim: the first page is in the outbox within two probe intervals of the primary going down. */
export const AIM_INTERVALS = 2;
/**
 * The runtime's probe timer in this figure. Production rounds are `intervalSeconds` apart (at
 * least 10 s); the figure is in intervals, which do not depend on the length of one as long as a
 * round takes a small part of it, so a 1 s timer keeps a drill to a few seconds.
 */
const PROBE_INTERVAL_MS = 1_000;
/** The least `continuity.probes.intervalSeconds` the config schema allows. */
const CONFIG_INTERVAL_SECONDS = 10;
/**
 * Where in the probe cycle the primary stops, as a share of an interval after a round's SMTP
 * check began (and not before that check has finished): spread evenly, so the drills sample
 * the whole cycle instead of a lucky point in it.
 */
const PHASES = [0.1, 0.3, 0.5, 0.7, 0.9] as const;
/** Healthy rounds before each drill, so the primary is known to be up and the runtime warm. */
const HEALTHY_ROUNDS = 2;
/** A drill with no page by then has failed. */
const PAGE_TIMEOUT_MS = 6 * PROBE_INTERVAL_MS;
const DOMAIN = 'corp.test';
const ADMIN_PHONE = '+447700900123';
const ADMIN_EMAIL = 'oncall@alerts.example.org';

interface Drill {
  phase: number;
  /** Primary stopped → first admin page in the outbox. */
  ms: number;
  intervals: number;
  /** SMTP checks that ran after the stop, up to the page. */
  failedRounds: number;
  /** Duration of the round that paged: its SMTP check starting → the page in the outbox. */
  pagingRoundMs: number;
}

/** A notifier that notes when the first page to admins is handed to it, i.e. is already in the outbox. */
class PageClock implements Notifier {
  private resolveFirst: ((at: { at: number; page: NotificationRecord }) => void) | undefined;
  readonly first = new Promise<{ at: number; page: NotificationRecord }>((resolve) => {
    this.resolveFirst = resolve;
  });

  async send(n: NotificationRecord): Promise<void> {
    // `notify` writes the outbox record before it calls the transport, so now it is there.
    if (n.audience === 'admins' && n.notice === 'alert')
      this.resolveFirst?.({ at: performance.now(), page: n });
  }
}

/** The real SMTP prober, noting when each check starts and ends: the probe timer's phase, seen from outside. */
class TimedProber implements SmtpProber {
  readonly starts: number[] = [];
  private readonly inner: SmtpProber;
  private waiters: Array<(check: { start: number; end: number }) => void> = [];

  constructor(hostname: string) {
    this.inner = createSmtpProber({ hostname });
  }

  async check(...args: Parameters<SmtpProber['check']>) {
    const start = performance.now();
    this.starts.push(start);
    const result = await this.inner.check(...args);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w({ start, end: performance.now() });
    return result;
  }

  /** Resolves when the next check has finished. */
  next(): Promise<{ start: number; end: number }> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function drillConfig(primaryPort: number, dataDir: string): LifeboatConfig {
  return parseConfig(
    {
      organisation: 'Lifeboat bench',
      hostname: 'lifeboat.bench.test',
      domains: [DOMAIN],
      routes: [
        {
          name: 'primary',
          domains: [DOMAIN],
          hosts: [{ host: '127.0.0.1', port: primaryPort }],
          tls: 'none',
        },
      ],
      continuity: {
        // Thresholds stay at their defaults (consecutiveFailures 2); paging needs somewhere to page.
        probes: { intervalSeconds: CONFIG_INTERVAL_SECONDS },
        paging: { adminPhones: [ADMIN_PHONE], adminEmails: [ADMIN_EMAIL] },
      },
      local: { dataDir },
    },
    'bench detection config',
  );
}

/** One drill on a fresh runtime: healthy rounds, the primary stopped at `phase`, time to the first page. */
async function runDrill(phase: number): Promise<Drill> {
  const primary = new BenchPrimary();
  await primary.start(0);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-detect-'));
  const config = drillConfig(primary.port, dataDir);
  const prober = new TimedProber(config.hostname);
  const pages = new PageClock();
  let runtime: Runtime | undefined;
  try {
    runtime = await startRuntime({
      config,
      dataDir,
      ports: { smtp: 0, api: 0 },
      api: false,
      sweepIntervalMs: 0,
      // The production path: the runtime's own probe timer, not rounds run by hand.
      probeIntervalMs: PROBE_INTERVAL_MS,
      prober,
      notifier: pages,
    });
    while (prober.starts.length < HEALTHY_ROUNDS) await prober.next();
    // The primary goes down between rounds, as nearly always at a real interval (a check takes
    // milliseconds of it): after this round's check has finished, at `phase` of the interval.
    const tick = await prober.next();
    await sleep(Math.max(0, tick.start + phase * PROBE_INTERVAL_MS - performance.now()));
    const org = await runtime.ctx.continuity.getOrg();
    if (org && org.state !== 'normal')
      throw new Error(`the organisation was ${org.state} before the primary stopped`);

    const stoppedAt = performance.now();
    const stopping = primary.stop();
    const timeout = new AbortController();
    const first = await Promise.race([
      pages.first,
      sleep(PAGE_TIMEOUT_MS, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(
          `no page within ${PAGE_TIMEOUT_MS / PROBE_INTERVAL_MS} intervals of the primary stopping`,
        );
      }),
    ]).finally(() => timeout.abort());
    await stopping;
    const ms = first.at - stoppedAt;
    const after = prober.starts.filter((t) => t > stoppedAt && t <= first.at);

    // The figure counts only if the outbox really holds the page, for the event the probes opened.
    const outbox = await runtime.ctx.continuity.listNotifications(20);
    const alerts = outbox.filter((n) => n.notice === 'alert' && n.audience === 'admins');
    const now = await runtime.ctx.continuity.getOrg();
    const event = now?.eventId ? await runtime.ctx.continuity.getEvent(now.eventId) : undefined;
    if (!alerts.some((n) => n.id === first.page.id))
      throw new Error('the first page was handed to the transport but is not in the outbox');
    if (now?.state !== 'alerting' || event?.openedBy !== 'probe' || first.page.eventId !== event.id)
      throw new Error('the page does not belong to an alerting event the probes opened');
    return {
      phase,
      ms,
      intervals: ms / PROBE_INTERVAL_MS,
      failedRounds: after.length,
      pagingRoundMs: first.at - (after.at(-1) ?? stoppedAt),
    };
  } finally {
    await runtime?.stop();
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Figure 4a: probe intervals from the primary going down to the first admin page in the outbox,
 * with the runtime's probe on its timer and the thresholds at their defaults.
 */
export async function measureDetection(): Promise<FigureResult> {
  const drills: Drill[] = [];
  for (const phase of PHASES) drills.push(await runDrill(phase));
  const sorted = [...drills].sort((a, b) => a.intervals - b.intervals);
  const median = sorted[sorted.length >> 1] as Drill;
  const worst = sorted.at(-1) as Drill;
  const row: Row = {
    id: 'detection.intervals',
    figure: 'Detection time (primary down → first page), in probe intervals',
    value: `${median.intervals.toFixed(2)} intervals`,
    reference: 'none: Postfix neither probes nor pages',
    ratio: '—',
    aim: `≤ ${AIM_INTERVALS.toFixed(1)} intervals`,
    verdict: median.intervals <= AIM_INTERVALS ? 'PASS' : 'MISS',
    data: { probeIntervalMs: PROBE_INTERVAL_MS, configIntervalSeconds: CONFIG_INTERVAL_SECONDS, drills },
  };
  const roundMs = drills.map((d) => d.pagingRoundMs);
  const notes = [
    `Detection: ${drills.length} drills, each on a fresh local runtime whose probe runs on its own timer every ${PROBE_INTERVAL_MS} ms (config: intervalSeconds ${CONFIG_INTERVAL_SECONDS}, the least the schema allows, scaled to ${PROBE_INTERVAL_MS / 1000} s of wall time; thresholds at their defaults, consecutiveFailures 2). After ${HEALTHY_ROUNDS} healthy rounds the primary, an smtp-server, stops between two rounds, at a set point in the probe cycle: ${PHASES.join(', ')} of an interval after a round's SMTP check began, and not before that check finished (a check against smtp-server takes ~0.1 s, its greeting pause); timed from closing its listener until the first admin page is in the outbox (ctx.continuity.listNotifications, checked after each drill). Median ${median.intervals.toFixed(2)} intervals, range ${sorted[0]?.intervals.toFixed(2)}–${worst.intervals.toFixed(2)} (${drills.map((d) => `${d.intervals.toFixed(2)} at phase ${d.phase}`).join(', ')}); failed SMTP checks from the stop to the page: ${drills.map((d) => d.failedRounds).join(', ')}. Why between 1 and 2 intervals: the first round that fails comes 0–1 interval after the stop, depending on where in the cycle the primary went down, and with consecutiveFailures 2 the page goes out in the round after it, so detection is 1–2 intervals plus the paging round's own time (${fmt(Math.min(...roundMs), 'ms')}–${fmt(Math.max(...roundMs), 'ms')} here: SMTP check, state write, outbox write). At the shipped 60 s interval that is 60–120 s; at 10 s, 10–20 s.`,
  ];
  return { rows: [row], notes };
}

export const detectionFigure: Figure = { name: 'detection', run: measureDetection };
