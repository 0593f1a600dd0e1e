import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readOrCreateLinkKey } from '../../lambdas/adapters/local/link-key.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import {
  createHmacLinkSigner,
  LinkError,
  MAX_LINK_TOKEN_CHARS,
  signLinkToken,
  verifyLinkToken,
} from '../../lambdas/core/signed-links.js';
import type { LinkSubject } from '../../lambdas/ports.js';
import { ManualClock } from '../support/memory-store.js';

const KEY = Buffer.alloc(32, 1);
const OTHER_KEY = Buffer.alloc(32, 2);
const SUBJECT: LinkSubject = { user: 'alice', messageId: 'm1', part: 2, address: 'alice@example.com' };
const NOW = new Date('2026-11-22T10:00:00Z');
const LATER = new Date('2026-11-22T10:05:00Z');

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof LinkError) return err.code;
    throw err;
  }
  return 'accepted';
}

/** The token with its payload re-encoded after `change`, signature kept. */
function tamper(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [v, payload, sig] = token.split('.') as [string, string, string];
  const p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  change(p);
  return `${v}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.${sig}`;
}

describe('verifyLinkToken', () => {
  it('gives back the subject of a token it signed, until it expires', () => {
    const token = signLinkToken(KEY, SUBJECT, LATER);
    expect(verifyLinkToken(KEY, token, NOW)).toEqual({ ...SUBJECT, expiresAt: LATER.toISOString() });
    expect(verifyLinkToken(KEY, token, new Date(LATER.getTime() - 1)).part).toBe(2);
    expect(codeOf(() => verifyLinkToken(KEY, token, LATER))).toBe('LINK_EXPIRED');
  });

  it('refuses a token whose payload was changed: another user, message, part or expiry', () => {
    const token = signLinkToken(KEY, SUBJECT, LATER);
    for (const change of [
      (p: Record<string, unknown>) => (p.u = 'bob'),
      (p: Record<string, unknown>) => (p.m = 'm2'),
      (p: Record<string, unknown>) => (p.p = 'raw'),
      (p: Record<string, unknown>) => (p.a = 'bob@example.com'),
      (p: Record<string, unknown>) => (p.e = (p.e as number) + 3600),
    ]) {
      expect(codeOf(() => verifyLinkToken(KEY, tamper(token, change), NOW))).toBe('LINK_INVALID');
    }
  });

  it('refuses a token signed with another key, an altered signature and guessed or malformed tokens', () => {
    const token = signLinkToken(KEY, SUBJECT, LATER);
    const [v, payload, sig] = token.split('.') as [string, string, string];
    const flipped = `${v}.${payload}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
    for (const bad of [
      signLinkToken(OTHER_KEY, SUBJECT, LATER),
      flipped,
      `${v}.${payload}.${sig.slice(0, 20)}`,
      `${v}.${payload}`,
      `v2.${payload}.${sig}`,
      'guessed-token',
      '',
      `${v}.${'A'.repeat(MAX_LINK_TOKEN_CHARS)}.${sig}`,
    ]) {
      expect(
        codeOf(() => verifyLinkToken(KEY, bad, NOW)),
        bad.slice(0, 30),
      ).toBe('LINK_INVALID');
    }
  });

  it('refuses an expired token that was also altered as invalid, not expired', () => {
    const token = tamper(signLinkToken(KEY, SUBJECT, NOW), (p) => (p.u = 'bob'));
    expect(codeOf(() => verifyLinkToken(KEY, token, LATER))).toBe('LINK_INVALID');
  });

  it('refuses a key shorter than 32 bytes', () => {
    expect(codeOf(() => signLinkToken(Buffer.alloc(16), SUBJECT, LATER))).toBe('LINK_INVALID');
  });
});

describe('createHmacLinkSigner', () => {
  it('makes files-route URLs that expire after the configured seconds, to the second', async () => {
    const clock = new ManualClock(new Date('2026-11-22T10:00:00.400Z'));
    const signer = createHmacLinkSigner({
      key: KEY,
      ttlSeconds: 300,
      clock,
      baseUrl: 'https://mail.example.com/',
    });
    const link = await signer.sign(SUBJECT);
    expect(link.expiresAt).toBe('2026-11-22T10:05:00.000Z');
    expect(link.url).toMatch(/^https:\/\/mail\.example\.com\/mail\/api\/files\/v1\.[\w-]+\.[\w-]+$/);
    const token = link.url.slice(link.url.lastIndexOf('/') + 1);
    expect(signer.verify(token)).toEqual(SUBJECT);
    clock.advance(299);
    expect(signer.verify(token)).toEqual(SUBJECT);
    clock.advance(1);
    expect(codeOf(() => signer.verify(token))).toBe('LINK_EXPIRED');
  });
});

describe('readOrCreateLinkKey', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-key-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte key readable by the user alone, and reads the same key again', async () => {
    const file = path.join(dir, 'link-key');
    const key = await readOrCreateLinkKey(file);
    expect(key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await readOrCreateLinkKey(file)).equals(key)).toBe(true);
  });

  it('gives every caller the same key when several start at once', async () => {
    const file = path.join(dir, 'link-key');
    const keys = await Promise.all(Array.from({ length: 8 }, () => readOrCreateLinkKey(file)));
    for (const k of keys) expect(k.equals(keys[0] as Buffer)).toBe(true);
  });

  it('refuses a file that holds no key, naming it', async () => {
    const file = path.join(dir, 'link-key');
    writeFileSync(file, 'c2hvcnQ=\n', { mode: 0o644 });
    await expect(readOrCreateLinkKey(file)).rejects.toThrow(ConfigError);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
