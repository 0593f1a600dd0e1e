import type { DeliveryTrigger, IndexRequests } from '../../ports.js';
import { type IngestDeps, type IngestResult, ingestMessage } from '../ingest.js';
import type { Verdicts } from '../model.js';
import type { Intake } from './records.js';

/**
 * Verdicts of mail Lifeboat wrote itself for a signed-in user or as a notice: nothing to check
 * (no other server handed it over), so every verdict passes and the policy delivers it.
 */
export const OWN_MAIL_VERDICTS: Verdicts = {
  spam: 'PASS',
  virus: 'PASS',
  spf: 'PASS',
  dkim: 'PASS',
  dmarc: 'PASS',
};

export interface IntakeDeps extends IngestDeps {
  trigger: DeliveryTrigger;
  /** Where new mail is sent to be indexed (AWS: the indexer's queue). */
  index?: IndexRequests | undefined;
  /** Told of each message taken in (the local runtime indexes it in-process). */
  onIngested?: ((result: IngestResult) => void) | undefined;
}

/**
 * Takes in mail for the organisation's own domains the way SES's receipt rule does: the raw
 * message stored (`raw/<id>`), ingested (one delivery per recipient, held during an event), its
 * first attempt asked for and its recipients' indexes updated. A failed request for delivery or
 * indexing is left to the sweeper or an index rebuild, as for inbound mail.
 */
export function createIntake(deps: IntakeDeps): Intake {
  return {
    async accept(input) {
      const rawKey = `raw/${input.id}`;
      await deps.blobs.putRaw(rawKey, input.raw);
      const result = await ingestMessage(
        {
          messageId: input.id,
          rawKey,
          envelopeFrom: input.envelopeFrom,
          recipients: input.recipients,
          receivedAt: input.receivedAt,
          verdicts: OWN_MAIL_VERDICTS,
        },
        deps,
      );
      if (result.deliverable) {
        await deps.trigger.requestDelivery(result.messageId).catch((err: Error) =>
          deps.log.warn('first attempt not requested; the sweeper will pick it up', {
            messageId: result.messageId,
            error: err.message,
          }),
        );
      }
      if (result.created.length > 0) {
        deps.onIngested?.(result);
        await deps.index?.requestIndex(result.messageId, result.created, result.index).catch((err: Error) =>
          deps.log.warn('indexing not requested; a rebuild of the mailbox index will pick it up', {
            messageId: result.messageId,
            error: err.message,
          }),
        );
      }
      return result;
    },
  };
}
