import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import type { Clock, Logger } from '../../lambdas/ports.js';
import { type DataLayout, PRIVATE_FILE_MODE } from './data-dir.js';
import { makeSelfSignedCertificate } from './self-signed.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Lifetime of the certificate the runtime makes for itself. */
export const CERTIFICATE_DAYS = 365;

/**
 * A certificate with less than this left is replaced: at start, and by a running runtime's daily
 * check, so a sender that checks dates never meets an expired one.
 */
export const RENEW_BEFORE_DAYS = 30;

/** How often a running runtime checks its certificate (and reads configured files again). */
export const TLS_CHECK_INTERVAL_MS = DAY_MS;

/** The certificate starts this long before it was made, for a client whose clock is a little behind. */
const BACKDATE_MS = 60 * 60 * 1000;

/** What the SMTP receiver offers in STARTTLS. */
export interface ReceiverTls {
  /** PEM. */
  cert: string;
  /** PEM, PKCS #8. */
  key: string;
  /** `config`: local.tls names the files; `generated`: self-signed, kept in the data folder. */
  source: 'config' | 'generated';
  certFile: string;
  validTo: Date;
  /** Whether this call made a new certificate. */
  renewed: boolean;
}

interface Parsed {
  x509: X509Certificate;
  key: KeyObject;
}

/** The certificate and its key, or why they cannot be used together. */
function parsePair(cert: string, key: string): Parsed | string {
  let x509: X509Certificate;
  let privateKey: KeyObject;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return `cert: not a PEM certificate (${(err as Error).message})`;
  }
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    return `key: not a PEM private key (${(err as Error).message})`;
  }
  if (!x509.checkPrivateKey(privateKey)) return 'key: is not the private key of the certificate in cert';
  return { x509, key: privateKey };
}

const validTo = (x509: X509Certificate) => new Date(Date.parse(x509.validTo));

/** Writes a file as the data folder's other files are written: private, synced, then renamed into place. */
async function writePrivateFile(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Addresses a client can connect to: not the wildcard ones, nor IPv4 written inside IPv6. */
const connectable = (ip: string) => ip !== '0.0.0.0' && ip !== '::' && !(isIP(ip) === 6 && ip.includes('.'));

/** For the configured hostname, localhost and the loopback and listen addresses, valid a year. */
function generate(config: LifeboatConfig, now: Date): { cert: string; key: string } {
  const names = [...new Set([config.hostname, 'localhost', '127.0.0.1', '::1', config.local.listen])];
  return makeSelfSignedCertificate({
    commonName: config.hostname,
    dnsNames: names.filter((n) => isIP(n) === 0),
    ipAddresses: names.filter((n) => isIP(n) !== 0 && connectable(n)),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CERTIFICATE_DAYS * DAY_MS),
  });
}

async function readConfigured(config: LifeboatConfig, clock: Clock, log: Logger): Promise<ReceiverTls> {
  const files = config.local.tls as { cert: string; key: string };
  const certFile = path.resolve(files.cert);
  const keyFile = path.resolve(files.key);
  const problems: string[] = [];
  const read = async (setting: 'cert' | 'key', file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      problems.push(`${setting}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return '';
    }
  };
  const [cert, key] = [await read('cert', certFile), await read('key', keyFile)];
  if (problems.length > 0) throw new ConfigError('local.tls', problems);
  const parsed = parsePair(cert, key);
  if (typeof parsed === 'string') throw new ConfigError('local.tls', [parsed]);
  const until = validTo(parsed.x509);
  const daysLeft = Math.floor((until.getTime() - clock.now().getTime()) / DAY_MS);
  if (daysLeft < RENEW_BEFORE_DAYS) {
    log.warn(
      daysLeft < 0 ? 'the STARTTLS certificate has expired' : 'the STARTTLS certificate expires soon',
      { file: certFile, validTo: until.toISOString() },
    );
  }
  return { cert, key, source: 'config', certFile, validTo: until, renewed: false };
}

/**
 * The certificate and key the SMTP receiver offers in STARTTLS. With `local.tls` it reads the
 * files named there (and warns when the certificate is expired or close to it). Without, it uses
 * the self-signed certificate kept in the data folder (key 0600), making one for
 * `config.hostname` and the loopback addresses when there is none, it is unusable, or it has less
 * than {@link RENEW_BEFORE_DAYS} left. SES receiving in AWS needs none of this: AWS runs its TLS.
 * @throws ConfigError naming local.tls when its files cannot be read or do not belong together
 */
export async function loadReceiverTls(deps: {
  config: LifeboatConfig;
  layout: DataLayout;
  clock: Clock;
  log: Logger;
}): Promise<ReceiverTls> {
  const { config, layout, clock, log } = deps;
  if (config.local.tls) return readConfigured(config, clock, log);
  const now = clock.now();
  const files = layout.tls;
  let why = 'none yet';
  try {
    const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    const parsed = parsePair(cert, key);
    if (typeof parsed === 'string') why = 'the kept one is unusable';
    else if (validTo(parsed.x509).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS)
      why = 'the kept one expires soon';
    else
      return {
        cert,
        key,
        source: 'generated',
        certFile: files.cert,
        validTo: validTo(parsed.x509),
        renewed: false,
      };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const made = generate(config, now);
  // The key first: a crash between the two leaves a pair that does not match, which is made again.
  await writePrivateFile(files.key, made.key);
  await writePrivateFile(files.cert, made.cert);
  const until = validTo(new X509Certificate(made.cert));
  log.info('made a self-signed certificate for STARTTLS', {
    reason: why,
    hostname: config.hostname,
    validTo: until.toISOString(),
  });
  return { ...made, source: 'generated', certFile: files.cert, validTo: until, renewed: true };
}
