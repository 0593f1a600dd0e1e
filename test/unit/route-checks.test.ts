import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { runProbeRound } from '../../lambdas/core/continuity-service.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import { runRequestedCheck } from '../../lambdas/core/probe-cycle.js';
import { oncePerInterval, type RouteChecks, unreachable } from '../../lambdas/core/route-checks.js';
import { createProbeHandler } from '../../lambdas/handlers/probe.js';
import type { Mailer, RecipientOutcome, SmtpProber } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { passVerdicts, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

const refused = (recipient: string): RecipientOutcome => ({
  recipient,
  status: 'deferred',
  response: 'mx1.cloud.test:587: connect ECONNREFUSED',
  host: null,
});

class RecordingChecks implements RouteChecks {
  asked: string[] = [];
  async requestCheck(route: string) {
    this.asked.push(route);
  }
}

describe('unreachable', () => {
  it('is an attempt no host took (refused, timed out, TLS failed), not a host’s 4xx or 5xx', () => {
    expect(unreachable([refused('a@example.com'), refused('b@example.com')])).toBe(true);
    const busy = { ...refused('a@example.com'), response: '421 4.3.2 busy', host: 'mx1.cloud.test:587' };
    expect(unreachable([busy])).toBe(false);
    const rejected = { ...busy, status: 'failed' as const, response: '550 5.1.1 no such user' };
    expect(unreachable([refused('b@example.com'), rejected])).toBe(false);
    expect(unreachable([])).toBe(false);
  });
});

describe('oncePerInterval', () => {
  it('asks once per route for a burst of failures, and again once the interval has passed', async () => {
    const clock = new ManualClock();
    const inner = new RecordingChecks();
    const checks = oncePerInterval(inner, clock, 30_000);
    for (let i = 0; i < 50; i++) await checks.requestCheck('cloud');
    await checks.requestCheck('onprem');
    clock.advance(29);
    await checks.requestCheck('cloud');
    expect(inner.asked).toEqual(['cloud', 'onprem']);
    clock.advance(1);
    await checks.requestCheck('cloud');
    expect(inner.asked).toEqual(['cloud', 'onprem', 'cloud']);
  });

  it('asks again at the next failure when asking failed', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const checks = oncePerInterval(
      {
        async requestCheck() {
          calls++;
          if (calls === 1) throw new Error('Rate exceeded');
        },
      },
      clock,
      30_000,
    );
    await expect(checks.requestCheck('cloud')).rejects.toThrow('Rate exceeded');
    await checks.requestCheck('cloud');
    expect(calls).toBe(2);
  });
});

describe('deliverMessage asking for a route check', () => {
  async function attempt(reply: (recipient: string) => RecipientOutcome | Promise<never>) {
    const store = new MemoryStore();
    const blobs = new MemoryBlobs();
    blobs.objects.set('raw/m1', simpleMessage);
    const clock = new ManualClock();
    const checks = new RecordingChecks();
    const mailer: Mailer = {
      async send(_route, envelope) {
        return Promise.all(envelope.to.map(reply));
      },
    };
    const deps = { store, blobs, mailer, config: testConfig(), clock, log: silentLogger, checks };
    await ingestMessage(
      {
        messageId: 'm1',
        rawKey: 'raw/m1',
        envelopeFrom: 'sender@example.org',
        recipients: ['alice@example.com', 'bob@example.com'],
        receivedAt: clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      deps,
    );
    const result = await deliverMessage('m1', deps);
    return { result, asked: checks.asked };
  }

  it('asks for a check of the route its attempt could not connect to, once the deferral is recorded', async () => {
    const { result, asked } = await attempt(refused);
    expect(result.deferred).toBe(2);
    expect(asked).toEqual(['cloud']);
  });

  it('does not ask when the primary answered, even with a 4xx for every recipient', async () => {
    const { asked } = await attempt((recipient) => ({
      recipient,
      status: 'deferred',
      response: '452 4.2.2 mailbox full',
      host: 'mx1.cloud.test:587',
    }));
    expect(asked).toEqual([]);
  });

  it('does not ask when the mailer itself failed (a local error, not the route)', async () => {
    const { result, asked } = await attempt(() => Promise.reject(new Error('out of file descriptors')));
    expect(result.deferred).toBe(2);
    expect(asked).toEqual([]);
  });
});

/** The primary as the SMTP check sees it: refusing from `downAt` until `upAt` (clock ms). */
function outage(clock: ManualClock, downAt: number, upAt = Number.POSITIVE_INFINITY) {
  const checks: number[] = [];
  /** Seconds after `t0` at which rounds checked (a round checks every host of every route at once). */
  const rounds = (t0: number) => [...new Set(checks)].map((t) => (t - t0) / 1000);
  const prober: SmtpProber = {
    async check() {
      const t = clock.now().getTime();
      checks.push(t);
      return t >= downAt && t < upAt
        ? { ok: false, detail: 'connect ECONNREFUSED', latencyMs: 1 }
        : { ok: true, detail: '250 2.1.5 Ok', latencyMs: 20 };
    },
  };
  return { prober, rounds };
}

describe('runRequestedCheck', () => {
  const sleepOn = (clock: ManualClock) => async (ms: number) => {
    clock.advance(ms / 1000);
    return true;
  };

  it('checks at once and confirms confirmAfterSeconds later: an outage pages 10 s after mail first fails', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    const primary = outage(h.clock, t0 + 40_000);
    h.deps.prober = primary.prober;
    await runProbeRound(h.deps); // the scheduled round at 0 s, healthy
    h.clock.current = new Date(t0 + 41_000); // a delivery found the primary refusing at 41 s

    const run = await runRequestedCheck(h.deps, { sleep: sleepOn(h.clock) });

    expect(run?.rounds).toBe(2);
    const alert = h.notifier.sent.find((n) => n.notice === 'alert' && n.audience === 'admins');
    expect(alert && (Date.parse(alert.at) - t0) / 1000).toBe(51);
  });

  it('never checks within confirmAfterSeconds of the last round, so a blip pages nobody', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    // The primary refuses for 4 s: the scheduled round at 0 s sees it, and so does a delivery at 2 s.
    const primary = outage(h.clock, t0, t0 + 4_000);
    h.deps.prober = primary.prober;
    await runProbeRound(h.deps);
    h.clock.current = new Date(t0 + 2_000);

    await runRequestedCheck(h.deps, { sleep: sleepOn(h.clock) });

    // Its check waited for 10 s after the failed round, found the primary up, and paged nobody.
    expect(primary.rounds(t0)).toEqual([0, 10]);
    expect(h.notifier.sent).toEqual([]);
  });

  it('runs no round once the organisation is past normal: its own rounds decide', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    const primary = outage(h.clock, t0);
    h.deps.prober = primary.prober;
    await runProbeRound(h.deps);
    h.clock.advance(10);
    await runProbeRound(h.deps); // second failure: alerting
    h.clock.advance(10);

    expect(await runRequestedCheck(h.deps, { sleep: sleepOn(h.clock) })).toBeUndefined();
    expect(primary.rounds(t0)).toEqual([0, 10]);
  });

  it('runs no round Lambda would stop before its confirmation', async () => {
    const h = continuityHarness();
    h.deps.prober = outage(h.clock, 0).prober;
    const run = await runRequestedCheck(h.deps, { sleep: sleepOn(h.clock), remainingMs: () => 20_000 });
    expect(run).toBeUndefined();
  });
});

describe('the probe handler on a route check', () => {
  it('runs the requested check for a `{ check: route }` event', async () => {
    const h = continuityHarness();
    const t0 = h.clock.now().getTime();
    const primary = outage(h.clock, t0);
    h.deps.prober = primary.prober;
    const handler = createProbeHandler(() => h.deps as unknown as Context, {
      sleep: async (ms) => {
        h.clock.advance(ms / 1000);
        return true;
      },
    });

    const result = await handler({ check: 'cloud' }, { getRemainingTimeInMillis: () => 60_000 });

    expect(result).toMatchObject({ state: 'alerting', rounds: 2 });
    expect(primary.rounds(t0)).toEqual([0, 10]);
  });
});
