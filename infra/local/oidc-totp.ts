import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../lambdas/core/errors.js';
import type { Clock } from '../../lambdas/ports.js';
import { PRIVATE_FILE_MODE } from './data-dir.js';

/** RFC 6238's defaults, which every authenticator app (Google, Microsoft, 1Password, Aegis) uses. */
export const TOTP_STEP_SECONDS = 30;
export const TOTP_DIGITS = 6;
/**
 * Steps either side of now a code is accepted in: RFC 6238 §5.2 recommends at most one step of
 * delay for network latency and a phone's clock a little off.
 */
export const TOTP_WINDOW_STEPS = 1;
/** A 160-bit secret, the HMAC-SHA1 block RFC 4226 §4 recommends (R6: at least 128 bits). */
const SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding: how authenticator apps take a secret. */
export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const i = BASE32.indexOf(ch);
    if (i < 0) throw new Error('not a base32 secret');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The time step (RFC 6238 T) of an instant. */
export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_STEP_SECONDS);
}

/** The code of one time step: HOTP (RFC 4226) with the step as the counter, HMAC-SHA1. */
export function totpCode(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0');
}

/** The `otpauth://` URI an authenticator app reads from a QR code or a paste. */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = encodeURIComponent(`${issuer}:${account}`);
  const q = new URLSearchParams({
    secret,
    issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_STEP_SECONDS),
  });
  return `otpauth://totp/${label}?${q}`;
}

/** The authenticator secrets file in a data folder (0600). */
export function totpFile(dataDir: string): string {
  return path.join(dataDir, 'totp.json');
}

interface TotpEntry {
  secret: string;
  /** The last step whose code was accepted: no code of it or an earlier step works again. */
  lastStep: number;
  enrolledAt: string;
}

export type TotpOutcome = 'ok' | 'wrong' | 'replayed' | 'none';

/** Authenticator (TOTP) enrolment and checks of the built-in provider's users. */
export interface TotpStore {
  /** Makes a new secret for the user (replacing any earlier one): shown once, to be added to an app. */
  enrol(id: string): Promise<{ secret: string }>;
  /** Sets a given secret (tests, and re-creating an app's entry). */
  set(id: string, secret: string): Promise<void>;
  enrolled(id: string): Promise<boolean>;
  /** The user's secret (the demo banner prints the demo admin's); undefined when not enrolled. */
  secret(id: string): Promise<string | undefined>;
  /**
   * Checks a code: right for a step within {@link TOTP_WINDOW_STEPS} of now and later than the
   * last accepted one. A code is accepted once (RFC 6238 §5.2): a code seen over a shoulder, or
   * phished and replayed within its 30 seconds, is refused.
   */
  verify(id: string, code: string): Promise<TotpOutcome>;
}

/**
 * TOTP secrets in `<dataDir>/totp.json` (0600), replaced whole by a temp file and a rename. The
 * secret must be kept as it is (the code is an HMAC under it), so the file is as private as the
 * data folder's other keys; the last accepted step is written before a sign-in is let through,
 * so a restart does not make a used code good again.
 */
export function createTotpStore(dataDir: string, clock: Clock): TotpStore {
  const file = totpFile(dataDir);
  let writing: Promise<unknown> = Promise.resolve();

  async function read(): Promise<Record<string, TotpEntry>> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      return { ...((JSON.parse(text) as { users?: Record<string, TotpEntry> }).users ?? {}) };
    } catch (err) {
      throw new ConfigError(file, [`(root): not valid JSON: ${(err as Error).message}`]);
    }
  }

  async function write(users: Record<string, TotpEntry>): Promise<void> {
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify({ users }, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await chmod(file, PRIVATE_FILE_MODE);
  }

  /** One change at a time, so two sign-ins cannot both use one code. */
  function change<T>(fn: (users: Record<string, TotpEntry>) => Promise<T> | T): Promise<T> {
    const next = writing.then(async () => fn(await read()));
    writing = next.catch(() => {});
    return next;
  }

  const put = (id: string, secret: string) =>
    change(async (users) => {
      users[id.toLowerCase()] = { secret, lastStep: -1, enrolledAt: clock.now().toISOString() };
      await write(users);
    });

  return {
    async enrol(id) {
      const secret = base32Encode(randomBytes(SECRET_BYTES));
      await put(id, secret);
      return { secret };
    },
    set: put,
    async enrolled(id) {
      return (await read())[id.toLowerCase()] !== undefined;
    },
    async secret(id) {
      return (await read())[id.toLowerCase()]?.secret;
    },
    verify(id, code) {
      return change(async (users) => {
        const entry = users[id.toLowerCase()];
        if (!entry) return 'none';
        const given = Buffer.from(code.replace(/\s+/g, '').padEnd(TOTP_DIGITS, 'x').slice(0, 16));
        const now = totpStep(clock.now());
        let matched: number | undefined;
        for (let s = now - TOTP_WINDOW_STEPS; s <= now + TOTP_WINDOW_STEPS; s++) {
          const want = Buffer.from(totpCode(entry.secret, s));
          if (want.length === given.length && timingSafeEqual(want, given)) matched = s;
        }
        if (matched === undefined) return 'wrong';
        if (matched <= entry.lastStep) return 'replayed';
        entry.lastStep = matched;
        await write(users);
        return 'ok';
      });
    },
  };
}
