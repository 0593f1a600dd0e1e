import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import { rollUpFlow } from '../../lambdas/core/flow-metrics.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import type { Envelope } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { passVerdicts, simpleMessage } from '../support/fixtures.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'] };

interface Request {
  claims?: Record<string, unknown>;
  body?: unknown;
  query?: Record<string, string>;
}

/** The admin API over a MemoryStore, with a primary that records every raw message it is sent. */
function api() {
  const h = continuityHarness();
  const triggered: string[] = [];
  const wire: Array<{ route: string; envelope: Envelope; raw: Buffer }> = [];
  const send = h.primary.send.bind(h.primary);
  h.primary.send = async (route: RouteConfig, envelope: Envelope, raw: Buffer) => {
    wire.push({ route: route.name, envelope, raw });
    return send(route, envelope, raw);
  };
  const ctx: Context = {
    ...h.deps,
    trigger: { requestDelivery: async (id) => void triggered.push(id) },
  };
  const handler = createApiHandler(() => ctx);
  async function call(method: string, path: string, req: Request = {}) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, authorizer: { jwt: { claims: req.claims ?? ALICE } } },
      ...(req.query ? { queryStringParameters: req.query } : {}),
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
    };
    const res = await handler(event);
    const isJson = res.headers['content-type']?.startsWith('application/json');
    return { status: res.statusCode, headers: res.headers, body: isJson ? JSON.parse(res.body) : res.body };
  }
  /** A message as SES hands it over, from the sender given. */
  async function receive(
    messageId: string,
    options: { recipients?: string[]; from?: string; verdicts?: Verdicts } = {},
  ) {
    h.blobs.objects.set(`raw/${messageId}`, simpleMessage);
    await ingestMessage(
      {
        messageId,
        rawKey: `raw/${messageId}`,
        envelopeFrom: options.from ?? 'sender@example.org',
        recipients: options.recipients ?? ['alice@example.com'],
        receivedAt: h.clock.now().toISOString(),
        verdicts: options.verdicts ?? passVerdicts,
      },
      h.deps,
    );
  }
  /** Received while the primary defers everything: one attempt, deferred. */
  async function deferred(messageId: string, options: Parameters<typeof receive>[1] = {}) {
    h.primary.down = true;
    await receive(messageId, options);
    await deliverMessage(messageId, h.deps);
    h.primary.down = false;
  }
  const state = async (messageId: string, rcpt = 'alice@example.com') =>
    h.store.getDelivery({ messageId, recipient: rcpt });
  return { ...h, call, receive, deferred, state, triggered, wire };
}

const path = (messageId: string, rcpt = 'alice@example.com') =>
  `/admin/messages/${messageId}/recipients/${encodeURIComponent(rcpt)}`;

describe('console API: who may call it', () => {
  it('refuses every queue, quarantine, metrics and audit endpoint to a staff member outside the admin group', async () => {
    const { call, receive } = api();
    await receive('m1');
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/admin/queue'],
      ['GET', path('m1')],
      ['POST', `${path('m1')}/hold`, {}],
      ['POST', `${path('m1')}/delete`, {}],
      ['POST', '/admin/queue/actions', { action: 'delete', ids: [{ messageId: 'm1' }] }],
      ['GET', '/admin/quarantine'],
      ['POST', '/admin/quarantine/actions', { action: 'delete', ids: [{ messageId: 'm1' }] }],
      ['GET', '/admin/metrics'],
      ['GET', '/admin/audit'],
      ['GET', '/admin/audit.csv'],
    ];
    for (const [method, route, body] of calls) {
      const res = await call(method, route, { claims: STAFF, body });
      expect(res.status, `${method} ${route}`).toBe(403);
      expect(res.body.error).toBe('FORBIDDEN');
    }
    // An admin may still do all of it.
    expect((await call('GET', path('m1'))).body.delivery.state).toBe('queued');
  });
});

describe('GET /admin/queue', () => {
  it('narrows the queue by state, route, sender, recipient and age', async () => {
    const { call, receive, deferred, clock } = api();
    await deferred('old', { from: 'a@partner.example' });
    clock.advance(3600);
    await deferred('ceo', { recipients: ['ceo@example.com'], from: 'b@other.example' });
    await receive('new', { from: 'a@partner.example' });
    const ids = async (query: Record<string, string>) => {
      const res = await call('GET', '/admin/queue', { query });
      expect(res.status).toBe(200);
      return res.body.deliveries.map((d: { messageId: string }) => d.messageId).sort();
    };
    expect(await ids({ state: 'deferred' })).toEqual(['ceo', 'old']);
    expect(await ids({ route: 'onprem' })).toEqual(['ceo']);
    expect(await ids({ sender: '@partner.example' })).toEqual(['new', 'old']);
    expect(await ids({ sender: 'b@other.example' })).toEqual(['ceo']);
    expect(await ids({ recipient: 'ceo@example.com' })).toEqual(['ceo']);
    expect(await ids({ olderThanMinutes: '30' })).toEqual(['old']);
    expect(await ids({ newerThanMinutes: '30', state: 'queued' })).toEqual(['new']);
  });

  it('pages a filtered listing with its cursor, with no duplicate and no gap', async () => {
    const { call, receive } = api();
    for (let i = 0; i < 9; i++)
      await receive(`m${i}`, { from: i % 2 ? 'odd@partner.example' : 'even@partner.example' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { sender: 'even@partner.example', limit: '2' };
      if (cursor) query.cursor = cursor;
      const res = await call('GET', '/admin/queue', { query });
      seen.push(...res.body.deliveries.map((d: { messageId: string }) => d.messageId));
      cursor = res.body.cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(['m0', 'm2', 'm4', 'm6', 'm8']);
  });

  it('answers 400 naming each bad filter', async () => {
    const { call } = api();
    const res = await call('GET', '/admin/queue', {
      query: { state: 'lost', sender: 'nobody', olderThanMinutes: '-5', colour: 'red' },
    });
    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(/state/);
    expect(res.body.problems.join('\n')).toMatch(/sender/);
    expect(res.body.problems.join('\n')).toMatch(/olderThanMinutes/);
    expect(res.body.problems.join('\n')).toMatch(/colour/);
  });
});

describe('GET one delivery', () => {
  it('lists each attempt with the primary’s reply', async () => {
    const { call, deferred } = api();
    await deferred('m1');
    const res = await call('GET', path('m1'));
    expect(res.status).toBe(200);
    expect(res.body.delivery.state).toBe('deferred');
    expect(res.body.message.subject).toBe('Quarterly figures');
    expect(res.body.message.snippet).toBeUndefined();
    expect(res.body.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'deferred',
        response: 'mx1:587: 421 4.3.2 Service not available',
      }),
    ]);
  });

  it('answers 404 for a delivery that does not exist', async () => {
    const { call } = api();
    expect((await call('GET', path('nope'))).status).toBe(404);
  });
});

describe('queue actions on one delivery', () => {
  it('holds and releases, audited with actor, target and reason, and asks for an attempt on release', async () => {
    const { call, deferred, store, triggered } = api();
    await deferred('m1');
    const held = await call('POST', `${path('m1')}/hold`, { body: { reason: 'customer asked to wait' } });
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({ state: 'held', reason: 'admin' });
    const released = await call('POST', `${path('m1')}/release`, { body: {} });
    expect(released.body.state).toBe('queued');
    expect(triggered).toEqual(['m1']);
    const [release, hold] = await store.listAudit(2);
    expect(hold).toMatchObject({
      actor: 'alice@ops.example.org',
      action: 'hold',
      target: 'm1/alice@example.com',
      reason: 'customer asked to wait',
    });
    expect(release).toMatchObject({ action: 'release', target: 'm1/alice@example.com' });
  });

  it('refuses to release a delivery that is not held, with 409', async () => {
    const { call, deferred, state } = api();
    await deferred('m1');
    const res = await call('POST', `${path('m1')}/release`, { body: {} });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('TRANSITION_NOT_ALLOWED');
    expect((await state('m1'))?.state).toBe('deferred');
  });

  it('retries a deferred delivery now', async () => {
    const { call, deferred, state, clock, triggered } = api();
    await deferred('m1');
    const res = await call('POST', '/admin/queue/actions', {
      body: { action: 'retry', ids: [{ messageId: 'm1', recipient: 'alice@example.com' }] },
    });
    expect(res.body.results).toEqual([
      { messageId: 'm1', recipient: 'alice@example.com', ok: true, state: 'deferred', route: 'cloud' },
    ]);
    expect((await state('m1'))?.nextAttemptAt).toBe(clock.now().toISOString());
    expect(triggered).toEqual(['m1']);
  });

  it('reroutes to another configured route, whose hosts then get it, until rerouted back', async () => {
    const { call, deferred, state, deps, wire } = api();
    await deferred('m1');
    const res = await call('POST', `${path('m1')}/reroute`, {
      body: { route: 'onprem', reason: 'cloud down' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ route: 'onprem', reroutedFrom: 'cloud' });
    await deliverMessage('m1', deps);
    expect(wire.at(-1)?.route).toBe('onprem');
    expect((await state('m1'))?.state).toBe('delivered');

    await deferred('m2');
    await call('POST', `${path('m2')}/reroute`, { body: { route: 'onprem' } });
    const back = await call('POST', `${path('m2')}/reroute`, { body: { route: 'cloud' } });
    expect(back.body).toMatchObject({ route: 'cloud' });
    expect(back.body.reroutedFrom).toBeUndefined();
  });

  it('answers 400 for an unknown route and changes nothing', async () => {
    const { call, deferred, state } = api();
    await deferred('m1');
    const res = await call('POST', `${path('m1')}/reroute`, { body: { route: 'backup-mx' } });
    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(
      /route: must be one of the configured routes: onprem, cloud/,
    );
    const bulk = await call('POST', '/admin/queue/actions', {
      body: { action: 'reroute', route: 'nowhere', ids: [{ messageId: 'm1' }] },
    });
    expect(bulk.status).toBe(400);
    expect((await state('m1'))?.route).toBe('cloud');
  });

  it('bounces with an RFC 3464 DSN to the envelope sender, through the route that serves it', async () => {
    const { call, deferred, state, wire } = api();
    await deferred('m1', { from: 'boss@example.net' });
    const res = await call('POST', `${path('m1')}/bounce`, { body: { reason: 'mailbox closed' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'failed', reason: 'bounced' });
    const dsn = wire.at(-1);
    expect(dsn?.envelope).toEqual({ from: '', to: ['boss@example.net'] });
    const parsed = await simpleParser(dsn?.raw as Buffer);
    expect(parsed.headers.get('content-type')).toMatchObject({
      value: 'multipart/report',
      params: { 'report-type': 'delivery-status' },
    });
    // mailparser reads the message/delivery-status part as text (the DSN builder's own tests take it apart).
    expect(parsed.text).toContain('Final-Recipient: rfc822; alice@example.com');
    expect(parsed.text).toContain('Diagnostic-Code: smtp; 421 4.3.2 Service not available');
    expect((await state('m1'))?.state).toBe('failed');
  });

  it('refuses to bounce a delivery whose sender is <>, with 400, and sends nothing', async () => {
    const { call, deferred, state, wire } = api();
    await deferred('m1', { from: '' });
    const sent = wire.length;
    const res = await call('POST', `${path('m1')}/bounce`, { body: {} });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('NULL_SENDER');
    expect(wire).toHaveLength(sent);
    expect((await state('m1'))?.state).toBe('deferred');
  });

  it('says when a bounce has no way out to the sender, and leaves the delivery failed and marked', async () => {
    const { call, deferred, state } = api();
    await deferred('m1', { from: 'someone@elsewhere.example' });
    const res = await call('POST', `${path('m1')}/bounce`, { body: {} });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('NO_OUTBOUND_PATH');
    expect(await state('m1')).toMatchObject({ state: 'failed', reason: 'bounce-not-sent' });
  });

  it('deletes the delivery and keeps the message and its raw mail', async () => {
    const { call, deferred, state, store, blobs } = api();
    await deferred('m1');
    const res = await call('POST', `${path('m1')}/delete`, { body: { reason: 'spam run' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'deleted' });
    expect(await state('m1')).toBeUndefined();
    expect(await store.getMessage('m1')).toBeDefined();
    expect(blobs.objects.has('raw/m1')).toBe(true);
    expect((await store.listAudit(1))[0]).toMatchObject({ action: 'delete', reason: 'spam run' });
  });
});

describe('POST /admin/queue/actions', () => {
  it('acts on a selection and reports each delivery, refusals included', async () => {
    const { call, deferred, receive } = api();
    await deferred('m1', { recipients: ['alice@example.com', 'bob@example.com'] });
    await receive('q1', { verdicts: { ...passVerdicts, virus: 'FAIL' } });
    const res = await call('POST', '/admin/queue/actions', {
      body: { action: 'hold', ids: [{ messageId: 'm1' }, { messageId: 'q1' }, { messageId: 'gone' }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.done).toBe(2);
    expect(res.body.refused).toBe(2);
    expect(res.body.results).toEqual([
      expect.objectContaining({ recipient: 'alice@example.com', ok: true, state: 'held' }),
      expect.objectContaining({ recipient: 'bob@example.com', ok: true, state: 'held' }),
      expect.objectContaining({
        messageId: 'q1',
        ok: false,
        error: expect.objectContaining({ code: 'TRANSITION_NOT_ALLOWED' }),
      }),
      expect.objectContaining({
        messageId: 'gone',
        ok: false,
        error: expect.objectContaining({ code: 'NOT_FOUND' }),
      }),
    ]);
  });

  it('answers 400 for more than 500 deliveries and changes nothing', async () => {
    const { call, receive, state } = api();
    await receive('m1');
    const ids = Array.from({ length: 501 }, (_, i) => ({ messageId: i === 0 ? 'm1' : `m${i}x` }));
    const res = await call('POST', '/admin/queue/actions', { body: { action: 'delete', ids } });
    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(/at most 500/);
    expect(await state('m1')).toBeDefined();
  });

  it('answers 400 for ids that are not message ids and addresses, and for an unknown action', async () => {
    const { call } = api();
    const res = await call('POST', '/admin/queue/actions', {
      body: {
        action: 'hold',
        ids: [{ messageId: '../etc/passwd' }, { messageId: 'm1', recipient: 'not-an-address' }],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(/ids\.0\.messageId/);
    expect(res.body.problems.join('\n')).toMatch(/ids\.1\.recipient/);
    const unknown = await call('POST', '/admin/queue/actions', {
      body: { action: 'purge', ids: [{ messageId: 'm1' }] },
    });
    expect(unknown.status).toBe(400);
    const empty = await call('POST', '/admin/queue/actions', { body: { action: 'hold', ids: [] } });
    expect(empty.status).toBe(400);
  });
});

describe('quarantine', () => {
  it('lists quarantined deliveries with their verdicts', async () => {
    const { call, receive } = api();
    await receive('q1', { verdicts: { ...passVerdicts, virus: 'FAIL' } });
    const res = await call('GET', '/admin/quarantine');
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({
        delivery: expect.objectContaining({ messageId: 'q1', reason: 'policy:virus' }),
        message: expect.objectContaining({ verdicts: expect.objectContaining({ virus: 'FAIL' }) }),
      }),
    ]);
  });

  it('releases only with a reason, audited with it', async () => {
    const { call, receive, state, store } = api();
    await receive('q1', { verdicts: { ...passVerdicts, virus: 'FAIL' } });
    const ids = [{ messageId: 'q1' }];
    const refused = await call('POST', '/admin/quarantine/actions', { body: { action: 'release', ids } });
    expect(refused.status).toBe(400);
    expect(refused.body.problems.join('\n')).toMatch(/reason/);
    expect((await state('q1'))?.state).toBe('quarantined');
    const res = await call('POST', '/admin/quarantine/actions', {
      body: { action: 'release', ids, reason: 'false positive: signed invoice from a supplier' },
    });
    expect(res.body.results[0]).toMatchObject({ ok: true, state: 'queued' });
    expect((await store.listAudit(1))[0]).toMatchObject({
      action: 'quarantine-release',
      target: 'q1/alice@example.com',
      reason: 'false positive: signed invoice from a supplier',
    });
  });

  it('deletes quarantined mail, and refuses a delivery that is not quarantined', async () => {
    const { call, receive, state } = api();
    await receive('q1', { verdicts: { ...passVerdicts, virus: 'FAIL' } });
    await receive('m1');
    const res = await call('POST', '/admin/quarantine/actions', {
      body: { action: 'delete', ids: [{ messageId: 'q1' }, { messageId: 'm1' }] },
    });
    expect(res.body.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, false]);
    expect(await state('q1')).toBeUndefined();
    expect((await state('m1'))?.state).toBe('queued');
  });
});

describe('GET /admin/metrics', () => {
  it('returns the series of a range and the configured thresholds', async () => {
    const { call, receive, deps, clock } = api();
    await receive('m1');
    await deliverMessage('m1', deps);
    const now = clock.now();
    // A probe round counts the minute's accepted mail once it has ended.
    clock.advance(90);
    await rollUpFlow(deps);
    const res = await call('GET', '/admin/metrics', {
      query: {
        from: new Date(now.getTime() - 60_000).toISOString(),
        to: new Date(now.getTime() + 60_000).toISOString(),
        resolution: 'minute',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.points).toHaveLength(2);
    expect(res.body.points[1]).toMatchObject({ accepted: 1, delivered: 1 });
    expect(res.body.thresholds).toMatchObject({ smtpP95Seconds: 60, failureRatio: 0.5 });
  });

  it('answers 400 for a missing range or an unknown resolution', async () => {
    const { call } = api();
    const res = await call('GET', '/admin/metrics', { query: { resolution: 'second' } });
    expect(res.status).toBe(400);
    expect(res.body.problems.join('\n')).toMatch(/from/);
    expect(res.body.problems.join('\n')).toMatch(/resolution/);
  });
});

describe('GET /admin/audit', () => {
  it('filters by actor, action and target, and pages with a cursor', async () => {
    const { call, deferred, clock } = api();
    for (const id of ['m1', 'm2', 'm3']) {
      await deferred(id);
      clock.advance(1);
      await call('POST', `${path(id)}/hold`, { body: {} });
    }
    await call('POST', `${path('m1')}/release`, {
      body: {},
      claims: { ...ALICE, email: 'bob@ops.example.org' },
    });
    const page = await call('GET', '/admin/audit', { query: { action: 'hold', limit: '2' } });
    expect(page.body.entries.map((e: { target: string }) => e.target)).toEqual([
      'm3/alice@example.com',
      'm2/alice@example.com',
    ]);
    const next = await call('GET', '/admin/audit', {
      query: { action: 'hold', limit: '2', cursor: page.body.cursor },
    });
    expect(next.body.entries.map((e: { target: string }) => e.target)).toEqual(['m1/alice@example.com']);
    const byBob = await call('GET', '/admin/audit', { query: { actor: 'bob@ops.example.org' } });
    expect(byBob.body.entries.map((e: { action: string }) => e.action)).toEqual(['release']);
    const m2 = await call('GET', '/admin/audit', { query: { target: 'm2/' } });
    expect(m2.body.entries).toHaveLength(1);
    const bad = await call('GET', '/admin/audit', { query: { from: 'yesterday' } });
    expect(bad.status).toBe(400);
  });

  it('exports CSV whose cells cannot run as spreadsheet formulas', async () => {
    const { call, deferred } = api();
    await deferred('m1');
    await call('POST', `${path('m1')}/hold`, { body: { reason: '=HYPERLINK("http://evil.example","x")' } });
    const res = await call('GET', '/admin/audit.csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const [header, row] = (res.body as string).split('\r\n');
    expect(header).toBe('at,actor,action,target,reason,detail,eventId');
    expect(row).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
  });
});
