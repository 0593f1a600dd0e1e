import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const RECIPIENTS = ['alice@example.com', 'bob@example.com', 'carol@example.com'];

/** The fixture with its own Message-ID, so the primary can tell copies of each message apart. */
function withMessageId(raw: Buffer, messageId: string): Buffer {
  return Buffer.from(
    raw.toString('latin1').replace(/^Message-ID: .*$/m, `Message-ID: ${messageId}\r`),
    'latin1',
  );
}

describe('exactly-once delivery', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    rt = await startTestRuntime({ config: testConfig(primary) });
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  describe('the same SES event given to ingest twice', () => {
    it('records one message with one delivery per recipient when replayed', async () => {
      const event = await rt.sesEvent('ses-replayed-0001', fixture, RECIPIENTS);

      const [first] = await rt.ingest(event);
      const [again] = await rt.ingest(event);
      await rt.idle();

      expect(first?.created).toEqual(RECIPIENTS);
      expect(again?.created).toEqual([]);
      const day = rt.clock.now().toISOString().slice(0, 10);
      const { items } = await rt.ctx.store.listMessagesByDay(day);
      expect(items.map((m) => m.id)).toEqual(['ses-replayed-0001']);
      expect((await rt.deliveries('ses-replayed-0001')).map((d) => [d.recipient, d.state])).toEqual(
        RECIPIENTS.map((r) => [r, 'delivered']),
      );
    });

    it('sends one copy per recipient when replayed', async () => {
      const event = await rt.sesEvent('ses-replayed-0002', fixture, RECIPIENTS);

      await rt.ingest(event);
      await rt.ingest(event);
      await rt.idle();

      expect(primary.transactions).toHaveLength(1);
      for (const r of RECIPIENTS)
        expect(primary.copiesFor('<site-visit-20261120@sender.example>', r)).toBe(1);
    });

    it('sends one copy per recipient when both invocations run at once', async () => {
      const event = await rt.sesEvent('ses-concurrent-0003', fixture, RECIPIENTS);

      await Promise.all([rt.ingest(event), rt.ingest(event)]);
      await rt.idle();

      expect((await rt.deliveries('ses-concurrent-0003')).map((d) => d.state)).toEqual([
        'delivered',
        'delivered',
        'delivered',
      ]);
      for (const r of RECIPIENTS)
        expect(primary.copiesFor('<site-visit-20261120@sender.example>', r)).toBe(1);
    });
  });

  describe('several sweepers on the same due deliveries', () => {
    it('delivers each recipient exactly once', async () => {
      await primary.refuse();
      const ids: string[] = [];
      for (let n = 1; n <= 4; n++) {
        const raw = withMessageId(fixture, `<sweep-race-${n}@sender.example>`);
        ids.push((await rt.sendAndSettle({ to: RECIPIENTS, raw })).id);
      }
      await primary.accept();
      rt.clock.advance(300);

      await Promise.all([
        rt.sweep({}),
        rt.sweep({}),
        rt.sweep({}),
        ...ids.map((messageId) => rt.deliver({ messageId })),
        ...ids.map((messageId) => rt.deliver({ messageId })),
      ]);
      await rt.idle();

      for (let n = 1; n <= 4; n++) {
        for (const r of RECIPIENTS) expect(primary.copiesFor(`<sweep-race-${n}@sender.example>`, r)).toBe(1);
      }
      for (const id of ids) {
        expect((await rt.deliveries(id)).map((d) => [d.state, d.attempts])).toEqual([
          ['delivered', 2],
          ['delivered', 2],
          ['delivered', 2],
        ]);
      }
    });
  });
});
