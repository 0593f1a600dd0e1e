import { type Context, defaultContext } from '../adapters/context.js';
import { parseSesEvent, toIngestInput } from '../adapters/ses-event.js';
import { type IngestResult, ingestMessage } from '../core/ingest.js';

/**
 * SES receipt rule, Lambda action (Event): record the message the S3 action stored, then ask
 * for its first delivery attempt. A failed request is left to the sweeper, never lost.
 */
export function createIngestHandler(context: () => Context) {
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
      results.push(result);
    }
    return results;
  };
}

export const handler = createIngestHandler(defaultContext);
