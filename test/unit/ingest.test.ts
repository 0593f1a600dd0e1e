import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { HOLD_ALL } from '../../lambdas/core/holds.js';
import { type IngestInput, ingestMessage, NO_ROUTE } from '../../lambdas/core/ingest.js';
import { passVerdicts, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

function setup(raw: Buffer = simpleMessage) {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  blobs.objects.set('raw/m1', raw);
  const deps = { store, blobs, config: testConfig(), clock: new ManualClock(), log: silentLogger };
  const input: IngestInput = {
    messageId: 'm1',
    rawKey: 'raw/m1',
    envelopeFrom: 'bob@example.org',
    recipients: ['alice@example.com', 'CEO@example.com'],
    receivedAt: '2026-11-22T10:00:00.000Z',
    verdicts: passVerdicts,
  };
  return { store, blobs, deps, input };
}

describe('ingestMessage', () => {
  it('records the message summary and one queued delivery per envelope recipient, on its route', async () => {
    const { store, deps, input } = setup();
    const result = await ingestMessage(input, deps);
    expect(result).toEqual({
      messageId: 'm1',
      created: ['alice@example.com', 'ceo@example.com'],
      deliverable: true,
      // From the same parse, for the index requests to carry.
      index: { text: expect.stringContaining('Here are the   figures for Q4.'), attachmentNames: ['q4.pdf'] },
    });
    const m = await store.getMessage('m1');
    expect(m).toMatchObject({
      from: 'bob@example.org',
      subject: 'Quarterly figures',
      messageIdHeader: '<q4@example.org>',
      snippet: 'Here are the figures for Q4.',
      size: simpleMessage.length,
      parseError: null,
      attachments: [{ filename: 'q4.pdf', contentType: 'application/pdf', size: 9 }],
    });
    const deliveries = await store.listDeliveries('m1');
    expect(deliveries.map((d) => [d.recipient, d.route, d.state])).toEqual([
      ['alice@example.com', 'cloud', 'queued'],
      ['ceo@example.com', 'onprem', 'queued'],
    ]);
  });

  it('is idempotent: the same event twice gives one delivery per recipient and resets nothing', async () => {
    const { store, deps, input } = setup();
    await ingestMessage(input, deps);
    const d = (await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' }))!;
    await store.replaceDelivery({ ...d, state: 'delivered', version: d.version + 1 }, d.version);
    const again = await ingestMessage(input, deps);
    expect(again.created).toEqual([]);
    expect(again.index).toBeUndefined(); // nothing new to index
    expect(store.deliveries.size).toBe(2);
    expect((await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' }))?.state).toBe(
      'delivered',
    );
  });

  it('collapses a recipient listed twice in the envelope', async () => {
    const { store, deps, input } = setup();
    await ingestMessage({ ...input, recipients: ['a@example.com', 'A@EXAMPLE.COM'] }, deps);
    expect(store.deliveries.size).toBe(1);
  });

  it('keeps and relays a message it cannot parse, recording the problem', async () => {
    const garbage = Buffer.from('\u0000\u0001 this is not a MIME message at all');
    const { store, deps, input } = setup(garbage);
    const result = await ingestMessage(input, deps);
    expect(result.deliverable).toBe(true);
    // Indexed from its record (headers and snippet), as a parse at indexing time would leave it.
    expect(result.index).toEqual({ text: null, attachmentNames: [] });
    const m = await store.getMessage('m1');
    expect(m?.size).toBe(garbage.length);
    expect((await store.listDeliveries('m1')).every((d) => d.state === 'queued')).toBe(true);
  });

  it('quarantines every recipient of a message with a virus', async () => {
    const { store, deps, input } = setup();
    const result = await ingestMessage({ ...input, verdicts: { ...passVerdicts, virus: 'FAIL' } }, deps);
    expect(result.deliverable).toBe(false);
    const states = (await store.listDeliveries('m1')).map((d) => [d.state, d.reason]);
    expect(states).toEqual([
      ['quarantined', 'policy:virus'],
      ['quarantined', 'policy:virus'],
    ]);
  });

  it('holds mail that arrives while its route is on hold', async () => {
    const { store, deps, input } = setup();
    await store.putHold({
      scope: 'cloud',
      reason: 'continuity',
      since: '2026-11-22T09:00:00Z',
      by: 'admin@example.com',
    });
    await ingestMessage(input, deps);
    const byRcpt = Object.fromEntries((await store.listDeliveries('m1')).map((d) => [d.recipient, d.state]));
    expect(byRcpt).toEqual({ 'alice@example.com': 'held', 'ceo@example.com': 'queued' });
  });

  it('holds everything under a hold on all routes', async () => {
    const { store, deps, input } = setup();
    await store.putHold({ scope: HOLD_ALL, reason: 'admin', since: '2026-11-22T09:00:00Z', by: 'a' });
    const result = await ingestMessage(input, deps);
    expect(result.deliverable).toBe(false);
  });

  it('fails visibly a recipient no route serves, instead of dropping it', async () => {
    const { store, deps, input } = setup();
    await ingestMessage({ ...input, recipients: ['x@example.org'] }, deps);
    expect(await store.getDelivery({ messageId: 'm1', recipient: 'x@example.org' })).toMatchObject({
      state: 'failed',
      route: NO_ROUTE,
      lastError: 'no route serves x@example.org',
    });
  });

  it('throws, leaving nothing half-written, when the raw message is missing', async () => {
    const { store, deps, input } = setup();
    await expect(ingestMessage({ ...input, rawKey: 'raw/other' }, deps)).rejects.toThrow(
      /no object raw\/other/,
    );
    expect(store.messages.size).toBe(0);
  });
});
