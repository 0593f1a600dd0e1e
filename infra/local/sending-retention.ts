import * as fs from 'node:fs/promises';
import path from 'node:path';
import { UPLOAD_RECORD_DAYS } from '../../lambdas/core/sending/uploads.js';
import type { SendingKind } from '../../lambdas/ports.js';

/**
 * A blob is written just before the record that names it (a draft's body before its record, a
 * message as sent before its outgoing record, a file only after its upload record): one without
 * a record younger than this may be one whose record is being written, and is left for the next
 * purge. A write takes milliseconds; an hour is the purge's own interval.
 */
export const ORPHAN_GRACE_MS = 3_600_000;
/**
 * A temp file (name starting with a dot) older than this was left by a crash mid-write: none was
 * ever renamed into place, so nothing refers to it.
 */
export const TEMP_FILE_MAX_AGE_MS = 86_400_000;

/** The sending side's folders, one per key prefix, each file named by its record's id. */
export interface SendingFolders {
  drafts: string;
  uploads: string;
  outgoing: string;
}

export interface SendingRetentionOptions {
  folders: SendingFolders;
  /** The ids of the records of a kind that exist now (after expired records were purged). */
  ids(kind: SendingKind): Set<string>;
  now: Date;
}

/** Files removed, by folder (temp files a crash left counted apart). */
export interface SendingRetentionResult {
  drafts: number;
  uploads: number;
  outgoing: number;
  temp: number;
}

/**
 * The local runtime's S3 lifecycle rules for the sending blobs, done by the hourly purge right
 * after the sending records past their time are removed (DynamoDB's TTL, done here):
 * - `uploads/`: a file older than UPLOAD_RECORD_DAYS goes, as its upload record and the S3 rule
 *   `expire-uploads` do; a message that used it keeps its own copy under `outgoing/`;
 * - `drafts/`: a body goes with its draft (deleted, sent, or past the history window with its
 *   record); sending and deleting remove it at once, this catches what a crash left;
 * - `outgoing/`: a message as sent goes with its outgoing record, which lives for the history
 *   window (the S3 rule `expire-outgoing`), and so is kept while it is waiting, being sent or
 *   retried, and while a relay's later bounce may still need to quote it; its sent copy for the
 *   primary is a message of its own under `raw/`;
 * and in each, a file with no record past ORPHAN_GRACE_MS, and temp files past TEMP_FILE_MAX_AGE_MS.
 * A file's modification time is its last write.
 */
export async function purgeSendingFiles(options: SendingRetentionOptions): Promise<SendingRetentionResult> {
  const now = options.now.getTime();
  const result: SendingRetentionResult = { drafts: 0, uploads: 0, outgoing: 0, temp: 0 };
  const folders: Array<[keyof SendingFolders, SendingKind, number]> = [
    ['drafts', 'draft', Number.POSITIVE_INFINITY],
    ['uploads', 'upload', UPLOAD_RECORD_DAYS * 86_400_000],
    ['outgoing', 'outgoing', Number.POSITIVE_INFINITY],
  ];
  for (const [folder, kind, maxAgeMs] of folders) {
    const dir = options.folders[folder];
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const live = options.ids(kind);
    for (const name of names) {
      const file = path.join(dir, name);
      let age: number;
      try {
        const st = await fs.stat(file);
        if (!st.isFile()) continue;
        age = now - st.mtimeMs;
      } catch (err) {
        // Removed meanwhile: nothing left to do for it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const temp = name.startsWith('.');
      const expired = temp
        ? age > TEMP_FILE_MAX_AGE_MS
        : age > maxAgeMs || (!live.has(name) && age > ORPHAN_GRACE_MS);
      if (!expired) continue;
      try {
        await fs.unlink(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (temp) result.temp++;
      else result[folder]++;
    }
  }
  return result;
}
