import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSmtpMailer,
  MAX_MESSAGES_PER_CONNECTION,
  type SmtpMailer,
} from '../../lambdas/adapters/smtp-mailer.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { TestPrimary } from '../support/primary.js';
import {
  countingPrimary,
  eventually,
  numberedEnvelope,
  numberedMessage,
  routeFor,
} from '../support/smtp-fixtures.js';

const message = (n: number) => numberedMessage('reuse', n);
const envelope = numberedEnvelope;

describe('createSmtpMailer: sessions kept per route', () => {
  let primary: TestPrimary;
  let mailer: SmtpMailer;
  let route: RouteConfig;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    route = routeFor('primary', primary.port);
    mailer = createSmtpMailer({ hostname: 'gw.test' });
  });

  afterEach(async () => {
    await mailer.close();
    await primary.stop();
  });

  it('carries N messages over ceil(N / cap) sessions, each delivered', async () => {
    const n = 2 * MAX_MESSAGES_PER_CONNECTION + 5;
    for (let i = 0; i < n; i++) {
      const [outcome] = await mailer.send(route, envelope, message(i));
      expect(outcome?.status).toBe('delivered');
    }
    expect(primary.transactions).toHaveLength(n);
    expect(primary.sessions).toHaveLength(Math.ceil(n / MAX_MESSAGES_PER_CONNECTION));
  });

  it('opens a new session for the message after a 421 and delivers it', async () => {
    for (let i = 0; i < 3; i++) await mailer.send(route, envelope, message(i));
    expect(primary.sessions).toHaveLength(1);

    await primary.tempfail(421, 'rcpt');
    const [refused] = await mailer.send(route, envelope, message(3));
    await primary.accept();
    const sessionsBefore = primary.sessions.length;
    const [next] = await mailer.send(route, envelope, message(4));

    expect(refused?.status).toBe('deferred');
    expect(refused?.response).toContain(`${primary.address}: 421 `);
    expect(next).toMatchObject({ status: 'delivered', host: primary.address });
    expect(primary.sessions).toHaveLength(sessionsBefore + 1);
    expect(primary.transactions.map((t) => t.messageId)).toEqual([
      '<reuse-0@sender.example>',
      '<reuse-1@sender.example>',
      '<reuse-2@sender.example>',
      '<reuse-4@sender.example>',
    ]);
  });

  it('keeps the session after a 4xx at RCPT: that refusal is the message’s, not the session’s', async () => {
    await mailer.send(route, envelope, message(0));
    await primary.tempfail(450, 'rcpt');
    const [deferred] = await mailer.send(route, envelope, message(1));
    await primary.accept();
    const [delivered] = await mailer.send(route, envelope, message(2));

    expect(deferred?.status).toBe('deferred');
    expect(delivered?.status).toBe('delivered');
    expect(primary.sessions).toHaveLength(1);
  });

  it('delivers on a new session when the primary dropped the one kept idle', async () => {
    await mailer.send(route, envelope, message(0));
    // Closing the port drops every open session; the port is the same when it accepts again.
    await primary.refuse();
    await primary.accept();

    const [outcome] = await mailer.send(route, envelope, message(1));

    expect(outcome?.status).toBe('delivered');
    expect(primary.transactions).toHaveLength(2);
    expect(primary.sessions).toHaveLength(2);
  });

  it('keeps sessions of two routes apart, even to the same primary', async () => {
    const other = routeFor('other', primary.port);
    await mailer.send(route, envelope, message(0));
    await mailer.send(other, envelope, message(1));
    await mailer.send(route, envelope, message(2));
    await mailer.send(other, envelope, message(3));

    expect(primary.sessions).toHaveLength(2);
    expect(mailer.openConnections()).toEqual({ primary: 1, other: 1 });
  });

  it('ends idle sessions on close(), and busy ones when their transaction ends', async () => {
    await mailer.send(routeFor('second', primary.port), envelope, message(0));
    await mailer.send(route, envelope, message(1));
    // Takes the kept session at once, so close() finds it busy.
    const busy = mailer.send(route, envelope, message(2));

    await mailer.close();
    const [during] = await busy;
    await eventually(
      () => mailer.openConnections().primary === 0 && mailer.openConnections().second === 0,
      'every session closed',
    );

    expect(during?.status).toBe('delivered');
    expect(primary.sessions).toHaveLength(2);
  });

  it('opens sessions afresh, and keeps them again, for messages sent after close()', async () => {
    await mailer.send(route, envelope, message(0));
    await mailer.close();

    await mailer.send(route, envelope, message(1));
    await mailer.send(route, envelope, message(2));

    expect(primary.transactions).toHaveLength(3);
    expect(primary.sessions).toHaveLength(2);
  });
});

describe('createSmtpMailer: the primary’s limits', () => {
  let stop: (() => Promise<void>) | undefined;
  let mailer: SmtpMailer | undefined;

  afterEach(async () => {
    await mailer?.close();
    await stop?.();
    stop = undefined;
  });

  it('sends the message again at once on a new session when a kept one answers 421 before any of it was sent', async () => {
    const p = await countingPrimary({ perSession: 2 });
    stop = p.stop;
    mailer = createSmtpMailer({ hostname: 'gw.test' });
    const route = routeFor('limited', p.port);

    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(...(await mailer.send(route, envelope, message(i))));

    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill('delivered'));
    expect(p.seen.delivered).toEqual([0, 1, 2, 3, 4].map((i) => `reuse ${i}`));
    expect(p.seen.sessions).toBe(3);
  });

  it('never has more sessions open to a route than its limit, however many messages are in flight', async () => {
    const p = await countingPrimary();
    stop = p.stop;
    mailer = createSmtpMailer({ hostname: 'gw.test', maxConnectionsPerRoute: 3 });
    const route = routeFor('busy', p.port);

    const outcomes = await Promise.all(
      Array.from({ length: 24 }, (_, i) => (mailer as SmtpMailer).send(route, envelope, message(i))),
    );

    expect(outcomes.flat().every((o) => o.status === 'delivered')).toBe(true);
    expect(p.seen.delivered).toHaveLength(24);
    expect(p.seen.peak).toBeLessThanOrEqual(3);
    expect(p.seen.sessions).toBeLessThanOrEqual(3);
  });

  it('closes a session idle for longer than the idle timeout', async () => {
    const p = await countingPrimary();
    stop = p.stop;
    mailer = createSmtpMailer({ hostname: 'gw.test', idleTimeoutMs: 20 });

    await mailer.send(routeFor('quiet', p.port), envelope, message(0));

    await eventually(() => p.seen.closed === 1, 'the primary saw the session end');
    expect(mailer.openConnections()).toEqual({ quiet: 0 });
  });

  it('authenticates once per session, not once per message', async () => {
    const p = await countingPrimary({ password: 's3cret' });
    stop = p.stop;
    mailer = createSmtpMailer({ hostname: 'gw.test', passwords: async () => 's3cret' });
    const route = routeFor('connector', p.port, {
      auth: { user: 'relay@example.com', passwordEnv: 'UNUSED' },
    });

    for (let i = 0; i < 4; i++) await mailer.send(route, envelope, message(i));

    expect(p.seen.delivered).toHaveLength(4);
    expect(p.seen.sessions).toBe(1);
    expect(p.seen.auths).toBe(1);
  });
});
