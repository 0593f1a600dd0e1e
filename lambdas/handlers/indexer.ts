import * as z from 'zod';
import { indexRequestSchema } from '../adapters/sqs-index-requests.js';
import { defaultSearchDeps } from '../adapters/webmail-context.js';
import { NotFoundError } from '../core/errors.js';
import { createIndexQueue, indexMessage, type SearchDeps } from '../core/search/indexer.js';

const sqsEventSchema = z.object({
  Records: z.array(z.object({ messageId: z.string().min(1), body: z.string() })),
});

/** Lambda's partial batch response: the records to return to the queue. */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/**
 * The search indexer (SQS FIFO, message group = mailbox): indexes each batch's messages into their
 * mailboxes, one blob write per mailbox for the batch. A mailbox whose write fails has all its records
 * returned to the queue (partial batch response), so its order holds and the other mailboxes' work
 * stands; after the queue's receive limit they move to the dead-letter queue and its alarm. A request
 * whose message has no record any more (expired) is done, not retried. A malformed body fails the
 * whole batch: it is a deployment fault, not mail.
 */
export function createIndexerHandler(context: () => SearchDeps) {
  return async (event: unknown): Promise<BatchResponse> => {
    const deps = context();
    const { Records } = sqsEventSchema.parse(event);
    const byMailbox = new Map<string, { recordIds: string[]; messageIds: string[] }>();
    for (const record of Records) {
      const request = indexRequestSchema.parse(JSON.parse(record.body));
      const group = byMailbox.get(request.address) ?? { recordIds: [], messageIds: [] };
      group.recordIds.push(record.messageId);
      group.messageIds.push(request.messageId);
      byMailbox.set(request.address, group);
    }
    // No batching window: the batch is already gathered, and Lambda waits for nothing else.
    const queue = createIndexQueue(deps, { batchWindowMs: 0 });
    const failures: string[] = [];
    await Promise.all(
      [...byMailbox].map(async ([address, group]) => {
        try {
          await Promise.all(
            group.messageIds.map((id) =>
              indexMessage({ ...deps, queue }, id, [address]).catch((err) => {
                if (err instanceof NotFoundError) {
                  deps.log.warn('index request for a message with no record', { messageId: id });
                  return [];
                }
                throw err;
              }),
            ),
          );
        } catch (err) {
          deps.log.error('mailbox not indexed; its requests go back to the queue', {
            requests: group.recordIds.length,
            error: (err as Error).message,
          });
          failures.push(...group.recordIds);
        }
      }),
    );
    await queue.idle();
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export const handler = createIndexerHandler(defaultSearchDeps);
