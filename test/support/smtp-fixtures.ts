import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { parseConfig, type RouteConfig } from '../../lambdas/core/config.js';

/**
 * Plain SMTP fixtures for the mailer's session tests: a numbered message, a route to a loopback
 * primary, and a primary that counts what it saw.
 */

/** Message n, its subject `<tag> <n>`, so the primary can tell them apart. */
export function numberedMessage(tag: string, n: number): Buffer {
  return Buffer.from(
    [
      'From: Sender <sender@sender.example>',
      'To: alice@example.com',
      `Subject: ${tag} ${n}`,
      `Message-ID: <${tag}-${n}@sender.example>`,
      '',
      `Body ${n}.`,
      '',
    ].join('\r\n'),
  );
}

/** The envelope every numbered message is sent with. */
export const numberedEnvelope = { from: 'sender@sender.example', to: ['alice@example.com'] };

/** A route named `name` to a plain-text primary on this machine's `port`. */
export function routeFor(name: string, port: number, overrides: Record<string, unknown> = {}): RouteConfig {
  const route = parseConfig({
    domains: ['example.com'],
    routes: [
      {
        name,
        domains: ['example.com'],
        hosts: [{ host: '127.0.0.1', port }],
        tls: 'none',
        connectTimeoutSeconds: 5,
        socketTimeoutSeconds: 10,
        ...overrides,
      },
    ],
  }).routes[0];
  if (!route) throw new Error('no route');
  return route;
}

/** Resolves once `check` holds, looking again on each turn of the event loop (bounded). */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * A primary that counts its sessions (open now and at most at once) and the subjects it accepted,
 * can limit the messages it takes per session with a 421 at MAIL as Exchange's
 * MaxMessagesPerConnection does, can ask for AUTH, and ends a session idle for `idleMs`
 * (smtp-server's socketTimeout: a 421 and the connection closed, as Postfix's smtpd_timeout does).
 */
export async function countingPrimary(
  options: { perSession?: number; password?: string; idleMs?: number } = {},
) {
  const seen = { sessions: 0, open: 0, peak: 0, auths: 0, delivered: [] as string[], closed: 0 };
  const perSession = new Map<string, number>();
  const server = new SMTPServer({
    logger: false,
    disabledCommands: options.password ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.password,
    allowInsecureAuth: true,
    ...(options.idleMs !== undefined ? { socketTimeout: options.idleMs } : {}),
    onConnect(session, cb) {
      seen.sessions++;
      seen.open++;
      seen.peak = Math.max(seen.peak, seen.open);
      perSession.set(session.id, 0);
      cb();
    },
    onClose() {
      seen.open--;
      seen.closed++;
    },
    onAuth(auth, _session, cb) {
      seen.auths++;
      if (auth.password === options.password) return cb(null, { user: auth.username });
      return cb(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
    },
    onMailFrom(_address, session, cb) {
      const n = perSession.get(session.id) ?? 0;
      if (options.perSession !== undefined && n >= options.perSession) {
        return cb(Object.assign(new Error('4.3.2 too many messages in this session'), { responseCode: 421 }));
      }
      perSession.set(session.id, n + 1);
      cb();
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.delivered.push(/^Subject: (.*)$/m.exec(Buffer.concat(chunks).toString())?.[1] ?? '?');
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return { seen, port, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
