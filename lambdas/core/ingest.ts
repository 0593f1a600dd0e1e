import type { BlobStore, Clock, ContinuityStore, Logger, MessageStore } from '../ports.js';
import type { LifeboatConfig } from './config.js';
import { holdReasonFor } from './holds.js';
import type { DeliveryRecord, MessageRecord, Verdicts } from './model.js';
import { decideDisposition } from './policy.js';
import { findProbeToken } from './probes.js';
import { normaliseAddress, resolveRoute } from './routing.js';
import { type IndexBody, type MessageReading, readMessage } from './summarise.js';

/** Items listed on a record: DynamoDB items are capped at 400 KB, and a list view needs no more. */
export const MAX_LISTED_ITEMS = 100;
/** Subjects longer than this are cut on the record (the raw message keeps them whole). */
export const MAX_SUBJECT_CHARS = 998; // RFC 5322 §2.1.1 line limit

export interface IngestInput {
  messageId: string;
  rawKey: string;
  envelopeFrom: string;
  recipients: string[];
  receivedAt: string;
  verdicts: Verdicts;
}

export interface IngestDeps {
  blobs: BlobStore;
  store: MessageStore;
  config: LifeboatConfig;
  clock: Clock;
  log: Logger;
  /** Where round-trip probe returns are recorded; without it they are treated as ordinary mail. */
  continuity?: ContinuityStore | undefined;
  /**
   * Parses a raw message once, for its record's summary and its search index body; the
   * single-node runtime gives its worker pool's, so the parse runs off its main thread. Never
   * throws for a bad message (see readMessage).
   * @default readMessage, in this thread
   */
  summarise?: ((raw: Buffer) => Promise<MessageReading>) | undefined;
}

export interface IngestResult {
  messageId: string;
  /** Recipients whose delivery this call created (empty when the event was seen before). */
  created: string[];
  /** Whether any delivery is waiting for a first attempt. */
  deliverable: boolean;
  /**
   * The message's search index body, from the parse that gave its summary, for the index requests
   * of `created` to carry; absent when there is nothing to index (no new delivery, a probe return).
   */
  index?: IndexBody;
}

/** Route name recorded for a recipient no route serves: it fails visibly instead of vanishing. */
export const NO_ROUTE = '(none)';

/**
 * Records a received message and one delivery per envelope recipient. Idempotent on
 * (messageId, recipient): a repeated event never resets a delivery that has moved on.
 */
export async function ingestMessage(input: IngestInput, deps: IngestDeps): Promise<IngestResult> {
  const { blobs, store, config, clock, log } = deps;
  // Holds are read while the raw message is fetched: two round trips in the time of one.
  const holdsRead = store.listHolds();
  holdsRead.catch(() => {}); // awaited below; a failed read throws there
  const raw = await blobs.getRaw(input.rawKey);
  const { summary, index } = await (deps.summarise ?? readMessage)(raw);
  let recipients = [...new Set(input.recipients.map(normaliseAddress))];
  const probeAddress = config.continuity.probes.roundTrip?.returnAddress;
  let probeToken: string | undefined;
  if (probeAddress && recipients.includes(probeAddress)) {
    // A returning round-trip probe: record the round trip; it never reaches a mailbox or a hand-over.
    recipients = recipients.filter((r) => r !== probeAddress);
    probeToken = findProbeToken(raw);
    const known = probeToken ? await deps.continuity?.getProbeToken(probeToken) : undefined;
    if (known && !known.returnedAt) {
      await deps.continuity?.putProbeToken({ ...known, returnedAt: clock.now().toISOString() });
    }
  }

  const message: MessageRecord = {
    id: input.messageId,
    rawKey: input.rawKey,
    envelopeFrom: input.envelopeFrom,
    recipients,
    receivedAt: input.receivedAt,
    size: raw.length,
    ...summary,
    subject: summary.subject === null ? null : summary.subject.slice(0, MAX_SUBJECT_CHARS),
    to: summary.to.slice(0, MAX_LISTED_ITEMS),
    cc: summary.cc.slice(0, MAX_LISTED_ITEMS),
    attachments: summary.attachments.slice(0, MAX_LISTED_ITEMS),
    verdicts: input.verdicts,
    ...(probeToken ? { probeToken } : {}),
  };
  await store.putMessage(message);
  if (summary.parseError) {
    log.warn('message kept unparsed', { messageId: input.messageId, parseError: summary.parseError });
  }

  const holds = await holdsRead;
  const disposition = decideDisposition(input.verdicts, config.policy);
  const now = clock.now().toISOString();
  const created: string[] = [];
  let deliverable = false;
  for (const recipient of recipients) {
    const route = resolveRoute(config, recipient);
    const holdReason = route ? holdReasonFor(route.name, holds, recipient) : null;
    const delivery: DeliveryRecord = {
      messageId: input.messageId,
      recipient,
      route: route?.name ?? NO_ROUTE,
      state: 'queued',
      attempts: 0,
      receivedAt: input.receivedAt,
      updatedAt: now,
      // Due for the sweeper a little later: the first attempt is requested right after ingest.
      nextAttemptAt: now,
      lastError: null,
      lastResponse: null,
      deliveredAt: null,
      reason: null,
      version: 1,
      leaseId: null,
      rawKey: input.rawKey,
      envelopeFrom: input.envelopeFrom,
    };
    if (!route) {
      Object.assign(delivery, {
        state: 'failed',
        nextAttemptAt: null,
        reason: 'no-route',
        lastError: `no route serves ${recipient}`,
      });
    } else if (disposition.state === 'quarantined') {
      Object.assign(delivery, { state: 'quarantined', nextAttemptAt: null, reason: disposition.reason });
    } else if (holdReason !== null) {
      Object.assign(delivery, { state: 'held', nextAttemptAt: null, reason: holdReason });
    }
    const wrote = await store.createDelivery(delivery);
    if (wrote) created.push(recipient);
    const stored = wrote ? delivery : await store.getDelivery({ messageId: input.messageId, recipient });
    if (stored?.state === 'queued') deliverable = true;
  }
  // The flow's `accepted` is counted from the message records once this minute has ended (a probe
  // round's roll-up, rollUpFlow), not written here: that was a write unit a message.
  log.info('message ingested', {
    messageId: input.messageId,
    size: raw.length,
    recipients: recipients.length,
    created: created.length,
    disposition: disposition.state,
  });
  return {
    messageId: input.messageId,
    created,
    deliverable,
    ...(created.length > 0 && !probeToken ? { index } : {}),
  };
}
