import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSmtpMailer,
  LAMBDA_IDLE_CONNECTION_MS,
  type SmtpMailer,
} from '../../lambdas/adapters/smtp-mailer.js';
import {
  countingPrimary,
  eventually,
  numberedEnvelope,
  numberedMessage,
  routeFor,
} from '../support/smtp-fixtures.js';

const message = (n: number) => numberedMessage('kept', n);
const envelope = numberedEnvelope;
const routeTo = (port: number) => routeFor('primary', port);
const primary = (idleMs = 60_000) => countingPrimary({ idleMs });

/**
 * A frozen Lambda instance as the network sees it: between `freeze()` and the client's next bytes,
 * nothing the primary sends (its 421, its FIN) reaches the client. On the first bytes after it the
 * client gets, as `thaw` says, what the primary sent meanwhile (the 421 read as the reply to its
 * command) or a reset (the primary forgot the connection). New connections pass straight through.
 */
async function freezingProxy(upstreamPort: number, thaw: 'late-reply' | 'reset') {
  const links: Array<{ freeze(): void }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    let held: Buffer[] | undefined;
    let upstreamEnded = false;
    client.on('error', () => {});
    upstream.on('error', () => {});
    upstream.on('data', (d: Buffer) => (held ? held.push(d) : client.write(d)));
    upstream.on('end', () => {
      upstreamEnded = true;
      if (!held) client.end();
    });
    client.on('data', (d: Buffer) => {
      if (!held) {
        upstream.write(d);
        return;
      }
      if (thaw === 'reset') {
        client.resetAndDestroy();
        return;
      }
      for (const b of held) client.write(b);
      held = undefined;
      if (upstreamEnded) client.end();
      else upstream.write(d);
    });
    client.on('close', () => upstream.destroy());
    links.push({
      freeze() {
        held = [];
      },
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    /** Every connection open now stops hearing from the primary. */
    freeze: () => {
      for (const link of links) link.freeze();
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('createSmtpMailer: a session kept between Lambda invocations', () => {
  const stops: Array<() => Promise<void>> = [];
  let mailer: SmtpMailer | undefined;

  afterEach(async () => {
    await mailer?.close();
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('carries the next message on the kept session when the instance was frozen for less than the idle limit', async () => {
    const p = await primary();
    stops.push(p.stop);
    let clock = 1_000_000;
    mailer = createSmtpMailer({
      hostname: 'gw.test',
      idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS,
      now: () => clock,
    });

    await mailer.send(routeTo(p.port), envelope, message(0));
    clock += LAMBDA_IDLE_CONNECTION_MS - 1_000;
    const outcomes = await mailer.send(routeTo(p.port), envelope, message(1));

    expect(outcomes.map((o) => o.status)).toEqual(['delivered']);
    expect(p.seen.sessions).toBe(1);
  });

  it('ends a session idle past the limit whose timer could not run (the instance was frozen) and sends on a new one', async () => {
    const p = await primary();
    stops.push(p.stop);
    let clock = 1_000_000;
    mailer = createSmtpMailer({
      hostname: 'gw.test',
      idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS,
      now: () => clock,
    });

    await mailer.send(routeTo(p.port), envelope, message(0));
    clock += LAMBDA_IDLE_CONNECTION_MS;
    const outcomes = await mailer.send(routeTo(p.port), envelope, message(1));

    expect(outcomes.map((o) => o.status)).toEqual(['delivered']);
    expect(p.seen.sessions).toBe(2);
    await eventually(() => p.seen.closed === 1, 'the primary saw the old session end');
    expect(mailer.openConnections()).toEqual({ primary: 1 });
  });

  it('sends on a new session when the primary closed the idle one (its 421 and FIN arrived)', async () => {
    const p = await primary(150);
    stops.push(p.stop);
    mailer = createSmtpMailer({ hostname: 'gw.test', idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS });

    await mailer.send(routeTo(p.port), envelope, message(0));
    await eventually(() => p.seen.closed === 1, 'the primary ended the idle session');
    const outcomes = await mailer.send(routeTo(p.port), envelope, message(1));

    expect(outcomes.map((o) => o.status)).toEqual(['delivered']);
    expect(p.seen.delivered).toEqual(['kept 0', 'kept 1']);
    expect(p.seen.sessions).toBe(2);
  });

  for (const thaw of ['late-reply', 'reset'] as const) {
    it(`delivers the next message once, on a new session, when the primary closed the session while the instance was frozen (${thaw === 'late-reply' ? 'its 421 read as the reply to MAIL' : 'the connection reset'})`, async () => {
      const p = await primary(150);
      stops.push(p.stop);
      const proxy = await freezingProxy(p.port, thaw);
      stops.push(proxy.stop);
      mailer = createSmtpMailer({ hostname: 'gw.test', idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS });
      const route = routeTo(proxy.port);

      await mailer.send(route, envelope, message(0));
      // Let the RSET after the transaction be answered, then freeze until the primary gives up on it.
      await new Promise((r) => setTimeout(r, 50));
      proxy.freeze();
      await eventually(() => p.seen.closed === 1, 'the primary ended the idle session');
      const outcomes = await mailer.send(route, envelope, message(1));

      expect(outcomes.map((o) => o.status)).toEqual(['delivered']);
      expect(p.seen.delivered).toEqual(['kept 0', 'kept 1']);
      expect(p.seen.sessions).toBe(2);
    });
  }
});
