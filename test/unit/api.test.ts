import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import type { ContinuityEvent } from '../../lambdas/core/continuity.js';
import { runHandover, runProbeRound } from '../../lambdas/core/continuity-service.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import type { AuditEntry } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { delivery } from '../support/fixtures.js';

const ADMINS = 'lifeboat-admins';
/** A sign-in with a password and an authenticator code: admins need a second factor (adminMfa). */
const MFA = ['pwd', 'otp'];
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: MFA };

type Claims = Record<string, unknown>;

interface Request {
  claims?: Claims | null;
  body?: string | unknown;
  query?: Record<string, string>;
}

/** The admin API over a MemoryStore, called as API Gateway would call it. */
function api() {
  const h = continuityHarness();
  const logged: string[] = [];
  const ctx: Context = {
    ...h.deps,
    trigger: { requestDelivery: async () => {} },
    log: { info() {}, warn() {}, error: (m, f) => logged.push(`${m} ${JSON.stringify(f)}`) },
  };
  const handler = createApiHandler(() => ctx);
  async function call(method: string, path: string, req: Request = {}) {
    const claims = req.claims === undefined ? ALICE : req.claims;
    const event: HttpEvent = {
      rawPath: path,
      requestContext: {
        http: { method },
        ...(claims ? { authorizer: { jwt: { claims } } } : {}),
      },
      ...(req.query ? { queryStringParameters: req.query } : {}),
      ...(req.body === undefined
        ? {}
        : { body: typeof req.body === 'string' ? req.body : JSON.stringify(req.body) }),
    };
    const res = await handler(event);
    return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body), raw: res.body };
  }
  /** Two failed SMTP checks in a row: the probes open an event. */
  async function outage(): Promise<string> {
    h.prober.down = true;
    h.primary.down = true;
    await runProbeRound(h.deps);
    h.clock.advance(60);
    const step = await runProbeRound(h.deps);
    return step.org.eventId as string;
  }
  return { ...h, ctx, call, outage, logged };
}

describe('admin API: who may call it', () => {
  it('answers 401 when the request carries no verified claims', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', { claims: null });

    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'UNAUTHENTICATED', message: expect.stringMatching(/sign in/) });
  });

  it('answers 401 when the claims name no user', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', { claims: { 'cognito:groups': [ADMINS] } });

    expect(res.status).toBe(401);
  });

  it('answers 403 naming the admin group when the caller is not in it', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', {
      claims: { email: 'mallory@example.com', 'cognito:groups': ['staff', 'lifeboat-admins-readonly'] },
    });

    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FORBIDDEN');
    expect(res.body.message).toContain('mallory@example.com is not in the lifeboat-admins group');
  });

  it('admits a Cognito caller whose cognito:groups is a list', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', {
      claims: { sub: 'u-1', 'cognito:groups': [ADMINS], amr: MFA },
    });

    expect(res.status).toBe(200);
  });

  it('admits an OIDC caller whose groups claim is a space-separated string', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', {
      claims: { sub: 'u-1', groups: `staff ${ADMINS}`, amr: MFA },
    });

    expect(res.status).toBe(200);
  });

  it('admits an OIDC caller whose groups claim is a comma-separated string', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', {
      claims: { sub: 'u-1', groups: `staff,${ADMINS}`, amr: MFA },
    });

    expect(res.status).toBe(200);
  });

  it('admits a caller whose groups arrive as API Gateway flattens a list: "[a b]"', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status', {
      claims: { sub: 'u-1', 'cognito:groups': `[staff ${ADMINS}]`, amr: '[pwd otp]' },
    });

    expect(res.status).toBe(200);
  });
});

describe('admin API: requests it refuses', () => {
  it('answers 400 listing the problem when the body is not JSON', async () => {
    const { call, store } = api();

    const res = await call('POST', '/admin/continuity/invoke', { body: '{"reason": "primary down' });

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'VALIDATION_FAILED', problems: ['(root): not valid JSON'] });
    expect(store.org).toBeUndefined();
  });

  it('answers 400 listing every problem of a body, each with its path', async () => {
    const { call } = api();

    const res = await call('POST', '/admin/continuity/schedule', {
      body: { start: 'tomorrow morning', end: 5, colour: 'red' },
    });

    expect(res.status).toBe(400);
    const problems: string[] = res.body.problems;
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith('start:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('end:'))).toBe(true);
    expect(problems.some((p) => p.includes('colour'))).toBe(true);
  });

  it('refuses a maintenance window that ends before it starts, saying so', async () => {
    const { call, clock, store } = api();
    const start = new Date(clock.now().getTime() + 3_600_000);
    const end = new Date(start.getTime() - 60_000);

    const res = await call('POST', '/admin/continuity/schedule', {
      body: { start: start.toISOString(), end: end.toISOString() },
    });

    expect([400, 409]).toContain(res.status);
    expect(res.body.message).toBe('the window must end after it starts');
    expect(store.events.size).toBe(0);
  });

  it('answers 404 for a path it does not serve', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/nothing-here');

    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: 'NOT_FOUND', message: 'no such endpoint /admin/nothing-here' });
  });

  it('answers 405 for a method the path does not allow', async () => {
    const { call, store } = api();

    const res = await call('GET', '/admin/continuity/invoke');

    expect(res.status).toBe(405);
    expect(res.body.message).toBe('GET is not allowed on /admin/continuity/invoke');
    expect(store.org).toBeUndefined();
  });

  it('answers 409 to a second invoke and keeps the first invoker', async () => {
    const { call } = api();
    await call('POST', '/admin/continuity/invoke');

    const res = await call('POST', '/admin/continuity/invoke', {
      claims: { email: 'bob@ops.example.org', groups: ADMINS, amr: MFA },
    });

    expect(res.status).toBe(409);
    expect(res.body.message).toBe('continuity is already invoked');
    const status = await call('GET', '/admin/status');
    expect(status.body.event.invokedBy).toBe(ALICE.email);
  });

  it('answers 409 to a revoke while the organisation is normal', async () => {
    const { call } = api();

    const res = await call('POST', '/admin/continuity/revoke');

    expect(res.status).toBe(409);
    expect(res.body.message).toBe('continuity is not invoked');
  });

  it('answers 404 to acknowledging an event that is not open', async () => {
    const { call, outage } = api();
    await outage();

    const res = await call('POST', '/admin/events/ev999/acknowledge');

    expect(res.status).toBe(404);
    expect(res.body.message).toBe('open event ev999 not found');
  });

  it('answers 404 to invoking continuity for a route that does not exist', async () => {
    const { call, store } = api();

    const res = await call('POST', '/admin/continuity/invoke', { body: { scope: 'nowhere' } });

    expect(res.status).toBe(404);
    expect(res.body.message).toBe('route nowhere not found');
    expect(store.org).toBeUndefined();
  });

  it('answers 400 naming the parameter when the queue is asked for an unknown state', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/queue', { query: { state: 'lost' } });

    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([expect.stringMatching(/^state: /)]);
  });

  it('pages the queue with a cursor and answers 400 to a cursor it did not issue', async () => {
    const { call, store } = api();
    for (const id of ['q1', 'q2', 'q3'])
      await store.createDelivery(delivery({ messageId: id, state: 'deferred' }));

    const first = await call('GET', '/admin/queue', { query: { limit: '2' } });
    const second = await call('GET', '/admin/queue', { query: { limit: '2', cursor: first.body.cursor } });
    const forged = await call('GET', '/admin/queue', { query: { cursor: 'eyJzIjo5OX0' } });

    expect(first.body.deliveries).toHaveLength(2);
    expect(typeof first.body.cursor).toBe('string');
    expect(
      [...first.body.deliveries, ...second.body.deliveries].map((d: DeliveryRecord) => d.messageId).sort(),
    ).toEqual(['q1', 'q2', 'q3']);
    expect(second.body.cursor).toBeNull();
    expect(forged.status).toBe(400);
    expect(forged.body.message).toMatch(/cursor/);
  });

  it('answers 500 without internals when the store fails unexpectedly, and logs the cause', async () => {
    const { call, store, logged } = api();
    store.listHolds = async () => {
      throw new Error('connect ECONNREFUSED 10.20.30.40:443 (table lifeboat-prod-Store)');
    };

    const res = await call('GET', '/admin/status');

    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      error: 'INTERNAL',
      message: 'something went wrong; the request was not completed',
    });
    expect(res.raw).not.toMatch(/10\.20\.30\.40|lifeboat-prod|ECONNREFUSED/);
    expect(logged.join('\n')).toContain('ECONNREFUSED 10.20.30.40');
  });
});

describe('admin API: what it shows', () => {
  it('GET /admin/status shows the state, the open event, the holds and the queue by state', async () => {
    const { call, receive, clock } = api();
    await receive('m1');
    clock.advance(60);
    await call('POST', '/admin/continuity/invoke', { body: { reason: 'primary datacentre power' } });

    const res = await call('GET', '/admin/status');

    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store' });
    expect(res.body).toEqual({
      state: 'continuity',
      since: clock.now().toISOString(),
      lastProbeRoundAt: null,
      event: expect.objectContaining({
        id: 'ev1',
        state: 'continuity',
        openedBy: 'admin',
        invokedBy: ALICE.email,
        invokeMode: 'manual',
        reason: 'primary datacentre power',
        scope: '*',
      }),
      holds: [expect.objectContaining({ scope: '*', reason: 'continuity', by: ALICE.email })],
      queue: { queued: 0, delivering: 0, delivered: 0, deferred: 0, failed: 0, held: 1, quarantined: 0 },
      failedNotifications: { count: 0, windowHours: 24, last: null },
      // Every route, held by the invoke, with the hosts it delivers to.
      routes: [
        expect.objectContaining({ name: 'onprem', held: true, hosts: ['10.0.0.5:25'] }),
        expect.objectContaining({ name: 'cloud', held: true, domains: ['example.com', 'example.net'] }),
      ],
      // No drill runs.
      drill: null,
    });
  });

  it('GET /admin/status on a fresh install says normal with an empty queue', async () => {
    const { call } = api();

    const res = await call('GET', '/admin/status');

    expect(res.body).toMatchObject({ state: 'normal', event: null, holds: [], lastProbeRoundAt: null });
    expect(Object.values(res.body.queue).every((n) => n === 0)).toBe(true);
  });

  it('GET /admin/queue?state=held lists only held deliveries, oldest first', async () => {
    const { call, receive, clock, store } = api();
    await store.createDelivery(delivery({ messageId: 'broken', state: 'failed', route: 'cloud' }));
    await receive('early');
    clock.advance(60);
    await call('POST', '/admin/continuity/invoke');
    clock.advance(60);
    await receive('late');

    const res = await call('GET', '/admin/queue', { query: { state: 'held' } });

    expect(res.status).toBe(200);
    expect(res.body.deliveries.map((d: DeliveryRecord) => [d.messageId, d.state, d.reason])).toEqual([
      ['early', 'held', 'continuity'],
      ['late', 'held', 'continuity'],
    ]);
  });

  it('GET /admin/queue?limit=1 returns at most one delivery', async () => {
    const { call, receive, clock } = api();
    await receive('one');
    clock.advance(1);
    await receive('two');

    const res = await call('GET', '/admin/queue', { query: { limit: '1' } });

    expect(res.body.deliveries).toHaveLength(1);
  });

  it('GET /admin/events/:id returns the event and 404 for one that never existed', async () => {
    const { call, outage } = api();
    const id = await outage();

    const found = await call('GET', `/admin/events/${id}`);
    const missing = await call('GET', '/admin/events/ev404');

    expect(found.status).toBe(200);
    expect((found.body as ContinuityEvent).evidence[0]).toMatchObject({ probe: 'smtp', ok: false });
    expect(missing.status).toBe(404);
  });
});

describe('admin API: retry', () => {
  it('requeues a failed delivery so it is due at once', async () => {
    const { call, store, clock } = api();
    await store.createDelivery(
      delivery({
        messageId: 'm-failed',
        recipient: 'alice@example.com',
        state: 'failed',
        nextAttemptAt: null,
        lastError: '550 5.1.1 mailbox unavailable',
      }),
    );

    const res = await call('POST', '/admin/messages/m-failed/recipients/alice%40example.com/retry');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'queued', nextAttemptAt: clock.now().toISOString() });
    expect(await store.getDelivery({ messageId: 'm-failed', recipient: 'alice@example.com' })).toMatchObject({
      state: 'queued',
    });
  });

  it('writes the retry to the audit log with the caller as actor', async () => {
    const { call, store } = api();
    await store.createDelivery(
      delivery({
        messageId: 'm-failed',
        recipient: 'alice@example.com',
        state: 'failed',
        nextAttemptAt: null,
      }),
    );

    await call('POST', '/admin/messages/m-failed/recipients/Alice%40Example.com/retry');

    expect(store.audit).toEqual([
      expect.objectContaining({
        actor: ALICE.email,
        action: 'retry',
        detail: 'delivery m-failed to alice@example.com requeued from failed (now queued)',
      }),
    ]);
  });

  it('answers 409 and audits nothing when the delivery was already delivered', async () => {
    const { call, store } = api();
    await store.createDelivery(delivery({ messageId: 'm-done', state: 'delivered', nextAttemptAt: null }));

    const res = await call('POST', '/admin/messages/m-done/recipients/alice%40example.com/retry');

    expect(res.status).toBe(409);
    expect(res.body.message).toBe('a delivery cannot go from delivered to queued');
    expect(store.audit).toEqual([]);
  });

  it('answers 404 for a delivery that does not exist', async () => {
    const { call } = api();

    const res = await call('POST', '/admin/messages/nope/recipients/alice%40example.com/retry');

    expect(res.status).toBe(404);
  });

  // A recipient segment that is not valid percent-encoding is the caller's mistake, not a fault.
  it('answers 400, not 500, when the recipient in the path is malformed percent-encoding', async () => {
    const { call } = api();

    const res = await call('POST', '/admin/messages/m1/recipients/alice%E0%A4%A/retry');

    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
  });
});

describe('admin API: audit', () => {
  it('records every admin action with the actor named by the caller’s claims', async () => {
    const { call, outage, store, ctx } = api();
    const eventId = await outage();
    const admin = (claims: Claims) => ({ ...claims, 'cognito:groups': [ADMINS], amr: MFA });
    await store.createDelivery(delivery({ messageId: 'm-failed', state: 'failed', nextAttemptAt: null }));

    await call('POST', `/admin/events/${eventId}/acknowledge`, { claims: admin({ email: 'ack@ops.test' }) });
    await call('POST', '/admin/continuity/invoke', { claims: admin({ 'cognito:username': 'invoker' }) });
    await call('POST', '/admin/continuity/revoke', { claims: admin({ sub: 'sub-of-revoker' }) });
    await runHandover(ctx, 5_000);
    await call('POST', '/admin/messages/m-failed/recipients/alice%40example.com/retry', {
      claims: admin({ email: 'retry@ops.test' }),
    });
    await call('POST', '/admin/continuity/schedule', {
      claims: admin({ email: 'planner@ops.test' }),
      body: { start: '2030-01-01T20:00:00Z', end: '2030-01-01T23:00:00Z', reason: 'upgrade' },
    });

    const res = await call('GET', '/admin/audit', { query: { limit: '100' } });
    const byAdmins = (res.body.entries as AuditEntry[])
      .filter((e) => e.actor !== 'lifeboat')
      .map((e) => [e.action, e.actor])
      .reverse();
    expect(byAdmins).toEqual([
      ['acknowledge', 'ack@ops.test'],
      ['invoke', 'invoker'],
      ['revoke', 'sub-of-revoker'],
      ['retry', 'retry@ops.test'],
      ['schedule', 'planner@ops.test'],
    ]);
  });

  it('lists the outbox, newest first, with the event link in every admin page', async () => {
    const { call, outage } = api();
    const eventId = await outage();

    const res = await call('GET', '/admin/outbox');

    expect(res.status).toBe(200);
    const pages = res.body.notifications as Array<{ notice: string; channel: string; text: string }>;
    expect(pages.map((n) => `${n.notice} ${n.channel}`).sort()).toEqual(['alert email', 'alert sms']);
    expect(pages.every((n) => n.text.includes(`/events/${eventId}`))).toBe(true);
  });
});
