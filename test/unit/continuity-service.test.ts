import { describe, expect, it } from 'vitest';
import { ContinuityStateError } from '../../lambdas/core/continuity.js';
import {
  acknowledgeEvent,
  getStatus,
  invokeContinuity,
  revokeContinuity,
  runProbeRound,
  scheduleContinuity,
} from '../../lambdas/core/continuity-service.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import { NotFoundError } from '../../lambdas/core/errors.js';
import { holdRecipient } from '../../lambdas/core/queue-ops.js';
import { continuityHarness } from '../support/continuity.js';

/** Probe rounds once a minute for `minutes` minutes. */
async function rounds(h: ReturnType<typeof continuityHarness>, minutes: number) {
  for (let i = 0; i < minutes; i++) {
    h.clock.advance(60);
    await runProbeRound(h.deps);
  }
}

/** A primary that stops answering, and the two failed SMTP checks that open an event. */
async function outage(h: ReturnType<typeof continuityHarness>) {
  h.prober.down = true;
  h.primary.down = true;
  await runProbeRound(h.deps);
  h.clock.advance(60);
  return runProbeRound(h.deps);
}

describe('runProbeRound', () => {
  it('does not page on the first failed SMTP check', async () => {
    const h = continuityHarness();
    h.prober.down = true;
    const step = await runProbeRound(h.deps);
    expect(step.org.state).toBe('normal');
    expect(await h.outbox()).toEqual([]);
  });

  it('opens one event after two failed rounds and pages admins by SMS and email', async () => {
    const h = continuityHarness();
    const step = await outage(h);
    expect(step.org).toMatchObject({ state: 'alerting', eventId: 'ev1' });
    expect(await h.store.listEvents(10)).toHaveLength(1);
    const pages = await h.store.listNotifications(10);
    expect(pages.map((n) => [n.notice, n.channel, n.to])).toEqual([
      ['alert', 'email', ['oncall@alerts.example.org']],
      ['alert', 'sms', ['+447700900123']],
    ]);
    expect(pages.every((n) => n.eventId === 'ev1')).toBe(true);
    expect(h.notifier.sent.map((n) => n.id).sort()).toEqual(pages.map((n) => n.id).sort());
  });

  it('writes the alert to the audit log with the evidence', async () => {
    const h = continuityHarness();
    await outage(h);
    expect(await h.store.listAudit(10)).toEqual([
      {
        at: '2026-11-22T10:01:00.000Z',
        actor: 'lifeboat',
        action: 'alert',
        detail:
          'onprem smtp: 10.0.0.5:25 connect ECONNREFUSED; cloud smtp: mx1.cloud.test:587 connect ECONNREFUSED; mx2.cloud.test:587 connect ECONNREFUSED',
        eventId: 'ev1',
      },
    ]);
  });

  it('keeps the one event open on later failing rounds without paging again', async () => {
    const h = continuityHarness();
    await outage(h);
    await rounds(h, 10);
    expect(await h.store.listEvents(10)).toHaveLength(1);
    expect(await h.outbox()).toEqual(['alert sms', 'alert email']);
  });

  it('opens one event when two rounds race', async () => {
    const h = continuityHarness({ thresholds: { consecutiveFailures: 1 } });
    h.prober.down = true;
    const [a, b] = await Promise.all([runProbeRound(h.deps), runProbeRound(h.deps)]);
    expect(a.org.eventId).toBe(b.org.eventId);
    expect(await h.store.listEvents(10)).toHaveLength(1);
    expect(await h.outbox()).toEqual(['alert sms', 'alert email']);
  });

  it('says all clear and closes the event when the primary recovers', async () => {
    const h = continuityHarness();
    await outage(h);
    h.prober.down = false;
    await rounds(h, 3);
    expect((await getStatus(h.deps)).state).toBe('normal');
    expect((await h.store.getEvent('ev1'))?.closedAt).toBe('2026-11-22T10:04:00.000Z');
    expect(await h.outbox()).toEqual(['alert sms', 'alert email', 'all-clear sms', 'all-clear email']);
  });

  it('repeats the page every repeatMinutes until someone acknowledges', async () => {
    const h = continuityHarness({ autoInvokeAfterMinutes: null });
    await outage(h);
    await rounds(h, 60);
    expect((await h.outbox()).filter((n) => n === 'repeat sms')).toHaveLength(2);
  });

  it('invokes continuity on its own after autoInvokeAfterMinutes and holds the queue', async () => {
    const h = continuityHarness({ autoInvokeAfterMinutes: 15 });
    await outage(h);
    await h.receive('m1');
    await rounds(h, 14);
    expect((await getStatus(h.deps)).state).toBe('alerting');
    await rounds(h, 1);
    const status = await getStatus(h.deps);
    expect(status.state).toBe('continuity');
    expect(status.event).toMatchObject({ invokeMode: 'auto', invokedBy: 'lifeboat' });
    expect(await h.queue()).toEqual({ 'm1 alice@example.com': 'held (continuity)' });
  });

  it('keeps the page in the outbox and audits the failure when the notifier throws', async () => {
    const h = continuityHarness();
    h.notifier.failWith = new Error('SNS throttled');
    const step = await outage(h);
    expect(step.org.state).toBe('alerting');
    expect(await h.outbox()).toEqual(['alert sms', 'alert email']);
    const audit = await h.store.listAudit(10);
    expect(audit.filter((a) => a.action === 'notify-failed').map((a) => a.detail)).toEqual([
      'email alert: SNS throttled',
      'sms alert: SNS throttled',
    ]);
  });

  it('places the continuity hold again if a worker stopped before placing it', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.store.deleteHold('*');
    await rounds(h, 1);
    expect((await h.store.listHolds()).map((x) => [x.scope, x.reason])).toEqual([['*', 'continuity']]);
  });
});

describe('acknowledgeEvent', () => {
  it('stops the repeated pages', async () => {
    const h = continuityHarness({ autoInvokeAfterMinutes: null });
    await outage(h);
    await acknowledgeEvent(h.deps, 'ev1', 'ops@example.org');
    await rounds(h, 120);
    expect(await h.outbox()).toEqual(['alert sms', 'alert email']);
  });

  it('stops the automatic invocation', async () => {
    const h = continuityHarness({ autoInvokeAfterMinutes: 15 });
    await outage(h);
    await acknowledgeEvent(h.deps, 'ev1', 'ops@example.org');
    await rounds(h, 60);
    expect((await getStatus(h.deps)).state).toBe('alerting');
  });

  it('records who acknowledged in the audit log', async () => {
    const h = continuityHarness();
    await outage(h);
    await acknowledgeEvent(h.deps, 'ev1', 'ops@example.org');
    expect((await h.store.listAudit(1))[0]).toMatchObject({
      actor: 'ops@example.org',
      action: 'acknowledge',
      eventId: 'ev1',
    });
  });

  it('refuses an event that is not the open one', async () => {
    const h = continuityHarness();
    await outage(h);
    await expect(acknowledgeEvent(h.deps, 'ev9', 'ops@example.org')).rejects.toThrow(NotFoundError);
  });
});

describe('invokeContinuity', () => {
  it('holds queued and deferred deliveries', async () => {
    const h = continuityHarness();
    h.primary.down = true;
    await h.receive('deferred-one');
    await deliverMessage('deferred-one', h.deps);
    await h.receive('queued-one', ['bob@example.com', 'ceo@example.com']);
    expect(await h.queue()).toEqual({
      'deferred-one alice@example.com': 'deferred',
      'queued-one bob@example.com': 'queued',
      'queued-one ceo@example.com': 'queued',
    });
    await invokeContinuity(h.deps, 'ops@example.org');
    expect(await h.queue()).toEqual({
      'deferred-one alice@example.com': 'held (continuity)',
      'queued-one bob@example.com': 'held (continuity)',
      'queued-one ceo@example.com': 'held (continuity)',
    });
  });

  it('holds mail that arrives afterwards', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('late');
    expect(await h.queue()).toEqual({ 'late alice@example.com': 'held (continuity)' });
  });

  it('sends nothing to the primary while invoked, even when the primary is back', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('m1');
    await deliverMessage('m1', h.deps);
    expect(h.primary.sent).toEqual([]);
  });

  it('holds only the route in scope', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org', { scope: 'onprem', reason: 'server room flooded' });
    await h.receive('m1', ['alice@example.com', 'ceo@example.com']);
    expect(await h.queue()).toEqual({
      'm1 alice@example.com': 'queued',
      'm1 ceo@example.com': 'held (continuity)',
    });
  });

  it('pages admins and texts staff', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    expect(await h.outbox()).toEqual(['invoked sms', 'invoked email', 'staff-invoked sms']);
    const staff = (await h.store.listNotifications(10)).find((n) => n.audience === 'staff');
    expect(staff?.to).toEqual(['+447700900789']);
  });

  it('invokes the open alert, not a new event, and records who did it', async () => {
    const h = continuityHarness();
    await outage(h);
    await invokeContinuity(h.deps, 'ops@example.org');
    const status = await getStatus(h.deps);
    expect(status.event).toMatchObject({ id: 'ev1', invokeMode: 'manual', invokedBy: 'ops@example.org' });
    expect(await h.store.listEvents(10)).toHaveLength(1);
    expect((await h.store.listAudit(1))[0]).toMatchObject({ actor: 'ops@example.org', action: 'invoke' });
  });

  it('opens an event when invoked without an alert', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org', { reason: 'phishing clean-up on the primary' });
    expect((await getStatus(h.deps)).event).toMatchObject({
      id: 'ev1',
      openedBy: 'admin',
      reason: 'phishing clean-up on the primary',
    });
  });

  it('refuses when continuity is already invoked', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await expect(invokeContinuity(h.deps, 'other@example.org')).rejects.toThrow(ContinuityStateError);
    expect(await h.store.listEvents(10)).toHaveLength(1);
  });

  it('refuses a route that does not exist', async () => {
    const h = continuityHarness();
    await expect(invokeContinuity(h.deps, 'ops@example.org', { scope: 'nowhere' })).rejects.toThrow(
      NotFoundError,
    );
    expect((await getStatus(h.deps)).state).toBe('normal');
  });

  it('leaves an admin hold on a single delivery as it is', async () => {
    const h = continuityHarness();
    await h.receive('m1');
    await holdRecipient({ messageId: 'm1', recipient: 'alice@example.com' }, 'admin', h.deps);
    await invokeContinuity(h.deps, 'ops@example.org');
    expect(await h.queue()).toEqual({ 'm1 alice@example.com': 'held (admin)' });
  });
});

describe('revokeContinuity', () => {
  it('refuses when continuity is not invoked', async () => {
    const h = continuityHarness();
    await expect(revokeContinuity(h.deps, 'ops@example.org')).rejects.toThrow(ContinuityStateError);
    await outage(h);
    await expect(revokeContinuity(h.deps, 'ops@example.org')).rejects.toThrow(ContinuityStateError);
  });

  it('moves to recovering, counts what is to be handed over and tells admins', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    await h.receive('m1', ['alice@example.com', 'bob@example.com']);
    await h.receive('m2');
    h.clock.advance(3600);
    await revokeContinuity(h.deps, 'ops@example.org');
    const status = await getStatus(h.deps);
    expect(status.state).toBe('recovering');
    expect(status.event).toMatchObject({
      revokedBy: 'ops@example.org',
      handover: { startedAt: '2026-11-22T11:00:00.000Z', total: 3, released: 0, finishedAt: null },
    });
    expect(status.holds).toEqual([
      {
        scope: '*',
        reason: 'continuity',
        since: '2026-11-22T10:00:00.000Z',
        by: 'ops@example.org',
        draining: true,
      },
    ]);
    expect((await h.outbox()).slice(-2)).toEqual(['revoked sms', 'revoked email']);
  });
});

describe('scheduleContinuity', () => {
  it('holds mail from the start of the window and starts the hand-over at its end', async () => {
    const h = continuityHarness();
    const start = new Date('2026-11-22T10:30:00.000Z');
    const end = new Date('2026-11-22T11:00:00.000Z');
    await scheduleContinuity(h.deps, 'ops@example.org', { start, end, reason: 'firmware upgrade' });
    expect(await h.outbox()).toEqual(['scheduled sms', 'scheduled email']);
    await rounds(h, 29);
    await h.receive('before');
    expect(await h.queue()).toEqual({ 'before alice@example.com': 'queued' });
    await rounds(h, 1);
    expect((await getStatus(h.deps)).state).toBe('continuity');
    await h.receive('during');
    expect((await h.queue())['during alice@example.com']).toBe('held (continuity)');
    await rounds(h, 30);
    expect((await getStatus(h.deps)).state).toBe('recovering');
  });

  it('refuses a window in the past', async () => {
    const h = continuityHarness();
    await expect(
      scheduleContinuity(h.deps, 'ops@example.org', {
        start: new Date('2026-11-21T10:00:00.000Z'),
        end: new Date('2026-11-21T12:00:00.000Z'),
      }),
    ).rejects.toThrow(ContinuityStateError);
  });
});

describe('getStatus', () => {
  it('shows the state, the open event, the holds and the queue', async () => {
    const h = continuityHarness();
    await h.receive('m1');
    await outage(h);
    await invokeContinuity(h.deps, 'ops@example.org');
    const status = await getStatus(h.deps);
    expect(status).toMatchObject({
      state: 'continuity',
      lastProbeRoundAt: '2026-11-22T10:01:00.000Z',
      event: { id: 'ev1', state: 'continuity' },
      holds: [{ scope: '*', reason: 'continuity' }],
      queue: { held: 1, queued: 0 },
    });
  });
});

describe('invokeContinuity when the worker dies half-way', () => {
  /** An invocation whose hold dies on its first write, as an API function timing out would. */
  async function invokeThatDies(h: ReturnType<typeof continuityHarness>) {
    h.primary.down = true;
    for (const id of ['d1', 'd2', 'd3']) {
      await h.receive(id);
      await deliverMessage(id, h.deps);
    }
    h.store.failNextReplace = new Error('Task timed out after 29.00 seconds');
    await expect(invokeContinuity(h.deps, 'ops@example.org')).rejects.toThrow('timed out');
  }

  it('has paged admins and texted staff before it started holding the queue', async () => {
    const h = continuityHarness();
    await invokeThatDies(h);
    expect(await h.outbox()).toEqual(['invoked sms', 'invoked email', 'staff-invoked sms']);
  });

  it('lets a retry of the invocation complete the hold once the dead worker’s time is up', async () => {
    const h = continuityHarness();
    await invokeThatDies(h);
    // While the first worker may still be running, a retry says so instead of doing it twice.
    await expect(invokeContinuity(h.deps, 'ops@example.org')).rejects.toThrow(/still being carried out/);
    h.clock.advance(10 * 60);
    const step = await invokeContinuity(h.deps, 'ops@example.org');
    expect(step.event?.pendingActions).toEqual([]);
    expect(Object.values(await h.queue())).toEqual([
      'held (continuity)',
      'held (continuity)',
      'held (continuity)',
    ]);
    // Nobody is paged twice.
    expect(await h.outbox()).toEqual(['invoked sms', 'invoked email', 'staff-invoked sms']);
    expect((await h.store.listAudit(1))[0]).toMatchObject({ action: 'resume', actor: 'ops@example.org' });
  });

  it('lets the next probe round complete the hold when nobody retries', async () => {
    const h = continuityHarness();
    await invokeThatDies(h);
    await rounds(h, 10);
    expect(Object.values(await h.queue())).toEqual([
      'held (continuity)',
      'held (continuity)',
      'held (continuity)',
    ]);
    expect((await getStatus(h.deps)).event?.pendingActions).toEqual([]);
  });

  it('still refuses a second invocation once the first one completed', async () => {
    const h = continuityHarness();
    await invokeContinuity(h.deps, 'ops@example.org');
    h.clock.advance(10 * 60);
    await expect(invokeContinuity(h.deps, 'other@example.org')).rejects.toThrow(
      'continuity is already invoked',
    );
  });
});

describe('invokeContinuity on an open alert', () => {
  it('keeps the reason the admin gave, on the event and in the audit log', async () => {
    const h = continuityHarness();
    await outage(h);
    await invokeContinuity(h.deps, 'ops@example.org', { reason: 'Exchange is down' });
    expect((await getStatus(h.deps)).event).toMatchObject({ id: 'ev1', reason: 'Exchange is down' });
    expect((await h.store.listAudit(1))[0]?.detail).toContain('Exchange is down');
  });
});

describe('the primary-is-back notice while mail is held', () => {
  it('comes on a quiet domain, judged on the SMTP checks while the organic window is stale', async () => {
    const h = continuityHarness();
    // Twenty real deliveries failed before the hold; with mail held, nothing replaces them.
    for (let i = 0; i < 20; i++) {
      await h.store.recordAttempt({
        route: 'cloud',
        at: h.clock.now().toISOString(),
        ok: false,
        latencyMs: 5,
      });
    }
    await outage(h);
    await invokeContinuity(h.deps, 'ops@example.org');
    h.prober.down = false;
    h.primary.down = false;
    // Inside the organic window (10 minutes), the stale failures still breach it.
    await rounds(h, 3);
    expect(await h.outbox()).toContain('flow-restored sms');
  });
});
