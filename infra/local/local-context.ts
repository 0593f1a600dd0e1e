import type { Context } from '../../lambdas/adapters/context.js';
import { type BlobFs, createFileBlobs, type FileBlobStore } from '../../lambdas/adapters/local/file-blobs.js';
import {
  openSqliteSendingStore,
  type SqliteSendingStore,
} from '../../lambdas/adapters/local/sqlite-sending.js';
import { openSqliteStore, type SqliteStore } from '../../lambdas/adapters/local/sqlite-store.js';
import { passwordSource } from '../../lambdas/adapters/passwords.js';
import { createSmtpMailer } from '../../lambdas/adapters/smtp-mailer.js';
import { createSmtpProber } from '../../lambdas/adapters/smtp-prober.js';
import { type LifeboatConfig, recordDays } from '../../lambdas/core/config.js';
import {
  type Clock,
  type DeliveryTrigger,
  type Logger,
  type Mailer,
  type Notifier,
  type SmtpProber,
  systemClock,
} from '../../lambdas/ports.js';
import type { DataLayout } from './data-dir.js';
import { createReceiptStore, type ReceiptStore } from './receipts.js';

/**
 * Region for Secrets Manager when a route's SMTP password names a secret and no environment
 * variable: the single-node runtime otherwise talks to no AWS service.
 */
const SECRETS_REGION = process.env.AWS_REGION ?? 'us-east-1';

/**
 * Raw messages kept in memory after their write for the reads that follow it at once (ingest, the
 * search indexer, the first delivery): a minute and 64 MiB at most, so a burst of large messages
 * costs a bounded amount of memory and anything older is read from its file.
 */
const RECENT_RAW = { maxBytes: 64 * 1024 * 1024, maxAgeMs: 60_000 };

/** The single-node runtime's stores, all under its data folder; nothing listens for them. */
export interface LocalStores {
  /** Records in SQLite (`lifeboat.db`): messages, deliveries, holds and continuity. */
  store: SqliteStore;
  /** Raw messages (`raw/`), fsynced before the SMTP 250. */
  blobs: FileBlobStore;
  /** The receiver's event for each message (`receipts/`), fsynced with it. */
  receipts: ReceiptStore;
  /** The admin console's job records (replays, drills, notices, settings), in `lifeboat.db` too. */
  jobs: SqliteSendingStore;
}

/**
 * Opens the stores of a prepared data folder (see prepareDataDir).
 * @param fs the file calls of the raw and receipt folders; node:fs/promises unless a test records them
 */
export function openLocalStores(layout: DataLayout, config: LifeboatConfig, fs?: BlobFs): LocalStores {
  const withFs = fs ? { fs } : {};
  return {
    // Records expire with the history window; the raw mail stays for retentionDays.
    store: openSqliteStore(layout.database, { retentionDays: recordDays(config) }),
    blobs: createFileBlobs(layout.rawDir, { ...withFs, cache: RECENT_RAW }),
    receipts: createReceiptStore(layout.receiptsDir, withFs),
    jobs: openSqliteSendingStore(layout.database),
  };
}

export interface LocalContextParts {
  log: Logger;
  notifier: Notifier;
  trigger: DeliveryTrigger;
  clock?: Clock | undefined;
  mailer?: Mailer | undefined;
  prober?: SmtpProber | undefined;
  /** @see Context.summarise */
  summarise?: Context['summarise'];
}

/**
 * The handlers' context on one machine: the same core and the same SMTP adapters as in AWS,
 * over the local stores. It builds no AWS client: in Lambda, createContext builds the DynamoDB,
 * S3 and SNS ones from the environment.
 */
export function createLocalContext(
  config: LifeboatConfig,
  stores: LocalStores,
  parts: LocalContextParts,
): Context {
  const passwords = passwordSource(SECRETS_REGION);
  return {
    config,
    store: stores.store,
    continuity: stores.store,
    blobs: stores.blobs,
    notifier: parts.notifier,
    trigger: parts.trigger,
    log: parts.log,
    clock: parts.clock ?? systemClock,
    mailer: parts.mailer ?? createSmtpMailer({ hostname: config.hostname, passwords }),
    prober: parts.prober ?? createSmtpProber({ hostname: config.hostname, passwords }),
    ...(parts.summarise ? { summarise: parts.summarise } : {}),
    jobs: stores.jobs,
  };
}
