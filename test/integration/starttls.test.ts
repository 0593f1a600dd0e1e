import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../infra/local/self-signed.js';
import {
  makeDataDir,
  startTestRuntime,
  TEST_DOMAIN,
  type TestRuntime,
  testConfig,
} from '../support/runtime.js';

/** A route nothing is sent to: these tests only talk to the receiver. */
const routes = [{ name: 'primary', domains: [TEST_DOMAIN], hosts: [{ host: '127.0.0.1', port: 9 }] }];

/**
 * Opens an SMTP session, asks for STARTTLS as a sending MTA does, and returns the certificate the
 * receiver offers. Verification is off: a sender that does opportunistic TLS does not verify, and
 * the test looks at the certificate itself.
 */
async function starttlsCertificate(port: number): Promise<X509Certificate> {
  const socket = net.connect(port, '127.0.0.1');
  let buffer = '';
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      const onData = (c: Buffer) => {
        buffer += c.toString('latin1');
        // The last line of a reply has a space after its code (RFC 5321 §4.2.1).
        const last = /^(\d{3}) .*\r\n/m.exec(buffer);
        if (!last) return;
        socket.off('data', onData);
        const text = buffer;
        buffer = '';
        resolve(text);
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  try {
    expect(await reply()).toMatch(/^220 /);
    socket.write('EHLO mta.sender.example\r\n');
    expect(await reply()).toMatch(/^250-STARTTLS\r$/m);
    socket.write('STARTTLS\r\n');
    expect(await reply()).toMatch(/^220 /);
    const secure = tls.connect({ socket, rejectUnauthorized: false, servername: 'lifeboat.local' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const cert = secure.getPeerX509Certificate();
    secure.end();
    if (!cert) throw new Error('no certificate offered');
    return cert;
  } finally {
    socket.destroy();
  }
}

describe('the local receiver’s STARTTLS', () => {
  let lifeboat: TestRuntime | undefined;
  afterEach(async () => {
    await lifeboat?.stop();
    lifeboat = undefined;
  });

  it('offers a certificate that is valid now, kept in the data folder', async () => {
    lifeboat = await startTestRuntime({ config: testConfig(null, { routes }) });

    const cert = await starttlsCertificate(lifeboat.smtpPort);

    const now = Date.now();
    expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(now);
    expect(Date.parse(cert.validTo)).toBeGreaterThan(now);
    expect(cert.checkHost('lifeboat.local')).toBe('lifeboat.local');
    const kept = new X509Certificate(await readFile(path.join(lifeboat.dataDir, 'tls-cert.pem')));
    expect(cert.fingerprint256).toBe(kept.fingerprint256);
  });

  it('offers the certificate local.tls names', async () => {
    const dir = await makeDataDir();
    const own = makeSelfSignedCertificate({
      commonName: 'mx.example.org',
      dnsNames: ['mx.example.org'],
      ipAddresses: [],
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 90 * 24 * 3600 * 1000),
    });
    const files = { cert: path.join(dir, 'own-cert.pem'), key: path.join(dir, 'own-key.pem') };
    await writeFile(files.cert, own.cert);
    await writeFile(files.key, own.key);
    lifeboat = await startTestRuntime({
      config: testConfig(null, { routes, local: { tls: files } }),
      dataDir: dir,
    });

    const cert = await starttlsCertificate(lifeboat.smtpPort);

    expect(cert.fingerprint256).toBe(new X509Certificate(own.cert).fingerprint256);
  });
});
