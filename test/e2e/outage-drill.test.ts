import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { ContinuityStatus } from '../../lambdas/core/continuity-service.js';
import type { AuditEntry, NotificationRecord } from '../../lambdas/ports.js';
import { sendRaw } from '../support/runtime.js';
import { waitUntil } from './support/net.js';
import { PostfixInstance } from './support/postfix.js';
import { describeWithPostfix } from './support/requirements.js';

const DOMAIN = 'corp.test';
const ACTOR = 'oncall-admin@alerts.example.org';
const ADMIN_PHONE = '+447700900123';
const ADMIN_EMAIL = 'oncall@alerts.example.org';
const HELD_MESSAGES = 50;
const STAFF = [`ann@${DOMAIN}`, `bob@${DOMAIN}`, `cat@${DOMAIN}`];
const PROBE_INTERVAL_SECONDS = 60;

function drillMessageId(n: number): string {
  return `<drill-${String(n).padStart(3, '0')}@sender.example>`;
}

function rawMessage(messageId: string, to: string, subject: string): string {
  return [
    'From: Sender <someone@sender.example>',
    `To: <${to}>`,
    `Subject: ${subject}`,
    'Date: Mon, 2 Mar 2026 09:00:00 +0000',
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `${subject}.`,
    '',
  ].join('\r\n');
}

/**
 * The Message-IDs Postfix received, in the order it received them: cleanup(8) logs each one
 * while the SMTP transaction is still open, so the log order is the order Lifeboat handed over.
 */
function receivedOrder(log: string): string[] {
  return [...log.matchAll(/cleanup\[\d+\]: \w+: message-id=(<[^>\s]+>)/g)].map((m) => m[1] as string);
}

describeWithPostfix('the continuity drill with Postfix as the primary', () => {
  let primary: PostfixInstance;
  let runtime: Runtime;
  let dataDir: string;
  const gatewayIds: string[] = [];

  async function admin(method: 'GET' | 'POST', path: string, body?: unknown) {
    const res = await fetch(`http://127.0.0.1:${runtime.apiPort}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${runtime.adminToken}`,
        'x-lifeboat-actor': ACTOR,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function status(): Promise<ContinuityStatus> {
    return (await admin('GET', '/admin/status')).body as unknown as ContinuityStatus;
  }

  async function outbox(notice: string): Promise<NotificationRecord[]> {
    const all = await runtime.ctx.continuity.listNotifications(200);
    return all.filter((n) => n.notice === notice && n.audience === 'admins');
  }

  function channels(notifications: NotificationRecord[]): Array<[string, string[]]> {
    return notifications.map((n): [string, string[]] => [n.channel, n.to]).sort();
  }

  async function send(messageId: string, to: string, subject: string): Promise<string> {
    const accepted = await sendRaw(runtime.smtpPort, { to: [to], raw: rawMessage(messageId, to, subject) });
    return accepted.id;
  }

  beforeAll(async () => {
    primary = await PostfixInstance.create({ mode: 'mailbox', domains: [DOMAIN] });
    dataDir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
    const config = parseConfig(
      {
        organisation: 'Lifeboat drill',
        hostname: 'lifeboat.e2e.test',
        domains: [DOMAIN],
        routes: [
          {
            name: 'postfix',
            domains: [DOMAIN],
            hosts: [{ host: primary.address, port: primary.port }],
            tls: 'none',
            connectTimeoutSeconds: 3,
            socketTimeoutSeconds: 20,
          },
        ],
        continuity: {
          probes: { intervalSeconds: PROBE_INTERVAL_SECONDS },
          thresholds: { consecutiveFailures: 2, healthyRoundsForAllClear: 3 },
          // Only the admin invokes in this drill, whatever the wall clock does meanwhile.
          autoInvokeAfterMinutes: null,
          paging: { adminPhones: [ADMIN_PHONE], adminEmails: [ADMIN_EMAIL] },
          staff: { phones: ['+447700900789'] },
          // One in flight keeps strict arrival order; the rate is the ceiling, so pacing does not
          // hide the hand-over's own throughput.
          handover: { concurrency: 1, ratePerSecond: 1000 },
        },
      },
      'drill config',
    );
    runtime = await startRuntime({
      config,
      dataDir,
      ports: { smtp: 0, api: 0 },
      // Probes and sweeps run by hand, one call per "interval", so the drill is deterministic.
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
    });
  });

  afterAll(async () => {
    await runtime?.stop();
    await primary?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('relays mail and stays normal while Postfix is healthy', async () => {
    const id = await send('<before-outage@sender.example>', `ann@${DOMAIN}`, 'before the outage');
    await runtime.idle();
    await primary.waitForMessages(1);
    expect((await runtime.ctx.store.listDeliveries(id)).map((d) => d.state)).toEqual(['delivered']);

    const round = await runtime.probe({});
    expect(round.state).toBe('normal');
    expect((await status()).state).toBe('normal');
    expect(await runtime.ctx.continuity.listNotifications(10)).toEqual([]);
  });

  it('opens an event and pages admins by SMS and email within two probe rounds of Postfix stopping', async () => {
    await primary.stop();
    const stoppedAt = Date.now();
    let rounds = 0;
    let state = 'normal';
    while (state !== 'alerting' && rounds < 5) {
      state = (await runtime.probe({})).state;
      rounds++;
    }
    const detectedMs = Date.now() - stoppedAt;
    console.log(
      `[drill] detection: alerting after ${rounds} probe round(s), i.e. within ${rounds * PROBE_INTERVAL_SECONDS} s at a ${PROBE_INTERVAL_SECONDS} s interval; the rounds themselves took ${detectedMs} ms`,
    );
    expect(state).toBe('alerting');
    expect(rounds).toBeLessThanOrEqual(2);

    const s = await status();
    expect(s.state).toBe('alerting');
    expect(s.event?.openedBy).toBe('probe');
    expect(s.event?.evidence.map((e) => `${e.probe} ${e.detail}`).join('\n')).toMatch(
      /smtp .*ECONNREFUSED|smtp .*refused/i,
    );
    const pages = await outbox('alert');
    expect(channels(pages)).toEqual([
      ['email', [ADMIN_EMAIL]],
      ['sms', [ADMIN_PHONE]],
    ]);
    expect(pages.every((p) => p.eventId === s.event?.id)).toBe(true);
  });

  it('invokes continuity through the admin API and holds every message that arrives', async () => {
    const refused = await fetch(`http://127.0.0.1:${runtime.apiPort}/admin/continuity/invoke`, {
      method: 'POST',
    });
    expect(refused.status).toBe(401);

    const invoked = await admin('POST', '/admin/continuity/invoke', { reason: 'primary down (drill)' });
    expect(invoked.status).toBe(200);
    expect(invoked.body.state).toBe('continuity');
    expect(channels(await outbox('invoked'))).toEqual([
      ['email', [ADMIN_EMAIL]],
      ['sms', [ADMIN_PHONE]],
    ]);

    for (let n = 1; n <= HELD_MESSAGES; n++) {
      gatewayIds.push(await send(drillMessageId(n), STAFF[n % STAFF.length] as string, `drill message ${n}`));
    }
    await runtime.idle();

    const states = await Promise.all(
      gatewayIds.map(async (id) => (await runtime.ctx.store.listDeliveries(id)).map((d) => d.state)),
    );
    expect(states.flat()).toEqual(Array(HELD_MESSAGES).fill('held'));
    const s = await status();
    expect(s.state).toBe('continuity');
    expect(s.queue.held).toBe(HELD_MESSAGES);
    expect(s.event?.invokedBy).toBe(ACTOR);
  });

  it('keeps the mail held when Postfix is back, and tells admins flow is restored', async () => {
    await primary.start();
    for (let round = 0; round < 3; round++) await runtime.probe({});
    await runtime.sweep({});
    await runtime.idle();

    expect(channels(await outbox('flow-restored'))).toEqual([
      ['email', [ADMIN_EMAIL]],
      ['sms', [ADMIN_PHONE]],
    ]);
    const s = await status();
    expect(s.state).toBe('continuity');
    expect(s.queue.held).toBe(HELD_MESSAGES);
    expect(await primary.messageIds()).toEqual(['<before-outage@sender.example>']);
  });

  it('hands all 50 messages to Postfix after revoke, once each and in arrival order', async () => {
    await primary.clearMessages();
    const started = Date.now();
    const revoked = await admin('POST', '/admin/continuity/revoke');
    expect(revoked.status).toBe(200);
    expect(revoked.body.state).toBe('recovering');
    // The local API starts the hand-over after a revoke; this waits for that run to finish.
    await runtime.kickHandover();
    await runtime.idle();
    const handedOverMs = Date.now() - started;
    await primary.waitForQueueSize(0, { timeoutMs: 30_000 });

    const event = (await status()).event ?? (await runtime.ctx.continuity.listEvents(1))[0];
    const handover = event?.handover;
    const eventMs =
      handover?.finishedAt && handover.startedAt
        ? Date.parse(handover.finishedAt) - Date.parse(handover.startedAt)
        : Number.NaN;
    console.log(
      `[drill] hand-over: ${HELD_MESSAGES} messages in ${handedOverMs} ms from revoke (${(
        (HELD_MESSAGES * 1000) / handedOverMs
      ).toFixed(1)} msg/s), concurrency 1, rate ceiling 1000/s; event record says ${eventMs} ms`,
    );

    const expected = Array.from({ length: HELD_MESSAGES }, (_, i) => drillMessageId(i + 1));
    const ids = await primary.messageIds();
    expect(ids).toHaveLength(HELD_MESSAGES);
    expect([...ids].sort()).toEqual(expected);
    expect(receivedOrder(await primary.log()).filter((id) => id.startsWith('<drill-'))).toEqual(expected);

    const deliveries = await Promise.all(gatewayIds.map((id) => runtime.ctx.store.listDeliveries(id)));
    expect(deliveries.flat().map((d) => d.state)).toEqual(Array(HELD_MESSAGES).fill('delivered'));
    expect(handover?.released).toBe(HELD_MESSAGES);
  });

  it('ends back in normal with the admin in the audit log and the recovered notice sent', async () => {
    await waitUntil(async () => (await status()).state === 'normal', {
      timeoutMs: 10_000,
      what: 'the organisation back in normal',
    });
    const s = await status();
    expect(s.event).toBeNull();
    expect(s.holds).toEqual([]);

    const audit = (await admin('GET', '/admin/audit?limit=100')).body.entries as AuditEntry[];
    const byAction = (action: string) => audit.filter((a) => a.action === action);
    expect(byAction('invoke').map((a) => a.actor)).toEqual([ACTOR]);
    expect(byAction('revoke').map((a) => a.actor)).toEqual([ACTOR]);
    expect(byAction('recovered')).toHaveLength(1);
    expect(byAction('recovered')[0]?.detail).toContain(`${HELD_MESSAGES} deliveries`);

    const recovered = (await admin('GET', '/admin/outbox?limit=100')).body
      .notifications as NotificationRecord[];
    expect(channels(recovered.filter((n) => n.notice === 'recovered' && n.audience === 'admins'))).toEqual([
      ['email', [ADMIN_EMAIL]],
      ['sms', [ADMIN_PHONE]],
    ]);

    // Mail flows straight through again, and nothing handed over is sent a second time.
    const after = await send('<after-drill@sender.example>', `ann@${DOMAIN}`, 'after the drill');
    await runtime.idle();
    await runtime.probe({});
    await runtime.sweep({});
    await runtime.idle();
    await primary.waitForQueueSize(0, { timeoutMs: 30_000 });
    expect((await runtime.ctx.store.listDeliveries(after)).map((d) => d.state)).toEqual(['delivered']);
    const counts = new Map<string, number>();
    for (const id of await primary.messageIds()) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.size).toBe(HELD_MESSAGES + 1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
  });
});
