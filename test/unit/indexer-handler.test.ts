import { describe, expect, it } from 'vitest';
import { createIndexerHandler } from '../../lambdas/handlers/indexer.js';
import type { BlobStore } from '../../lambdas/ports.js';
import { compose, webmailHarness } from '../support/webmail.js';

const record = (n: number, messageId: string, address: string) => ({
  messageId: `r${n}`,
  body: JSON.stringify({ messageId, address }),
});

async function setup() {
  const h = await webmailHarness();
  const mail = (subject: string, to: string) =>
    compose({ from: 'bob@example.org', to, subject, text: `About ${subject}` });
  const a = await h.receive(await mail('quarterly budget', 'alice@example.com'), {
    recipients: ['alice@example.com'],
    index: false,
  });
  const b = await h.receive(await mail('lunch menu', 'bob@example.com'), {
    recipients: ['bob@example.com'],
    index: false,
  });
  return { h, a, b };
}

describe('createIndexerHandler', () => {
  it('indexes each request into its mailbox, so a search finds the message', async () => {
    const { h, a, b } = await setup();
    const handler = createIndexerHandler(() => ({ ...h.ctx, cache: undefined }));
    const out = await handler({
      Records: [record(1, a, 'alice@example.com'), record(2, b, 'bob@example.com')],
    });
    expect(out.batchItemFailures).toEqual([]);
    const found = await h.call('GET', '/mail/api/search', { query: { q: 'budget' } });
    expect(found.status).toBe(200);
    expect((found.body.messages as { id: string }[]).map((m) => m.id)).toEqual([a]);
  });

  it('returns only the failed mailbox’s records to the queue', async () => {
    const { h, a, b } = await setup();
    const failing: BlobStore = {
      getRaw: (key) => h.indexBlobs.getRaw(key),
      async putRaw(key, body) {
        if (decodeURIComponent(key).includes('alice@example.com')) throw new Error('SlowDown');
        await h.indexBlobs.putRaw(key, body);
      },
    };
    const handler = createIndexerHandler(() => ({ ...h.ctx, indexBlobs: failing, cache: undefined }));
    const out = await handler({
      Records: [record(1, a, 'alice@example.com'), record(2, b, 'bob@example.com')],
    });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'r1' }]);
  });

  it('treats a request for a message with no record as done', async () => {
    const { h } = await setup();
    const handler = createIndexerHandler(() => ({ ...h.ctx, cache: undefined }));
    const out = await handler({ Records: [record(1, 'gone', 'alice@example.com')] });
    expect(out.batchItemFailures).toEqual([]);
  });
});
