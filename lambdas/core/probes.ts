import { randomBytes } from 'node:crypto';
import type { Clock, ContinuityStore, Mailer, MessageStore, SmtpProber } from '../ports.js';
import type { LifeboatConfig, RouteConfig } from './config.js';
import type { ProbeResult } from './continuity.js';
import { formatRfc5322Date } from './trace.js';

/** Header that marks a round-trip probe; ingest recognises it and keeps the message out of every mailbox. */
export const PROBE_HEADER = 'X-Lifeboat-Probe';

export interface ProbeDeps {
  store: MessageStore;
  continuity: ContinuityStore;
  config: LifeboatConfig;
  clock: Clock;
  prober: SmtpProber;
  mailer: Mailer;
}

/** The p-th percentile of the values (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

/** Organic probe: how real deliveries to each route have fared in the sliding window. */
export async function organicProbe(deps: ProbeDeps): Promise<ProbeResult[]> {
  const { config, clock } = deps;
  const t = config.continuity.thresholds;
  const now = clock.now();
  const since = new Date(now.getTime() - t.windowMinutes * 60_000).toISOString();
  const results: ProbeResult[] = [];
  for (const route of config.routes) {
    // One indexed read per route, whatever the size of the queue.
    const oldestArrival = await deps.store.oldestDeferred(route.name);
    const oldestAge = oldestArrival ? Math.max(0, (now.getTime() - Date.parse(oldestArrival)) / 1000) : 0;
    const samples = await deps.continuity.listAttempts(route.name, since);
    const failed = samples.filter((s) => !s.ok).length;
    const ratio = samples.length ? failed / samples.length : 0;
    const p95 = percentile(
      samples.map((s) => s.latencyMs),
      95,
    );
    const oldest = Math.round(oldestAge);
    const problems: string[] = [];
    if (samples.length >= t.minSamples && ratio >= t.failureRatio) {
      problems.push(`${failed} of ${samples.length} attempts failed in ${t.windowMinutes} min`);
    }
    if (samples.length >= t.minSamples && p95 >= t.p95LatencySeconds * 1000) {
      problems.push(`p95 transaction time ${Math.round(p95)} ms`);
    }
    if (oldest >= t.oldestDeferredMinutes * 60)
      problems.push(`oldest deferred delivery ${Math.round(oldest / 60)} min old`);
    results.push({
      probe: 'organic',
      route: route.name,
      ok: problems.length === 0,
      detail: problems.length ? problems.join('; ') : `${samples.length} attempts, ${failed} failed`,
      figures: {
        attempts: samples.length,
        failed,
        failureRatio: ratio,
        p95LatencyMs: p95,
        oldestDeferredSeconds: oldest,
      },
    });
  }
  return results;
}

function probeRecipientFor(route: RouteConfig): string {
  return route.probeRecipient ?? `postmaster@${route.domains[0] ?? route.addresses[0]?.split('@')[1]}`;
}

/**
 * SMTP check against every host of every route, all at once; a route passes while any of its
 * hosts does. Each check gives up after `probes.checkTimeoutSeconds` (or the route's shorter
 * connect timeout), so a round against a primary that drops packets still ends in seconds.
 */
export async function smtpProbe(deps: ProbeDeps): Promise<ProbeResult[]> {
  const limit = deps.config.continuity.probes.checkTimeoutSeconds;
  return Promise.all(
    deps.config.routes.map(async (route) => {
      const checked = { ...route, connectTimeoutSeconds: Math.min(route.connectTimeoutSeconds, limit) };
      const checks = await Promise.all(
        route.hosts.map(async (h) => ({
          host: `${h.host}:${h.port}`,
          ...(await deps.prober.check(checked, h, probeRecipientFor(route))),
        })),
      );
      const ok = checks.some((c) => c.ok);
      return {
        probe: 'smtp' as const,
        route: route.name,
        ok,
        detail: checks.map((c) => `${c.host} ${c.ok ? 'ok' : c.detail}`).join('; '),
        figures: {
          hostsUp: checks.filter((c) => c.ok).length,
          hosts: checks.length,
          latencyMs: Math.max(...checks.map((c) => c.latencyMs)),
        },
      };
    }),
  );
}

/**
 * Round-trip probe: a message to a primary mailbox that forwards it back to the gateway proves
 * inbound and outbound flow. A probe still missing after the timeout is a failure; one probe is
 * in flight at a time.
 */
export async function roundTripProbe(deps: ProbeDeps): Promise<ProbeResult[]> {
  const rt = deps.config.continuity.probes.roundTrip;
  if (!rt) return [];
  const now = deps.clock.now();
  const route =
    deps.config.routes.find((r) => r.addresses.includes(rt.sendTo)) ??
    deps.config.routes.find((r) => r.domains.includes(rt.sendTo.split('@')[1] ?? ''));
  if (!route) return [];
  const recent = await deps.continuity.listProbeTokens(new Date(now.getTime() - 86_400_000).toISOString());
  const latest = recent.at(-1);
  const results: ProbeResult[] = [];
  let inFlight = false;
  if (latest) {
    const age = now.getTime() - Date.parse(latest.sentAt);
    if (latest.returnedAt) {
      const rttMs = Date.parse(latest.returnedAt) - Date.parse(latest.sentAt);
      results.push({
        probe: 'roundtrip',
        route: route.name,
        ok: true,
        detail: `returned in ${Math.round(rttMs / 1000)} s`,
        figures: { rttMs },
      });
    } else if (age >= rt.timeoutSeconds * 1000) {
      results.push({
        probe: 'roundtrip',
        route: route.name,
        ok: false,
        detail: `probe sent ${Math.round(age / 1000)} s ago has not come back`,
        figures: { ageMs: age },
      });
    } else {
      inFlight = true;
    }
  }
  if (!inFlight) {
    const token = randomBytes(12).toString('hex');
    const raw = Buffer.from(
      [
        `From: Lifeboat probe <${rt.returnAddress}>`,
        `To: <${rt.sendTo}>`,
        `Subject: Lifeboat round-trip probe ${token}`,
        `Date: ${formatRfc5322Date(now)}`,
        `Message-ID: <probe-${token}@${deps.config.hostname}>`,
        `${PROBE_HEADER}: ${token}`,
        'Auto-Submitted: auto-generated',
        '',
        'This message tests mail flow; it comes back to Lifeboat and is discarded.',
        '',
      ].join('\r\n'),
    );
    await deps.continuity.putProbeToken({
      token,
      route: route.name,
      sentAt: now.toISOString(),
      returnedAt: null,
    });
    await deps.mailer.send(route, { from: rt.returnAddress, to: [rt.sendTo] }, raw);
  }
  return results;
}

/** Every configured probe, one round. */
export async function runProbes(deps: ProbeDeps): Promise<ProbeResult[]> {
  const [organic, smtp, roundTrip] = await Promise.all([
    organicProbe(deps),
    deps.config.continuity.probes.smtpCheck ? smtpProbe(deps) : Promise.resolve([]),
    roundTripProbe(deps),
  ]);
  return [...organic, ...smtp, ...roundTrip];
}

/** The probe token a message carries in its header block (header, or subject as forwarded), if any. */
export function findProbeToken(raw: Buffer): string | undefined {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) : Math.min(raw.length, 64 * 1024);
  const head = raw.subarray(0, end).toString('latin1');
  const match =
    head.match(new RegExp(`^${PROBE_HEADER}:\\s*([0-9a-f]{24})\\s*$`, 'im')) ??
    head.match(/^Subject:.*Lifeboat round-trip probe ([0-9a-f]{24})/im);
  return match?.[1];
}
