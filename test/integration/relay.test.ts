import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTraceHeader } from '../../lambdas/core/trace.js';
import { TestPrimary } from '../support/primary.js';
import { readFixture, routeTo, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

describe('relaying a message to the primary', () => {
  let primary: TestPrimary;
  let other: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    other = await TestPrimary.start();
    fixture = await readFixture('report-with-attachment.eml');
    // partner.example is accepted too, on its own primary: the fixture's To: header names it.
    rt = await startTestRuntime({
      config: testConfig(null, {
        domains: ['example.com', 'partner.example'],
        routes: [
          routeTo('main', [primary], { domains: ['example.com'] }),
          routeTo('partner', [other], { domains: ['partner.example'] }),
        ],
      }),
    });
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
    await other.stop();
  });

  it('marks the delivery delivered with the primary’s reply', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    const [delivery] = await rt.deliveries(id);
    expect(delivery).toMatchObject({
      recipient: 'alice@example.com',
      route: 'main',
      state: 'delivered',
      attempts: 1,
      lastError: null,
      deliveredAt: rt.clock.now().toISOString(),
    });
    expect(delivery?.lastResponse).toBe(`${primary.address}: 250 2.0.0 Ok: queued as T1`);
  });

  it('stores the received bytes unchanged in S3', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    const message = await rt.message(id);
    const stored = await rt.ctx.blobs.getRaw(message?.rawKey ?? '');
    expect(message?.rawKey).toBe(`raw/${id}`);
    expect(stored.equals(fixture)).toBe(true);
    expect(message?.size).toBe(fixture.length);
  });

  it('hands the primary exactly one trace header followed by the stored object', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    const stored = await rt.ctx.blobs.getRaw(`raw/${id}`);
    const trace = buildTraceHeader({
      hostname: rt.config.hostname,
      messageId: id,
      recipients: ['alice@example.com'],
      now: rt.clock.now(),
    });
    expect(primary.transactions).toHaveLength(1);
    const got = primary.transactions[0]?.raw ?? Buffer.alloc(0);
    expect(got.toString('latin1')).toBe(Buffer.concat([trace, stored]).toString('latin1'));
    expect(got.toString('latin1')).toMatch(
      new RegExp(`^Received: by lifeboat\\.local \\(Lifeboat\\) id ${id}\\r\\n\\tfor <alice@example\\.com>;`),
    );
  });

  it('keeps the envelope sender and recipient on the relayed transaction', async () => {
    await rt.sendAndSettle({ from: 'bounces@sender.example', to: ['alice@example.com'], raw: fixture });

    expect(primary.transactions.map((t) => ({ from: t.from, to: t.to }))).toEqual([
      { from: 'bounces@sender.example', to: ['alice@example.com'] },
    ]);
  });

  it('relays a bounce with the null sender <> as MAIL FROM:<>', async () => {
    const { id } = await rt.sendAndSettle({ from: '', to: ['alice@example.com'], raw: fixture });

    expect((await rt.message(id))?.envelopeFrom).toBe('');
    expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered' });
    expect(primary.transactions.map((t) => t.from)).toEqual(['']);
  });

  it('records the sender, subject, snippet and attachments on the message', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    expect(await rt.message(id)).toMatchObject({
      envelopeFrom: 'sender@sender.example',
      recipients: ['alice@example.com'],
      from: 'maria@sender.example',
      to: ['bob@partner.example'],
      subject: 'Q3 shipping report',
      messageIdHeader: '<q3-report-7f3a@sender.example>',
      date: '2026-11-20T09:14:00.000Z',
      snippet:
        'Hi Bob, Attached is the Q3 shipping report. Volumes are up 4% on Q2; the Rotterdam lane is the outlier. Maria',
      attachments: [{ filename: 'q3-shipping.pdf', contentType: 'application/pdf', size: 136 }],
      parseError: null,
    });
  });

  it('routes on the envelope recipient and ignores a To: header naming another domain', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    expect((await rt.deliveries(id)).map((d) => d.route)).toEqual(['main']);
    expect(primary.copiesFor('<q3-report-7f3a@sender.example>', 'alice@example.com')).toBe(1);
    expect(other.transactions).toHaveLength(0);
  });
});
