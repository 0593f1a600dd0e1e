import type { FileBlobStore } from '../../lambdas/adapters/local/file-blobs.js';
import type { SesEvent } from '../../lambdas/adapters/ses-event.js';
import type { Clock, Logger, MessageStore } from '../../lambdas/ports.js';
import { RAW_PREFIX } from '../../lambdas/storage-layout.js';
import type { ReceiptStore } from './receipts.js';

/**
 * Messages within this many days of the records' lifetime are taken as expired, not unrecorded:
 * their record may have been purged. Missing one would take a runtime stopped for the whole
 * history window right after a crash.
 */
const EXPIRY_MARGIN_DAYS = 1;

export interface RecoveryDeps {
  blobs: FileBlobStore;
  receipts: ReceiptStore;
  store: MessageStore;
  /** The ingest handler, given the receipt's event as the receiver gave it. */
  ingest: (event: SesEvent) => Promise<unknown>;
  clock: Clock;
  /** Records are kept this long (`recordDays`); an older message without one has expired, not been lost. */
  recordDays: number;
  log: Logger;
}

export interface RecoveryResult {
  /** Raw messages that had no record, ingested now from their receipt. */
  recovered: number;
  /** Raw messages without a record or a receipt: never acknowledged, so left as they are. */
  unacknowledged: number;
  /** Raw messages whose ingest failed again; the next start tries them again. */
  failed: number;
  /** Raw messages older than the records' lifetime, whose record expired: never delivered again. */
  expired: number;
}

/**
 * Finishes what a crash interrupted on the receiving side, as SES retries its Lambda action: every
 * raw message with no message record is ingested from its receipt. The receiver stores both, each
 * fsynced, before ingest and before its `250`, so an acknowledged message always has both; a raw
 * file without a receipt was never acknowledged (its sender still holds it and sends it again).
 * Temp files of writes a crash cut short are removed: none was acknowledged either. A message
 * about as old as the records' lifetime has no record because its record expired (the raw mail
 * stays longer): it is not ingested again.
 */
export async function recoverUnrecorded(deps: RecoveryDeps): Promise<RecoveryResult> {
  const { log } = deps;
  const temps = (await deps.blobs.removeTempFiles()) + (await deps.receipts.removeTempFiles());
  if (temps > 0)
    log.info('removed files of writes a crash cut short (none was acknowledged)', { files: temps });

  const result: RecoveryResult = { recovered: 0, unacknowledged: 0, failed: 0, expired: 0 };
  // A day's margin: a record close to its expiry may have gone in the last purge.
  const oldest = deps.clock.now().getTime() - (deps.recordDays - EXPIRY_MARGIN_DAYS) * 86_400_000;
  const unacknowledged: string[] = [];
  for (const key of await deps.blobs.listRaw()) {
    const id = key.slice(RAW_PREFIX.length);
    if (await deps.store.getMessage(id)) continue;
    const event = await deps.receipts.get(id).catch((err: Error) => {
      log.error('receipt unreadable; the message is not ingested', { messageId: id, error: err.message });
      return null;
    });
    if (event === null) {
      result.failed++;
      continue;
    }
    if (event === undefined) {
      unacknowledged.push(id);
      continue;
    }
    if (Date.parse(event.Records[0]?.ses.mail.timestamp ?? '') < oldest) {
      result.expired++;
      continue;
    }
    try {
      await deps.ingest(event);
      result.recovered++;
    } catch (err) {
      result.failed++;
      log.error('ingest of an unrecorded message failed; the next start tries again', {
        messageId: id,
        error: (err as Error).message,
      });
    }
  }
  result.unacknowledged = unacknowledged.length;
  if (unacknowledged.length > 0) {
    log.warn('raw messages without a receipt were never acknowledged; left undelivered', {
      count: unacknowledged.length,
      first: unacknowledged[0],
    });
  }
  return result;
}
