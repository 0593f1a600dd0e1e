import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataLayout } from '../../infra/local/data-dir.js';
import { loadReceiverTls, RENEW_BEFORE_DAYS } from '../../infra/local/receiver-tls.js';
import { makeSelfSignedCertificate } from '../../infra/local/self-signed.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { testConfig } from '../support/fixtures.js';
import { ManualClock } from '../support/memory-store.js';

const DAY = 24 * 60 * 60;

describe('makeSelfSignedCertificate', () => {
  const request = {
    commonName: 'lifeboat.local',
    dnsNames: ['lifeboat.local', 'localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    notBefore: new Date('2026-12-01T00:00:00Z'),
    notAfter: new Date('2027-12-01T00:00:00Z'),
  };

  it('makes a certificate that X.509 parsers read, signed by its own key', () => {
    const { cert, key } = makeSelfSignedCertificate(request);
    const x509 = new X509Certificate(cert);

    expect(x509.subject).toBe('CN=lifeboat.local');
    expect(x509.issuer).toBe('CN=lifeboat.local');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
  });

  it('names the host, localhost and the loopback addresses, for the dates asked', () => {
    const x509 = new X509Certificate(makeSelfSignedCertificate(request).cert);

    expect(x509.checkHost('lifeboat.local')).toBe('lifeboat.local');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(new Date(x509.validFrom)).toEqual(request.notBefore);
    expect(new Date(x509.validTo)).toEqual(request.notAfter);
  });

  it('writes dates from 2050 on as GeneralizedTime (RFC 5280 §4.1.2.5)', () => {
    const notAfter = new Date('2051-06-30T12:00:00Z');
    const x509 = new X509Certificate(makeSelfSignedCertificate({ ...request, notAfter }).cert);

    expect(new Date(x509.validTo)).toEqual(notAfter);
  });

  it('gives each certificate its own key and serial number', () => {
    const a = new X509Certificate(makeSelfSignedCertificate(request).cert);
    const b = new X509Certificate(makeSelfSignedCertificate(request).cert);

    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.publicKey.equals(b.publicKey)).toBe(false);
  });
});

describe('loadReceiverTls', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-tls-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const deps = (clock: ManualClock, config = testConfig()) => ({
    config,
    layout: dataLayout(dir),
    clock,
    log: silentLogger,
  });

  it('makes a certificate valid now at first start, its key readable by the user alone', async () => {
    const clock = new ManualClock();

    const tls = await loadReceiverTls(deps(clock));

    const x509 = new X509Certificate(await readFile(path.join(dir, 'tls-cert.pem')));
    expect(tls).toMatchObject({ source: 'generated', renewed: true });
    expect(new Date(x509.validFrom).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    expect(new Date(x509.validTo).getTime()).toBeGreaterThan(clock.now().getTime() + 300 * DAY * 1000);
    expect(x509.checkHost('lifeboat.local')).toBe('lifeboat.local');
    expect((await stat(path.join(dir, 'tls-key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('keeps the same certificate over restarts while it has time left', async () => {
    const clock = new ManualClock();
    const first = await loadReceiverTls(deps(clock));
    clock.advance(300 * DAY);

    const later = await loadReceiverTls(deps(clock));

    expect(later.renewed).toBe(false);
    expect(later.cert).toBe(first.cert);
  });

  it(`makes a new one when fewer than ${RENEW_BEFORE_DAYS} days are left`, async () => {
    const clock = new ManualClock();
    const first = await loadReceiverTls(deps(clock));
    clock.current = new Date(first.validTo.getTime() - 10 * DAY * 1000);

    const renewed = await loadReceiverTls(deps(clock));

    expect(renewed.renewed).toBe(true);
    expect(renewed.cert).not.toBe(first.cert);
    expect(renewed.validTo.getTime()).toBeGreaterThan(clock.now().getTime() + 300 * DAY * 1000);
  });

  it('makes a new one when the kept key does not belong to the kept certificate', async () => {
    const clock = new ManualClock();
    await loadReceiverTls(deps(clock));
    // As a crash between writing the new key and the new certificate would leave them.
    await writeFile(
      path.join(dir, 'tls-key.pem'),
      makeSelfSignedCertificate({
        commonName: 'x',
        dnsNames: ['x'],
        ipAddresses: [],
        notBefore: clock.now(),
        notAfter: new Date(clock.now().getTime() + DAY * 1000),
      }).key,
    );

    const tls = await loadReceiverTls(deps(clock));

    expect(tls.renewed).toBe(true);
    expect(new X509Certificate(tls.cert).checkPrivateKey(createPrivateKey(tls.key))).toBe(true);
  });

  describe('with local.tls', () => {
    function configured(files: { cert: string; key: string }) {
      return testConfig({ local: { tls: files } });
    }

    it('offers the configured certificate and makes none', async () => {
      const clock = new ManualClock();
      const own = makeSelfSignedCertificate({
        commonName: 'mx.example.org',
        dnsNames: ['mx.example.org'],
        ipAddresses: [],
        notBefore: clock.now(),
        notAfter: new Date(clock.now().getTime() + 90 * DAY * 1000),
      });
      await writeFile(path.join(dir, 'own-cert.pem'), own.cert);
      await writeFile(path.join(dir, 'own-key.pem'), own.key);
      const config = configured({
        cert: path.join(dir, 'own-cert.pem'),
        key: path.join(dir, 'own-key.pem'),
      });

      const tls = await loadReceiverTls(deps(clock, config));

      expect(tls).toMatchObject({ source: 'config', cert: own.cert, key: own.key, renewed: false });
      await expect(stat(path.join(dir, 'tls-cert.pem'))).rejects.toThrow(/ENOENT/);
    });

    it('names the setting and the file that cannot be read', async () => {
      const config = configured({
        cert: path.join(dir, 'missing.pem'),
        key: path.join(dir, 'nokey.pem'),
      });

      const failure = loadReceiverTls(deps(new ManualClock(), config));

      await expect(failure).rejects.toBeInstanceOf(ConfigError);
      await expect(failure).rejects.toThrow(
        /local\.tls is invalid:\n {2}- cert: .*missing\.pem cannot be read \(ENOENT\)\n {2}- key: .*nokey\.pem/,
      );
    });

    it('refuses a key that is not the certificate’s', async () => {
      const clock = new ManualClock();
      const pair = (cn: string) =>
        makeSelfSignedCertificate({
          commonName: cn,
          dnsNames: [cn],
          ipAddresses: [],
          notBefore: clock.now(),
          notAfter: new Date(clock.now().getTime() + DAY * 1000),
        });
      await writeFile(path.join(dir, 'a.pem'), pair('a').cert);
      await writeFile(path.join(dir, 'b.pem'), pair('b').key);
      const config = configured({ cert: path.join(dir, 'a.pem'), key: path.join(dir, 'b.pem') });

      await expect(loadReceiverTls(deps(clock, config))).rejects.toThrow(
        /key: is not the private key of the certificate in cert/,
      );
    });
  });
});
