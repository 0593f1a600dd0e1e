import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../../lambdas/adapters/smtp-mailer.js';
import { QUEUED_GRACE_MS } from '../../lambdas/core/sweep.js';
import { DatabaseWatchingPrimary, gatewayIdOf } from '../support/primary.js';
import { startTestRuntime, TEST_DOMAIN, type TestRuntime, testConfig } from '../support/runtime.js';

const MESSAGES = 5;

function message(n: number): Buffer {
  return Buffer.from(
    [
      'From: Sender <sender@sender.example>',
      `To: alice@${TEST_DOMAIN}`,
      `Subject: window ${n}`,
      `Message-ID: <window-${n}@sender.example>`,
      '',
      `Body ${n}.`,
      '',
    ].join('\r\n'),
  );
}

/**
 * A primary that, at each MAIL FROM, looks up every message it accepted earlier on the same
 * session in the gateway's database, through a connection of its own: what a restart after a
 * kill -9 at that moment would find.
 */
class WatchingPrimary extends DatabaseWatchingPrimary {
  /** Per session, the gateway ids it accepted. */
  private readonly accepted = new Map<string, string[]>();
  /** For each MAIL FROM after the first on a session: the earlier messages' states then. */
  readonly seenAtNextMail: Array<{ id: string; state: string | undefined }> = [];
  sessions = 0;

  constructor() {
    super({
      onConnect: (_session, callback) => {
        this.sessions++;
        callback();
      },
      onMailFrom: (_address, session, callback) => {
        for (const id of this.accepted.get(session.id) ?? []) {
          this.seenAtNextMail.push({ id, state: this.deliveryState(id) });
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const id = gatewayIdOf(Buffer.concat(chunks));
          if (id) this.accepted.set(session.id, [...(this.accepted.get(session.id) ?? []), id]);
          callback(null, '2.0.0 Ok');
        });
      },
    });
  }
}

describe('recording delivered on a kept SMTP session', () => {
  let primary: WatchingPrimary;
  let rt: TestRuntime;

  beforeEach(async () => {
    primary = new WatchingPrimary();
    await primary.listen();
    const route = { host: '127.0.0.1', port: primary.port } as Parameters<typeof testConfig>[0];
    const config = testConfig(route);
    // One session for the route: the messages wait for it and follow each other on it.
    const mailer = createSmtpMailer({ hostname: config.hostname, maxConnectionsPerRoute: 1 });
    rt = await startTestRuntime({ config, mailer, deliverOnIngest: false });
    primary.watch(rt.layout.database);
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  it('has each message recorded delivered before the next transaction on the session begins', async () => {
    for (let n = 0; n < MESSAGES; n++) await rt.send({ to: [`alice@${TEST_DOMAIN}`], raw: message(n) });
    await rt.idle();

    // All due at once: the sweep sends them concurrently, each waiting for the one session.
    await rt.sweepAfter(QUEUED_GRACE_MS / 1000 + 1);

    // One session carried them all, so each MAIL FROM after the first followed a 250 on it.
    expect(primary.sessions).toBe(1);
    expect(primary.seenAtNextMail).toHaveLength((MESSAGES * (MESSAGES - 1)) / 2);
    expect(primary.seenAtNextMail.filter((s) => s.state !== 'delivered')).toEqual([]);
  });
});
