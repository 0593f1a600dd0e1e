/**
 * Sending from the webmail on the local runtime (SQLite and files in a temp folder): the latency
 * of a send, from the API call to the message accepted by the relay, and the hand-over after an
 * outage of the sent copies behind the held inbound mail, their order and rate beside the inbound
 * mail's in the same run. The webmail handler is called directly, as API Gateway calls it, so the
 * figures are the runtime's work without HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { startRuntime } from '../infra/local/runtime.js';
import { parseConfig } from '../lambdas/core/config.js';
import { invokeContinuity, revokeContinuity } from '../lambdas/core/continuity-service.js';
import { MAX_DRAFTS, type SentItem } from '../lambdas/webmail/schemas.js';
import { BenchPrimary } from './continuity-sink.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio, percentile } from './stats.js';

/** Sends timed one after another for the latency figure: enough for a p95 that is not the single worst. */
const LATENCY_SENDS = 50;
/** Held inbound messages, and as many sent during the outage: the hand-over of 1,000 of each. */
const HELD = 1000;
/** SMTP client connections sending the held mail in, as the hand-over figure sends its backlog. */
const SEND_CONCURRENCY = 4;
/** Messages one sender sends in the run: an outage's sent mail comes from many people, not one. */
const SENDS_PER_USER = MAX_DRAFTS - LATENCY_SENDS;
const SENDERS = Array.from({ length: Math.ceil(HELD / SENDS_PER_USER) + 1 }, (_, i) => ({
  id: `staff${i}`,
  name: `Staff ${i}`,
  addresses: [`staff${i}@example.com`],
}));
/** Aim: a send reaches the relay within a second at p95 with no undo window. */
const AIM_SEND_P95_MS = 1000;
/** Hand-over settings: the fastest pace the config allows, as many in flight as the hand-over figure's main run. */
const HANDOVER = { ratePerSecond: 1000, concurrency: 20 } as const;
const RUN_TIMEOUT_MS = 180_000;
const DOMAIN = 'example.com';
const OUTSIDE = 'partner@outside.example';
const BODY = 'The quick brown fox jumps over the lazy dog while the primary is down. 0123456789\n'.repeat(20);

function inbound(n: number): { id: string; raw: string } {
  const id = `<held-${String(n).padStart(4, '0')}@outside.example>`;
  const raw = [
    'From: Partner <partner@outside.example>',
    `To: <staff1@${DOMAIN}>`,
    `Subject: held message ${n}`,
    'Date: Mon, 2 Mar 2026 09:00:00 +0000',
    `Message-ID: ${id}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    BODY.replaceAll('\n', '\r\n'),
  ].join('\r\n');
  return { id, raw };
}

async function measureWebmailSend(): Promise<FigureResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-send-'));
  const primary = new BenchPrimary();
  const relay = new BenchPrimary();
  await primary.start(0);
  await relay.start(0);
  const config = parseConfig(
    {
      domains: [DOMAIN],
      routes: [
        {
          name: 'primary',
          domains: [DOMAIN],
          hosts: [{ host: '127.0.0.1', port: primary.port }],
          tls: 'none',
        },
      ],
      webmail: {
        users: SENDERS,
        // No undo window, and limits above what the run sends.
        send: { undoSeconds: 0, messagesPerHour: 10_000, recipientsPerDay: 100_000 },
      },
      continuity: { autoInvokeAfterMinutes: null, handover: HANDOVER },
      local: { dataDir: path.join(dir, 'data'), relay: { host: '127.0.0.1', port: relay.port, tls: 'none' } },
    },
    'bench config',
  );
  const rt = await startRuntime({
    config,
    ports: { smtp: 0, api: 0 },
    sweepIntervalMs: 0,
    probeIntervalMs: 0,
    directoryCheckMs: 0,
    indexBatchMs: 0,
  });
  async function send(sender: number, subject: string): Promise<SentItem> {
    const res = await rt.webmail.handler({
      rawPath: '/mail/api/send',
      requestContext: {
        http: { method: 'POST' },
        authorizer: { jwt: { claims: { 'cognito:username': `staff${sender}` } } },
      },
      body: JSON.stringify({ to: [OUTSIDE], subject, text: BODY }),
    });
    if (res.statusCode !== 202) throw new Error(`send: ${res.statusCode} ${res.body}`);
    return JSON.parse(res.body) as SentItem;
  }
  try {
    // Latency: one send at a time, from the call until the relay has the message.
    const latencies: number[] = [];
    for (let i = 1; i <= LATENCY_SENDS; i++) {
      const t0 = performance.now();
      await send(0, `latency ${i}`);
      latencies.push((await relay.reach(i, 30_000)) - t0);
    }

    // The outage: held inbound mail, then as many messages sent from the webmail.
    const phase = performance.now();
    await invokeContinuity(rt.ctx, 'bench-admin@example.com');
    const held = Array.from({ length: HELD }, (_, i) => inbound(i + 1));
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: rt.smtpPort,
      pool: true,
      maxConnections: SEND_CONCURRENCY,
      maxMessages: Number.POSITIVE_INFINITY,
      secure: false,
      ignoreTLS: true,
    });
    try {
      // In order, so the held mail's arrival order is the order of `held`.
      await Promise.all(
        held.map((m) =>
          transport.sendMail({ envelope: { from: OUTSIDE, to: [`staff1@${DOMAIN}`] }, raw: m.raw }),
        ),
      );
    } finally {
      transport.close();
    }
    const inboundInMs = performance.now() - phase;
    const sentIds: string[] = [];
    for (let i = 1; i <= HELD; i++) {
      const sender = 1 + Math.floor((i - 1) / SENDS_PER_USER);
      sentIds.push((await send(sender, `during the outage ${i}`)).messageIdHeader);
    }
    await relay.reach(LATENCY_SENDS + HELD, RUN_TIMEOUT_MS);
    await rt.idle();
    const sentInMs = performance.now() - phase - inboundInMs;
    if (primary.count !== 0)
      throw new Error(`${primary.count} messages reached the primary during the outage`);

    const started = performance.now();
    const inboundDone = primary.reach(HELD, RUN_TIMEOUT_MS);
    const allDone = primary.reach(2 * HELD, RUN_TIMEOUT_MS);
    await revokeContinuity(rt.ctx, 'bench-admin@example.com');
    void rt.kickHandover();
    const inboundAt = await inboundDone;
    const doneAt = await allDone;
    await rt.idle();

    const ids = primary.messageIds;
    const heldIds = new Set(held.map((m) => m.id));
    const copyIds = new Set(sentIds);
    const lastInbound = ids.reduce((at, id, i) => (heldIds.has(id) ? i : at), -1);
    const firstCopy = ids.findIndex((id) => copyIds.has(id));
    const once = ids.length === 2 * HELD && new Set(ids).size === 2 * HELD;
    const ordered = lastInbound < firstCopy;
    const inboundRate = HELD / ((inboundAt - started) / 1000);
    const copyRate = HELD / ((doneAt - inboundAt) / 1000);

    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    const rows: Row[] = [
      {
        id: 'webmail.send.latency',
        figure: `Webmail send latency, API call to accepted by the relay (undo window 0, ${LATENCY_SENDS} sends)`,
        value: `p50 ${fmt(p50, 'ms')}, p95 ${fmt(p95, 'ms')}`,
        reference: '—',
        ratio: '—',
        aim: `p95 ≤ ${AIM_SEND_P95_MS} ms`,
        verdict: p95 <= AIM_SEND_P95_MS ? 'PASS' : 'MISS',
        data: { latencies },
      },
      {
        id: 'webmail.send.handover',
        figure: `Hand-over of ${HELD} sent copies after ${HELD} held inbound messages`,
        value: `${fmt(copyRate, 'msg/s')}, ${ordered ? 'all inbound first' : 'OUT OF ORDER'}${once ? ', each once' : ', NOT each once'}`,
        reference: `inbound ${fmt(inboundRate, 'msg/s')} in the same run`,
        ratio: fmtRatio(copyRate / inboundRate),
        aim: 'all inbound before any sent copy, each once',
        verdict: ordered && once ? 'PASS' : 'MISS',
        data: { inboundRate, copyRate, lastInbound, firstCopy, received: ids.length, inboundInMs, sentInMs },
      },
    ];
    const notes = [
      `Webmail sending: the local runtime in the bench's process (SQLite and files), the webmail handler called directly as API Gateway calls it, undo window 0; the relay and the primary are smtp-servers that count each message. Latency: ${LATENCY_SENDS} sends of about 1.6 KB to an outside address, one at a time, from the call until the relay had it. Hand-over: continuity invoked, ${HELD} inbound messages sent in over ${SEND_CONCURRENCY} connections and held, then ${HELD} messages sent from the webmail by ${SENDERS.length - 1} users, ${SENDS_PER_USER} each at most (each to the relay at once, its sent copy held); revoke and the hand-over with ratePerSecond ${HANDOVER.ratePerSecond}, concurrency ${HANDOVER.concurrency}; inbound rate from revoke to the ${HELD}th message at the primary, the sent copies' from then to the ${2 * HELD}th; sending them in took ${fmt(inboundInMs / 1000, 's')} and ${fmt(sentInMs / 1000, 's')}; order checked on the primary's arrival order (last inbound at ${lastInbound}, first sent copy at ${firstCopy}).`,
    ];
    return { rows, notes };
  } finally {
    await rt.stop();
    await primary.stop();
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const webmailSendFigure: Figure = { name: 'webmail-send', run: measureWebmailSend };
