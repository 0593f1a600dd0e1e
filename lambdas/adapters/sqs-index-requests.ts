import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { IndexRequests } from '../ports.js';

/** SQS takes at most 10 messages in one SendMessageBatch. */
const SQS_BATCH_MAX = 10;

/** One index request on the queue: a message for one mailbox. */
export const indexRequestSchema = z.strictObject({
  messageId: z.string().min(1).max(256),
  address: z.string().min(3).max(254),
});
export type IndexRequest = z.infer<typeof indexRequestSchema>;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The FIFO message group of a mailbox: SQS delivers a group's messages one batch at a time, in
 * order, so each mailbox's index has one writer. A hash, because a group id holds at most 128
 * characters and an address up to 254, and the queue need not show addresses.
 */
export const mailboxGroupId = (address: string) => sha256(address);

/** Deduplication id: the same message for the same mailbox sent twice within SQS's 5 minutes counts once. */
export const indexDedupId = (messageId: string, address: string) => sha256(`${messageId}\n${address}`);

/** Index requests on the SQS FIFO queue the indexer function consumes. */
export function createSqsIndexRequests(sqs: Pick<SQSClient, 'send'>, queueUrl: string): IndexRequests {
  return {
    async requestIndex(messageId, addresses) {
      for (let i = 0; i < addresses.length; i += SQS_BATCH_MAX) {
        const entries = addresses.slice(i, i + SQS_BATCH_MAX).map((address, j) => ({
          Id: String(i + j),
          MessageBody: JSON.stringify({ messageId, address } satisfies IndexRequest),
          MessageGroupId: mailboxGroupId(address),
          MessageDeduplicationId: indexDedupId(messageId, address),
        }));
        const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
        if (out.Failed?.length) {
          throw new Error(
            `index requests refused by SQS: ${out.Failed.map((f) => f.Code).join(', ')} (${out.Failed.length} of ${entries.length})`,
          );
        }
      }
    },
  };
}
