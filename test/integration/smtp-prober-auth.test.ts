import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createSmtpProber } from '../../lambdas/adapters/smtp-prober.js';
import { parseConfig } from '../../lambdas/core/config.js';

/** A submission-style server: MAIL FROM is refused (530) until the client has authenticated. */
async function submissionServer(password: string) {
  const seen: { mailFrom: string[]; auth: string[]; data: number } = { mailFrom: [], auth: [], data: 0 };
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      seen.auth.push(auth.method);
      if (auth.username === 'relay@example.com' && auth.password === password)
        return cb(null, { user: auth.username });
      return cb(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
    },
    onMailFrom(address, session, cb) {
      seen.mailFrom.push(address.address);
      if (!session.user)
        return cb(Object.assign(new Error('5.7.0 authentication required'), { responseCode: 530 }));
      cb();
    },
    onData(stream, _s, cb) {
      seen.data++;
      stream.resume();
      stream.on('end', () => cb());
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, seen, port: (server.server.address() as AddressInfo).port };
}

function routeWithAuth(port: number) {
  return parseConfig({
    domains: ['example.com'],
    routes: [
      {
        name: 'connector',
        domains: ['example.com'],
        hosts: [{ host: '127.0.0.1', port }],
        tls: 'none',
        auth: { user: 'relay@example.com', passwordEnv: 'UNUSED' },
        connectTimeoutSeconds: 3,
      },
    ],
  }).routes[0]!;
}

describe('SMTP check against a connector that requires AUTH', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('authenticates and names the authenticated user as sender, so a healthy connector passes', async () => {
    const s = await submissionServer('s3cret');
    close = () => s.server.close(() => {});
    const prober = createSmtpProber({ hostname: 'gw.test', passwords: async () => 's3cret' });
    const result = await prober.check(
      routeWithAuth(s.port),
      { host: '127.0.0.1', port: s.port },
      'postmaster@example.com',
    );
    expect(result).toMatchObject({ ok: true, detail: 'ok' });
    expect(s.seen.mailFrom).toEqual(['relay@example.com']);
    expect(s.seen.data).toBe(0);
  });

  it('fails naming AUTH when the password is wrong (deliveries would fail too)', async () => {
    const s = await submissionServer('s3cret');
    close = () => s.server.close(() => {});
    const prober = createSmtpProber({ hostname: 'gw.test', passwords: async () => 'wrong' });
    const result = await prober.check(
      routeWithAuth(s.port),
      { host: '127.0.0.1', port: s.port },
      'postmaster@example.com',
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^AUTH: 535/);
  });
});
