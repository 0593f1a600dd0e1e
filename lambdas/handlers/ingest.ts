import { SQSClient } from '@aws-sdk/client-sqs';
import { type Context, defaultContext } from '../adapters/context.js';
import { parseSesEvent, toIngestInput } from '../adapters/ses-event.js';
import { createSqsIndexRequests } from '../adapters/sqs-index-requests.js';
import { type IngestResult, ingestMessage } from '../core/ingest.js';
import type { IndexRequests } from '../ports.js';

export interface IngestHandlerOptions {
  /** Where new mail is sent to be indexed for search; without it nothing is asked for. */
  index?: IndexRequests | undefined;
}

/**
 * SES receipt rule, Lambda action (Event): record the message the S3 action stored, then ask
 * for its first delivery attempt and for its indexing into each new recipient's mailbox. A failed
 * request is left to the sweeper (delivery) or to a rebuild of the mailbox index (search),
 * never lost: the mail is recorded either way.
 */
export function createIngestHandler(context: () => Context, options: IngestHandlerOptions = {}) {
  return async (event: unknown): Promise<IngestResult[]> => {
    const ctx = context();
    const records = parseSesEvent(event);
    const results: IngestResult[] = [];
    for (const record of records) {
      const result = await ingestMessage(toIngestInput(record), ctx);
      if (result.deliverable) {
        try {
          await ctx.trigger.requestDelivery(result.messageId);
        } catch (err) {
          ctx.log.warn('first attempt not requested; the sweeper will pick it up', {
            messageId: result.messageId,
            error: (err as Error).message,
          });
        }
      }
      if (options.index && result.created.length > 0) {
        try {
          await options.index.requestIndex(result.messageId, result.created, result.index);
        } catch (err) {
          ctx.log.warn('indexing not requested; a rebuild of the mailbox index will pick it up', {
            messageId: result.messageId,
            mailboxes: result.created.length,
            error: (err as Error).message,
          });
        }
      }
      results.push(result);
    }
    return results;
  };
}

/** In AWS the stack sets INDEX_QUEUE_URL: the indexer's FIFO queue. */
function indexRequestsFromEnv(env: NodeJS.ProcessEnv = process.env): IndexRequests | undefined {
  const url = env.INDEX_QUEUE_URL;
  return url ? createSqsIndexRequests(new SQSClient({ region: env.AWS_REGION }), url) : undefined;
}

export const handler = createIngestHandler(defaultContext, { index: indexRequestsFromEnv() });
