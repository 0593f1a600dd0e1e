import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../infra/local/http-api.js';
import type { AuditEntry } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import { startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

// The local admin API stands in for API Gateway and its JWT authorizer: the token in the data
// folder is the only credential, and the handler behind it is the Lambda's.

describe('local admin API over HTTP', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let base: string;

  beforeAll(async () => {
    primary = await TestPrimary.start();
    rt = await startTestRuntime({ config: testConfig(primary), api: true });
    base = `http://127.0.0.1:${rt.apiPort}`;
  });

  afterAll(async () => {
    await rt.stop();
    await primary.stop();
  });

  const bearer = () => ({ authorization: `Bearer ${rt.adminToken}` });

  async function request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string } = {},
  ) {
    const res = await fetch(`${base}${path}`, { method, ...init });
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : null };
  }

  it('answers 200 with the status to a request carrying the admin token', async () => {
    const res = await request('GET', '/admin/status', { headers: bearer() });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'normal', event: null });
  });

  it('gives a request without the token no claims, so the handler answers 401', async () => {
    const res = await request('GET', '/admin/status');

    expect(res.status).toBe(401);
    expect(res.body.error).toBe('UNAUTHENTICATED');
  });

  it('answers 401 to a request with a wrong token', async () => {
    const res = await request('GET', '/admin/status', { headers: { authorization: 'Bearer not-the-token' } });

    expect(res.status).toBe(401);
  });

  it('answers 401 to /local/ endpoints without the token', async () => {
    const res = await request('POST', '/local/demo-primary', { body: '{"up":false}' });

    expect(res.status).toBe(401);
    expect(res.body.error).toBe('UNAUTHENTICATED');
  });

  it('answers 404 to a /local/ endpoint this runtime does not have', async () => {
    const res = await request('POST', '/local/demo-primary', { headers: bearer(), body: '{"up":false}' });

    expect(res.status).toBe(404);
  });

  it('answers 413 to a body over 64 KB and acts on nothing', async () => {
    const huge = JSON.stringify({ reason: 'x'.repeat(MAX_BODY_BYTES + 1) });

    const res = await request('POST', '/admin/continuity/invoke', { headers: bearer(), body: huge });

    expect(res.status).toBe(413);
    expect((await request('GET', '/admin/status', { headers: bearer() })).body.state).toBe('normal');
  });

  it('passes a body of exactly 64 KB on to the handler, which judges its content', async () => {
    const prefix = '{"reason":"';
    const body = `${prefix}${'x'.repeat(MAX_BODY_BYTES - prefix.length - 2)}"}`;

    const res = await request('POST', '/admin/continuity/invoke', { headers: bearer(), body });

    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([expect.stringMatching(/^reason: /)]);
  });

  it('records the actor named in x-lifeboat-actor in the audit log', async () => {
    const headers = { ...bearer(), 'x-lifeboat-actor': 'oncall@ops.example.org' };
    await request('POST', '/admin/continuity/invoke', { headers, body: '{"reason":"drill"}' });
    await request('POST', '/admin/continuity/revoke', { headers });
    await rt.idle();

    const audit = await request('GET', '/admin/audit', { headers: bearer() });

    const actions = (audit.body.entries as AuditEntry[]).filter((e) => e.actor === 'oncall@ops.example.org');
    expect(actions.map((e) => e.action).sort()).toEqual(['invoke', 'revoke']);
  });
});
