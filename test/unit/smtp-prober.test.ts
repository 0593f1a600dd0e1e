import net, { type AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createSmtpProber } from '../../lambdas/adapters/smtp-prober.js';
import type { RouteConfig, TlsMode } from '../../lambdas/core/config.js';
import { testConfig } from '../support/fixtures.js';

// The prober speaks SMTP over loopback to smtp-server, the same library the test primaries use.

const PROBE_RCPT = 'postmaster@example.com';

/** What a server saw of the probe's session. */
interface Seen {
  mailFrom: string[];
  rcptTo: string[];
  /** DATA commands that reached the server: the probe must never send one. */
  data: number;
  /** Whether MAIL FROM came over TLS. */
  secureAtMail: boolean[];
}

const servers: SMTPServer[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          for (const c of s.connections) c.close();
        }),
    ),
  );
});

/** An smtp-server on a free loopback port that records what the probe does. */
async function server(options: SMTPServerOptions = {}): Promise<{ port: number; seen: Seen }> {
  const seen: Seen = { mailFrom: [], rcptTo: [], data: 0, secureAtMail: [] };
  const s = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    onMailFrom(address, session, cb) {
      seen.mailFrom.push(address.address);
      seen.secureAtMail.push(session.secure);
      cb();
    },
    onRcptTo(address, _session, cb) {
      seen.rcptTo.push(address.address);
      cb();
    },
    onData(stream, _session, cb) {
      seen.data++;
      stream.resume();
      stream.on('end', () => cb());
    },
    ...options,
  });
  servers.push(s);
  const port = await new Promise<number>((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.server.address() as AddressInfo).port)),
  );
  return { port, seen };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((resolve) =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)),
  );
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function route(overrides: { tls?: TlsMode; verifyCertificate?: boolean; connectTimeoutSeconds?: number }) {
  const base = testConfig().routes[0] as RouteConfig;
  return {
    ...base,
    tls: 'none',
    verifyCertificate: true,
    connectTimeoutSeconds: 5,
    ...overrides,
  } satisfies RouteConfig;
}

const prober = createSmtpProber({ hostname: 'lifeboat.example.com' });

function check(port: number, overrides: Parameters<typeof route>[0] = {}) {
  return prober.check(route(overrides), { host: '127.0.0.1', port }, PROBE_RCPT);
}

describe('createSmtpProber', () => {
  it('passes against a healthy server after MAIL FROM:<> and RCPT, without ever sending DATA', async () => {
    const { port, seen } = await server();

    const result = await check(port);

    expect(result).toMatchObject({ ok: true, detail: 'ok' });
    expect(seen).toMatchObject({ mailFrom: [''], rcptTo: [PROBE_RCPT], data: 0 });
  });

  it('fails with ECONNREFUSED when nothing listens on the port', async () => {
    const port = await closedPort();

    const result = await check(port);

    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^ECONNREFUSED/);
  });

  it('fails after connectTimeoutSeconds when the server accepts TCP but never greets', async () => {
    const { port } = await server({ onConnect: () => {} });

    const result = await check(port, { connectTimeoutSeconds: 1 });

    expect(result).toMatchObject({ ok: false, detail: 'no answer within 1 s' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(950);
    expect(result.latencyMs).toBeLessThan(3000);
  });

  it('fails on a 421 greeting, naming the greeting and the reply', async () => {
    const { port, seen } = await server({
      onConnect: (_s, cb) => cb(Object.assign(new Error('4.3.2 shutting down'), { responseCode: 421 })),
    });

    const result = await check(port);

    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^greeting: 421 .*shutting down/);
    expect(seen.mailFrom).toEqual([]);
  });

  it('fails when the probe mailbox is refused at RCPT, naming RCPT and the 550', async () => {
    const { port } = await server({
      onRcptTo: (_a, _s, cb) => cb(Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 })),
    });

    const result = await check(port);

    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^RCPT TO: 550 .*User unknown/);
  });

  it('fails when the route requires STARTTLS and the server does not offer it', async () => {
    const { port, seen } = await server();

    const result = await check(port, { tls: 'starttls-required' });

    expect(result).toMatchObject({ ok: false, detail: 'STARTTLS required but not offered' });
    expect(seen.mailFrom).toEqual([]);
  });

  it('passes over TLS after STARTTLS when the route does not verify the certificate', async () => {
    const { port, seen } = await server({ disabledCommands: ['AUTH'] });

    const result = await check(port, { tls: 'starttls-required', verifyCertificate: false });

    expect(result).toMatchObject({ ok: true, detail: 'ok' });
    expect(seen.secureAtMail).toEqual([true]);
    expect(seen.data).toBe(0);
  });

  it('fails when it verifies the certificate and the server presents a self-signed one', async () => {
    const { port, seen } = await server({ disabledCommands: ['AUTH'] });

    const result = await check(port, { tls: 'opportunistic', verifyCertificate: true });

    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/certificate/i);
    expect(seen.mailFrom).toEqual([]);
  });

  it('uses STARTTLS when the route is opportunistic and the server offers it', async () => {
    const { port, seen } = await server({ disabledCommands: ['AUTH'] });

    const result = await check(port, { tls: 'opportunistic', verifyCertificate: false });

    expect(result.ok).toBe(true);
    expect(seen.secureAtMail).toEqual([true]);
  });

  it('passes over implicit TLS (port 465 style)', async () => {
    const { port, seen } = await server({ secure: true, disabledCommands: ['AUTH'] });

    const result = await check(port, { tls: 'implicit', verifyCertificate: false });

    expect(result.ok).toBe(true);
    expect(seen.secureAtMail).toEqual([true]);
  });
});
