import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigError } from '../../lambdas/core/errors.js';
import { PRIVATE_FILE_MODE } from './data-dir.js';

/**
 * The ID-token signing algorithm: RS256, the only family API Gateway's JWT authorizer accepts
 * and the one Cognito signs with, so a token is checked the same way in both runtimes.
 */
export const ID_TOKEN_ALG = 'RS256';

/** What the built-in OpenID provider keeps secret, in `<dataDir>/oidc-keys.json` (0600). */
export interface OidcKeys {
  /** The private signing key (JWK with `kid`, `alg`, `use`). */
  signing: JWK;
  /** Keys that sign the provider's session and interaction cookies. */
  cookies: string[];
}

/** The file of the provider's keys in a data folder. */
export function oidcKeysFile(dataDir: string): string {
  return path.join(dataDir, 'oidc-keys.json');
}

/**
 * Writes `text` to `file` only if no file is there: a temp file, fsynced, hard-linked into place
 * (which fails when the name exists), so two processes starting at once keep the same content and
 * nobody ever reads half a file. The file is made 0600 either way.
 */
export async function writeOnce(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(text);
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
  await chmod(file, PRIVATE_FILE_MODE);
}

async function newKeys(): Promise<OidcKeys> {
  const { privateKey } = await generateKeyPair(ID_TOKEN_ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return {
    signing: { ...jwk, kid, alg: ID_TOKEN_ALG, use: 'sig' },
    cookies: [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')],
  };
}

/**
 * The provider's keys: read from the data folder, or made there at first start. They survive a
 * restart, so a signed-in user stays signed in; deleting the file signs everyone out.
 * @throws ConfigError when the file holds something that is not a key set
 */
export async function readOrCreateOidcKeys(dataDir: string): Promise<OidcKeys> {
  const file = oidcKeysFile(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await writeOnce(file, `${JSON.stringify(await newKeys())}\n`);
    text = await readFile(file, 'utf8');
  }
  // An older file may have been made with a looser mode; the keys are the user's alone.
  await chmod(file, PRIVATE_FILE_MODE);
  let keys: Partial<OidcKeys>;
  try {
    keys = JSON.parse(text) as Partial<OidcKeys>;
  } catch (err) {
    throw new ConfigError(file, [
      `(root): not valid JSON (${(err as Error).message}); delete it to have new keys made`,
    ]);
  }
  if (keys.signing?.kty !== 'RSA' || typeof keys.signing.d !== 'string' || !Array.isArray(keys.cookies)) {
    throw new ConfigError(file, ['(root): holds no RSA signing key; delete it to have new keys made']);
  }
  return keys as OidcKeys;
}

/** The public half of a signing key, as the provider's JWKS publishes it. */
export function publicJwk(key: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key;
  return pub;
}
