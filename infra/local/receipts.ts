import { type BlobFs, createFileBlobs } from '../../lambdas/adapters/local/file-blobs.js';
import { type SesEvent, sesEventSchema } from '../../lambdas/adapters/ses-event.js';
import { NotFoundError } from '../../lambdas/core/errors.js';

/** Key prefix of receipts in their folder: `receipt/<sesMessageId>` is the file `<dir>/<sesMessageId>`. */
const RECEIPT_PREFIX = 'receipt/';

/**
 * What the receiver knew of a message besides its bytes: the SES-shaped event it handed to
 * ingest (envelope sender and recipients, arrival time, verdicts). SES keeps this in its own
 * retry of the Lambda action; on one machine it is a file, written as durably as the raw message
 * and before the `250`, so that start-up can finish an ingest a crash interrupted with exactly the
 * event the receiver built. Kept after ingest: with the raw message it is all a record is built from.
 */
export interface ReceiptStore {
  /** Stores the event of one message (temp file, fsync, rename, fsync of the folder). */
  put(event: SesEvent): Promise<void>;
  /** The stored event of a message, or undefined when none was stored. */
  get(sesMessageId: string): Promise<SesEvent | undefined>;
  /** Removes temp files a crash left behind; returns how many. */
  removeTempFiles(): Promise<number>;
}

/** The SES message id an event is about (the receiver's events carry one record). */
function idOf(event: SesEvent): string {
  const id = event.Records[0]?.ses.mail.messageId;
  if (!id) throw new Error('an SES event names a message');
  return id;
}

/**
 * Receipts in a folder of their own (0700, files 0600), written through the same file store as
 * raw mail, and so through the same fs layer a test can record.
 */
export function createReceiptStore(dir: string, options: { fs?: BlobFs } = {}): ReceiptStore {
  const files = createFileBlobs(dir, { prefix: RECEIPT_PREFIX, ...(options.fs ? { fs: options.fs } : {}) });
  return {
    put: (event) => files.putRaw(`${RECEIPT_PREFIX}${idOf(event)}`, Buffer.from(JSON.stringify(event))),
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
    removeTempFiles: () => files.removeTempFiles(),
  };
}
