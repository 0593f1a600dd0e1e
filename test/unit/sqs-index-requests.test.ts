import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createSqsIndexRequests,
  indexDedupId,
  mailboxGroupId,
} from '../../lambdas/adapters/sqs-index-requests.js';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/Lifeboat-SearchQueue.fifo';

beforeEach(() => sqs.reset());

describe('createSqsIndexRequests', () => {
  it('sends one request per mailbox, grouped by mailbox and deduplicated by message and mailbox', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const addresses = Array.from({ length: 12 }, (_, i) => `user${i}@example.com`);
    await createSqsIndexRequests(new SQSClient({ region: 'eu-west-1' }), URL).requestIndex('m1', addresses);

    const batches = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries ?? []);
    expect(batches.map((b) => b.length)).toEqual([10, 2]); // SQS takes at most 10 a batch
    const first = batches[0]?.[0];
    expect(JSON.parse(first?.MessageBody ?? '')).toEqual({ messageId: 'm1', address: 'user0@example.com' });
    expect(first?.MessageGroupId).toBe(mailboxGroupId('user0@example.com'));
    expect(first?.MessageDeduplicationId).toBe(indexDedupId('m1', 'user0@example.com'));
    // A group id holds at most 128 characters; an address up to 254.
    expect(mailboxGroupId(`${'a'.repeat(240)}@example.com`)).toHaveLength(64);
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
