import { rm } from 'node:fs/promises';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../lambdas/core/config.js';
import type { ContinuityEvent } from '../../lambdas/core/continuity.js';
import {
  type ContinuityDeps,
  type ContinuityStatus,
  revokeContinuity,
  runHandover,
} from '../../lambdas/core/continuity-service.js';
import { type DeliverStep, leaseSecondsFor } from '../../lambdas/core/deliver.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import type { NotificationRecord } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

// A rehearsal of a whole outage on the local runtime: SQLite and raw files, the SMTP receiver and a
// real SMTP primary. Probe rounds are run by hand, one per interval, on a manual clock; the admin
// acts through the local admin API over HTTP, so the API handler is the Lambda's.

const CONSOLE = 'https://console.example.org';
const ADMIN_PHONE = '+447700900123';
const ADMIN_EMAIL = 'oncall@alerts.example.org';
const ONCALL = 'oncall@ops.example.org';
const RECIPIENTS = ['alice@example.com', 'bob@example.com', 'carol@example.com'];
const MESSAGES = 200;
/** Sending and handing over 200 messages one by one takes tens of seconds on the emulators. */
const SLOW = { timeout: 120_000 };

function drillConfig(primary: TestPrimary, handover: { concurrency: number }) {
  const continuity: NonNullable<ConfigInput['continuity']> = {
    // Only an admin invokes in these drills.
    autoInvokeAfterMinutes: null,
    thresholds: { consecutiveFailures: 2, healthyRoundsForAllClear: 3 },
    paging: { adminPhones: [ADMIN_PHONE], adminEmails: [ADMIN_EMAIL], consoleUrl: CONSOLE },
    // Paced as fast as the config allows: these tests are about what arrives, not how fast.
    handover: { ratePerSecond: 1000, concurrency: handover.concurrency },
  };
  return testConfig(primary, { continuity });
}

const recipientOf = (n: number) => RECIPIENTS[n % RECIPIENTS.length] as string;

/** Message n of the drill, with its own Message-ID so the primary can tell copies apart. */
function drillMessage(n: number): { messageId: string; raw: string } {
  const messageId = `<drill-${String(n).padStart(3, '0')}@sender.example>`;
  const raw = [
    'From: Sender <sender@sender.example>',
    `To: ${recipientOf(n)}`,
    `Subject: Drill message ${n}`,
    'Date: Sun, 22 Nov 2026 09:59:00 +0000',
    `Message-ID: ${messageId}`,
    '',
    `Body of drill message ${n}.`,
    '',
  ].join('\r\n');
  return { messageId, raw };
}

/** The admin API over HTTP with the local admin token, as the CLI and the console call it. */
function adminApi(rt: TestRuntime) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${rt.apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${rt.adminToken}`, 'x-lifeboat-actor': ONCALL },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
  type Transition = { state: string; event: ContinuityEvent };
  return {
    invoke: (body?: unknown) => call<Transition>('POST', '/admin/continuity/invoke', body),
    revoke: () => call<Transition>('POST', '/admin/continuity/revoke'),
    status: async () => (await call<ContinuityStatus>('GET', '/admin/status')).body,
    event: async (id: string) => (await call<ContinuityEvent>('GET', `/admin/events/${id}`)).body,
    latestEvent: async () =>
      (await call<{ events: ContinuityEvent[] }>('GET', '/admin/events?limit=1')).body.events[0],
    outbox: async () =>
      (await call<{ notifications: NotificationRecord[] }>('GET', '/admin/outbox?limit=100')).body
        .notifications,
    held: async () =>
      (await call<{ deliveries: DeliveryRecord[] }>('GET', '/admin/queue?state=held&limit=500')).body
        .deliveries,
  };
}

/** One probe round, one interval after the last, as the schedule would run it. */
async function probeRound(rt: TestRuntime) {
  rt.clock.advance(rt.config.continuity.probes.intervalSeconds);
  return rt.probe({});
}

/**
 * Sends messages first..last one after another (the order they arrive in) over one SMTP
 * connection, as a busy sending MTA would; returns their Message-IDs.
 */
async function sendDrillMessages(rt: TestRuntime, first: number, last: number): Promise<string[]> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: rt.smtpPort,
    secure: false,
    ignoreTLS: true,
    name: 'mta.sender.example',
    pool: true,
    maxConnections: 1,
    maxMessages: Number.POSITIVE_INFINITY,
  });
  const ids: string[] = [];
  try {
    for (let n = first; n <= last; n++) {
      const { messageId, raw } = drillMessage(n);
      const info = await transport.sendMail({
        envelope: { from: 'sender@sender.example', to: [recipientOf(n)] },
        raw,
      });
      expect(info.response).toMatch(/^250 /);
      ids.push(messageId);
    }
  } finally {
    transport.close();
  }
  await rt.idle();
  return ids;
}

/** How many copies of each Message-ID the primary took. */
function copies(primary: TestPrimary): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of primary.transactions) {
    const id = t.messageId ?? '(none)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Every Message-ID in `sent` reached the primary exactly once, and nothing else did. */
function expectEachOnce(primary: TestPrimary, sent: string[]) {
  expect(primary.transactions).toHaveLength(sent.length);
  expect([...copies(primary).entries()].filter(([, n]) => n !== 1)).toEqual([]);
  expect(new Set(copies(primary).keys())).toEqual(new Set(sent));
}

/** A test primary and a runtime pointed at it with the drill's config, its admin API on. */
async function startDrill(concurrency: number) {
  const primary = await TestPrimary.start();
  const rt = await startTestRuntime({ config: drillConfig(primary, { concurrency }), api: true });
  return { primary, rt, admin: adminApi(rt) };
}

async function stopDrill(rt: TestRuntime | undefined, primary: TestPrimary | undefined): Promise<void> {
  await rt?.stop();
  await primary?.stop();
}

describe.sequential('continuity drill: outage, invoke, 200 held, revoke (hand-over concurrency 1)', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;
  let eventId: string;
  let sent: string[] = [];
  let held: DeliveryRecord[] = [];

  beforeAll(async () => {
    ({ primary, rt, admin } = await startDrill(1));
  });

  afterAll(() => stopDrill(rt, primary));

  it('opens an event within two probe rounds of the primary going down', async () => {
    await primary.refuse();

    const first = await probeRound(rt);
    const second = await probeRound(rt);

    expect(first.state).toBe('normal');
    expect(second.state).toBe('alerting');
    eventId = second.eventId as string;
    const status = await admin.status();
    expect(status).toMatchObject({ state: 'alerting', event: { id: eventId, openedBy: 'probe' } });
    expect(status.event?.evidence.at(-1)).toMatchObject({
      probe: 'smtp',
      ok: false,
      detail: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('pages the admins by SMS and by email, each with the link to the event', async () => {
    const pages = await admin.outbox();

    expect(pages.map((n) => [n.notice, n.channel, n.audience, n.to])).toEqual(
      expect.arrayContaining([
        ['alert', 'sms', 'admins', [ADMIN_PHONE]],
        ['alert', 'email', 'admins', [ADMIN_EMAIL]],
      ]),
    );
    expect(pages).toHaveLength(2);
    for (const page of pages) expect(page.text).toContain(`${CONSOLE}/events/${eventId}`);
  });

  it('lets an admin invoke continuity for that event over the admin API', async () => {
    const res = await admin.invoke({ reason: 'primary datacentre power' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      state: 'continuity',
      event: { id: eventId, invokedBy: ONCALL, invokeMode: 'manual' },
    });
  });

  it('holds all 200 messages that arrive during continuity', SLOW, async () => {
    sent = await sendDrillMessages(rt, 1, MESSAGES);

    held = await admin.held();

    expect(held).toHaveLength(MESSAGES);
    expect(held.filter((d) => d.state !== 'held' || d.reason !== 'continuity' || d.attempts !== 0)).toEqual(
      [],
    );
    expect(primary.transactions).toHaveLength(0);
  });

  it('tells admins once the primary is back, and still sends nothing until someone revokes', async () => {
    await primary.accept();

    for (let i = 0; i < rt.config.continuity.thresholds.healthyRoundsForAllClear; i++) await probeRound(rt);
    await rt.sweepAfter(3600);

    const status = await admin.status();
    expect(status.state).toBe('continuity');
    expect(status.queue.held).toBe(MESSAGES);
    const restored = (await admin.outbox()).filter((n) => n.notice === 'flow-restored');
    expect(restored.map((n) => n.channel).sort()).toEqual(['email', 'sms']);
    expect(primary.transactions).toHaveLength(0);
  });

  it('on revoke hands every held message to the primary exactly once', SLOW, async () => {
    const res = await admin.revoke();
    expect(res.body.state).toBe('recovering');
    // The local API starts the hand-over at once; idle() waits for it to finish.
    await rt.idle();

    expectEachOnce(primary, sent);
  });

  it('hands the messages over in the order they arrived', () => {
    expect(primary.transactions.map((t) => t.messageId)).toEqual(sent);
  });

  it('records each handed-over delivery as delivered on its first attempt', async () => {
    const after = await Promise.all(held.map((d) => rt.delivery(d.messageId, d.recipient)));

    expect(after.filter((d) => d.state !== 'delivered' || d.attempts !== 1)).toEqual([]);
  });

  it('is back to normal with no hold and nothing queued', async () => {
    const status = await admin.status();

    expect(status).toMatchObject({ state: 'normal', event: null, holds: [] });
    const { delivered, ...waiting } = status.queue;
    expect(delivered).toBe(MESSAGES);
    expect(Object.values(waiting).every((n) => n === 0)).toBe(true);
  });

  it('closes the event with all 200 deliveries counted as handed over', async () => {
    const event = await admin.event(eventId);

    expect(event).toMatchObject({ state: 'normal', revokedBy: ONCALL });
    expect(event.closedAt).not.toBeNull();
    expect(event.handover).toMatchObject({ total: MESSAGES, released: MESSAGES });
    expect(event.handover?.finishedAt).not.toBeNull();
  });

  it('tells the admins the hand-over is complete', async () => {
    const recovered = (await admin.outbox()).filter((n) => n.notice === 'recovered');

    expect(recovered.map((n) => n.channel).sort()).toEqual(['email', 'sms']);
    for (const n of recovered) expect(n.text).toContain(`${MESSAGES} deliveries`);
  });
});

describe.sequential('continuity drill with hand-over concurrency 4', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;
  let eventId: string;

  beforeAll(async () => {
    ({ primary, rt, admin } = await startDrill(4));
  });

  afterAll(() => stopDrill(rt, primary));

  it('hands all 200 held messages to the primary exactly once', SLOW, async () => {
    await primary.refuse();
    await probeRound(rt);
    eventId = (await probeRound(rt)).eventId as string;
    await admin.invoke();
    const sent = await sendDrillMessages(rt, 1, MESSAGES);
    await primary.accept();

    await admin.revoke();
    await rt.idle();

    expectEachOnce(primary, sent);
  });

  it('closes the event with every delivery counted once', async () => {
    const event = await admin.event(eventId);

    expect(event.handover).toMatchObject({ total: MESSAGES, released: MESSAGES });
    expect(await admin.status()).toMatchObject({ state: 'normal', holds: [] });
  });
});

describe.sequential('continuity hand-over after a crash', () => {
  const HELD = 80;
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;
  let sent: string[];

  beforeAll(async () => {
    ({ primary, rt, admin } = await startDrill(1));
  });

  afterAll(() => stopDrill(rt, primary));

  it('stops where the worker crashed: 50 handed over, the rest still held', SLOW, async () => {
    await admin.invoke();
    sent = await sendDrillMessages(rt, 1, HELD);
    // Revoked through the core, so that no hand-over starts besides the one that crashes.
    await revokeContinuity(rt.ctx, ONCALL);
    const crashing: ContinuityDeps = {
      ...rt.ctx,
      handoverCheckpoint: (released) => {
        if (released >= 50) throw new Error('hand-over worker stopped');
      },
    };

    await expect(runHandover(crashing, 60_000)).rejects.toThrow('hand-over worker stopped');

    expect(primary.transactions.map((t) => t.messageId)).toEqual(sent.slice(0, 50));
    expect(await admin.status()).toMatchObject({ state: 'recovering', queue: { held: HELD - 50 } });
  });

  it('resumes with the rest, in order, sending nothing twice', SLOW, async () => {
    const resumed = await runHandover(rt.ctx, 60_000);

    expect(resumed).toEqual({ released: HELD - 50, done: true });
    expectEachOnce(primary, sent);
    expect(primary.transactions.map((t) => t.messageId)).toEqual(sent);
  });

  it('leaves nothing held and counts every delivery once', async () => {
    const status = await admin.status();

    expect(status).toMatchObject({ state: 'normal', holds: [] });
    expect(status.queue.held).toBe(0);
    expect((await admin.latestEvent())?.handover).toMatchObject({ total: HELD, released: HELD });
  });
});

describe('continuity hand-over when a worker dies mid-send', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;

  beforeEach(async () => {
    ({ primary, rt, admin } = await startDrill(1));
  });

  afterEach(() => stopDrill(rt, primary));

  it('sends the message a worker died holding first, once its lease runs out, and only then finishes', async () => {
    await admin.invoke();
    const sent = await sendDrillMessages(rt, 1, 3);
    await revokeContinuity(rt.ctx, ONCALL);
    let died = false;
    // The hand-over passes its dependencies on to delivery, whose checkpoint this is.
    const dying: ContinuityDeps = {
      ...rt.ctx,
      checkpoint: (step) => {
        if (step === 'claimed' && !died) {
          died = true;
          throw new Error('worker died holding the lease');
        }
      },
    };

    await expect(runHandover(dying, 60_000)).rejects.toThrow('worker died');
    expect(await runHandover(rt.ctx, 60_000)).toEqual({ released: 0, done: false });
    expect(primary.transactions).toHaveLength(0);
    expect((await admin.status()).state).toBe('recovering');

    rt.clock.advance(leaseSecondsFor(rt.config, 'primary') + 1);
    expect(await runHandover(rt.ctx, 60_000)).toMatchObject({ done: true });

    expect(primary.transactions.map((t) => t.messageId)).toEqual(sent);
    expectEachOnce(primary, sent);
    expect(await admin.status()).toMatchObject({
      state: 'normal',
      queue: { held: 0, delivering: 0, queued: 0 },
    });
  });
});

describe.sequential('continuity hand-over interrupted by a process that dies, then restarts', () => {
  const HELD = 6;
  let primary: TestPrimary;
  let rt: TestRuntime;
  let dataDir: string;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    // A folder of its own, so it outlives the runtime that dies.
    dataDir = await makeDataDir();
    rt = await startTestRuntime({ config: drillConfig(primary, { concurrency: 1 }), api: true, dataDir });
  });

  afterEach(async () => {
    await stopDrill(rt, primary);
    await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * Holds HELD messages, revokes, lets the hand-over die at `step` of its third message, then
   * starts the runtime again on the same data and lets it finish what it takes up at start-up.
   */
  async function dieMidHandoverAndRestart(step: DeliverStep): Promise<string[]> {
    await adminApi(rt).invoke();
    const sent = await sendDrillMessages(rt, 1, HELD);
    await revokeContinuity(rt.ctx, ONCALL);
    let seen = 0;
    const dying: ContinuityDeps = {
      ...rt.ctx,
      checkpoint: (s) => {
        if (s === step && ++seen === 3) throw new Error('process killed');
      },
    };
    await expect(runHandover(dying, 60_000)).rejects.toThrow('process killed');
    // Nothing is held any more, but the third message is still in flight: not finished.
    expect(await runHandover(rt.ctx, 60_000)).toEqual({ released: 0, done: false });
    const admin = adminApi(rt);
    expect(await admin.status()).toMatchObject({ state: 'recovering', queue: { delivering: 1 } });
    expect((await admin.outbox()).filter((n) => n.notice === 'recovered')).toEqual([]);

    await rt.stop();
    rt = await startTestRuntime({ config: drillConfig(primary, { concurrency: 1 }), api: true, dataDir });
    // Start-up takes back what the dead process held and resumes the hand-over.
    await rt.idle();
    if ((await adminApi(rt).status()).state === 'recovering') await runHandover(rt.ctx, 60_000);
    return sent;
  }

  it('after the restart hands the interrupted message over first, each once, and only then finishes', async () => {
    const sent = await dieMidHandoverAndRestart('claimed');
    const admin = adminApi(rt);

    expect(primary.transactions.map((t) => t.messageId)).toEqual(sent);
    expectEachOnce(primary, sent);
    expect(await admin.status()).toMatchObject({ state: 'normal', queue: { held: 0, delivering: 0 } });
    expect((await admin.latestEvent())?.handover).toMatchObject({ total: HELD, released: HELD });
    expect((await admin.outbox()).filter((n) => n.notice === 'recovered')).toHaveLength(2);
  });

  it('sends again first the message whose 250 it never recorded, and nothing else twice', async () => {
    const sent = await dieMidHandoverAndRestart('sent');

    // The third message reached the primary before the kill: it goes again, ahead of the rest.
    expect(primary.transactions.map((t) => t.messageId)).toEqual([
      ...sent.slice(0, 3),
      sent[2],
      ...sent.slice(3),
    ]);
    expect((await adminApi(rt).status()).state).toBe('normal');
  });
});

describe('continuity hand-over of mail deferred before the invoke', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;

  beforeEach(async () => {
    ({ primary, rt, admin } = await startDrill(1));
  });

  afterEach(() => stopDrill(rt, primary));

  it('holds a delivery that was deferred when continuity was invoked', async () => {
    await primary.refuse();
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: drillMessage(0).raw });
    expect((await rt.delivery(id, 'alice@example.com')).state).toBe('deferred');

    await admin.invoke();

    expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({
      state: 'held',
      reason: 'continuity',
      attempts: 1,
    });
  });

  it('hands it over first, ahead of the mail that arrived during the event, each once', async () => {
    await primary.refuse();
    const before = drillMessage(0);
    await rt.sendAndSettle({ to: ['alice@example.com'], raw: before.raw });
    await admin.invoke();
    const during = await sendDrillMessages(rt, 1, 3);
    await primary.accept();

    await admin.revoke();
    await rt.idle();

    expect(primary.transactions.map((t) => t.messageId)).toEqual([before.messageId, ...during]);
    expect((await admin.latestEvent())?.handover).toMatchObject({ total: 4, released: 4 });
  });
});

describe('continuity hand-over run by two workers at once', () => {
  const HELD = 40;
  let primary: TestPrimary;
  let rt: TestRuntime;
  let admin: ReturnType<typeof adminApi>;

  beforeEach(async () => {
    ({ primary, rt, admin } = await startDrill(2));
  });

  afterEach(() => stopDrill(rt, primary));

  // Conditional writes keep two runners from sending anything twice, should they ever overlap.
  it('sends each held message once', SLOW, async () => {
    await admin.invoke();
    const sent = await sendDrillMessages(rt, 1, HELD);
    await revokeContinuity(rt.ctx, ONCALL);

    await Promise.all([runHandover(rt.ctx, 60_000), runHandover(rt.ctx, 60_000)]);

    expectEachOnce(primary, sent);
  });
});
