import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, unlink } from 'node:fs/promises';
import { ConfigError } from '../../core/errors.js';
import { MIN_LINK_KEY_BYTES } from '../../core/signed-links.js';

/** Whoever can read the key can mint download links for anyone's mail: the user's alone. */
const KEY_FILE_MODE = 0o600;

/**
 * The local runtime's download-link key: read from `file` (base64), or created there on first
 * use as 32 random bytes, mode 0600. The key is written to a temp file and hard-linked into
 * place, which fails if the file exists: two processes starting at once end up with the same
 * key, and neither ever reads a half-written one. Deleting the file invalidates every link.
 * @throws ConfigError when the file holds something that is not a key of at least 32 bytes
 */
export async function readOrCreateLinkKey(file: string): Promise<Buffer> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', KEY_FILE_MODE);
  try {
    await handle.writeFile(`${randomBytes(MIN_LINK_KEY_BYTES).toString('base64')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temp);
  }
  // An older file may have been made with a looser mode; the key is the user's alone.
  await chmod(file, KEY_FILE_MODE);
  const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
  if (key.length < MIN_LINK_KEY_BYTES) {
    throw new ConfigError(file, [
      `(root): holds no download-link key of ${MIN_LINK_KEY_BYTES} bytes; delete it to have a new one made`,
    ]);
  }
  return key;
}
