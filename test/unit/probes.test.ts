import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { ConfigInput, LifeboatConfig, RouteConfig } from '../../lambdas/core/config.js';
import { HOLD_ALL } from '../../lambdas/core/holds.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import {
  findProbeToken,
  organicProbe,
  PROBE_HEADER,
  type ProbeDeps,
  percentile,
  roundTripProbe,
  runProbes,
  smtpProbe,
} from '../../lambdas/core/probes.js';
import type { Envelope, Mailer, RecipientOutcome, SmtpProber } from '../../lambdas/ports.js';
import { delivery, passVerdicts, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

/** An SMTP check whose answer per host the test sets. */
class FakeProber implements SmtpProber {
  checks: Array<{ route: string; host: string; recipient: string }> = [];
  constructor(public down: Set<string> = new Set()) {}
  async check(route: RouteConfig, host: { host: string; port: number }, recipient: string) {
    const name = `${host.host}:${host.port}`;
    this.checks.push({ route: route.name, host: name, recipient });
    return this.down.has(name)
      ? { ok: false, detail: 'connect ECONNREFUSED', latencyMs: 3 }
      : { ok: true, detail: '250 2.1.5 Ok', latencyMs: 25 };
  }
}

class FakeMailer implements Mailer {
  sent: Array<{ route: string; envelope: Envelope; raw: Buffer }> = [];
  async send(route: RouteConfig, envelope: Envelope, raw: Buffer): Promise<RecipientOutcome[]> {
    this.sent.push({ route: route.name, envelope, raw });
    return envelope.to.map((recipient) => ({
      recipient,
      status: 'delivered',
      response: '250 ok',
      host: 'mx',
    }));
  }
}

const roundTrip = {
  sendTo: 'probe-forward@example.com',
  returnAddress: 'probe@lifeboat.example.com',
  timeoutSeconds: 300,
};

function setup(overrides: Partial<ConfigInput> = {}) {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const prober = new FakeProber();
  const mailer = new FakeMailer();
  const config: LifeboatConfig = testConfig(overrides);
  const deps: ProbeDeps = { store, continuity: store, config, clock, prober, mailer };
  const sample = (route: string, ok: boolean, latencyMs = 200, secondsAgo = 60) =>
    store.recordAttempt({
      route,
      ok,
      latencyMs,
      at: new Date(clock.now().getTime() - secondsAgo * 1000).toISOString(),
    });
  return { store, clock, prober, mailer, config, deps, sample };
}

function setupRoundTrip() {
  return setup({
    domains: ['example.com', 'example.net', 'lifeboat.example.com'],
    continuity: { probes: { roundTrip } },
  });
}

const cloudOf = <T extends { route: string }>(results: T[]) => results.find((r) => r.route === 'cloud')!;

describe('percentile', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile([7, 1, 3], 95)).toBe(7);
  });

  it('is 0 with no values', () => {
    expect(percentile([], 95)).toBe(0);
  });
});

describe('organicProbe', () => {
  it('reports one finding per route', async () => {
    const { deps } = setup();
    const results = await organicProbe(deps);
    expect(results.map((r) => [r.probe, r.route, r.ok])).toEqual([
      ['organic', 'onprem', true],
      ['organic', 'cloud', true],
    ]);
  });

  it('does not breach on failures below minSamples attempts', async () => {
    const { deps, sample } = setup();
    for (let i = 0; i < 4; i++) await sample('cloud', false);
    const cloud = cloudOf(await organicProbe(deps));
    expect(cloud.ok).toBe(true);
    expect(cloud.figures).toMatchObject({ attempts: 4, failed: 4, failureRatio: 1 });
  });

  it('breaches when the failure ratio reaches failureRatio with minSamples attempts', async () => {
    const { deps, sample } = setup();
    for (let i = 0; i < 3; i++) await sample('cloud', false);
    for (let i = 0; i < 3; i++) await sample('cloud', true);
    const cloud = cloudOf(await organicProbe(deps));
    expect(cloud.ok).toBe(false);
    expect(cloud.detail).toBe('3 of 6 attempts failed in 10 min');
    expect(cloud.figures).toMatchObject({ attempts: 6, failed: 3, failureRatio: 0.5 });
  });

  it('stays healthy below the failure ratio', async () => {
    const { deps, sample } = setup();
    for (let i = 0; i < 2; i++) await sample('cloud', false);
    for (let i = 0; i < 4; i++) await sample('cloud', true);
    expect(cloudOf(await organicProbe(deps))).toMatchObject({ ok: true, detail: '6 attempts, 2 failed' });
  });

  it('counts only attempts inside the window', async () => {
    const { deps, sample } = setup();
    for (let i = 0; i < 10; i++) await sample('cloud', false, 200, 11 * 60);
    for (let i = 0; i < 5; i++) await sample('cloud', true, 200, 9 * 60);
    expect(cloudOf(await organicProbe(deps))).toMatchObject({
      ok: true,
      figures: { attempts: 5, failed: 0 },
    });
  });

  it('keeps routes apart: failures on one route do not mark the other', async () => {
    const { deps, sample } = setup();
    for (let i = 0; i < 6; i++) await sample('onprem', false);
    const results = await organicProbe(deps);
    expect(results.map((r) => [r.route, r.ok])).toEqual([
      ['onprem', false],
      ['cloud', true],
    ]);
  });

  it('reports the p95 transaction time and breaches at p95LatencySeconds', async () => {
    const { deps, sample } = setup({ continuity: { thresholds: { p95LatencySeconds: 30 } } });
    for (let i = 0; i < 18; i++) await sample('cloud', true, 1_000);
    await sample('cloud', true, 30_000);
    await sample('cloud', true, 45_000);
    const cloud = cloudOf(await organicProbe(deps));
    expect(cloud.figures.p95LatencyMs).toBe(30_000);
    expect(cloud.ok).toBe(false);
    expect(cloud.detail).toBe('p95 transaction time 30000 ms');
  });

  it('does not breach on latency below p95LatencySeconds', async () => {
    const { deps, sample } = setup({ continuity: { thresholds: { p95LatencySeconds: 30 } } });
    for (let i = 0; i < 19; i++) await sample('cloud', true, 1_000);
    await sample('cloud', true, 45_000);
    const cloud = cloudOf(await organicProbe(deps));
    expect(cloud.figures.p95LatencyMs).toBe(1_000);
    expect(cloud.ok).toBe(true);
  });

  it('reports the age of the oldest deferred delivery and breaches at oldestDeferredMinutes', async () => {
    const { deps, store } = setup();
    await store.createDelivery(
      delivery({
        messageId: 'old',
        state: 'deferred',
        route: 'cloud',
        receivedAt: '2026-11-22T09:30:00.000Z',
      }),
    );
    await store.createDelivery(
      delivery({
        messageId: 'new',
        state: 'deferred',
        route: 'cloud',
        receivedAt: '2026-11-22T09:55:00.000Z',
      }),
    );
    const cloud = cloudOf(await organicProbe(deps));
    expect(cloud.figures.oldestDeferredSeconds).toBe(1800);
    expect(cloud.ok).toBe(false);
    expect(cloud.detail).toBe('oldest deferred delivery 30 min old');
  });

  it('does not count a delivery deferred for less than oldestDeferredMinutes', async () => {
    const { deps, store } = setup();
    await store.createDelivery(
      delivery({ messageId: 'a', state: 'deferred', route: 'cloud', receivedAt: '2026-11-22T09:31:00.000Z' }),
    );
    expect(cloudOf(await organicProbe(deps)).ok).toBe(true);
  });

  it('does not count held mail as deferred', async () => {
    const { deps, store } = setup();
    await store.createDelivery(
      delivery({
        messageId: 'a',
        state: 'held',
        reason: 'continuity',
        receivedAt: '2026-11-21T10:00:00.000Z',
      }),
    );
    expect(cloudOf(await organicProbe(deps))).toMatchObject({
      ok: true,
      figures: { oldestDeferredSeconds: 0 },
    });
  });
});

describe('smtpProbe', () => {
  it('passes a route while any of its hosts passes', async () => {
    const { deps, prober } = setup();
    prober.down.add('mx1.cloud.test:587');
    const cloud = cloudOf(await smtpProbe(deps));
    expect(cloud).toMatchObject({
      probe: 'smtp',
      ok: true,
      detail: 'mx1.cloud.test:587 connect ECONNREFUSED; mx2.cloud.test:587 ok',
      figures: { hostsUp: 1, hosts: 2 },
    });
  });

  it('fails a route when every host fails, naming each', async () => {
    const { deps, prober } = setup();
    prober.down.add('mx1.cloud.test:587');
    prober.down.add('mx2.cloud.test:587');
    const cloud = cloudOf(await smtpProbe(deps));
    expect(cloud).toMatchObject({
      ok: false,
      detail: 'mx1.cloud.test:587 connect ECONNREFUSED; mx2.cloud.test:587 connect ECONNREFUSED',
      figures: { hostsUp: 0, hosts: 2 },
    });
  });

  it('checks every host of every route', async () => {
    const { deps, prober } = setup();
    await smtpProbe(deps);
    expect(prober.checks.map((c) => c.host).sort()).toEqual([
      '10.0.0.5:25',
      'mx1.cloud.test:587',
      'mx2.cloud.test:587',
    ]);
  });

  it('names postmaster of the route in RCPT TO unless a probe recipient is configured', async () => {
    const { deps, prober } = setup();
    await smtpProbe(deps);
    expect(Object.fromEntries(prober.checks.map((c) => [c.route, c.recipient]))).toEqual({
      onprem: 'postmaster@example.com',
      cloud: 'postmaster@example.com',
    });
  });

  it('names the configured probe recipient', async () => {
    const base = testConfig();
    const { deps, prober } = setup({
      routes: base.routes.map((r) =>
        r.name === 'cloud' ? { ...r, probeRecipient: 'mailcheck@example.net' } : r,
      ),
    });
    await smtpProbe(deps);
    expect(prober.checks.find((c) => c.route === 'cloud')?.recipient).toBe('mailcheck@example.net');
  });
});

describe('roundTripProbe', () => {
  it('sends a probe carrying the X-Lifeboat-Probe header to the primary mailbox, from the return address', async () => {
    const { deps, mailer, store } = setupRoundTrip();
    expect(await roundTripProbe(deps)).toEqual([]);
    expect(mailer.sent).toHaveLength(1);
    const [sent] = mailer.sent;
    expect(sent?.route).toBe('cloud');
    expect(sent?.envelope).toEqual({ from: 'probe@lifeboat.example.com', to: ['probe-forward@example.com'] });
    const token = findProbeToken(sent!.raw);
    expect(token).toMatch(/^[0-9a-f]{24}$/);
    expect(sent!.raw.toString()).toContain(`\r\n${PROBE_HEADER}: ${token}\r\n`);
    expect([...store.probeTokens.values()]).toEqual([
      { token, route: 'cloud', sentAt: '2026-11-22T10:00:00.000Z', returnedAt: null },
    ]);
  });

  it('keeps one probe in flight: no second probe and no finding before the timeout', async () => {
    const { deps, mailer, clock } = setupRoundTrip();
    await roundTripProbe(deps);
    clock.advance(299);
    expect(await roundTripProbe(deps)).toEqual([]);
    expect(mailer.sent).toHaveLength(1);
  });

  it('counts a probe missing after timeoutSeconds as a failure, and sends the next one', async () => {
    const { deps, mailer, clock } = setupRoundTrip();
    await roundTripProbe(deps);
    clock.advance(300);
    expect(await roundTripProbe(deps)).toEqual([
      {
        probe: 'roundtrip',
        route: 'cloud',
        ok: false,
        detail: 'probe sent 300 s ago has not come back',
        figures: { ageMs: 300_000 },
      },
    ]);
    expect(mailer.sent).toHaveLength(2);
  });

  it('records the round-trip time of a probe that came back', async () => {
    const { deps, mailer, clock, store } = setupRoundTrip();
    await roundTripProbe(deps);
    clock.advance(95);
    const blobs = new MemoryBlobs();
    blobs.objects.set('raw/back', mailer.sent[0]!.raw);
    await ingestMessage(
      {
        messageId: 'back',
        rawKey: 'raw/back',
        envelopeFrom: 'probe-forward@example.com',
        recipients: ['probe@lifeboat.example.com'],
        receivedAt: clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      { blobs, store, continuity: store, config: deps.config, clock, log: silentLogger },
    );
    clock.advance(25);
    expect(await roundTripProbe(deps)).toEqual([
      {
        probe: 'roundtrip',
        route: 'cloud',
        ok: true,
        detail: 'returned in 95 s',
        figures: { rttMs: 95_000 },
      },
    ]);
    expect(mailer.sent).toHaveLength(2);
  });

  it('does nothing when no round trip is configured', async () => {
    const { deps, mailer } = setup();
    expect(await roundTripProbe(deps)).toEqual([]);
    expect(mailer.sent).toEqual([]);
  });
});

describe('runProbes', () => {
  it('runs the organic probe, the SMTP check and the round trip in one round', async () => {
    const { deps, clock } = setupRoundTrip();
    await runProbes(deps);
    clock.advance(600);
    const results = await runProbes(deps);
    expect(results.map((r) => `${r.route}/${r.probe}`)).toEqual([
      'onprem/organic',
      'cloud/organic',
      'onprem/smtp',
      'cloud/smtp',
      'cloud/roundtrip',
    ]);
  });

  it('leaves the SMTP check out when it is turned off', async () => {
    const { deps, prober } = setup({ continuity: { probes: { smtpCheck: false } } });
    const results = await runProbes(deps);
    expect(results.map((r) => r.probe)).toEqual(['organic', 'organic']);
    expect(prober.checks).toEqual([]);
  });
});

describe('findProbeToken', () => {
  const token = '0123456789abcdef01234567';

  it('finds the token in the X-Lifeboat-Probe header', () => {
    const raw = Buffer.from(
      `From: a@example.com\r\n${PROBE_HEADER}: ${token}\r\nSubject: hello\r\n\r\nbody\r\n`,
    );
    expect(findProbeToken(raw)).toBe(token);
  });

  it('finds the token in the Subject of a forward that dropped the header', () => {
    const raw = Buffer.from(
      `From: probe-forward@example.com\r\nSubject: FW: Lifeboat round-trip probe ${token}\r\n\r\nbody\r\n`,
    );
    expect(findProbeToken(raw)).toBe(token);
  });

  it('reads messages with bare LF line ends', () => {
    expect(findProbeToken(Buffer.from(`${PROBE_HEADER}: ${token}\nSubject: x\n\nbody\n`))).toBe(token);
  });

  it('finds nothing in an ordinary message', () => {
    expect(findProbeToken(simpleMessage)).toBeUndefined();
  });

  it('ignores a token quoted in the body', () => {
    const raw = Buffer.from(`Subject: about the probe\r\n\r\n${PROBE_HEADER}: ${token}\r\n`);
    expect(findProbeToken(raw)).toBeUndefined();
  });
});

describe('ingestMessage of a returning probe', () => {
  async function probeReturn(hold = false) {
    const { deps, store, clock, mailer } = setupRoundTrip();
    await roundTripProbe(deps);
    const token = findProbeToken(mailer.sent[0]!.raw)!;
    if (hold)
      await store.putHold({
        scope: HOLD_ALL,
        reason: 'continuity',
        since: clock.now().toISOString(),
        by: 'x',
      });
    clock.advance(40);
    const blobs = new MemoryBlobs();
    blobs.objects.set('raw/back', mailer.sent[0]!.raw);
    const result = await ingestMessage(
      {
        messageId: 'back',
        rawKey: 'raw/back',
        envelopeFrom: 'probe-forward@example.com',
        recipients: ['Probe@lifeboat.example.com'],
        receivedAt: clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      { blobs, store, continuity: store, config: deps.config, clock, log: silentLogger },
    );
    return { result, store, token };
  }

  it('marks the token returned', async () => {
    const { store, token } = await probeReturn();
    expect((await store.getProbeToken(token))?.returnedAt).toBe('2026-11-22T10:00:40.000Z');
  });

  it('creates no delivery, so the probe never reaches a mailbox', async () => {
    const { result, store } = await probeReturn();
    expect(result).toEqual({ messageId: 'back', created: [], deliverable: false });
    expect(await store.listDeliveries('back')).toEqual([]);
  });

  it('creates no held delivery during continuity, so a hand-over never sends it', async () => {
    const { store } = await probeReturn(true);
    expect(await store.listDeliveries('back')).toEqual([]);
    expect((await store.queryByState({ state: 'held' })).items).toEqual([]);
  });

  it('recognises a probe forwarded with its Subject only', async () => {
    const { deps, store, clock, mailer } = setupRoundTrip();
    await roundTripProbe(deps);
    const token = findProbeToken(mailer.sent[0]!.raw)!;
    const forwarded = Buffer.from(
      `From: probe-forward@example.com\r\nTo: probe@lifeboat.example.com\r\nSubject: FW: Lifeboat round-trip probe ${token}\r\n\r\nforwarded\r\n`,
    );
    const blobs = new MemoryBlobs();
    blobs.objects.set('raw/fw', forwarded);
    await ingestMessage(
      {
        messageId: 'fw',
        rawKey: 'raw/fw',
        envelopeFrom: 'probe-forward@example.com',
        recipients: ['probe@lifeboat.example.com'],
        receivedAt: clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      { blobs, store, continuity: store, config: deps.config, clock, log: silentLogger },
    );
    expect((await store.getProbeToken(token))?.returnedAt).not.toBeNull();
    expect((await store.getMessage('fw'))?.probeToken).toBe(token);
  });
});
