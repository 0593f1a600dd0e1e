import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { type Notice, type NoticePreview, smsCost } from '../../lambdas/console/notices.js';
import { invokeContinuity } from '../../lambdas/core/continuity-service.js';
import { STAFF_NOTICE } from '../../lambdas/core/staff-notices.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import type { NotificationRecord, Notifier } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { MemorySendingStore } from '../support/memory-sending.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@example.com', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['sales'], amr: ['pwd', 'otp'] };

const USERS = [
  {
    id: 'alice',
    name: 'Alice Admin',
    addresses: ['alice@example.com'],
    groups: [ADMINS],
    phone: '+447700900001',
  },
  {
    id: 'bob',
    name: 'Bob Sales',
    addresses: ['bob@example.com'],
    groups: ['sales'],
    phone: '+447700900002',
    personalEmail: 'bob.home@gmail.example',
  },
  { id: 'carol', name: 'Carol Sales', addresses: ['carol@example.com'], groups: ['sales'] },
  { id: 'dave', name: 'Dave Ops', addresses: ['dave@example.com'], groups: ['ops'], phone: '+447700900004' },
];

/** A transport like SNS: a message id for each text it takes, a refusal for numbers in `refuse`. */
class SnsLikeNotifier implements Notifier {
  sent: NotificationRecord[] = [];
  refuse = new Map<string, string>();
  async send(n: NotificationRecord) {
    const to = n.to[0] as string;
    const reason = this.refuse.get(to);
    if (reason) throw new Error(reason);
    this.sent.push(n);
    return { messageId: `msg-${this.sent.length}` };
  }
}

function api(overrides: Parameters<typeof continuityHarness>[0] = {}) {
  const h = continuityHarness(overrides);
  const notifier = new SnsLikeNotifier();
  const jobs = new MemorySendingStore();
  const config = {
    ...h.config,
    webmail: { ...h.config.webmail, users: USERS },
    continuity: {
      ...h.config.continuity,
      staff: { ...h.config.continuity.staff, phones: ['+447700900002', '+447700900999'] },
    },
  };
  const ctx: Context = {
    ...h.deps,
    config,
    notifier,
    jobs,
    trigger: { requestDelivery: async () => {} },
  };
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
  return { ...h, ctx, notifier, jobs, call };
}

describe('POST /admin/notices/preview', () => {
  it('shows the exact invoke text with its segment count, who gets it and who is skipped, and sends nothing', async () => {
    const { call, notifier } = api();
    const res = await call('POST', '/admin/notices/preview', {
      template: 'invoke',
      audience: { kind: 'groups', groups: ['sales'] },
    });
    expect(res.status).toBe(200);
    const p = res.body as NoticePreview;
    expect(p.texts.sms?.text).toContain('our email is down');
    expect(p.texts.sms?.text).toContain(h_webmail());
    expect(p.texts.sms?.cost).toEqual(smsCost(p.texts.sms?.text ?? ''));
    expect(p.texts.sms?.cost.segments).toBeLessThanOrEqual(2);
    expect(p.texts.email?.subject).toMatch(/email is down/);
    expect(p.recipients).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ user: 'bob', channel: 'sms', status: 'queued', to: '+4477…002' }),
        expect.objectContaining({ user: 'bob', channel: 'email', status: 'queued', to: 'b…@gmail.example' }),
        expect.objectContaining({
          user: 'carol',
          channel: 'sms',
          status: 'skipped',
          error: 'no mobile number on file',
        }),
      ]),
    );
    expect(p.counts).toEqual({ people: 2, sms: 1, email: 1, skipped: 2 });
    // Never a phone number or personal address in full.
    expect(JSON.stringify(p)).not.toContain('+447700900002');
    expect(JSON.stringify(p)).not.toContain('bob.home@');
    expect(notifier.sent).toEqual([]);
  });

  it('counts an own text with a character outside GSM-7 as UCS-2 and warns', async () => {
    const { call } = api();
    const res = await call('POST', '/admin/notices/preview', {
      text: 'Mail is down … use the webmail',
      channels: ['sms'],
    });
    expect(res.body.texts.sms.cost.encoding).toBe('ucs-2');
    expect(res.body.texts.email).toBeNull();
    expect(res.body.warnings.join(' ')).toMatch(/outside the GSM alphabet/);
  });

  it('refuses a request with both a template and a text, an unknown group and an unknown user', async () => {
    const { call } = api();
    const both = await call('POST', '/admin/notices/preview', { template: 'invoke', text: 'hello' });
    expect(both.status).toBe(400);
    expect(both.body.error).toBe('VALIDATION_FAILED');
    const group = await call('POST', '/admin/notices/preview', {
      template: 'invoke',
      audience: { kind: 'groups', groups: ['nobody'] },
    });
    expect(group.status).toBe(400);
    expect(group.body).toMatchObject({ error: 'NOTICE_UNKNOWN_AUDIENCE' });
    expect(group.body.message).toContain('nobody');
    const user = await call('POST', '/admin/notices', {
      template: 'invoke',
      audience: { kind: 'users', users: ['zed'] },
    });
    expect(user.body).toMatchObject({ error: 'NOTICE_UNKNOWN_AUDIENCE' });
  });
});

function h_webmail(): string {
  return continuityHarness().config.continuity.staff.webmailUrl;
}

describe('POST /admin/notices', () => {
  it('texts all staff and the extra staff phones once each, and keeps each recipient with its message id', async () => {
    const { call, notifier, jobs } = api();
    const res = await call('POST', '/admin/notices', { template: 'revoke', channels: ['sms'] });
    expect(res.status).toBe(200);
    const n = res.body as Notice;
    expect(n.state).toBe('done');
    expect(n.createdBy).toBe('alice@example.com');
    // Alice, Bob, Dave by their directory phones; +447700900999 from staff.phones; Bob's number once.
    expect(notifier.sent.map((s) => s.to[0]).sort()).toEqual([
      '+447700900001',
      '+447700900002',
      '+447700900004',
      '+447700900999',
    ]);
    expect(n.counts).toEqual({ queued: 0, sent: 4, failed: 0, skipped: 1 });
    expect(
      n.recipients.filter((r) => r.status === 'sent').every((r) => r.messageId?.startsWith('msg-')),
    ).toBe(true);
    expect(n.recipients.find((r) => r.user === 'carol')).toMatchObject({ status: 'skipped' });
    expect(JSON.stringify(n)).not.toContain('+447700900004');
    // The record is in the job store under the organisation's pseudo-user.
    expect([...jobs.records.values()].map((r) => `${r.kind} ${r.user}`)).toEqual(['notice #org']);
  });

  it('marks each recipient the transport refused as failed with its reason, and the others sent', async () => {
    const { call, notifier, store } = api();
    notifier.refuse.set('+447700900004', 'Phone number is opted out');
    const res = await call('POST', '/admin/notices', {
      text: 'Fire drill at 3pm: mail stays up.',
      channels: ['sms'],
      audience: { kind: 'users', users: ['bob', 'dave'] },
    });
    const n = res.body as Notice;
    expect(n.recipients.map((r) => [r.user, r.status, r.error])).toEqual([
      ['bob', 'sent', null],
      ['dave', 'failed', 'Phone number is opted out'],
    ]);
    expect(n.counts).toMatchObject({ sent: 1, failed: 1 });
    // The outbox keeps the refusal, which the status counts as a failed notification.
    const [out] = await store.listNotifications(10);
    expect(out).toMatchObject({
      notice: STAFF_NOTICE,
      audience: 'staff',
      channel: 'sms',
      to: ['+447700900002'],
    });
    expect(out?.error).toContain('Phone number is opted out');
    const fetched = await call('GET', `/admin/notices/${n.id}`);
    expect(fetched.body.recipients).toEqual(n.recipients);
  });

  it('emails personal addresses with the email text and subject', async () => {
    const { call, notifier } = api();
    const res = await call('POST', '/admin/notices', {
      template: 'invoke',
      channels: ['email'],
      audience: { kind: 'groups', groups: ['sales'] },
    });
    expect(res.body.counts).toEqual({ queued: 0, sent: 1, failed: 0, skipped: 1 });
    expect(notifier.sent).toHaveLength(1);
    expect(notifier.sent[0]).toMatchObject({ channel: 'email', to: ['bob.home@gmail.example'] });
    expect(notifier.sent[0]?.text).toContain('get a code by text message');
  });

  it('goes to the groups of continuity.staff.groups when no audience is named', async () => {
    const { call, notifier } = api({ staff: { groups: ['ops'] } });
    await call('POST', '/admin/notices', { template: 'invoke', channels: ['sms'] });
    expect(notifier.sent.map((s) => s.to[0])).toEqual(['+447700900004']);
  });

  it('refuses a notice nobody can receive, and records nothing', async () => {
    const { call, jobs, notifier } = api();
    const res = await call('POST', '/admin/notices', {
      template: 'invoke',
      channels: ['email'],
      audience: { kind: 'users', users: ['carol'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('NOTICE_NO_RECIPIENTS');
    expect(jobs.records.size).toBe(0);
    expect(notifier.sent).toEqual([]);
  });

  it('puts the notice on the open event: the outbox and the audit log name the event', async () => {
    const { call, ctx, store } = api();
    const step = await invokeContinuity(ctx, 'alice@example.com');
    const eventId = step.event?.id;
    const res = await call('POST', '/admin/notices', {
      template: 'invoke',
      channels: ['sms'],
      audience: { kind: 'groups', groups: ['ops'] },
    });
    expect(res.body.eventId).toBe(eventId);
    const outbox = await store.listNotifications(50);
    expect(outbox.find((n) => n.notice === STAFF_NOTICE)).toMatchObject({ eventId });
    const audit = await store.listAudit(50);
    expect(audit.find((a) => a.action === 'notice-send')).toMatchObject({
      actor: 'alice@example.com',
      eventId,
      target: `notice/${res.body.id}`,
    });
  });

  it('leaves recipients queued when the time runs out, and a resume sends the rest', async () => {
    const { ctx, notifier } = api();
    const { sendNotice, resumeNotice } = await import('../../lambdas/core/staff-notices.js');
    const { noticeDeps } = await import('../../lambdas/handlers/notice-routes.js');
    let t = 0;
    const deps = { ...noticeDeps(ctx, undefined), budgetMs: 1, elapsed: () => t++ };
    const first = await sendNotice(deps, { template: 'invoke', channels: ['sms'] }, 'alice@example.com');
    expect(first.state).toBe('sending');
    expect(first.counts.queued).toBeGreaterThan(0);
    const sentBefore = notifier.sent.length;
    const rest = await resumeNotice({ ...deps, budgetMs: 1000 }, first.id, 'alice@example.com');
    expect(rest.state).toBe('done');
    expect(rest.counts.queued).toBe(0);
    expect(notifier.sent.length - sentBefore).toBe(first.counts.queued);
  });
});

describe('GET /admin/notices', () => {
  it('lists notices newest first without their recipients', async () => {
    const { call, clock } = api();
    const a = await call('POST', '/admin/notices', { template: 'invoke', channels: ['sms'] });
    clock.advance(60);
    const b = await call('POST', '/admin/notices', { template: 'revoke', channels: ['sms'] });
    const list = await call('GET', '/admin/notices');
    expect(list.body.notices.map((n: Notice) => n.id)).toEqual([b.body.id, a.body.id]);
    expect(list.body.notices[0].recipients).toBeUndefined();
    expect(list.body.notices[0].counts.sent).toBe(4);
  });

  it('answers 404 for an unknown notice', async () => {
    const { call } = api();
    expect((await call('GET', '/admin/notices/20261203T091000-abcdef')).status).toBe(404);
  });
});

describe('notice endpoints: who may call them', () => {
  it('refuses every one to a member of staff outside the admin group', async () => {
    const { call, notifier } = api();
    for (const [method, path, body] of [
      ['POST', '/admin/notices/preview', { template: 'invoke' }],
      ['POST', '/admin/notices', { template: 'invoke' }],
      ['GET', '/admin/notices'],
      ['GET', '/admin/notices/20261203T091000-abcdef'],
    ] as const) {
      const res = await call(method, path, body, STAFF);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(notifier.sent).toEqual([]);
  });
});
