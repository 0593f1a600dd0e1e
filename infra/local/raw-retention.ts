import * as nodeFs from 'node:fs/promises';
import path from 'node:path';

/** A file name the stores never give a message: their temp files start with a dot. */
const isTempName = (name: string) => name.startsWith('.');

/** The fs calls the purge makes; node:fs/promises by default, a fake in tests. */
export interface RetentionFs {
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<{ mtimeMs: number; isFile(): boolean }>;
  unlink(file: string): Promise<void>;
}

export interface RawRetentionOptions {
  /** Raw messages, one file each (`raw/`). */
  rawDir: string;
  /** The receipts beside them, named by the same message id (staged ones carry a suffix). */
  receiptsDir: string;
  /** Files last written before this go. */
  cutoff: Date;
  fs?: RetentionFs;
}

export interface RawRetentionResult {
  /** Raw messages removed. */
  messages: number;
  /** Receipts removed, the removed messages' and any left over from older ones. */
  receipts: number;
}

async function filesOlderThan(fs: RetentionFs, dir: string, cutoffMs: number): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const old: string[] = [];
  for (const name of names) {
    if (isTempName(name)) continue;
    try {
      const st = await fs.stat(path.join(dir, name));
      if (st.isFile() && st.mtimeMs < cutoffMs) old.push(name);
    } catch (err) {
      // Removed meanwhile: nothing left to do for it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return old;
}

async function removeAll(fs: RetentionFs, dir: string, names: string[]): Promise<number> {
  let removed = 0;
  for (const name of names) {
    try {
      await fs.unlink(path.join(dir, name));
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/**
 * The local runtime's S3 lifecycle rule: raw messages (and their receipts) written before the
 * cutoff are deleted, so the data folder holds `retentionDays` of mail and no more, including
 * messages that were never acknowledged and so never got a record. A file's modification time is
 * when it was stored: the stores write each file once and never touch it again. Temp files are
 * left to start-up, which removes them. No folder fsync: a deletion a power cut undoes is made
 * again by the next purge.
 */
export async function purgeRawArchive(options: RawRetentionOptions): Promise<RawRetentionResult> {
  const fs = options.fs ?? nodeFs;
  const cutoffMs = options.cutoff.getTime();
  const raw = await filesOlderThan(fs, options.rawDir, cutoffMs);
  const messages = await removeAll(fs, options.rawDir, raw);
  const receipts = await removeAll(fs, options.receiptsDir, [
    ...new Set([...raw, ...(await filesOlderThan(fs, options.receiptsDir, cutoffMs))]),
  ]);
  return { messages, receipts };
}
