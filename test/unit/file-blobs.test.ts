import * as realFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BlobFs,
  createFileBlobs,
  SYNC_WRITE_MAX_BYTES,
} from '../../lambdas/adapters/local/file-blobs.js';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.js';

/** The real file system, with every call recorded as `op path` (paths relative to the test folder). */
function recordingFs(
  base: string,
  hooks: { beforeDirSync?: () => Promise<void>; failFileSync?: Error } = {},
) {
  const calls: string[] = [];
  const rel = (p: string) => path.relative(base, p) || '.';
  const fs: BlobFs = {
    async mkdir(dir, options) {
      calls.push(`mkdir ${rel(dir)} ${options.mode.toString(8)}`);
      return realFs.mkdir(dir, options);
    },
    async open(file, flags, mode) {
      calls.push(`open ${rel(file)} ${flags}${mode === undefined ? '' : ` ${mode.toString(8)}`}`);
      const handle = await realFs.open(file, flags, mode);
      const isDir = (await handle.stat()).isDirectory();
      return {
        async writeFile(data) {
          calls.push(`write ${rel(file)} ${data.length}`);
          await handle.writeFile(data);
        },
        async sync() {
          if (isDir && hooks.beforeDirSync) await hooks.beforeDirSync();
          if (!isDir && hooks.failFileSync) throw hooks.failFileSync;
          calls.push(`fsync ${rel(file)}`);
          await handle.sync();
        },
        async close() {
          calls.push(`close ${rel(file)}`);
          await handle.close();
        },
      };
    },
    async rename(from, to) {
      calls.push(`rename ${rel(from)} ${rel(to)}`);
      await realFs.rename(from, to);
    },
    readFile: (file) => realFs.readFile(file),
    readdir: (dir, options) => realFs.readdir(dir, options),
    async unlink(file) {
      calls.push(`unlink ${rel(file)}`);
      await realFs.unlink(file);
    },
  };
  /** Calls with the temp file's random name replaced by `<temp>`. */
  const normalised = () => calls.map((c) => c.replace(/\.[\w-]+\.[0-9a-f]{12}\.tmp/g, '<temp>'));
  return { fs, calls, normalised };
}

let base: string;
beforeEach(async () => {
  base = await realFs.mkdtemp(path.join(tmpdir(), 'lifeboat-blobs-'));
});
afterEach(async () => {
  await realFs.rm(base, { recursive: true, force: true });
});

describe('createFileBlobs putRaw', () => {
  it('writes a 0600 temp file, fsyncs it, renames it into place and fsyncs the folder, in that order', async () => {
    const rec = recordingFs(base);
    const blobs = createFileBlobs(path.join(base, 'raw'), { fs: rec.fs });
    await blobs.putRaw('raw/m1', Buffer.from('hello'));
    rec.calls.push('resolved');
    expect(rec.normalised()).toEqual([
      'mkdir raw 700',
      'open . r', // the folder raw/ was created: its entry in the parent is made durable first
      'fsync .',
      'close .',
      'open raw/<temp> wx 600',
      'write raw/<temp> 5',
      'fsync raw/<temp>',
      'close raw/<temp>',
      'rename raw/<temp> raw/m1',
      'open raw r',
      'fsync raw',
      'close raw',
      'resolved',
    ]);
  });

  it('does not resolve until the folder fsync has completed', async () => {
    let releaseDirSync: () => void = () => {};
    let dirSyncs = 0;
    const rec = recordingFs(base, {
      beforeDirSync: () => {
        dirSyncs++;
        // The first folder sync is the parent's (raw/ was just created); hold the second.
        return dirSyncs === 2 ? new Promise<void>((r) => (releaseDirSync = r)) : Promise.resolve();
      },
    });
    const blobs = createFileBlobs(path.join(base, 'raw'), { fs: rec.fs });
    let resolved = false;
    const put = blobs.putRaw('raw/m1', Buffer.from('hello')).then(() => (resolved = true));
    while (dirSyncs < 2) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(rec.normalised()).toContain('rename raw/<temp> raw/m1');
    expect(resolved).toBe(false);
    releaseDirSync();
    await put;
    expect(resolved).toBe(true);
  });

  it('creates the folder only once and fsyncs only the folder on later writes', async () => {
    const rec = recordingFs(base);
    const blobs = createFileBlobs(path.join(base, 'raw'), { fs: rec.fs });
    await blobs.putRaw('raw/m1', Buffer.from('one'));
    rec.calls.length = 0;
    await blobs.putRaw('raw/m2', Buffer.from('two'));
    expect(rec.normalised()).toEqual([
      'open raw/<temp> wx 600',
      'write raw/<temp> 3',
      'fsync raw/<temp>',
      'close raw/<temp>',
      'rename raw/<temp> raw/m2',
      'open raw r',
      'fsync raw',
      'close raw',
    ]);
  });

  it('leaves no file under the key and no temp file when the fsync fails', async () => {
    const rec = recordingFs(base, { failFileSync: Object.assign(new Error('EIO'), { code: 'EIO' }) });
    const blobs = createFileBlobs(path.join(base, 'raw'), { fs: rec.fs });
    await expect(blobs.putRaw('raw/m1', Buffer.from('hello'))).rejects.toThrow('EIO');
    expect(rec.normalised()).not.toContain('rename raw/<temp> raw/m1');
    expect(await realFs.readdir(path.join(base, 'raw'))).toEqual([]);
  });

  it('creates the folder 0700 and the message 0600', async () => {
    const blobs = createFileBlobs(path.join(base, 'data', 'raw'));
    await blobs.putRaw('raw/m1', Buffer.from('private'));
    expect((await realFs.stat(path.join(base, 'data'))).mode & 0o777).toBe(0o700);
    expect((await realFs.stat(path.join(base, 'data', 'raw'))).mode & 0o777).toBe(0o700);
    expect((await realFs.stat(path.join(base, 'data', 'raw', 'm1'))).mode & 0o777).toBe(0o600);
  });

  it('stores messages on either side of the largest write made on the calling thread byte for byte', async () => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    const sizes = [SYNC_WRITE_MAX_BYTES, SYNC_WRITE_MAX_BYTES + 1, 3 * 1024 * 1024];
    const bodies = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 256)));
    for (const [i, body] of bodies.entries()) await blobs.putRaw(`raw/m${i}`, body);

    for (const [i, body] of bodies.entries())
      expect((await realFs.readFile(path.join(base, 'raw', `m${i}`))).equals(body)).toBe(true);
  });

  it('replaces a message stored under the same key', async () => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    await blobs.putRaw('raw/m1', Buffer.from('first'));
    await blobs.putRaw('raw/m1', Buffer.from('second'));
    expect((await blobs.getRaw('raw/m1')).toString()).toBe('second');
  });
});

describe('createFileBlobs getRaw', () => {
  it('returns the bytes stored', async () => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    const body = Buffer.from([0, 255, 13, 10, 46, 13, 10]);
    await blobs.putRaw('raw/m1', body);
    expect(await blobs.getRaw('raw/m1')).toEqual(body);
  });

  it('throws NotFoundError for a key never stored', async () => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    await expect(blobs.getRaw('raw/missing')).rejects.toThrow(NotFoundError);
  });
});

describe('createFileBlobs keys', () => {
  const escaping = [
    '../etc/passwd',
    'raw/../../etc/passwd',
    'raw/..',
    'raw/.',
    '/etc/passwd',
    'raw//etc/passwd',
    'raw/a\0b',
    'raw/',
    'raw/sub\\..\\..\\x',
    'other/m1',
  ];

  it.each(escaping)('refuses %j with a ValidationError on write and read', async (key) => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    await expect(blobs.putRaw(key, Buffer.from('x'))).rejects.toThrow(ValidationError);
    await expect(blobs.getRaw(key)).rejects.toThrow(ValidationError);
    expect(await realFs.readdir(base)).toEqual([]);
  });

  it('names the key and the problem in the error', async () => {
    const blobs = createFileBlobs(path.join(base, 'raw'));
    await expect(blobs.getRaw('raw/../x')).rejects.toThrow(/blob key "raw\/\.\.\/x".*\n.*path separator/);
  });
});

describe('createFileBlobs listRaw', () => {
  it('lists every stored key in name order and never a temp file', async () => {
    const dir = path.join(base, 'raw');
    const blobs = createFileBlobs(dir);
    await blobs.putRaw('raw/b', Buffer.from('2'));
    await blobs.putRaw('raw/a', Buffer.from('1'));
    await realFs.writeFile(path.join(dir, '.c.0123456789ab.tmp'), 'half-written');
    expect(await blobs.listRaw()).toEqual(['raw/a', 'raw/b']);
  });

  it('lists nothing when the folder does not exist yet', async () => {
    expect(await createFileBlobs(path.join(base, 'raw')).listRaw()).toEqual([]);
  });
});

describe('createFileBlobs removeTempFiles', () => {
  it('removes what a crash left half-written and keeps every stored message', async () => {
    const dir = path.join(base, 'raw');
    const blobs = createFileBlobs(dir);
    await blobs.putRaw('raw/a', Buffer.from('1'));
    await realFs.writeFile(path.join(dir, '.b.0123456789ab.tmp'), 'half-written');
    expect(await blobs.removeTempFiles()).toBe(1);
    expect(await realFs.readdir(dir)).toEqual(['a']);
  });
});

describe('createFileBlobs with a recent-writes cache', () => {
  /** The real file system, counting reads. */
  function countingFs() {
    const reads: string[] = [];
    const fs: BlobFs = {
      mkdir: (dir, options) => realFs.mkdir(dir, options),
      open: (file, flags, mode) => realFs.open(file, flags, mode),
      rename: (from, to) => realFs.rename(from, to),
      readFile(file) {
        reads.push(path.basename(file));
        return realFs.readFile(file);
      },
      readdir: (dir, options) => realFs.readdir(dir, options),
      unlink: (file) => realFs.unlink(file),
    };
    return { fs, reads };
  }

  it('answers a read right after the write from memory, with the bytes written', async () => {
    const { fs, reads } = countingFs();
    const blobs = createFileBlobs(path.join(base, 'raw'), {
      fs,
      cache: { maxBytes: 1024, maxAgeMs: 60_000 },
    });
    await blobs.putRaw('raw/a', Buffer.from('message a'));
    expect((await blobs.getRaw('raw/a')).toString()).toBe('message a');
    expect(reads).toEqual([]);
  });

  it('reads from the file once the write is older than the age bound', async () => {
    const { fs, reads } = countingFs();
    let now = 1_000;
    const blobs = createFileBlobs(path.join(base, 'raw'), {
      fs,
      cache: { maxBytes: 1024, maxAgeMs: 60_000, now: () => now },
    });
    await blobs.putRaw('raw/a', Buffer.from('message a'));
    now += 60_001;
    expect((await blobs.getRaw('raw/a')).toString()).toBe('message a');
    expect(reads).toEqual(['a']);
  });

  it('holds no more than its byte bound, dropping the oldest writes first', async () => {
    const { fs, reads } = countingFs();
    const blobs = createFileBlobs(path.join(base, 'raw'), { fs, cache: { maxBytes: 10, maxAgeMs: 60_000 } });
    await blobs.putRaw('raw/a', Buffer.from('aaaaaa'));
    await blobs.putRaw('raw/b', Buffer.from('bbbbbb'));
    await blobs.putRaw('raw/big', Buffer.alloc(11));
    await blobs.getRaw('raw/a');
    await blobs.getRaw('raw/b');
    await blobs.getRaw('raw/big');
    expect(reads).toEqual(['a', 'big']);
  });

  it('keeps nothing when the write fails', async () => {
    const { fs } = countingFs();
    const failing: BlobFs = {
      ...fs,
      rename: () => Promise.reject(new Error('EIO')),
    };
    const blobs = createFileBlobs(path.join(base, 'raw'), {
      fs: failing,
      cache: { maxBytes: 1024, maxAgeMs: 60_000 },
    });
    await expect(blobs.putRaw('raw/a', Buffer.from('x'))).rejects.toThrow('EIO');
    await expect(blobs.getRaw('raw/a')).rejects.toBeInstanceOf(NotFoundError);
  });
});
