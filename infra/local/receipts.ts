import { readFileSync, renameSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { type BlobFs, createFileBlobs } from '../../lambdas/adapters/local/file-blobs.js';
import { type SesEvent, sesEventSchema } from '../../lambdas/adapters/ses-event.js';
import { NotFoundError } from '../../lambdas/core/errors.js';

/** Key prefix of receipts in their folder: `receipt/<sesMessageId>` is the file `<dir>/<sesMessageId>`. */
const RECEIPT_PREFIX = 'receipt/';

/** A staged receipt is the file `<sesMessageId>.staged.<boot id>` until its message is acknowledged. */
const STAGED_MARK = '.staged.';

/** Where Linux names the current boot: a new random id at every boot, the same for the boot's whole life. */
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/**
 * This machine's boot id, or undefined where the system gives none (then receipts are stored
 * acknowledged at once, as before staging existed).
 */
export function currentBootId(): string | undefined {
  try {
    const id = readFileSync(BOOT_ID_FILE, 'utf8').trim();
    return /^[0-9a-f-]+$/i.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the receiver knew of a message besides its bytes: the SES-shaped event it handed to
 * ingest (envelope sender and recipients, arrival time, verdicts). SES keeps this in its own
 * retry of the Lambda action; on one machine it is a file, written as durably as the raw message
 * and before the `250`, so that start-up can finish an ingest a crash interrupted with exactly the
 * event the receiver built. Kept after ingest: with the raw message it is all a record is built from.
 *
 * A receipt's name says whether its message was acknowledged. The receiver stages it (durable,
 * under a name carrying the boot id) and renames it to `<id>` just before the `250`. After a
 * crash of the process alone (kill -9, OOM) the machine's page cache survives, so a staged
 * receipt of this boot is a message whose `250` was never sent: its sender still has it and sends
 * it again, and delivering this copy too would store the message twice. After a power cut the
 * rename may be lost although the `250` went out, so a staged receipt of an earlier boot counts
 * as acknowledged. The window in which a kill stores a message twice is thus one rename, not the
 * fsyncs before it.
 */
export interface ReceiptStore {
  /** Stores the event of one message, acknowledged (temp file, fsync, rename, fsync of the folder). */
  put(event: SesEvent): Promise<void>;
  /**
   * Stores the event of a message not acknowledged yet, as durably as `put`, under its staged
   * name; where the system has no boot id, the same as `put`.
   */
  stage(event: SesEvent): Promise<void>;
  /**
   * Marks a staged receipt acknowledged: one rename, not followed by a folder fsync (a power cut
   * that loses it leaves a staged receipt of an earlier boot, which counts as acknowledged). It is
   * made at once, in the calling tick, so that the `250` written right after it follows it with
   * nothing in between: an awaited rename would leave the reply waiting for a busy event loop.
   */
  acknowledge(sesMessageId: string): void;
  /** The acknowledged event of a message, or undefined when none was stored. */
  get(sesMessageId: string): Promise<SesEvent | undefined>;
  /** Staged receipts left by a crash: message id → the boot they were written in. */
  listStaged(): Promise<Map<string, string>>;
  /** A staged receipt of an earlier boot becomes acknowledged: renamed, and the folder fsynced. */
  promoteStaged(sesMessageId: string, bootId: string): Promise<void>;
  /** Removes staged receipts of messages never acknowledged, then fsyncs the folder. */
  discardStaged(staged: ReadonlyMap<string, string>): Promise<void>;
  /** Removes temp files a crash left behind; returns how many. */
  removeTempFiles(): Promise<number>;
  /** The boot receipts are staged in now; undefined where the system has no boot id. */
  readonly bootId: string | undefined;
}

/** The SES message id an event is about (the receiver's events carry one record). */
function idOf(event: SesEvent): string {
  const id = event.Records[0]?.ses.mail.messageId;
  if (!id) throw new Error('an SES event names a message');
  return id;
}

/** The rename `acknowledge` makes, synchronously. */
export interface SyncRename {
  renameSync(from: string, to: string): void;
}

export interface ReceiptStoreOptions {
  /** @default node:fs/promises, and node:fs's renameSync for `acknowledge` unless this has one */
  fs?: BlobFs & Partial<SyncRename>;
  /** The current boot's id. @default currentBootId() */
  bootId?: string | undefined;
}

/**
 * Receipts in a folder of their own (0700, files 0600), written through the same file store as
 * raw mail, and so through the same fs layer a test can record.
 */
export function createReceiptStore(dir: string, options: ReceiptStoreOptions = {}): ReceiptStore {
  const fs: BlobFs = options.fs ?? nodeFs;
  const renameNow = options.fs?.renameSync ?? renameSync;
  const root = path.resolve(dir);
  const files = createFileBlobs(dir, { prefix: RECEIPT_PREFIX, ...(options.fs ? { fs: options.fs } : {}) });
  const bootId = 'bootId' in options ? options.bootId : currentBootId();
  const stagedName = (id: string, boot: string) => `${id}${STAGED_MARK}${boot}`;
  const bytesOf = (event: SesEvent) => Buffer.from(JSON.stringify(event));

  async function syncDir(): Promise<void> {
    const handle = await fs.open(root, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    bootId,
    put: (event) => files.putRaw(`${RECEIPT_PREFIX}${idOf(event)}`, bytesOf(event)),
    stage(event) {
      const id = idOf(event);
      const name = bootId ? stagedName(id, bootId) : id;
      return files.putRaw(`${RECEIPT_PREFIX}${name}`, bytesOf(event));
    },
    acknowledge(sesMessageId) {
      if (bootId) renameNow(path.join(root, stagedName(sesMessageId, bootId)), path.join(root, sesMessageId));
    },
    async get(sesMessageId) {
      let bytes: Buffer;
      try {
        bytes = await files.getRaw(`${RECEIPT_PREFIX}${sesMessageId}`);
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
      return sesEventSchema.parse(JSON.parse(bytes.toString('utf8')));
    },
    async listStaged() {
      const staged = new Map<string, string>();
      for (const key of await files.listRaw()) {
        const name = key.slice(RECEIPT_PREFIX.length);
        const at = name.indexOf(STAGED_MARK);
        if (at > 0) staged.set(name.slice(0, at), name.slice(at + STAGED_MARK.length));
      }
      return staged;
    },
    async promoteStaged(sesMessageId, boot) {
      await fs.rename(path.join(root, stagedName(sesMessageId, boot)), path.join(root, sesMessageId));
      await syncDir();
    },
    async discardStaged(staged) {
      if (staged.size === 0) return;
      for (const [id, boot] of staged) await fs.unlink(path.join(root, stagedName(id, boot)));
      // Durably gone: a staged receipt that came back after a power cut would count as acknowledged.
      await syncDir();
    },
    removeTempFiles: () => files.removeTempFiles(),
  };
}
