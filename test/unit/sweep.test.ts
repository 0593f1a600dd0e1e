import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { worstCaseAttemptSeconds } from '../../lambdas/core/deliver.js';
import { DEAD_ROUTE_FAILURES, SWEEP_FINISH_MARGIN_MS, sweepDue } from '../../lambdas/core/sweep.js';
import type { Envelope, Mailer, RecipientOutcome } from '../../lambdas/ports.js';
import { delivery, messageRecord, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

const config = testConfig();
const cloud = config.routes.find((r) => r.name === 'cloud') as RouteConfig;

type Answer = (route: RouteConfig, envelope: Envelope) => RecipientOutcome[];

const connectionFailure: Answer = (route, envelope) =>
  envelope.to.map((recipient) => ({
    recipient,
    status: 'deferred',
    response: `${route.hosts[0]?.host}:${route.hosts[0]?.port}: connect ETIMEDOUT`,
    host: null,
  }));
const accepted: Answer = (_route, envelope) =>
  envelope.to.map((recipient) => ({
    recipient,
    status: 'delivered',
    response: '250 2.0.0 Ok',
    host: 'mx1:587',
  }));

/** A primary as the mailer sees it: answers by route, counts every session opened to each route. */
class ScriptedMailer implements Mailer {
  contacts: Record<string, number> = {};
  inFlight = 0;
  mostInFlight = 0;
  constructor(
    private readonly answers: Record<string, Answer>,
    private readonly onSend: () => void = () => {},
  ) {}
  async send(route: RouteConfig, envelope: Envelope): Promise<RecipientOutcome[]> {
    this.contacts[route.name] = (this.contacts[route.name] ?? 0) + 1;
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    this.onSend();
    // A real session takes a while: let the other workers run meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    this.inFlight--;
    return (this.answers[route.name] ?? accepted)(route, envelope);
  }
}

/** `count` messages with one due deferred delivery each, on `route`, after `attempts` attempts. */
async function dueMail(count: number, options: { route?: string; prefix?: string; attempts?: number } = {}) {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  const clock = new ManualClock();
  await addDueMail(store, blobs, clock, count, options);
  return { store, blobs, clock };
}

async function addDueMail(
  store: MemoryStore,
  blobs: MemoryBlobs,
  clock: ManualClock,
  count: number,
  { route = 'cloud', prefix = 'm', attempts = 2 }: { route?: string; prefix?: string; attempts?: number },
) {
  const due = new Date(clock.now().getTime() - 1000).toISOString();
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    const recipient = route === 'onprem' ? 'ceo@example.com' : `user${i}@example.com`;
    blobs.objects.set(`raw/${id}`, simpleMessage);
    await store.putMessage(messageRecord({ id, recipients: [recipient] }));
    await store.createDelivery(
      delivery({
        messageId: id,
        recipient,
        route,
        state: 'deferred',
        attempts,
        nextAttemptAt: due,
        lastError: 'mx1.cloud.test:587: connect ECONNREFUSED',
      }),
    );
  }
}

const deps = (h: { store: MemoryStore; blobs: MemoryBlobs; clock: ManualClock }, mailer: Mailer) => ({
  ...h,
  mailer,
  config,
  log: silentLogger,
});

describe('sweepDue against a dead route', () => {
  it(`stops connecting after ${DEAD_ROUTE_FAILURES} connection failures in a row and defers the rest without an attempt`, async () => {
    const h = await dueMail(10);
    const mailer = new ScriptedMailer({ cloud: connectionFailure });

    const result = await sweepDue(deps(h, mailer));

    expect(mailer.contacts.cloud).toBe(DEAD_ROUTE_FAILURES);
    const all = [...h.store.deliveries.values()];
    const tried = all.filter((d) => d.attempts === 3);
    const skipped = all.filter((d) => d.attempts === 2);
    expect(tried).toHaveLength(DEAD_ROUTE_FAILURES);
    expect(skipped).toHaveLength(10 - DEAD_ROUTE_FAILURES);
    const backoff = new Date(h.clock.now().getTime() + 600_000).toISOString();
    for (const d of skipped) {
      expect(d).toMatchObject({
        state: 'deferred',
        leaseId: null,
        nextAttemptAt: backoff,
        lastError: `route cloud: skipped after ${DEAD_ROUTE_FAILURES} consecutive connection failures in this sweep`,
      });
    }
    expect(result).toMatchObject({
      messages: 10,
      deferred: DEAD_ROUTE_FAILURES,
      postponed: 7,
      leftForLater: 0,
    });
  });

  it('keeps delivering on a route that answers while another is dead', async () => {
    const h = await dueMail(5, { route: 'onprem', prefix: 'p' });
    await addDueMail(h.store, h.blobs, h.clock, 5, { route: 'cloud', prefix: 'c' });
    const mailer = new ScriptedMailer({ onprem: connectionFailure, cloud: accepted });

    const result = await sweepDue(deps(h, mailer));

    expect(mailer.contacts).toEqual({ onprem: DEAD_ROUTE_FAILURES, cloud: 5 });
    expect(result).toMatchObject({
      delivered: 5,
      deferred: DEAD_ROUTE_FAILURES,
      postponed: 5 - DEAD_ROUTE_FAILURES,
    });
  });

  it('counts a reply from the primary, even a 4xx, as a live route', async () => {
    const h = await dueMail(6);
    const busy: Answer = (_route, envelope) =>
      envelope.to.map((recipient) => ({
        recipient,
        status: 'deferred',
        response: '451 4.3.0 try again later',
        host: 'mx1.cloud.test:587',
      }));
    const mailer = new ScriptedMailer({ cloud: busy });

    const result = await sweepDue(deps(h, mailer));

    expect(mailer.contacts.cloud).toBe(6);
    expect(result).toMatchObject({ deferred: 6, postponed: 0 });
  });

  it('tries a route once at a time until it answers, then in parallel', async () => {
    const h = await dueMail(12);
    const mailer = new ScriptedMailer({ cloud: accepted });

    const result = await sweepDue(deps(h, mailer), { concurrency: 4 });

    expect(result.delivered).toBe(12);
    expect(mailer.mostInFlight).toBe(4);
  });

  it('is a fresh start in the next sweep: the route is tried again', async () => {
    const h = await dueMail(4);
    const mailer = new ScriptedMailer({ cloud: connectionFailure });
    await sweepDue(deps(h, mailer));
    h.clock.advance(3600);

    await sweepDue(deps(h, mailer));

    expect(mailer.contacts.cloud).toBe(2 * DEAD_ROUTE_FAILURES);
  });
});

describe('sweepDue with a time budget', () => {
  const attemptMs = worstCaseAttemptSeconds(cloud) * 1000;

  it('takes no message once the time left cannot fit its worst-case attempt, and leaves it untouched', async () => {
    const h = await dueMail(5);
    // Each attempt uses 40 % of a worst-case attempt of the simulated run.
    let remaining = 2.4 * attemptMs;
    const mailer = new ScriptedMailer({ cloud: accepted }, () => {
      remaining -= 0.4 * attemptMs;
    });

    const result = await sweepDue(deps(h, mailer), { concurrency: 1, remainingMs: () => remaining });

    // 2.4 → 2.0 → 1.6 → 1.2 → 0.8 worst cases left: the fifth would not fit.
    expect(mailer.contacts.cloud).toBe(4);
    expect(result).toMatchObject({ messages: 4, delivered: 4, leftForLater: 1 });
    const left = [...h.store.deliveries.values()].filter((d) => d.state !== 'delivered');
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({
      state: 'deferred',
      attempts: 2,
      version: 1,
      lastError: 'mx1.cloud.test:587: connect ECONNREFUSED',
    });
  });

  it('takes nothing when the run is too short for a single attempt', async () => {
    const h = await dueMail(3);
    const mailer = new ScriptedMailer({ cloud: accepted });

    const result = await sweepDue(deps(h, mailer), {
      remainingMs: () => attemptMs + SWEEP_FINISH_MARGIN_MS - 1,
    });

    expect(mailer.contacts).toEqual({});
    expect(result).toMatchObject({ messages: 0, leftForLater: 3 });
  });
});
