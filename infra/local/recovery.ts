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
  /**
   * Raw messages without a record or an acknowledged receipt: never acknowledged (the process
   * died before their 250, and their senders send them again), so left undelivered.
   */
  unacknowledged: number;
  /** Raw messages whose ingest failed again; the sweeps and the next start try them again. */
  failed: number;
  /** The ids of the `failed` ones, for the retries while running. */
  failedIds: string[];
  /** Raw messages older than the records' lifetime, whose record expired: never delivered again. */
  expired: number;
}

/**
 * Whether ingest finished for a message: its record is written, and a delivery for each of its
 * recipients. Ingest writes the record first, so a crash part-way leaves a record whose missing
 * deliveries only a second ingest creates.
 */
export async function isRecorded(store: MessageStore, id: string): Promise<boolean> {
  const message = await store.getMessage(id);
  if (!message) return false;
  if (message.recipients.length === 0) return true;
  const created = new Set((await store.listDeliveries(id)).map((d) => d.recipient));
  return message.recipients.every((r) => created.has(r));
}

/**
 * Finishes what a crash interrupted on the receiving side, as SES retries its Lambda action: every
 * raw message whose ingest did not finish (no record, or a record without all its deliveries) is
 * ingested from its receipt. The receiver stores both, each fsynced, before its `250` (ingest runs
 * after it), so an acknowledged message always has both; a raw file without a receipt was never
 * acknowledged (its sender still holds it and sends it again). A receipt still staged was never
 * acknowledged either if it is of this boot (a crash of the process keeps every rename it made),
 * and is removed; one of an earlier boot may have lost its acknowledging rename to a power cut,
 * and counts as acknowledged.
 * Temp files of writes a crash cut short are removed: none was acknowledged either. A message
 * about as old as the records' lifetime has no record because its record expired (the raw mail
 * stays longer): it is not ingested again.
 */
export async function recoverUnrecorded(deps: RecoveryDeps): Promise<RecoveryResult> {
  const { log } = deps;
  const temps = (await deps.blobs.removeTempFiles()) + (await deps.receipts.removeTempFiles());
  if (temps > 0)
    log.info('removed files of writes a crash cut short (none was acknowledged)', { files: temps });

  const rawKeys = await deps.blobs.listRaw();
  const rawIds = new Set(rawKeys.map((key) => key.slice(RAW_PREFIX.length)));
  const neverAcknowledged = new Map<string, string>();
  for (const [id, boot] of await deps.receipts.listStaged()) {
    if (boot !== deps.receipts.bootId && rawIds.has(id)) await deps.receipts.promoteStaged(id, boot);
    else neverAcknowledged.set(id, boot);
  }
  await deps.receipts.discardStaged(neverAcknowledged);
  if (neverAcknowledged.size > 0)
    log.info(
      'removed the receipts of messages the process died before acknowledging (their senders send them again)',
      {
        count: neverAcknowledged.size,
      },
    );

  const result: RecoveryResult = { recovered: 0, unacknowledged: 0, failed: 0, failedIds: [], expired: 0 };
  // A day's margin: a record close to its expiry may have gone in the last purge.
  const oldest = deps.clock.now().getTime() - (deps.recordDays - EXPIRY_MARGIN_DAYS) * 86_400_000;
  const unacknowledged: string[] = [];
  for (const key of rawKeys) {
    const id = key.slice(RAW_PREFIX.length);
    if (await isRecorded(deps.store, id)) continue;
    const event = await deps.receipts.get(id).catch((err: Error) => {
      log.error('receipt unreadable; the message is not ingested', { messageId: id, error: err.message });
      return null;
    });
    if (event === null) {
      result.failedIds.push(id);
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
      result.failedIds.push(id);
      log.error('ingest of an unrecorded message failed; the sweeps try again', {
        messageId: id,
        error: (err as Error).message,
      });
    }
  }
  result.unacknowledged = unacknowledged.length;
  result.failed = result.failedIds.length;
  if (unacknowledged.length > 0) {
    log.warn('raw messages without a receipt were never acknowledged; left undelivered', {
      count: unacknowledged.length,
      first: unacknowledged[0],
    });
  }
  return result;
}

/**
 * Ingests of acknowledged messages running at once; the rest wait their turn, in arrival order.
 * Each holds its raw message in memory (up to 40 MB), and more would only queue for the CPU and
 * SQLite's one writer.
 */
export const INGEST_CONCURRENCY = 8;

/**
 * Times ingest is invoked for one acknowledged message, one after the other, before the message
 * waits for the next retry round: Lambda retries a failed asynchronous invocation twice. Ingest is
 * idempotent, so a retry finishes what a passing store error interrupted.
 */
export const INGEST_ATTEMPTS = 3;

/**
 * A failed ingest is taken again by a retry round no sooner than this after it failed: an error of
 * the moment (a busy database, a disk being cleared) has time to pass first.
 */
export const RETRY_AFTER_MS = 5_000;

/** Acknowledged messages not recorded yet, for `GET /admin/status`. */
export interface UnrecordedCounts {
  /** Being ingested now, or waiting their turn: normally a few, for a few milliseconds. */
  ingesting: number;
  /**
   * Whose ingest failed: kept as raw message and receipt, ingested again on every sweep (and at
   * start-up) until it succeeds. Anything but 0 for long means the store refuses writes.
   */
  awaitingRetry: number;
}

/** What one retry round did. */
export interface RetryResult {
  /** Messages ingested again. */
  retried: number;
  /** Of those, recorded now. */
  recorded: number;
}

export interface IngestQueueDeps {
  /** The ingest handler, given the receipt's event as the receiver built it. */
  ingest: (event: SesEvent) => Promise<unknown>;
  /**
   * Where a retry reads the event of a message start-up could not ingest. Without it (a test's
   * in-memory stores) only the events of this process's own failures are retried.
   */
  receipts?: Pick<ReceiptStore, 'get'>;
  clock: Clock;
  log: Logger;
  /** Registers background work, so that whoever waits for the runtime to be idle waits for it too. */
  track?: (work: Promise<unknown>) => void;
}

/**
 * The local stand-in for SES invoking its Lambda action after the `250`: asynchronously, and again
 * after a failure. Messages come in from the receiver once they are durable and acknowledged.
 */
export interface IngestQueue {
  /** Ingests an acknowledged message in the background (up to INGEST_ATTEMPTS times at once). */
  submit(event: SesEvent): void;
  /** Takes the messages start-up recovery could not ingest, for the retry rounds. */
  adopt(ids: readonly string[]): void;
  /**
   * One retry round: ingests again every message whose ingest failed at least RETRY_AFTER_MS ago
   * and is not being ingested now. Run on the sweep timer.
   */
  retry(): Promise<RetryResult>;
  counts(): UnrecordedCounts;
}

function messageIdOf(event: SesEvent): string {
  return event.Records[0]?.ses.mail.messageId ?? '';
}

/**
 * Runs ingest for acknowledged messages, at most INGEST_CONCURRENCY at once, in arrival order, and
 * keeps every message whose ingest failed for the next retry round. Nothing is dropped: a failed
 * message stays a raw file with its receipt (start-up recovery finds it after a restart), is
 * counted in `awaitingRetry`, and is named in the log line of each failure.
 */
export function createIngestQueue(deps: IngestQueueDeps): IngestQueue {
  const { log, clock } = deps;
  const inFlight = new Set<string>();
  const failed = new Map<string, { event?: SesEvent; failedAt: number }>();
  const turns: Array<() => void> = [];
  let running = 0;

  const takeTurn = async (): Promise<void> => {
    if (running < INGEST_CONCURRENCY) {
      running++;
      return;
    }
    // The running count passes to the waiter as is: one leaves, one enters.
    await new Promise<void>((resolve) => turns.push(resolve));
  };
  const endTurn = () => {
    const next = turns.shift();
    if (next) next();
    else running--;
  };

  /** Ingests one message up to `attempts` times; true once it is recorded. */
  async function ingestOnce(id: string, event: SesEvent, attempts: number): Promise<boolean> {
    await takeTurn();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await deps.ingest(event);
          failed.delete(id);
          return true;
        } catch (err) {
          if (attempt < attempts) {
            log.warn('ingest failed; invoking it again as Lambda would', {
              messageId: id,
              attempt,
              error: (err as Error).message,
            });
            continue;
          }
          failed.set(id, { event, failedAt: clock.now().getTime() });
          log.error('ingest failed; the message is kept as received and ingested again on the next sweep', {
            messageId: id,
            error: (err as Error).message,
          });
          return false;
        }
      }
    } finally {
      inFlight.delete(id);
      endTurn();
    }
  }

  return {
    submit(event) {
      const id = messageIdOf(event);
      inFlight.add(id);
      const work = ingestOnce(id, event, INGEST_ATTEMPTS);
      deps.track?.(work);
    },
    adopt(ids) {
      const now = clock.now().getTime();
      for (const id of ids) if (!failed.has(id)) failed.set(id, { failedAt: now });
    },
    async retry() {
      const due = clock.now().getTime() - RETRY_AFTER_MS;
      const result: RetryResult = { retried: 0, recorded: 0 };
      for (const [id, entry] of [...failed]) {
        if (entry.failedAt > due || inFlight.has(id)) continue;
        const event =
          entry.event ??
          (await deps.receipts?.get(id).catch((err: Error) => {
            log.error('receipt unreadable; the message is not ingested', {
              messageId: id,
              error: err.message,
            });
            return undefined;
          }));
        if (!event) {
          entry.failedAt = clock.now().getTime();
          continue;
        }
        inFlight.add(id);
        result.retried++;
        if (await ingestOnce(id, event, 1)) result.recorded++;
      }
      if (result.retried > 0) log.info('ingest retried for unrecorded messages', { ...result });
      return result;
    },
    counts: () => ({
      ingesting: [...inFlight].filter((id) => !failed.has(id)).length,
      awaitingRetry: failed.size,
    }),
  };
}
