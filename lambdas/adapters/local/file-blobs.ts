import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsync as fsyncWithCallback,
  openSync,
  readFile as readFileWithCallback,
  renameSync,
  writeSync,
  write as writeWithCallback,
} from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { BlobStore, Page, StoredQuery, StoredRaw } from '../../ports.js';
import { RAW_PREFIX } from '../../storage-layout.js';
import { createGroupSync } from './group-sync.js';

/** Raw mail is the user's alone: no other local user may list the folder or read a message. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Temp files start with this, a character no key may start with, so a half-written message left
 * by a crash can never be mistaken for a stored one.
 */
const TEMP_MARK = '.';
const TEMP_SUFFIX = '.tmp';

/** The calls of an open file the store makes. */
export interface BlobFileHandle {
  writeFile(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** One directory entry, as `readdir(…, { withFileTypes: true })` returns it. */
export interface BlobDirEntry {
  name: string;
  isFile(): boolean;
}

/**
 * The fs/promises calls the store makes; node:fs/promises by default. Injected by tests that
 * record the order of the calls (the durability proof) or make one of them fail.
 */
export interface BlobFs {
  mkdir(dir: string, options: { recursive: true; mode: number }): Promise<string | undefined>;
  open(file: string, flags: string, mode?: number): Promise<BlobFileHandle>;
  rename(from: string, to: string): Promise<void>;
  readFile(file: string): Promise<Buffer>;
  readdir(dir: string, options: { withFileTypes: true }): Promise<BlobDirEntry[]>;
  unlink(file: string): Promise<void>;
  /** @default node:fs/promises' stat: what `listStored` reads each file's mtime and size from */
  stat?(file: string): Promise<{ mtimeMs: number; size: number }>;
}

/** Files `listStored` stats at once: enough to keep the disk busy, few enough to leave descriptors. */
const STAT_CONCURRENCY = 64;

/** A node:fs callback call as a promise: one promise per call, nothing else allocated. */
function settle<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value))));
}

/** Writes all of `data` at the file's start, however many writes the kernel takes. */
function writeAll(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (offset: number) =>
      writeWithCallback(fd, data, offset, data.length - offset, offset, (err, written) => {
        if (err) reject(err);
        else if (offset + written < data.length) from(offset + written);
        else resolve();
      });
    from(0);
  });
}

/**
 * Largest write made on the calling thread: copying this much into the page cache takes tens of
 * microseconds, less than handing the write to libuv's threads and back. A larger message (up to
 * SES's 40 MB) is written on those threads, so the event loop never waits milliseconds for a copy.
 */
export const SYNC_WRITE_MAX_BYTES = 256 * 1024;

/** A call made now, on this thread, as a settled promise (its error a rejection, not a throw). */
function now<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** An open file as a descriptor: the fsync (and a large write) on libuv's threads, the rest here. */
function descriptorHandle(fd: number): BlobFileHandle {
  return {
    writeFile: (data) =>
      data.length > SYNC_WRITE_MAX_BYTES
        ? writeAll(fd, data)
        : now(() => {
            for (let offset = 0; offset < data.length; )
              offset += writeSync(fd, data, offset, data.length - offset, offset);
          }),
    sync: () => settle<void>((done) => fsyncWithCallback(fd, (err) => done(err, undefined))),
    close: () => now(() => closeSync(fd)),
  };
}

/**
 * node:fs/promises for what runs at start-up; for what runs for every message, the fsyncs (which
 * wait for the disk) on libuv's threads through node:fs's callbacks, and open, a small write,
 * close and rename on this thread. Those four are system calls of microseconds on the page cache
 * and the folder, cheaper done at once than handed to a libuv thread and back: with every call
 * handed over, the pipeline bench's runtime switched threads 60 to 65 times a message; with these
 * four made here, about 42, and libuv's threads used 0.5 ms of CPU a message instead of 1.0–1.6.
 */
const defaultFs: BlobFs = {
  mkdir: nodeFs.mkdir,
  readdir: nodeFs.readdir,
  unlink: nodeFs.unlink,
  open: (file, flags, mode) => now(() => descriptorHandle(openSync(file, flags, mode))),
  rename: (from, to) => now(() => renameSync(from, to)),
  readFile: (file) => settle<Buffer>((done) => readFileWithCallback(file, done)),
  stat: nodeFs.stat,
};

export interface FileBlobsOptions {
  /**
   * The key prefix this folder holds; a key `<prefix><name>` is the file `<dir>/<name>`.
   * @default RAW_PREFIX (`raw/`, as SES's S3 action keys messages)
   */
  prefix?: string;
  /** @default node:fs/promises, with fs.readFile for reads */
  fs?: BlobFs;
  /**
   * Keeps the bytes of recent writes for the reads that follow them: on the single-node runtime
   * ingest, the search indexer and the first delivery each read a message within moments of its
   * write. Off by default.
   */
  cache?: RecentWrites;
}

/** Bounds of the recent-writes cache. */
export interface RecentWrites {
  /** Bytes held at most; the oldest writes go first. */
  maxBytes: number;
  /** A write older than this is read from its file again. */
  maxAgeMs: number;
  /** Milliseconds now. @default Date.now */
  now?: () => number;
}

/** Raw messages in a folder, plus what start-up recovery needs. */
export interface FileBlobStore extends BlobStore {
  /** Keys of every stored message (never a temp file), in name order. */
  listRaw(): Promise<string[]>;
  /** Stored messages in a time range by their files' mtime, in one page (a folder lists at once). */
  listStored(query: StoredQuery): Promise<Page<StoredRaw>>;
  /**
   * Removes temp files a crash left behind. None was acknowledged: `putRaw` resolves (and the
   * SMTP 250 is given) only after the rename.
   * @returns how many were removed
   */
  removeTempFiles(): Promise<number>;
  /**
   * Removes a stored blob at once (a draft's body when the draft goes); one already gone is not
   * an error. No folder fsync: a removal a power cut undoes is made again by the next purge.
   */
  deleteRaw(key: string): Promise<void>;
}

/**
 * Raw mail as files in one folder, written the way an MTA writes its queue file (Postfix's
 * cleanup does the same before it answers 250): the bytes go to a temp file in the same folder
 * (0600, created exclusively), the file is fsynced, renamed over its name, and the folder is
 * fsynced so the rename itself survives a power cut (one folder fsync serves every message renamed
 * before it started: see createGroupSync). `putRaw` resolves only after all four, so
 * an acknowledged message is on disk whatever happens next; a crash before the rename leaves
 * only a temp file, which is never listed. The folder is created 0700.
 */
export function createFileBlobs(dir: string, options: FileBlobsOptions = {}): FileBlobStore {
  const fs: BlobFs = options.fs ?? defaultFs;
  const prefix = options.prefix ?? RAW_PREFIX;
  const root = path.resolve(dir);
  let ready: Promise<void> | undefined;
  const recent = createRecentWrites(options.cache);

  /** The file name of a key, or a ValidationError naming what is wrong with it. */
  function fileName(key: string): string {
    const problems: string[] = [];
    const name = key.startsWith(prefix) ? key.slice(prefix.length) : '';
    if (!key.startsWith(prefix)) problems.push(`must start with ${JSON.stringify(prefix)}`);
    else if (name === '') problems.push('names no message after the prefix');
    if (key.includes('\0')) problems.push('contains a NUL byte');
    if (name.includes('/') || name.includes('\\'))
      problems.push('contains a path separator after the prefix (keys name one file in the folder)');
    if (name.startsWith(TEMP_MARK))
      problems.push(`starts with "${TEMP_MARK}" after the prefix (".." or a temp name)`);
    if (path.isAbsolute(key)) problems.push('is an absolute path');
    if (problems.length) throw new ValidationError(`blob key ${JSON.stringify(key)}`, problems);
    return name;
  }

  /** fsync of a folder: makes the entries created or renamed in it durable. */
  async function syncDir(folder: string): Promise<void> {
    const handle = await fs.open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Creates the folder (0700) once; a folder it had to create is made durable in its parent too. */
  function ensureDir(): Promise<void> {
    ready ??= (async () => {
      const created = await fs.mkdir(root, { recursive: true, mode: DIR_MODE });
      if (created === undefined) return;
      // Every folder mkdir created is an entry in its parent: fsync each parent, top down.
      const chain: string[] = [];
      for (let d = root; d.length >= created.length; d = path.dirname(d)) {
        chain.unshift(d);
        if (d === path.dirname(d)) break;
      }
      for (const d of chain) await syncDir(path.dirname(d));
    })().catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }

  /** The folder's fsync after a rename, shared by the messages renamed while one was under way. */
  const syncRoot = createGroupSync(() => syncDir(root));

  async function tempNames(): Promise<string[]> {
    try {
      const entries = await fs.readdir(root, { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && e.name.startsWith(TEMP_MARK) && e.name.endsWith(TEMP_SUFFIX))
        .map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  return {
    async putRaw(key, body) {
      const name = fileName(key);
      await ensureDir();
      const target = path.join(root, name);
      const temp = path.join(root, `${TEMP_MARK}${name}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
      // 'wx': a fresh file, never one planted under the temp name.
      const handle = await fs.open(temp, 'wx', FILE_MODE);
      let renamed = false;
      try {
        try {
          await handle.writeFile(body);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fs.rename(temp, target);
        renamed = true;
      } finally {
        if (!renamed) await fs.unlink(temp).catch(() => {});
      }
      await syncRoot();
      recent?.put(key, body);
    },

    async getRaw(key) {
      const name = fileName(key);
      const cached = recent?.get(key);
      if (cached) return cached;
      try {
        return await fs.readFile(path.join(root, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`raw message ${key}`);
        throw err;
      }
    },

    async listRaw() {
      let entries: BlobDirEntry[];
      try {
        entries = await fs.readdir(root, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      return entries
        .filter((e) => e.isFile() && !e.name.startsWith(TEMP_MARK))
        .map((e) => `${prefix}${e.name}`)
        .sort();
    },

    async deleteRaw(key) {
      const name = fileName(key);
      recent?.drop(key);
      try {
        await fs.unlink(path.join(root, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },

    async listStored({ from, to }) {
      const keys = await this.listRaw();
      const start = Date.parse(from);
      const end = Date.parse(to);
      const stat = fs.stat ?? nodeFs.stat;
      const items: StoredRaw[] = [];
      for (let i = 0; i < keys.length; i += STAT_CONCURRENCY) {
        const found = await Promise.all(
          keys.slice(i, i + STAT_CONCURRENCY).map(async (key) => {
            try {
              const s = await stat(path.join(root, key.slice(prefix.length)));
              return { key, at: s.mtimeMs, size: s.size };
            } catch (err) {
              // Removed by retention between the listing and the stat: not in the archive any more.
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
              throw err;
            }
          }),
        );
        for (const f of found) {
          if (f && f.at >= start && f.at < end) {
            items.push({ key: f.key, storedAt: new Date(Math.floor(f.at)).toISOString(), size: f.size });
          }
        }
      }
      return { items, cursor: undefined };
    },

    async removeTempFiles() {
      const names = await tempNames();
      for (const name of names) await fs.unlink(path.join(root, name));
      if (names.length) await syncDir(root);
      return names.length;
    },
  };
}

/**
 * The bodies of recent writes, newest last, within a byte and an age bound. Only a write that
 * completed (durable, renamed) is kept, so a hit returns exactly what the file holds; the files
 * are never rewritten under the same key, and are deleted only long after `maxAgeMs`.
 */
function createRecentWrites(bounds: RecentWrites | undefined) {
  if (!bounds || bounds.maxBytes <= 0) return undefined;
  const now = bounds.now ?? Date.now;
  const entries = new Map<string, { body: Buffer; at: number }>();
  let bytes = 0;
  const drop = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    bytes -= entry.body.length;
  };
  const expire = () => {
    const oldest = now() - bounds.maxAgeMs;
    for (const [key, entry] of entries) {
      if (entry.at >= oldest && bytes <= bounds.maxBytes) break;
      drop(key);
    }
  };
  return {
    put(key: string, body: Buffer) {
      drop(key);
      if (body.length > bounds.maxBytes) return;
      entries.set(key, { body, at: now() });
      bytes += body.length;
      expire();
    },
    get(key: string): Buffer | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.at < now() - bounds.maxAgeMs) {
        expire();
        return undefined;
      }
      return entry.body;
    },
    drop,
  };
}
