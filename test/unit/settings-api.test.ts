import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { MASKED, type SettingEntry, type SettingsView } from '../../lambdas/console/settings.js';
import { runProbeCycle } from '../../lambdas/core/probe-cycle.js';
import { effectiveConfig } from '../../lambdas/core/settings.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';
import { MemorySendingStore } from '../support/memory-sending.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@example.com', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'], amr: ['pwd', 'otp'] };

/** A deployed config with secrets in the places they live: SMTP auth, the relay, federation. */
function deployedConfig() {
  const base = testConfig();
  return testConfig({
    routes: [
      {
        ...base.routes[0],
        auth: {
          user: 'lifeboat',
          passwordEnv: 'ONPREM_SMTP_PASSWORD',
          secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:smtp-AbC',
        },
      },
      base.routes[1],
    ] as never,
    local: { relay: { host: 'smtp.isp.example', auth: { user: 'me', passwordEnv: 'RELAY_PASSWORD' } } },
    aws: {
      staffAuth: {
        federation: {
          type: 'oidc',
          name: 'Contoso',
          issuer: 'https://login.example.com',
          clientId: 'abc',
          clientSecretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:oidc-XyZ',
        },
      },
    } as never,
    continuity: { paging: { adminPhones: ['+447700900123'] } },
  });
}

function api(config = deployedConfig()) {
  const h = continuityHarness();
  const jobs = new MemorySendingStore();
  const ctx: Context = { ...h.deps, config, jobs, trigger: { requestDelivery: async () => {} } };
  const handler = createApiHandler(() => ctx);
  async function call(
    method: string,
    path: string,
    body?: unknown,
    claims: Record<string, unknown> = ALICE,
    query?: Record<string, string>,
  ) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, authorizer: { jwt: { claims } } },
      ...(query ? { queryStringParameters: query } : {}),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    const res = await handler(event);
    return { status: res.statusCode, body: JSON.parse(res.body), raw: res.body };
  }
  const entry = (view: SettingsView, path: string) =>
    view.entries.find((e) => e.path === path) as SettingEntry;
  return { ...h, ctx, jobs, call, entry };
}

describe('GET /admin/settings', () => {
  it('shows every setting in effect, marked deployed, with each secret masked and never in the answer', async () => {
    const { call, entry } = api();
    const res = await call('GET', '/admin/settings');
    expect(res.status).toBe(200);
    const view = res.body as SettingsView;
    expect(entry(view, 'continuity.thresholds.consecutiveFailures')).toMatchObject({
      value: 2,
      source: 'deployed',
      editable: 'integer',
      secret: false,
      note: null,
    });
    expect(entry(view, 'routes.0.auth.secretId')).toMatchObject({
      value: MASKED,
      secret: true,
      editable: null,
    });
    expect(entry(view, 'routes.0.auth.passwordEnv').value).toBe(MASKED);
    expect(entry(view, 'local.relay.auth.passwordEnv').value).toBe(MASKED);
    expect(entry(view, 'aws.staffAuth.federation.clientSecretId').value).toBe(MASKED);
    for (const secret of ['ONPREM_SMTP_PASSWORD', 'secret:smtp-AbC', 'RELAY_PASSWORD', 'secret:oidc-XyZ'])
      expect(res.raw).not.toContain(secret);
    expect(entry(view, 'routes.0.auth.user').value).toBe('lifeboat');
  });

  it('is refused to a member of staff, as every change is', async () => {
    const { call } = api();
    for (const [method, path, body] of [
      ['GET', '/admin/settings'],
      ['PUT', '/admin/settings/overrides', { values: { 'continuity.thresholds.minSamples': 9 } }],
      ['DELETE', '/admin/settings/overrides/continuity.thresholds.minSamples'],
    ] as const) {
      expect((await call(method, path, body, STAFF)).status, `${method} ${path}`).toBe(403);
    }
  });
});

describe('PUT /admin/settings/overrides', () => {
  it('overrides thresholds and paging contacts, says what the deployment has, and audits before and after', async () => {
    const { call, entry, store } = api();
    const res = await call('PUT', '/admin/settings/overrides', {
      values: {
        'continuity.thresholds.consecutiveFailures': 4,
        'continuity.paging.adminPhones': ['+447700900555'],
      },
      reason: 'night shift uses the on-call phone',
    });
    expect(res.status).toBe(200);
    const view = res.body as SettingsView;
    expect(entry(view, 'continuity.thresholds.consecutiveFailures')).toMatchObject({
      value: 4,
      deployed: 2,
      source: 'overridden',
      overriddenBy: 'alice@example.com',
      note: 'overridden: deployed value is 2',
    });
    expect(entry(view, 'continuity.paging.adminPhones').value).toEqual(['+447700900555']);
    expect(view.overridesUpdatedBy).toBe('alice@example.com');
    const audit = (await store.listAudit(10)).filter((a) => a.action === 'settings-override');
    expect(audit.map((a) => a.detail).sort()).toEqual([
      'continuity.paging.adminPhones: ["+447700900123"] -> ["+447700900555"]',
      'continuity.thresholds.consecutiveFailures: 2 -> 4',
    ]);
    expect(audit[0]).toMatchObject({
      actor: 'alice@example.com',
      reason: 'night shift uses the on-call phone',
    });
  });

  it('validates with the config schema, reports every problem, and stores nothing', async () => {
    const { call, jobs } = api();
    const res = await call('PUT', '/admin/settings/overrides', {
      values: {
        'continuity.thresholds.failureRatio': 2,
        'continuity.paging.adminPhones': ['07700 900123'],
        'continuity.thresholds.minSamples': 0,
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
    expect(res.body.problems.join('\n')).toMatch(/continuity\.thresholds\.failureRatio/);
    expect(res.body.problems.join('\n')).toMatch(
      /continuity\.paging\.adminPhones\.0: must be an E\.164 number/,
    );
    expect(res.body.problems.join('\n')).toMatch(/continuity\.thresholds\.minSamples/);
    expect(jobs.records.size).toBe(0);
  });

  it('refuses a setting the console may not change, naming it', async () => {
    const { call } = api();
    const res = await call('PUT', '/admin/settings/overrides', { values: { 'routes.0.hosts': [] } });
    expect(res.status).toBe(400);
    expect(res.body.problems[0]).toMatch(/^values\.routes\.0\.hosts: cannot be changed from the console/);
  });

  it('says so when a redeploy changed the deployed value of an overridden setting', async () => {
    const h = api();
    await h.call('PUT', '/admin/settings/overrides', { values: { 'continuity.thresholds.minSamples': 8 } });
    // The same job store behind a function deployed with minSamples 6.
    const redeployed = testConfig({ continuity: { thresholds: { minSamples: 6 } } });
    const ctx: Context = { ...h.ctx, config: redeployed };
    const res = await createApiHandler(() => ctx)({
      rawPath: '/admin/settings',
      requestContext: { http: { method: 'GET' }, authorizer: { jwt: { claims: ALICE } } },
    });
    const e = (JSON.parse(res.body) as SettingsView).entries.find(
      (x) => x.path === 'continuity.thresholds.minSamples',
    );
    expect(e).toMatchObject({ value: 8, deployed: 6, source: 'overridden' });
    expect(e?.note).toBe(
      'overridden: deployed value is 6 (a redeploy changed it from 5 after this override was made)',
    );
  });
});

describe('DELETE /admin/settings/overrides/<path>', () => {
  it('returns the setting to its deployed value and audits it', async () => {
    const { call, entry, store, ctx } = api();
    await call('PUT', '/admin/settings/overrides', { values: { 'continuity.thresholds.minSamples': 9 } });
    expect((await effectiveConfig(ctx)).continuity.thresholds.minSamples).toBe(9);
    const res = await call('DELETE', '/admin/settings/overrides/continuity.thresholds.minSamples');
    expect(res.status).toBe(200);
    expect(entry(res.body, 'continuity.thresholds.minSamples')).toMatchObject({
      value: 5,
      source: 'deployed',
      note: null,
    });
    expect((await effectiveConfig(ctx)).continuity.thresholds.minSamples).toBe(5);
    const [last] = await store.listAudit(1);
    expect(last).toMatchObject({
      action: 'settings-reset',
      detail: 'continuity.thresholds.minSamples: 9 -> 5 (deployed)',
    });
  });

  it('refuses a path that is not an editable setting', async () => {
    const { call } = api();
    expect((await call('DELETE', '/admin/settings/overrides/aws.stackName')).status).toBe(400);
  });
});

describe('settings overrides in the probe cycle', () => {
  it('opens an event after the overridden number of failed checks, and pages the overridden phone', async () => {
    const h = api(testConfig({ continuity: { paging: { adminPhones: ['+447700900123'] } } }));
    await h.call('PUT', '/admin/settings/overrides', {
      values: {
        'continuity.thresholds.consecutiveFailures': 4,
        'continuity.paging.adminPhones': ['+447700900555'],
      },
    });
    h.prober.down = true;
    const deps = { ...h.ctx };
    const once = () => runProbeCycle(deps, { windowMs: 0, sleep: async () => true });
    // The deployed threshold is 2: a third failed round would have paged long since.
    for (let round = 1; round <= 3; round++) {
      expect((await once()).last.org.state, `round ${round}`).toBe('normal');
      h.clock.advance(30);
    }
    expect((await once()).last.org.state).toBe('alerting');
    const pages = h.notifier.sent.filter((n) => n.audience === 'admins' && n.channel === 'sms');
    expect(pages.map((n) => n.to)).toEqual([['+447700900555']]);
  });
});
