import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';
import { chmod, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ValidationError } from '../../lambdas/core/errors.js';
import { PRIVATE_FILE_MODE } from './data-dir.js';
import { writeOnce } from './oidc-keys.js';

/**
 * scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, about 50-100 ms a check on a laptop), what OWASP's
 * password storage cheat sheet lists for scrypt. A stolen credentials file then costs an attacker
 * that much per guess.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Shortest password accepted: NIST SP 800-63B's minimum for a memorised secret. */
export const MIN_PASSWORD_CHARS = 8;
/** Longest: a pass phrase, never a document (scrypt reads all of it). */
export const MAX_PASSWORD_CHARS = 256;

/** The file of password hashes in a data folder (0600). */
export function credentialsFile(dataDir: string): string {
  return path.join(dataDir, 'credentials.json');
}

/** The demo password's file in a data folder (0600): made at the first demo start. */
export function demoPasswordFile(dataDir: string): string {
  return path.join(dataDir, 'demo-password');
}

function derive(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, HASH_BYTES, { ...params, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, SCRYPT);
  return [
    'scrypt',
    SCRYPT.N,
    SCRYPT.r,
    SCRYPT.p,
    salt.toString('base64url'),
    hash.toString('base64url'),
  ].join('$');
}

/** Whether `password` matches `stored`; false for a malformed entry. Constant time in the hash. */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Refuses a password too short or too long to be a real one. */
export function checkPasswordRules(password: string): void {
  const problems: string[] = [];
  if ([...password].length < MIN_PASSWORD_CHARS)
    problems.push(`must be at least ${MIN_PASSWORD_CHARS} characters`);
  if ([...password].length > MAX_PASSWORD_CHARS)
    problems.push(`must be at most ${MAX_PASSWORD_CHARS} characters`);
  if (problems.length) throw new ValidationError('password', problems);
}

/** Passwords of the local provider's users (the stand-in for the corporate IdP), hashed. */
export interface CredentialStore {
  /** Whether the user's password is `password`; false for a user with none. */
  verify(id: string, password: string): Promise<boolean>;
  /** Sets (or replaces) the user's password. */
  set(id: string, password: string): Promise<void>;
  /** Ids that have a password. */
  ids(): Promise<Set<string>>;
}

interface CredentialsJson {
  users: Record<string, string>;
}

/**
 * Password hashes in `<dataDir>/credentials.json` (0600), replaced whole by a temp file and a
 * rename on every change, so a crash never leaves half a file. Read on every check: the file is
 * small, and an edit by the CLI is seen at once.
 */
export function createCredentialStore(dataDir: string): CredentialStore {
  const file = credentialsFile(dataDir);
  // A hash to compare against when the user has no password, so a check takes as long either way.
  const decoy = hashPassword(randomBytes(12).toString('base64url'));
  let writing: Promise<void> = Promise.resolve();

  async function read(): Promise<CredentialsJson> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as Partial<CredentialsJson>;
      return { users: { ...(parsed.users ?? {}) } };
    } catch (err) {
      throw new ConfigError(file, [`(root): not valid JSON: ${(err as Error).message}`]);
    }
  }

  async function write(data: CredentialsJson): Promise<void> {
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await chmod(file, PRIVATE_FILE_MODE);
  }

  return {
    async verify(id, password) {
      const stored = (await read()).users[id.toLowerCase()];
      if (stored === undefined) {
        await checkPassword(password, await decoy);
        return false;
      }
      return checkPassword(password, stored);
    },
    async set(id, password) {
      checkPasswordRules(password);
      // One writer at a time: two changes at once must not lose one.
      const next = writing.then(async () => {
        const data = await read();
        data.users[id.toLowerCase()] = await hashPassword(password);
        await write(data);
      });
      writing = next.catch(() => {});
      await next;
    },
    async ids() {
      return new Set(Object.keys((await read()).users));
    },
  };
}

/** Letters and digits a person reads off a terminal and types on a phone without mistaking one for another. */
const DEMO_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/**
 * The demo password (three groups of four, about 59 bits): read from the data folder, or made
 * there at the first demo start. The start banner prints it.
 */
export async function readOrCreateDemoPassword(dataDir: string): Promise<string> {
  const file = demoPasswordFile(dataDir);
  const group = () =>
    Array.from({ length: 4 }, () => DEMO_ALPHABET[randomInt(DEMO_ALPHABET.length)]).join('');
  await writeOnce(file, `${group()}-${group()}-${group()}\n`);
  return (await readFile(file, 'utf8')).trim();
}
