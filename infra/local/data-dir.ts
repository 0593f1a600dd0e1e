import { existsSync } from 'node:fs';
import { chmod, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { Logger } from '../../lambdas/ports.js';

/** The data folder and every folder in it: only the user who runs Lifeboat may list or enter them. */
export const PRIVATE_DIR_MODE = 0o700;
/** Every file in the data folder: mail, its records and the admin token are the user's alone. */
export const PRIVATE_FILE_MODE = 0o600;

/** Where the single-node runtime keeps what it stores, under its data folder. */
export interface DataLayout {
  dataDir: string;
  /** The SQLite database: messages, deliveries, holds and continuity records. */
  database: string;
  /** Raw messages, one file each, as `raw/<id>` (the S3 key SES's action would use). */
  rawDir: string;
  /** What the receiver knew of each message besides its bytes (envelope, verdicts), one file each. */
  receiptsDir: string;
  /** The local admin API's bearer token. */
  adminToken: string;
  /** The SMTP receiver's self-signed STARTTLS certificate and its private key, when none is configured. */
  tls: { cert: string; key: string };
  /** The previous version's folders: dynalite's LevelDB and s3rver's objects. */
  legacy: { dynamodb: string; s3: string };
}

/** The file and folder names under one data folder. */
export function dataLayout(dataDir: string): DataLayout {
  const dir = path.resolve(dataDir);
  return {
    dataDir: dir,
    database: path.join(dir, 'lifeboat.db'),
    rawDir: path.join(dir, 'raw'),
    receiptsDir: path.join(dir, 'receipts'),
    adminToken: path.join(dir, 'admin-token'),
    tls: { cert: path.join(dir, 'tls-cert.pem'), key: path.join(dir, 'tls-key.pem') },
    legacy: { dynamodb: path.join(dir, 'dynamodb'), s3: path.join(dir, 's3') },
  };
}

/** The data folder holds an earlier version's stores, which this version neither reads nor overwrites. */
export class LegacyDataError extends LifeboatError {
  constructor(readonly dataDir: string) {
    super(
      'LEGACY_DATA',
      [
        `${dataDir} holds mail stored by an earlier Lifeboat (its dynamodb/ and s3/ folders), which this version keeps in SQLite and plain files instead.`,
        'Nothing has been changed. Import it once, with Lifeboat stopped, then start again:',
        '',
        '    npx lifeboat import-legacy',
        '',
        'The import keeps every message, each recipient’s state (delivered mail is not sent again), holds and continuity records,',
        'and renames the old folders to dynamodb.imported/ and s3.imported/ (delete them once you are satisfied).',
        'It reads the old data with dynalite, which `npm install` installs; after `npm ci --omit=dev`, run `npm install` first.',
      ].join('\n'),
    );
  }
}

/** Whether the data folder still holds the previous version's stores (not yet imported). */
export function hasLegacyData(layout: DataLayout): boolean {
  return existsSync(layout.legacy.dynamodb) || existsSync(layout.legacy.s3);
}

/** fsync of a folder: makes the entries created or renamed in it durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `dir` (and its parents) private to the user, or makes an existing one private: a
 * folder other users could list or enter is tightened to 0700, and the log says so.
 */
export async function ensurePrivateDir(dir: string, log: Logger): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created !== undefined) {
    // A new folder is an entry in its parent: make it durable before mail is written below it.
    for (let d = path.resolve(dir); d.length >= created.length; d = path.dirname(d)) {
      await syncDir(path.dirname(d));
      if (d === path.dirname(d)) break;
    }
    return;
  }
  const mode = (await stat(dir)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    await chmod(dir, PRIVATE_DIR_MODE);
    log.warn('data folder was open to other users; made it private', {
      folder: dir,
      was: mode.toString(8).padStart(4, '0'),
      now: '0700',
    });
  }
}

/** Makes an existing file private to the user (0600), saying so in the log when it was not. */
export async function tightenFile(file: string, log: Logger): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((mode & 0o077) === 0) return;
  await chmod(file, PRIVATE_FILE_MODE);
  log.warn('data file was open to other users; made it private', {
    file,
    was: mode.toString(8).padStart(4, '0'),
    now: '0600',
  });
}

/**
 * Prepares a data folder for the runtime: the folder and its raw and receipt folders private
 * (0700), the admin token and the STARTTLS key private (0600; the SQLite store sees to its own
 * files), and the previous version's layout refused instead of started empty beside it.
 * @throws LegacyDataError when the folder holds dynalite's and s3rver's data
 */
export async function prepareDataDir(dataDir: string, log: Logger): Promise<DataLayout> {
  const layout = dataLayout(dataDir);
  await ensurePrivateDir(layout.dataDir, log);
  if (hasLegacyData(layout)) throw new LegacyDataError(layout.dataDir);
  await ensurePrivateDir(layout.rawDir, log);
  await ensurePrivateDir(layout.receiptsDir, log);
  await tightenFile(layout.adminToken, log);
  await tightenFile(layout.tls.key, log);
  return layout;
}
