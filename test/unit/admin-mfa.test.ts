import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  createTotpStore,
  otpauthUri,
  TOTP_STEP_SECONDS,
  totpCode,
  totpFile,
  totpStep,
} from '../../infra/local/oidc-totp.js';
import type { Context } from '../../lambdas/adapters/context.js';
import { MFA_REQUIRED } from '../../lambdas/console/auth.js';
import { signInMfa } from '../../lambdas/core/admin-mfa.js';
import { createApiHandler } from '../../lambdas/handlers/api.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';
import { ManualClock } from '../support/memory-store.js';

const settings = testConfig().adminMfa;
const POOL = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123';

describe('signInMfa', () => {
  it('counts a password with an authenticator code, or an IdP saying mfa, as two factors', () => {
    expect(signInMfa({ amr: ['pwd', 'otp'] }, settings).ok).toBe(true);
    expect(signInMfa({ amr: ['pwd', 'mfa'] }, settings).ok).toBe(true);
    expect(signInMfa({ amr: ['hwk', 'fpt'] }, settings).ok).toBe(true);
    // API Gateway's JWT authorizer hands a list claim over flattened.
    expect(signInMfa({ amr: '[pwd otp]' }, settings).ok).toBe(true);
  });

  it('refuses a password alone, and a texted code alone, as one factor', () => {
    expect(signInMfa({ amr: ['pwd'] }, settings)).toEqual({
      ok: false,
      why: 'the sign-in used pwd: one factor',
    });
    expect(signInMfa({ amr: ['sms', 'otp'] }, settings).ok).toBe(false);
    expect(signInMfa({}, settings).ok).toBe(false);
  });

  it('trusts the Cognito pool for its own users, whose sign-in it requires MFA for, but not for federated ones', () => {
    expect(signInMfa({ iss: POOL, 'cognito:username': 'alice' }, settings).ok).toBe(true);
    const federated = { iss: POOL, identities: '[{"providerName":"Contoso"}]' };
    expect(signInMfa(federated, settings).ok).toBe(false);
    expect(signInMfa({ ...federated, amr: ['mfa'] }, settings).ok).toBe(true);
    expect(signInMfa(federated, { ...settings, trustFederatedMfa: true }).ok).toBe(true);
    // An issuer that only looks like Cognito's is another IdP.
    expect(signInMfa({ iss: 'https://cognito-idp.evil.example/eu-west-1_x' }, settings).ok).toBe(false);
  });

  it('reads MFA from the claim the config names', () => {
    const entra = { ...settings, claim: 'acrs', values: ['c1'] };
    expect(signInMfa({ acrs: ['c1'] }, entra).ok).toBe(true);
    expect(signInMfa({ acrs: ['c2'] }, entra).ok).toBe(false);
  });

  it('never lets trustFederatedMfa excuse the built-in password sign-in', () => {
    expect(signInMfa({ amr: ['pwd'] }, { ...settings, trustFederatedMfa: true }).ok).toBe(false);
  });
});

describe('admin API: MFA for admins', () => {
  const ADMINS = 'lifeboat-admins';
  function api(config = testConfig()) {
    const h = continuityHarness();
    const ctx: Context = { ...h.deps, config, trigger: { requestDelivery: async () => {} } };
    const handler = createApiHandler(() => ctx);
    return async (claims: Record<string, unknown>) => {
      const res = await handler({
        rawPath: '/admin/status',
        requestContext: { http: { method: 'GET' }, authorizer: { jwt: { claims } } },
      });
      return { status: res.statusCode, body: JSON.parse(res.body) };
    };
  }

  it('refuses an admin signed in with a password only: 403 MFA_REQUIRED saying how to set one up', async () => {
    const res = await api()({ 'cognito:username': 'alice', 'cognito:groups': [ADMINS], amr: ['pwd'] });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe(MFA_REQUIRED);
    expect(res.body.message).toContain('lifeboat users totp alice');
  });

  it('admits the admin signed in with a password and an authenticator code', async () => {
    const res = await api()({ 'cognito:username': 'alice', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] });
    expect(res.status).toBe(200);
  });

  it('refuses a member of staff whatever the factors, as not an admin', async () => {
    const res = await api()({ 'cognito:username': 'bob', 'cognito:groups': ['staff'], amr: ['pwd', 'otp'] });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FORBIDDEN');
  });

  it('admits a password-only admin where adminMfa.required is off', async () => {
    const res = await api(testConfig({ adminMfa: { required: false } }))({
      'cognito:username': 'alice',
      'cognito:groups': [ADMINS],
      amr: ['pwd'],
    });
    expect(res.status).toBe(200);
  });
});

describe('TOTP (RFC 6238)', () => {
  it('gives the RFC 6238 test vectors for SHA-1 (the last six digits)', () => {
    const secret = base32Encode(Buffer.from('12345678901234567890'));
    // RFC 6238 Appendix B: T = 59 → 94287082, T = 1111111109 → 07081804, T = 20000000000 → 65353130.
    expect(totpCode(secret, totpStep(new Date(59_000)))).toBe('287082');
    expect(totpCode(secret, totpStep(new Date(1_111_111_109_000)))).toBe('081804');
    expect(totpCode(secret, totpStep(new Date(20_000_000_000_000)))).toBe('353130');
    expect(base32Decode(secret).toString()).toBe('12345678901234567890');
  });

  it('names the account and issuer in the otpauth link authenticator apps read', () => {
    expect(otpauthUri('JBSWY3DPEHPK3PXP', 'alice', 'Lifeboat Contoso')).toBe(
      'otpauth://totp/Lifeboat%20Contoso%3Aalice?secret=JBSWY3DPEHPK3PXP&issuer=Lifeboat+Contoso&algorithm=SHA1&digits=6&period=30',
    );
  });

  it('accepts the current code once, the next step early, refuses a wrong one and a replayed one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-totp-'));
    try {
      const clock = new ManualClock();
      const store = createTotpStore(dir, clock);
      const { secret } = await store.enrol('Alice');
      expect((await stat(totpFile(dir))).mode & 0o777).toBe(0o600);
      expect(await store.enrolled('alice')).toBe(true);
      const now = totpStep(clock.now());
      const wrong = String((Number(totpCode(secret, now)) + 1) % 1_000_000).padStart(6, '0');
      expect(await store.verify('alice', wrong)).toBe('wrong');
      expect(await store.verify('alice', totpCode(secret, now))).toBe('ok');
      expect(await store.verify('alice', totpCode(secret, now))).toBe('replayed');
      // A phone a little fast: the next step's code is taken, and then the current one is old.
      expect(await store.verify('alice', totpCode(secret, now + 1))).toBe('ok');
      expect(await store.verify('alice', totpCode(secret, now))).toBe('replayed');
      // A restart (a new store over the same file) does not make a used code good again.
      expect(await createTotpStore(dir, clock).verify('alice', totpCode(secret, now + 1))).toBe('replayed');
      clock.advance(10 * TOTP_STEP_SECONDS);
      expect(await store.verify('alice', totpCode(secret, now + 2))).toBe('wrong');
      expect(await store.verify('bob', '123456')).toBe('none');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
