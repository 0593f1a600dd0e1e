import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import { continuityHarness } from '../support/continuity.js';
import { passVerdicts } from '../support/fixtures.js';

const ADMINS = 'lifeboat-admins';
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'] };
const VIRUS: Verdicts = { ...passVerdicts, virus: 'FAIL' };

/** A message with a script, a remote image, a text part and an attachment: what a hostile one carries. */
const hostile = Buffer.from(
  [
    'From: "Invoices" <billing@bad.example>',
    'To: alice@example.com',
    'Subject: Your invoice',
    'Message-ID: <inv-1@bad.example>',
    'Date: Mon, 01 Jun 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: multipart/alternative; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Please open the attached invoice.',
    '--b2',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p onclick="steal()">Please open <b>the invoice</b>.</p><script>steal()</script>',
    '<img src="https://tracker.bad.example/open.gif">',
    '--b2--',
    '--b1',
    'Content-Type: application/octet-stream; name="invoice.exe"',
    'Content-Disposition: attachment; filename="invoice.exe"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('MZ not really a program').toString('base64'),
    '--b1--',
    '',
  ].join('\r\n'),
);

function api() {
  const h = continuityHarness();
  const ctx: Context = { ...h.deps, trigger: { requestDelivery: async () => undefined } };
  const handler = createApiHandler(() => ctx);
  async function call(path: string, claims: Record<string, unknown> = ALICE) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method: 'GET' }, authorizer: { jwt: { claims } } },
    };
    const res = await handler(event);
    return { status: res.statusCode, body: JSON.parse(res.body) };
  }
  async function receive(messageId: string, verdicts: Verdicts, recipients = ['alice@example.com']) {
    h.blobs.objects.set(`raw/${messageId}`, hostile);
    await ingestMessage(
      {
        messageId,
        rawKey: `raw/${messageId}`,
        envelopeFrom: 'billing@bad.example',
        recipients,
        receivedAt: h.clock.now().toISOString(),
        verdicts,
      },
      h.deps,
    );
  }
  return { ...h, call, receive };
}

describe('GET /admin/quarantine/<messageId>', () => {
  it('shows an admin a quarantined message as the webmail would: headers, text, sanitised HTML with the remote image held back, attachments listed', async () => {
    const { call, receive } = api();
    await receive('q1', VIRUS);
    const res = await call('/admin/quarantine/q1');
    expect(res.status).toBe(200);
    const p = res.body;
    expect(p).toMatchObject({
      id: 'q1',
      from: 'Invoices <billing@bad.example>',
      envelopeFrom: 'billing@bad.example',
      subject: 'Your invoice',
      messageIdHeader: '<inv-1@bad.example>',
      text: 'Please open the attached invoice.',
      htmlSanitised: true,
      remoteImages: 1,
      verdicts: expect.objectContaining({ virus: 'FAIL' }),
      quarantined: [{ recipient: 'alice@example.com', reason: 'policy:virus' }],
      inlineImages: {},
      parseError: null,
    });
    expect(p.headers).toContainEqual({ name: 'Subject', value: 'Your invoice' });
    expect(p.html).toContain('<b>the invoice</b>');
    expect(p.html).not.toMatch(/script|onclick|steal/i);
    expect(p.html).not.toMatch(/[\s<]src="https:\/\/tracker/);
    expect(p.html).toContain('data-lifeboat-remote-src="https://tracker.bad.example/open.gif"');
    expect(p.attachments).toEqual([
      expect.objectContaining({ index: 0, filename: 'invoice.exe', contentType: 'application/octet-stream' }),
    ]);
    // No link of any kind: the preview is for judging the message, not taking what it carries.
    expect(JSON.stringify(p)).not.toMatch(/\/mail\/api\/|X-Amz-Signature/);
  });

  it('writes the read to the audit log as quarantine-view, with who and the verdict', async () => {
    const { call, receive, store } = api();
    await receive('q1', VIRUS);
    await call('/admin/quarantine/q1');
    expect((await store.listAudit(1))[0]).toMatchObject({
      actor: 'alice@ops.example.org',
      action: 'quarantine-view',
      target: 'q1',
      detail: expect.stringContaining('policy:virus'),
    });
  });

  it('refuses a staff member outside the admin group, and leaves no audit entry', async () => {
    const { call, receive, store } = api();
    await receive('q1', VIRUS);
    const res = await call('/admin/quarantine/q1', STAFF);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FORBIDDEN');
    expect((await store.listAudit(10)).some((e) => e.action === 'quarantine-view')).toBe(false);
  });

  it('answers 404 for a message that does not exist', async () => {
    const { call } = api();
    const res = await call('/admin/quarantine/nope');
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('NOT_FOUND');
  });

  it('answers 404 for a message none of whose deliveries is quarantined: the admin API reads no other mail', async () => {
    const { call, receive, deps, store } = api();
    await receive('ok1', passVerdicts);
    await deliverMessage('ok1', deps);
    expect((await deps.store.getDelivery({ messageId: 'ok1', recipient: 'alice@example.com' }))?.state).toBe(
      'delivered',
    );
    const res = await call('/admin/quarantine/ok1');
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('NOT_FOUND');
    expect((await store.listAudit(10)).some((e) => e.action === 'quarantine-view')).toBe(false);
  });

  it('stops answering once the message is released from the quarantine', async () => {
    const { call, receive, deps } = api();
    await receive('q1', VIRUS);
    expect((await call('/admin/quarantine/q1')).status).toBe(200);
    const released = await createApiHandler(() => ({
      ...deps,
      trigger: { requestDelivery: async () => undefined },
    }))({
      rawPath: '/admin/quarantine/actions',
      requestContext: { http: { method: 'POST' }, authorizer: { jwt: { claims: ALICE } } },
      body: JSON.stringify({ action: 'release', ids: [{ messageId: 'q1' }], reason: 'checked: test file' }),
    });
    expect(released.statusCode).toBe(200);
    expect((await call('/admin/quarantine/q1')).status).toBe(404);
  });
});
