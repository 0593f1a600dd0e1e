import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { ConfigInput, RouteConfig } from '../../lambdas/core/config.js';
import type { ContinuityDeps } from '../../lambdas/core/continuity-service.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type {
  Envelope,
  Mailer,
  NotificationRecord,
  Notifier,
  RecipientOutcome,
  SmtpProber,
} from '../../lambdas/ports.js';
import { passVerdicts, simpleMessage, testConfig } from './fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from './memory-store.js';

/** A primary that accepts everything, or defers everything while `down`. Records what it was sent. */
export class FakePrimary implements Mailer {
  down = false;
  sent: Array<{ route: string; messageId: string; recipients: string[] }> = [];
  async send(route: RouteConfig, envelope: Envelope, raw: Buffer): Promise<RecipientOutcome[]> {
    // The trace header names the gateway's message id: `Received: by … (Lifeboat) id <id>`.
    const messageId = /\(Lifeboat\) id (\S+)/.exec(raw.toString('latin1'))?.[1] ?? '?';
    this.sent.push({ route: route.name, messageId, recipients: [...envelope.to] });
    return envelope.to.map((recipient) =>
      this.down
        ? { recipient, status: 'deferred', response: '421 4.3.2 Service not available', host: 'mx1:587' }
        : { recipient, status: 'delivered', response: '250 2.0.0 Ok', host: 'mx1:587' },
    );
  }
  /** Message ids in the order the primary received them. */
  order(): string[] {
    return this.sent.map((s) => s.messageId);
  }
}

/** The SMTP check: every host answers, or none while `down`. */
export class FakeProber implements SmtpProber {
  down = false;
  async check() {
    return this.down
      ? { ok: false, detail: 'connect ECONNREFUSED', latencyMs: 2 }
      : { ok: true, detail: '250 2.1.5 Ok', latencyMs: 20 };
  }
}

/** Carries pages nowhere; can be made to fail like an SNS outage. */
export class FakeNotifier implements Notifier {
  sent: NotificationRecord[] = [];
  failWith: Error | null = null;
  async send(n: NotificationRecord) {
    if (this.failWith) throw this.failWith;
    this.sent.push(n);
  }
}

type ContinuityInput = NonNullable<ConfigInput['continuity']>;

/**
 * Everything the continuity service needs, in memory: admins with a phone and an alternate
 * address, staff with a phone, and event ids `ev1`, `ev2` … in order.
 */
export function continuityHarness(continuity: ContinuityInput = {}) {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  const clock = new ManualClock();
  const primary = new FakePrimary();
  const prober = new FakeProber();
  const notifier = new FakeNotifier();
  const config = testConfig({
    continuity: {
      ...continuity,
      paging: {
        adminPhones: ['+447700900123'],
        adminEmails: ['oncall@alerts.example.org'],
        ...continuity.paging,
      },
      staff: { phones: ['+447700900789'], ...continuity.staff },
    },
  });
  let ids = 0;
  const deps: ContinuityDeps = {
    store,
    continuity: store,
    blobs,
    mailer: primary,
    prober,
    notifier,
    config,
    clock,
    log: silentLogger,
    newId: () => `ev${++ids}`,
  };

  /** Receives a message as SES would hand it over, at the clock's time unless given. */
  async function receive(messageId: string, recipients = ['alice@example.com'], receivedAt?: string) {
    blobs.objects.set(`raw/${messageId}`, simpleMessage);
    await ingestMessage(
      {
        messageId,
        rawKey: `raw/${messageId}`,
        envelopeFrom: 'sender@example.org',
        recipients,
        receivedAt: receivedAt ?? clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      deps,
    );
  }

  /** State (and hold reason) of every delivery, by `messageId recipient`. */
  async function queue() {
    return Object.fromEntries(
      [...store.deliveries.values()].map((d) => [
        `${d.messageId} ${d.recipient}`,
        d.reason ? `${d.state} (${d.reason})` : d.state,
      ]),
    );
  }

  /** Notices in the outbox, oldest first, as `notice channel`. */
  async function outbox() {
    return (await store.listNotifications(1000)).reverse().map((n) => `${n.notice} ${n.channel}`);
  }

  return { store, blobs, clock, primary, prober, notifier, config, deps, receive, queue, outbox };
}
