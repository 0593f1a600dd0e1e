import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { MAX_INDEXED_TEXT_CHARS } from '../core/search/mailbox-index.js';
import type { IndexBody } from '../core/summarise.js';
import type { IndexRequests } from '../ports.js';

/** SQS takes at most 10 messages in one SendMessageBatch, ReceiveMessage or DeleteMessageBatch. */
const SQS_BATCH_MAX = 10;

/**
 * Bytes of one request that carries its message's index body at most: SQS bills a request per
 * 64 KB of its payload, so a request within one chunk costs what a bare one does. A body that
 * would take more (32 K characters of text, most of them past one byte in UTF-8, or a long list
 * of attachment names) is left out, and the indexer reads and parses the raw message instead.
 */
export const MAX_INDEX_REQUEST_BYTES = 64 * 1024;

/** Bytes of one SendMessageBatch's messages together at most (SQS's limit: 256 KiB). */
const SQS_BATCH_BYTES = 256 * 1024;

/**
 * Seconds a receive waits for messages: long polling asks every SQS server, where a short poll
 * samples some and can answer empty while requests wait. One second, as the indexer drains a
 * queue it was told holds work and stops at the first empty answer.
 */
const RECEIVE_WAIT_SECONDS = 1;

/**
 * One index request on the queue: a message for one mailbox, with the message's index body as
 * ingest parsed it when it fits in MAX_INDEX_REQUEST_BYTES.
 */
export const indexRequestSchema = z.strictObject({
  messageId: z.string().min(1).max(256),
  address: z.string().min(3).max(254),
  body: z
    .strictObject({
      text: z.string().max(MAX_INDEXED_TEXT_CHARS).nullable(),
      attachmentNames: z.array(z.string()),
    })
    .optional(),
});
export type IndexRequest = z.infer<typeof indexRequestSchema>;

/** The request's JSON: with the body when the whole request fits in MAX_INDEX_REQUEST_BYTES, else without. */
export function indexRequestJson(messageId: string, address: string, body: IndexBody | undefined): string {
  const bare = JSON.stringify({ messageId, address } satisfies IndexRequest);
  if (!body) return bare;
  const withBody = JSON.stringify({
    messageId,
    address,
    // The index keeps no more of the text (indexDocOf): cut here, the entry is the same.
    body: {
      text: body.text?.slice(0, MAX_INDEXED_TEXT_CHARS) ?? null,
      attachmentNames: body.attachmentNames,
    },
  } satisfies IndexRequest);
  return Buffer.byteLength(withBody) <= MAX_INDEX_REQUEST_BYTES ? withBody : bare;
}

/**
 * Index requests on the SQS standard queue the scheduled indexer drains. A request may arrive
 * twice (SQS standard delivers at least once): indexing a message again replaces its entry.
 * Requests go ten a batch, fewer when their bodies would pass SQS's 256 KiB for a batch.
 */
export function createSqsIndexRequests(sqs: Pick<SQSClient, 'send'>, queueUrl: string): IndexRequests {
  return {
    async requestIndex(messageId, addresses, body) {
      const all = addresses.map((address, i) => ({
        Id: String(i),
        MessageBody: indexRequestJson(messageId, address, body),
      }));
      const batches: (typeof all)[] = [];
      let batchBytes = 0;
      for (const entry of all) {
        const bytes = Buffer.byteLength(entry.MessageBody);
        const last = batches.at(-1);
        if (last && last.length < SQS_BATCH_MAX && batchBytes + bytes <= SQS_BATCH_BYTES) {
          last.push(entry);
          batchBytes += bytes;
        } else {
          batches.push([entry]);
          batchBytes = bytes;
        }
      }
      for (const entries of batches) {
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

/** A request as received: the request and the handle that deletes it once indexed. */
export interface ReceivedIndexRequest extends IndexRequest {
  receipt: string;
}

/** The indexer's side of the queue. */
export interface IndexInbox {
  /** Requests waiting (SQS's approximate count of visible messages). */
  backlog(): Promise<number>;
  /** Up to ten requests; none when the queue is empty. A malformed body is a deployment fault and throws. */
  receive(): Promise<ReceivedIndexRequest[]>;
  /** Removes handled requests from the queue. */
  delete(receipts: readonly string[]): Promise<void>;
  /** Makes received requests visible again at once, for the next run, instead of after the visibility timeout. */
  release(receipts: readonly string[]): Promise<void>;
}

/**
 * Batch calls in flight at once when deleting or releasing: a drain's round of a thousand requests
 * is a hundred calls, two seconds one at a time and a fifth of a second ten at once.
 */
const BATCH_CALLS_IN_FLIGHT = 10;

/** Sends the receipts in batches of ten, BATCH_CALLS_IN_FLIGHT at once; throws once all are sent if any entry failed. */
async function inBatches(
  receipts: readonly string[],
  what: string,
  send: (
    entries: { Id: string; ReceiptHandle: string }[],
  ) => Promise<{ Failed?: { Code?: string }[] | undefined }>,
): Promise<void> {
  const batches: { Id: string; ReceiptHandle: string }[][] = [];
  for (let i = 0; i < receipts.length; i += SQS_BATCH_MAX) {
    batches.push(
      receipts.slice(i, i + SQS_BATCH_MAX).map((ReceiptHandle, j) => ({ Id: String(i + j), ReceiptHandle })),
    );
  }
  const failed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const out = await send(batches[next++] as { Id: string; ReceiptHandle: string }[]);
      for (const f of out.Failed ?? []) failed.push(f.Code ?? 'unknown');
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CALLS_IN_FLIGHT, batches.length) }, worker));
  if (failed.length) throw new Error(`index requests not ${what}: ${failed.join(', ')}`);
}

export function createSqsIndexInbox(sqs: Pick<SQSClient, 'send'>, queueUrl: string): IndexInbox {
  return {
    async backlog() {
      const out = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    async receive() {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: SQS_BATCH_MAX,
          WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
        }),
      );
      return (out.Messages ?? []).map((m) => ({
        ...indexRequestSchema.parse(JSON.parse(m.Body ?? '')),
        receipt: m.ReceiptHandle ?? '',
      }));
    },
    async delete(receipts) {
      // A request not deleted comes back after the visibility timeout and is indexed again: harmless.
      await inBatches(receipts, 'deleted', (Entries) =>
        sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries })),
      );
    },
    async release(receipts) {
      // A request not released comes back after the visibility timeout all the same.
      await inBatches(receipts, 'released', (entries) =>
        sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.map((e) => ({ ...e, VisibilityTimeout: 0 })),
          }),
        ),
      );
    },
  };
}
