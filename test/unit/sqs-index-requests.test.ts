import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createSqsIndexInbox,
  createSqsIndexRequests,
  MAX_INDEX_REQUEST_BYTES,
} from '../../lambdas/adapters/sqs-index-requests.js';
import { MAX_INDEXED_TEXT_CHARS } from '../../lambdas/core/search/mailbox-index.js';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/Lifeboat-SearchQueue';

beforeEach(() => sqs.reset());

describe('createSqsIndexRequests', () => {
  it('sends one request per mailbox, ten a batch, to the standard queue', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const addresses = Array.from({ length: 12 }, (_, i) => `user${i}@example.com`);
    await createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex('m1', addresses);

    const batches = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries ?? []);
    expect(batches.map((b) => b.length)).toEqual([10, 2]); // SQS takes at most 10 a batch
    const first = batches[0]?.[0];
    expect(JSON.parse(first?.MessageBody ?? '')).toEqual({ messageId: 'm1', address: 'user0@example.com' });
    // A standard queue refuses FIFO's deduplication id.
    expect(first?.MessageDeduplicationId).toBeUndefined();
  });

  it('carries the index body parsed at ingest, each request within one 64 KB chunk', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const body = { text: 'Here are the figures.', attachmentNames: ['q4.pdf'] };
    await createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex(
      'm1',
      ['a@example.com'],
      body,
    );
    const entry = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.[0];
    expect(JSON.parse(entry?.MessageBody ?? '')).toEqual({ messageId: 'm1', address: 'a@example.com', body });
  });

  it('leaves out a body past one chunk: the indexer reads the raw message for it', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    // Three bytes a character in UTF-8: the text the index keeps is 96 KB.
    const body = { text: '\u4e2d'.repeat(MAX_INDEXED_TEXT_CHARS), attachmentNames: [] };
    await createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex(
      'm1',
      ['a@example.com'],
      body,
    );
    const entry = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.[0];
    expect(JSON.parse(entry?.MessageBody ?? '')).toEqual({ messageId: 'm1', address: 'a@example.com' });
  });

  it('sends fewer than ten a batch when their bodies would pass 256 KiB together', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    // 62 KB in UTF-8 (two bytes an é): a request within its chunk, four to a batch.
    const body = { text: `${'\u00e9'.repeat(30_000)}${'x'.repeat(2_000)}`, attachmentNames: [] };
    const addresses = Array.from({ length: 10 }, (_, i) => `user${i}@example.com`);
    await createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex(
      'm1',
      addresses,
      body,
    );
    const batches = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries ?? []);
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(Buffer.byteLength(batches[0]?.[0]?.MessageBody ?? '')).toBeLessThanOrEqual(
      MAX_INDEX_REQUEST_BYTES,
    );
    for (const b of batches) {
      expect(b.reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0)).toBeLessThanOrEqual(
        256 * 1024,
      );
    }
    expect(batches.flat().every((e) => JSON.parse(e.MessageBody ?? '').body?.text === body.text)).toBe(true);
  });

  it('fails when SQS refuses part of a batch, so ingest logs it', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Failed: [{ Id: '0', Code: 'KMS.ThrottlingException', SenderFault: false }],
    });
    await expect(
      createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex('m1', [
        'a@example.com',
      ]),
    ).rejects.toThrow(/KMS.ThrottlingException/);
  });
});

describe('createSqsIndexInbox', () => {
  it('receives ten at a time with a long poll and deletes in batches of ten', async () => {
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { Body: JSON.stringify({ messageId: 'm1', address: 'a@example.com' }), ReceiptHandle: 'h1' },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const inbox = createSqsIndexInbox(new SQSClient({ region: 'eu-west-1' }), URL);
    expect(await inbox.receive()).toEqual([{ messageId: 'm1', address: 'a@example.com', receipt: 'h1' }]);
    const body = { text: null, attachmentNames: ['a.pdf'] };
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { Body: JSON.stringify({ messageId: 'm2', address: 'a@example.com', body }), ReceiptHandle: 'h2' },
      ],
    });
    expect(await inbox.receive()).toEqual([
      { messageId: 'm2', address: 'a@example.com', body, receipt: 'h2' },
    ]);
    const receive = sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input;
    expect(receive).toMatchObject({ MaxNumberOfMessages: 10, WaitTimeSeconds: 1 });
    await inbox.delete(Array.from({ length: 12 }, (_, i) => `h${i}`));
    expect(sqs.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input.Entries?.length)).toEqual([
      10, 2,
    ]);
  });

  it('releases requests at once, ten a batch, for the next run to receive', async () => {
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    const inbox = createSqsIndexInbox(new SQSClient({ region: 'eu-west-1' }), URL);
    await inbox.release(Array.from({ length: 12 }, (_, i) => `h${i}`));
    const batches = sqs
      .commandCalls(ChangeMessageVisibilityBatchCommand)
      .map((c) => c.args[0].input.Entries ?? []);
    expect(batches.map((b) => b.length)).toEqual([10, 2]);
    expect(batches.flat().every((e) => e.VisibilityTimeout === 0)).toBe(true);
    expect(batches[1]?.[1]?.ReceiptHandle).toBe('h11');
  });

  it('deletes a round’s requests with several calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    sqs.on(DeleteMessageBatchCommand).callsFake(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { Successful: [], Failed: [] };
    });
    const inbox = createSqsIndexInbox(new SQSClient({ region: 'eu-west-1' }), URL);
    await inbox.delete(Array.from({ length: 1000 }, (_, i) => `h${i}`));
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(100);
    expect(most).toBeGreaterThan(1);
  });
});
