import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { type Drill, drillPageSchema, drillReportSchema, drillSchema } from '../../lambdas/console/drill.js';
import { runProbeCycle } from '../../lambdas/core/probe-cycle.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';
import { MemorySendingStore } from '../support/memory-sending.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: ['mfa'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'], amr: ['mfa'] };

/** The admin API with drills: `onprem` (ceo@, cfo@) is a test route, `cloud` carries real mail. */
function api() {
  const h = continuityHarness();
  h.deps.config = testConfig({
    routes: [
      {
        name: 'onprem',
        addresses: ['ceo@example.com', 'cfo@example.com'],
        hosts: [{ host: '10.0.0.5' }],
        test: true,
      },
      {
        name: 'cloud',
        domains: ['example.com', 'example.net'],
        hosts: [{ host: 'mx1.cloud.test', port: 587 }],
      },
    ],
    drill: { testMailboxes: ['drill@example.com'] },
  });
  const jobs = new MemorySendingStore();
  const ctx: Context = { ...h.deps, trigger: { requestDelivery: async () => {} }, jobs };
  const handler = createApiHandler(() => ctx);
  async function call(method: string, path: string, req: { body?: unknown; claims?: object } = {}) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, authorizer: { jwt: { claims: { ...(req.claims ?? ALICE) } } } },
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
    };
    const res = await handler(event);
    const isJson = res.headers['content-type']?.startsWith('application/json');
    return { status: res.statusCode, headers: res.headers, body: isJson ? JSON.parse(res.body) : res.body };
  }
  const start = async (body: unknown = { route: 'onprem' }) => {
    const res = await call('POST', '/admin/drills', { body });
    expect(res.status).toBe(201);
    return drillSchema.parse(res.body);
  };
  return { ...h, jobs, call, start };
}

describe('POST /admin/drills', () => {
  it('starts a drill on a test route, answering the drill with its first step, audited', async () => {
    const a = api();
    const d = await a.start({ route: 'onprem', auto: true, reason: 'quarterly rehearsal' });
    expect(d).toMatchObject({ state: 'running', holdScope: 'onprem', production: false, auto: true });
    // Status says a drill runs before its outage is detected.
    expect((await a.call('GET', '/admin/status')).body.drill).toEqual({
      id: d.id,
      holdScope: 'onprem',
      eventId: null,
      auto: true,
    });
    expect(d.steps[0]).toMatchObject({ step: 'started', by: 'alice@ops.example.org' });
    const audit = await a.store.listAudit(5);
    expect(audit[0]).toMatchObject({
      actor: 'alice@ops.example.org',
      action: 'drill-start',
      target: `drill/${d.id}`,
    });
  });

  it('refuses a production route without confirmation, saying why and how, and starts it when confirmed', async () => {
    const a = api();
    const refused = await a.call('POST', '/admin/drills', { body: { route: 'cloud' } });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('DRILL_PRODUCTION');
    expect(refused.body.message).toContain('route cloud is not marked test: true');
    expect(refused.body.message).toContain('confirmProduction');
    expect((await a.call('GET', '/admin/drills')).body.drills).toEqual([]);

    const d = await a.start({ route: 'cloud', confirmProduction: true });
    expect(d.production).toBe(true);
  });

  it('refuses production mailboxes without confirmation and takes test mailboxes', async () => {
    const a = api();
    const refused = await a.call('POST', '/admin/drills', { body: { mailboxes: ['bob@example.com'] } });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain('bob@example.com is not in drill.testMailboxes');
    const d = await a.start({ mailboxes: ['Drill@Example.com', 'ceo@example.com'] });
    expect(d).toMatchObject({ holdScope: 'mailboxes:ceo@example.com,drill@example.com', production: false });
  });

  it('answers 404 for an unknown route', async () => {
    const a = api();
    const res = await a.call('POST', '/admin/drills', { body: { route: 'nowhere' } });
    expect(res.status).toBe(404);
    expect(res.body.message).toContain('route nowhere');
  });

  it('answers 400 for a mailbox it does not serve, a malformed one, or both scopes at once', async () => {
    const a = api();
    const other = await a.call('POST', '/admin/drills', { body: { mailboxes: ['x@other.org'] } });
    expect(other.status).toBe(400);
    expect(other.body.problems).toEqual([
      expect.stringContaining('mailboxes.0: x@other.org is not in an accepted domain'),
    ]);
    const bad = await a.call('POST', '/admin/drills', { body: { mailboxes: ['not-an-address'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.problems[0]).toMatch(/^mailboxes\.0: must be an email address/);
    const both = await a.call('POST', '/admin/drills', {
      body: { route: 'onprem', mailboxes: ['drill@example.com'] },
    });
    expect(both.status).toBe(400);
    const extra = await a.call('POST', '/admin/drills', { body: { route: 'onprem', probeMessages: 50 } });
    expect(extra.status).toBe(400);
  });

  it('refuses a second drill while one runs, and a drill while continuity is not normal', async () => {
    const a = api();
    const d = await a.start();
    const second = await a.call('POST', '/admin/drills', { body: { route: 'onprem' } });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: 'DRILL_BUSY', message: expect.stringContaining(d.id) });
    await a.call('POST', `/admin/drills/${d.id}/cancel`);
    expect((await a.call('POST', '/admin/continuity/invoke')).status).toBe(200);
    const busy = await a.call('POST', '/admin/drills', { body: { route: 'onprem' } });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toContain('the organisation is in continuity');
  });
});

describe('GET /admin/drills and GET /admin/drills/<id>', () => {
  it('lists drills newest first and shows one, 404 for an unknown id', async () => {
    const a = api();
    const first = await a.start();
    await a.call('POST', `/admin/drills/${first.id}/cancel`);
    a.clock.advance(60);
    const second = await a.start();
    const list = drillPageSchema.parse((await a.call('GET', '/admin/drills')).body);
    expect(list.drills.map((d) => d.id)).toEqual([second.id, first.id]);
    const one = await a.call('GET', `/admin/drills/${second.id}`);
    expect(drillSchema.parse(one.body).id).toBe(second.id);
    const missing = await a.call('GET', '/admin/drills/20261122T100000000Z-000000000000');
    expect(missing.status).toBe(404);
  });
});

describe('POST /admin/drills/<id>/cancel and the report', () => {
  it('cancels a running drill, audited, and its report downloads as JSON, CSV and a printable page', async () => {
    const a = api();
    const d = await a.start();
    const early = await a.call('GET', `/admin/drills/${d.id}/report`);
    expect(early.status).toBe(409);
    expect(early.body.error).toBe('DRILL_RUNNING');

    const cancelled = await a.call('POST', `/admin/drills/${d.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body as Drill).toMatchObject({
      state: 'cancelled',
      cancelledBy: 'alice@ops.example.org',
    });
    expect((await a.store.listAudit(5)).map((e) => e.action)).toContain('drill-cancel');
    expect((await a.call('POST', `/admin/drills/${d.id}/cancel`)).status).toBe(409);

    const report = drillReportSchema.parse((await a.call('GET', `/admin/drills/${d.id}/report`)).body);
    expect(report).toMatchObject({ drillId: d.id, state: 'cancelled', passed: false });
    const csv = await a.call('GET', `/admin/drills/${d.id}/report.csv`);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toContain(`lifeboat-drill-${d.id}.csv`);
    expect(String(csv.body).split('\r\n')[1]).toMatch(/^started,/);
    const html = await a.call('GET', `/admin/drills/${d.id}/report.html`);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(String(html.body)).toContain('continuity drill report');
  });

  it('closes the drill event of a cancelled drill that was detected but not invoked', async () => {
    const a = api();
    const d = await a.start();
    // The drill's event, as the probes open it.
    const deps = { ...a.deps, jobs: a.jobs };
    for (const s of [10, 10]) {
      a.clock.advance(s);
      await runProbeCycle(deps, { windowMs: 0, sleep: async () => true });
    }
    const status = (await a.call('GET', '/admin/status')).body;
    expect(status).toMatchObject({ state: 'alerting', event: { drill: d.id } });
    await a.call('POST', `/admin/drills/${d.id}/cancel`);
    expect((await a.call('GET', '/admin/status')).body).toMatchObject({ state: 'normal', event: null });
  });
});

describe('drill endpoints: who may call them', () => {
  it('refuses a member of staff every drill endpoint with 403', async () => {
    const a = api();
    const d = await a.start();
    const paths: Array<[string, string]> = [
      ['POST', '/admin/drills'],
      ['GET', '/admin/drills'],
      ['GET', `/admin/drills/${d.id}`],
      ['POST', `/admin/drills/${d.id}/cancel`],
      ['GET', `/admin/drills/${d.id}/report`],
      ['GET', `/admin/drills/${d.id}/report.csv`],
      ['GET', `/admin/drills/${d.id}/report.html`],
    ];
    for (const [method, path] of paths) {
      const res = await a.call(method, path, {
        claims: STAFF,
        body: method === 'POST' ? { route: 'onprem' } : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await a.call('GET', `/admin/drills/${d.id}`)).body.state).toBe('running');
  });
});
