import * as z from 'zod';
import { formatIssues } from '../core/config.js';
import { ValidationError } from '../core/errors.js';
import type { IngestInput } from '../core/ingest.js';
import type { VerdictStatus } from '../core/model.js';
import { RAW_PREFIX } from '../storage-layout.js';

/** The S3 action's object key prefix (declared with the storage layout), re-exported for the receivers. */
export { RAW_PREFIX };

const verdict = z.object({ status: z.string() });
const statuses = new Set(['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED']);
const toStatus = (v: { status: string } | undefined): VerdictStatus =>
  v && statuses.has(v.status) ? (v.status as VerdictStatus) : 'PROCESSING_FAILED';

/** One record of the SES receipt rule's Lambda action event (only what Lifeboat reads). */
export const sesRecordSchema = z.object({
  eventSource: z.literal('aws:ses'),
  ses: z.object({
    mail: z.object({
      timestamp: z.string().datetime({ offset: true }),
      source: z.string(),
      messageId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be an SES message id'),
      destination: z.array(z.string()).optional(),
    }),
    receipt: z.object({
      timestamp: z.string().optional(),
      recipients: z.array(z.string().min(3)).min(1, 'an SES receipt names at least one recipient'),
      spamVerdict: verdict.optional(),
      virusVerdict: verdict.optional(),
      spfVerdict: verdict.optional(),
      dkimVerdict: verdict.optional(),
      dmarcVerdict: verdict.optional(),
      dmarcPolicy: z.string().optional(),
      action: z.object({ type: z.string() }).loose().optional(),
    }),
  }),
});

export const sesEventSchema = z.object({ Records: z.array(sesRecordSchema).min(1) });
export type SesEvent = z.input<typeof sesEventSchema>;
export type SesRecord = z.infer<typeof sesRecordSchema>;

/** Validates an SES event, listing every problem by path. */
export function parseSesEvent(event: unknown): SesRecord[] {
  const result = sesEventSchema.safeParse(event);
  if (!result.success) throw new ValidationError('SES event', formatIssues(result.error.issues));
  return result.data.Records;
}

/** Maps one SES record to ingest's input. Routing uses `receipt.recipients` (the envelope), never To/Cc. */
export function toIngestInput(record: SesRecord): IngestInput {
  const { mail, receipt } = record.ses;
  const policy = receipt.dmarcPolicy?.toUpperCase();
  return {
    messageId: mail.messageId,
    rawKey: `${RAW_PREFIX}${mail.messageId}`,
    envelopeFrom: mail.source,
    recipients: receipt.recipients,
    receivedAt: new Date(mail.timestamp).toISOString(),
    verdicts: {
      spam: toStatus(receipt.spamVerdict),
      virus: toStatus(receipt.virusVerdict),
      spf: toStatus(receipt.spfVerdict),
      dkim: toStatus(receipt.dkimVerdict),
      dmarc: toStatus(receipt.dmarcVerdict),
      dmarcPolicy: policy === 'NONE' || policy === 'QUARANTINE' || policy === 'REJECT' ? policy : undefined,
    },
  };
}
