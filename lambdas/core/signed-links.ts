import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import type { Clock, LinkSigner, LinkSubject, SignedLink } from '../ports.js';
import { LifeboatError } from './errors.js';

/** A key shorter than HMAC-SHA256's output (32 bytes) weakens it; refuse one. */
export const MIN_LINK_KEY_BYTES = 32;

/**
 * Longest token read. A real one is under 400 characters; refusing longer input before
 * decoding keeps a hostile URL from costing more than a hash.
 */
export const MAX_LINK_TOKEN_CHARS = 2048;

/** The path of the webmail's download route; a token follows it. */
export const FILES_PATH = '/mail/api/files/';

/** Tokens start with their format version, so a later format can be told apart and refused. */
const VERSION = 'v1';

/** A link that was not signed with this key, was altered, or has run out. */
export class LinkError extends LifeboatError {
  constructor(code: 'LINK_INVALID' | 'LINK_EXPIRED', message: string) {
    super(code, message);
  }
}

/** What the token carries, in short names: it travels in a URL. */
const payloadSchema = z.strictObject({
  u: z.string().min(1).max(254),
  m: z.string().min(1).max(256),
  p: z.union([z.literal('raw'), z.number().int().min(0).max(10_000)]),
  a: z.string().min(3).max(254),
  /** Expiry, epoch seconds. */
  e: z.number().int().positive(),
});

function checkKey(key: Buffer): void {
  if (key.length < MIN_LINK_KEY_BYTES) {
    throw new LinkError('LINK_INVALID', `the link key must be at least ${MIN_LINK_KEY_BYTES} bytes`);
  }
}

const mac = (key: Buffer, signed: string) => createHmac('sha256', key).update(signed).digest();

/**
 * A token for `subject` that expires at `expiresAt`: `v1.<payload>.<HMAC-SHA256>`, base64url.
 * Anyone holding it may download the part until then; it names the user so a signed-in request
 * from someone else can be refused, and the address so visibility is checked again on use.
 */
export function signLinkToken(key: Buffer, subject: LinkSubject, expiresAt: Date): string {
  checkKey(key);
  const payload = {
    u: subject.user,
    m: subject.messageId,
    p: subject.part,
    a: subject.address,
    e: Math.floor(expiresAt.getTime() / 1000),
  };
  const body = `${VERSION}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${body}.${mac(key, body).toString('base64url')}`;
}

/**
 * The subject of a token signed with `key`, if it is still valid at `now`. The signature is
 * checked first, in constant time, so a tampered token is refused the same way whatever it says.
 * @throws LinkError LINK_INVALID (not ours, altered, malformed) or LINK_EXPIRED
 */
export function verifyLinkToken(key: Buffer, token: string, now: Date): LinkSubject & { expiresAt: string } {
  checkKey(key);
  const invalid = () => new LinkError('LINK_INVALID', 'this download link is not valid: ask for a new one');
  if (token.length > MAX_LINK_TOKEN_CHARS) throw invalid();
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) throw invalid();
  const [version, encoded, signature] = parts as [string, string, string];
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, `${version}.${encoded}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  let payload: z.infer<typeof payloadSchema>;
  try {
    payload = payloadSchema.parse(JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')));
  } catch {
    throw invalid();
  }
  if (now.getTime() >= payload.e * 1000) {
    throw new LinkError(
      'LINK_EXPIRED',
      'this download link has expired: open the message again for a new one',
    );
  }
  return {
    user: payload.u,
    messageId: payload.m,
    part: payload.p,
    address: payload.a,
    expiresAt: new Date(payload.e * 1000).toISOString(),
  };
}

export interface HmacLinkSignerOptions {
  /** The signing key (at least MIN_LINK_KEY_BYTES random bytes), kept secret by the runtime. */
  key: Buffer;
  /** Seconds a link stays valid (`webmail.linkTtlSeconds`). */
  ttlSeconds: number;
  clock: Clock;
  /**
   * Origin (and any path prefix) the files route is served under, e.g. `https://mail.example.com`.
   * @default '' (a path on the same origin as the API: the local runtime)
   */
  baseUrl?: string | undefined;
}

/**
 * Links to the webmail's files route (`/mail/api/files/<token>`), signed with an HMAC key: the
 * local runtime's signer for the raw message and attachments alike, and AWS's for attachments.
 */
export function createHmacLinkSigner(options: HmacLinkSignerOptions): LinkSigner {
  checkKey(options.key);
  const base = (options.baseUrl ?? '').replace(/\/+$/, '');
  return {
    async sign(subject: LinkSubject): Promise<SignedLink> {
      const expires = new Date(options.clock.now().getTime() + options.ttlSeconds * 1000);
      // Whole seconds, as the token stores them, so the answer says exactly when it ends.
      expires.setUTCMilliseconds(0);
      const token = signLinkToken(options.key, subject, expires);
      return { url: `${base}${FILES_PATH}${token}`, expiresAt: expires.toISOString() };
    },
    verify(token: string): LinkSubject {
      const { expiresAt: _ignored, ...subject } = verifyLinkToken(options.key, token, options.clock.now());
      return subject;
    },
  };
}
