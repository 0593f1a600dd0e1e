import type { BlobStore, Clock, ContinuityStore, Logger, MessageStore } from '../ports.js';
import { NotFoundError } from './errors.js';
import { type ReadingParts, readRaw } from './mailbox.js';
import type { MessageRecord } from './model.js';

export interface QuarantinePreviewDeps {
  store: MessageStore;
  blobs: BlobStore;
  continuity: ContinuityStore;
  clock: Clock;
  log: Logger;
}

/**
 * A quarantined message as an admin previews it: what the webmail's reading pane gets (headers,
 * text, HTML sanitised with remote images held back, the attachments listed), with no links at
 * all (no embedded images, no downloads: the preview is for judging the message, not for taking
 * what it carries), plus the verdicts and the quarantined deliveries with their reasons.
 */
export interface QuarantinePreview extends ReadingParts {
  id: string;
  receivedAt: string;
  date: string | null;
  fromName: string | null;
  envelopeFrom: string;
  size: number;
  hasAttachments: boolean;
  verdicts: MessageRecord['verdicts'];
  /** The deliveries of the message still in quarantine, each with the policy that put it there. */
  quarantined: { recipient: string; reason: string | null }[];
}

/**
 * Reads a quarantined message for an admin's preview and writes the read to the audit log
 * (`quarantine-view`): an admin opening mail a policy kept from its recipients leaves a trace,
 * like releasing it does. Only mail in quarantine: a message none of whose deliveries is
 * quarantined is not found here (the admin API is no reader of everyone's mail).
 * @throws NotFoundError when there is no such message or none of its deliveries is quarantined
 */
export async function previewQuarantined(
  deps: QuarantinePreviewDeps,
  messageId: string,
  actor: string,
): Promise<QuarantinePreview> {
  const [deliveries, message] = await Promise.all([
    deps.store.listDeliveries(messageId),
    deps.store.getMessage(messageId),
  ]);
  const held = deliveries.filter((d) => d.state === 'quarantined');
  if (!message || held.length === 0) throw new NotFoundError(`quarantined message ${messageId}`);
  const raw = await deps.blobs.getRaw(message.rawKey);
  const parts = await readRaw(deps, message, raw);
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action: 'quarantine-view',
    detail: `quarantined message ${messageId} previewed (${held.map((d) => d.reason ?? 'no verdict recorded').join(', ')})`,
    eventId: null,
    target: messageId,
  });
  return {
    ...parts,
    id: message.id,
    receivedAt: message.receivedAt,
    date: message.date,
    fromName: message.fromName ?? null,
    envelopeFrom: message.envelopeFrom,
    size: message.size,
    hasAttachments: message.attachments.length > 0,
    verdicts: message.verdicts,
    quarantined: held.map((d) => ({ recipient: d.recipient, reason: d.reason ?? null })),
  };
}
