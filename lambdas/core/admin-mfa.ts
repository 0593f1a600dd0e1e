import { MFA_REQUIRED } from '../console/auth.js';
import type { LifeboatConfig } from './config.js';
import { LifeboatError } from './errors.js';

/**
 * RFC 8176 authentication method references by the factor each proves: something you know,
 * something you have, something you are. Two factors means two different kinds: an SMS code and
 * an authenticator code are both "have" (and often the same phone), so together they are one.
 */
const KNOW = new Set(['pwd', 'pin', 'kba']);
const HAVE = new Set(['otp', 'sms', 'tel', 'hwk', 'swk', 'sc', 'pop']);
const ARE = new Set(['fpt', 'face', 'iris', 'retina', 'vbm', 'bio']);

/** A Cognito user pool's issuer: `https://cognito-idp.<region>.amazonaws.com/<pool id>`. */
const COGNITO_ISSUER = /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com\/[a-z0-9-]+_[A-Za-z0-9]+$/;

/** Why an admin's sign-in counts as multi-factor, or why it does not. */
export type MfaVerdict = { ok: true; why: string } | { ok: false; why: string };

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string' || v === '') return [];
  return v
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .map((s) => s.replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/**
 * Whether a verified token's sign-in had a second factor, as the admin API requires of admins
 * (README: "Admin sign-in and MFA"):
 * - `amr` (or the configured claim) holds one of `adminMfa.values` (`mfa`), or methods of two
 *   different factors (RFC 8176): password and authenticator code (`pwd`, `otp`) yes; a texted
 *   code alone (`sms`, `otp`) no, it is one factor;
 * - a Cognito user pool's own user (its issuer, no `identities` claim) yes when the token has no
 *   `amr`: the stack's pool requires MFA of every such sign-in and Cognito issues no token before it;
 * - any other sign-in (a federated user, your own OIDC provider) only with the claim above, or
 *   with `adminMfa.trustFederatedMfa` when that IdP enforces MFA itself.
 */
export function signInMfa(claims: Record<string, unknown>, settings: LifeboatConfig['adminMfa']): MfaVerdict {
  const amr = list(claims.amr);
  const asserted = list(claims[settings.claim]);
  const named = asserted.find((v) => settings.values.includes(v));
  if (named) return { ok: true, why: `${settings.claim} has ${named}` };
  const kinds = new Set(
    amr.map((m) => (KNOW.has(m) ? 'know' : HAVE.has(m) ? 'have' : ARE.has(m) ? 'are' : m)),
  );
  const factors = [...kinds].filter((k) => k === 'know' || k === 'have' || k === 'are');
  if (factors.length >= 2) return { ok: true, why: `amr ${amr.join(',')}: ${factors.join(' and ')}` };
  const federated = claims.identities !== undefined;
  if (amr.length === 0 && !federated && typeof claims.iss === 'string' && COGNITO_ISSUER.test(claims.iss))
    return { ok: true, why: 'Cognito user pool user: the pool requires MFA' };
  if (settings.trustFederatedMfa && (federated || amr.length === 0))
    return { ok: true, why: 'the IdP enforces MFA (adminMfa.trustFederatedMfa)' };
  return {
    ok: false,
    why: amr.length
      ? `the sign-in used ${amr.join(', ')}: one factor`
      : 'the token says nothing of a second factor',
  };
}

/** The admin API refuses an admin whose sign-in had no second factor, saying how to set one up. */
export class MfaRequiredError extends LifeboatError {
  constructor(user: string, why: string) {
    super(
      MFA_REQUIRED,
      `admin API: ${user} signed in without a second factor (${why}), and adminMfa.required is on: set up an authenticator app (on the built-in sign-in: lifeboat users totp ${user}; with Cognito, an authenticator app or passkey; at your own IdP, its MFA) and sign in again`,
    );
  }
}
