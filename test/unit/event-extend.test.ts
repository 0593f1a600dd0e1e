import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { runProbeRound } from '../../lambdas/core/continuity-service.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import { continuityHarness } from '../support/continuity.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'] };
const HOUR = 3600;

function api() {
  const h = continuityHarness();
  const ctx: Context = { ...h.deps, trigger: { requestDelivery: async () => undefined } };
  const handler = createApiHandler(() => ctx);
  async function call(method: string, path: string, body?: unknown, claims: Record<string, unknown> = ALICE) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, authorizer: { jwt: { claims } } },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    const res = await handler(event);
    return { status: res.statusCode, body: JSON.parse(res.body) };
  }
  /** Maintenance from one hour from now for `hours`; the event's id. */
  async function maintenance(hours: number): Promise<string> {
    const start = new Date(h.clock.now().getTime() + HOUR * 1000);
    const end = new Date(start.getTime() + hours * HOUR * 1000);
    const res = await call('POST', '/admin/continuity/schedule', {
      start: start.toISOString(),
      end: end.toISOString(),
      reason: 'firmware upgrade',
    });
    expect(res.status).toBe(200);
    return res.body.event.id;
  }
  return { ...h, call, maintenance };
}

describe('POST /admin/events/<id>/extend', () => {
  it('moves the planned end later, so continuity runs on past the old end and hands over at the new one', async () => {
    const { call, maintenance, clock, deps } = api();
    const id = await maintenance(2);
    clock.advance(HOUR);
    expect((await runProbeRound(deps)).org.state).toBe('continuity');
    const before = (await call('GET', `/admin/events/${id}`)).body.scheduledEnd as string;

    const res = await call('POST', `/admin/events/${id}/extend`, { hours: 3 });

    expect(res.status).toBe(200);
    expect(Date.parse(res.body.scheduledEnd) - Date.parse(before)).toBe(3 * HOUR * 1000);
    expect(res.body.extensions).toEqual([
      expect.objectContaining({
        by: 'alice@ops.example.org',
        hours: 3,
        from: before,
        to: res.body.scheduledEnd,
      }),
    ]);
    clock.advance(3 * HOUR); // past the old end, before the new one
    expect((await runProbeRound(deps)).org.state).toBe('continuity');
    clock.advance(2 * HOUR); // the new end
    expect((await runProbeRound(deps)).org.state).not.toBe('continuity');
  });

  it('is audited with who and the new end, on the event', async () => {
    const { call, maintenance, store } = api();
    const id = await maintenance(2);
    await call('POST', `/admin/events/${id}/extend`, { hours: 1 });
    expect((await store.listAudit(1))[0]).toMatchObject({
      actor: 'alice@ops.example.org',
      action: 'extend',
      eventId: id,
      detail: expect.stringMatching(/extended by 1 h: planned end .* \(was .*\)/),
    });
  });

  it('refuses to make the event last longer than continuity.maxEventHours, saying how much more it may take', async () => {
    const { call, maintenance, config } = api();
    const max = config.continuity.maxEventHours;
    const id = await maintenance(2);
    const before = (await call('GET', `/admin/events/${id}`)).body;

    const res = await call('POST', `/admin/events/${id}/extend`, { hours: max - 1 });

    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(
      new RegExp(`maxEventHours \\(${max}\\).*at most ${max - 2} more`),
    );
    expect((await call('GET', `/admin/events/${id}`)).body).toEqual(before);
    expect((await call('POST', `/admin/events/${id}/extend`, { hours: max - 2 })).status).toBe(200);
  });

  it('validates hours: a whole number from 1 to maxEventHours, and nothing else in the body', async () => {
    const { call, maintenance, config } = api();
    const id = await maintenance(2);
    for (const body of [
      {},
      { hours: 0 },
      { hours: 1.5 },
      { hours: '2' },
      { hours: config.continuity.maxEventHours + 1 },
      { hours: 1, why: 'x' },
    ]) {
      const res = await call('POST', `/admin/events/${id}/extend`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toBe('VALIDATION_FAILED');
    }
  });

  it('refuses continuity invoked for an outage, which has no planned end (409)', async () => {
    const { call } = api();
    const invoked = await call('POST', '/admin/continuity/invoke', { reason: 'Exchange is down' });
    const res = await call('POST', `/admin/events/${invoked.body.event.id}/extend`, { hours: 2 });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('CONTINUITY_STATE');
    expect(res.body.message).toMatch(/no planned end/);
  });

  it('answers 404 for an event that is not the open one', async () => {
    const { call, maintenance } = api();
    await maintenance(2);
    const res = await call('POST', '/admin/events/evt-nope/extend', { hours: 1 });
    expect(res.status).toBe(404);
  });

  it('refuses a staff member outside the admin group', async () => {
    const { call, maintenance, store } = api();
    const id = await maintenance(2);
    const res = await call('POST', `/admin/events/${id}/extend`, { hours: 1 }, STAFF);
    expect(res.status).toBe(403);
    expect((await store.listAudit(10)).some((e) => e.action === 'extend')).toBe(false);
  });
});
