import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { findExecutable } from '../test/e2e/support/executables.js';
import { PostfixInstance, postfixUnavailableReason } from '../test/e2e/support/postfix.js';
import { ChildRuntime } from './child-runtime.js';
import { BenchPrimary } from './continuity-sink.js';
import { breakdown, describeBreakdown, readProfile } from './cpu-profile.js';
import type { BenchOptions, Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio } from './stats.js';

/** Aim: Lifeboat hands a backlog back at least as fast as Postfix flushes the same backlog. */
export const AIM_RATIO = 1;
/** Messages held during continuity (and deferred in Postfix) in each run. */
const MESSAGES = 200;
/** The run at the shipped pace (10 a second) holds fewer, to keep the figure near a minute. */
const SHIPPED_MESSAGES = 100;
/** A run whose main thread was busy this share of the time or more is said to be bound by its CPU. */
const CPU_BOUND_SHARE = 0.9;
/** The hand-over settings of the main figure: the fastest the config allows, 8 in flight. */
const FAST = { ratePerSecond: 1000, concurrency: 8 } as const;
/** The most in flight the config allows: where the hand-over's ceiling moves from latency to CPU. */
const WIDEST = { ratePerSecond: 1000, concurrency: 64 } as const;
/** The settings that ship (config defaults), shown on a line of their own. */
const DEFAULTS = { ratePerSecond: 10, concurrency: 2 } as const;
/** The shipped row passes while the hand-over keeps to this share of its configured pace. */
const PACE_KEPT = 0.9;
/** smtp-server waits this long before its greeting, to catch clients that talk too early (smtp-connection.js). */
const GREETING_PAUSE_MS = 100;
/** SMTP client connections sending the backlog in, the same for both sides. */
const SEND_CONCURRENCY = 4;
/** A run whose backlog has not reached the primary by then is reported as an error. */
const RUN_TIMEOUT_MS = 90_000;
const SENDER = 'sender@example.org';
const DOMAIN = 'corp.test';
const BODY_LINE = 'The quick brown fox jumps over the lazy dog while the primary is down. 0123456789\r\n';

interface Job {
  messageId: string;
  to: string;
  raw: Buffer;
}

/**
 * `count` plain-text messages of about 2 KB (the median size of the mail corpus), each with a
 * Message-ID of its own so the primary can tell a duplicate from a second message.
 */
function backlog(label: string, count: number): Job[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(4, '0');
    const messageId = `<${label}-${n}@sender.example.org>`;
    const to = `user${i % 50}@${DOMAIN}`;
    const raw = [
      'From: Sender <sender@example.org>',
      `To: <${to}>`,
      `Subject: held message ${n}`,
      'Date: Mon, 2 Mar 2026 09:00:00 +0000',
      `Message-ID: ${messageId}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      BODY_LINE.repeat(22),
    ].join('\r\n');
    return { messageId, to, raw: Buffer.from(raw) };
  });
}

/** Sends every job, in order, over a pool of SEND_CONCURRENCY connections; throws unless all are accepted. */
async function sendAll(port: number, jobs: readonly Job[]): Promise<void> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    pool: true,
    maxConnections: SEND_CONCURRENCY,
    maxMessages: Number.POSITIVE_INFINITY,
    secure: false,
    ignoreTLS: true,
    name: 'client.bench.test',
  });
  try {
    const outcomes = await Promise.allSettled(
      jobs.map((j) => transport.sendMail({ envelope: { from: SENDER, to: [j.to] }, raw: j.raw })),
    );
    const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (rejected.length > 0) {
      throw new Error(
        `${rejected.length} of ${jobs.length} messages were refused: ${String(rejected[0]?.reason)}`,
      );
    }
  } finally {
    transport.close();
  }
}

/** Fails the run loudly unless every message reached the primary exactly once. */
function assertExactlyOnce(who: string, primary: BenchPrimary, jobs: readonly Job[]): void {
  const problems = primary.exactlyOnce(jobs.map((j) => j.messageId));
  if (problems.length > 0) throw new Error(`${who}: not exactly once: ${problems.join('; ')}`);
}

interface HandoverRun {
  settings: { ratePerSecond: number; concurrency: number };
  messages: number;
  /** Revoke → the last message at the primary. */
  ms: number;
  perSecond: number;
  /** SMTP connections the primary accepted during the hand-over. */
  connections: number;
  /** What the runtime reported once the hand-over had ended. */
  report: HandedOver;
}

interface HandedOver {
  ms: number;
  /** CPU of the whole process: the runtime's thread, the storage thread (dynalite, s3rver) and libuv's. */
  cpu: { userMs: number; systemMs: number };
  /** Share of the time the runtime's event loop was busy (not waiting for I/O). */
  mainThreadBusy: number;
  stateAfterRevoke: string;
  state: string | undefined;
  handover: { startedAt: string; finishedAt: string | null; total: number; released: number } | null;
  queue: Record<string, number>;
  calls: Record<string, { calls: number; ms: number }>;
  requests: Record<string, number>;
}

/** The Lifeboat runtime in a child process (bench/continuity-runtime.ts), driven by lines on stdio. */
class RuntimeChild extends ChildRuntime {
  static start(
    primaryPort: number,
    dataDir: string,
    settings: HandoverRun['settings'],
    profileFile?: string,
  ): RuntimeChild {
    return new RuntimeChild(
      ChildRuntime.spawnScript(
        'bench/continuity-runtime.ts',
        [String(primaryPort), dataDir, String(settings.ratePerSecond), String(settings.concurrency)],
        profileFile,
      ),
    );
  }

  /** Ends the child (asking first, then killing) and waits until it has exited. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send('stop');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Lifeboat: continuity invoked, the backlog sent in and held, then revoke and the hand-over as
 * the runtime runs it after a revoke; timed from revoke until the primary holds every message.
 */
async function runLifeboat(
  settings: HandoverRun['settings'],
  label: string,
  messages = MESSAGES,
  profileFile?: string,
): Promise<HandoverRun> {
  const jobs = backlog(label, messages);
  const primary = new BenchPrimary();
  await primary.start(0);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-handover-'));
  const child = RuntimeChild.start(primary.port, dataDir, settings, profileFile);
  try {
    const { smtpPort } = await child.expect<{ smtpPort: number }>('ready');
    child.send('invoke');
    const invoked = await child.expect<{ state: string }>('invoked');
    if (invoked.state !== 'continuity') throw new Error(`invoke left the organisation ${invoked.state}`);
    await sendAll(smtpPort, jobs);
    child.send('idle');
    const { queue } = await child.expect<{ queue: Record<string, number> }>('idle');
    if (queue.held !== messages || primary.count !== 0) {
      throw new Error(
        `Lifeboat: ${queue.held} of ${messages} messages held and ${primary.count} at the primary before revoke`,
      );
    }
    child.send('mark');
    const started = performance.now();
    child.send('revoke');
    const arrived = await primary.reach(messages, RUN_TIMEOUT_MS);
    const report = await child.expect<HandedOver>('handed-over');
    assertExactlyOnce('Lifeboat', primary, jobs);
    // The status counts delivered mail too; anything else left is a delivery the hand-over did not see through.
    const left = Object.entries(report.queue).filter(([state, n]) => state !== 'delivered' && n > 0);
    if (left.length > 0 || report.state !== 'normal' || report.handover?.released !== messages) {
      throw new Error(
        `Lifeboat: after the hand-over the organisation is ${report.state}, ${report.handover?.released} released, deliveries left ${JSON.stringify(Object.fromEntries(left))}`,
      );
    }
    const ms = arrived - started;
    return {
      settings,
      messages,
      ms,
      perSecond: messages / (ms / 1000),
      connections: primary.connections,
      report,
    };
  } finally {
    await child.close();
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

interface FlushRun {
  messages: number;
  /** `postqueue -f` → the last message at the primary. */
  ms: number;
  perSecond: number;
  /** Sending the backlog in until all of it sat in the deferred queue. */
  deferMs: number;
  /** SMTP connections the primary accepted during the flush. */
  connections: number;
}

/**
 * Postfix: the same backlog sent in while the primary refuses connections, so it all sits in the
 * deferred queue; then the primary back on the same port and `postqueue -f`, timed until the
 * primary holds every message.
 */
async function runPostfix(): Promise<FlushRun> {
  const jobs = backlog('postfix', MESSAGES);
  const primary = new BenchPrimary();
  await primary.start(0);
  await primary.stop();
  const postfix = await PostfixInstance.create({
    mode: 'relay',
    domains: [DOMAIN],
    relayhost: `127.0.0.1:${primary.port}`,
  });
  try {
    const t0 = performance.now();
    await sendAll(postfix.port, jobs);
    await postfix.waitForQueueSize(MESSAGES, { queues: 'deferred', timeoutMs: 60_000 });
    const deferMs = performance.now() - t0;
    if ((await postfix.queueSize()) !== MESSAGES)
      throw new Error(`Postfix: ${await postfix.queueSize()} messages queued, ${MESSAGES} expected`);
    await primary.start(primary.port);
    const started = performance.now();
    await postfix.flush();
    const arrived = await primary.reach(MESSAGES, RUN_TIMEOUT_MS);
    await postfix.waitForQueueSize(0, { timeoutMs: 30_000 });
    assertExactlyOnce('Postfix', primary, jobs);
    const ms = arrived - started;
    return {
      messages: MESSAGES,
      ms,
      perSecond: MESSAGES / (ms / 1000),
      deferMs,
      connections: primary.connections,
    };
  } finally {
    await postfix.dispose();
    await primary.stop();
  }
}

/** Why Postfix cannot be the reference here, or undefined when it can. */
function postfixMissing(): string | undefined {
  if (findExecutable('postfix') === undefined) return 'Postfix not installed: run apt-get install postfix';
  const reason = postfixUnavailableReason();
  return reason === undefined ? undefined : `Postfix cannot run here: ${reason}`;
}

/** `7.5 store calls (replaceDelivery 3.0, 6.55 ms each; …), 1.0 blob read (…), …` per message, from the runtime's tally. */
function describeCalls(run: HandoverRun): string {
  const perMessage = (n: number) => (n / run.messages).toFixed(1);
  const entries = Object.entries(run.report.calls).sort((a, b) => b[1].calls - a[1].calls);
  const group = (prefix: string) => entries.filter(([name]) => name.startsWith(prefix));
  const total = (list: typeof entries) => list.reduce((s, [, t]) => s + t.calls, 0);
  const each = (t: { calls: number; ms: number }) => fmt(t.ms / t.calls, 'ms');
  const store = group('store.').filter(([, t]) => t.calls >= run.messages / 20);
  const blobs = group('blobs.');
  const send = run.report.calls['mailer.send'];
  // Operations made once per event (the hold lifted, say) are left out: they round to 0.0 a message.
  const requests = Object.entries(run.report.requests)
    .filter(([, n]) => n >= run.messages / 20)
    .sort((a, b) => b[1] - a[1]);
  return [
    `${perMessage(total(group('store.')))} store calls (${store
      .map(([name, t]) => `${name.slice('store.'.length)} ${perMessage(t.calls)}, ${each(t)} each`)
      .join('; ')}; those made once per event left out)`,
    `${perMessage(total(blobs))} blob read (${blobs.map(([, t]) => each(t)).join(', ')} each)`,
    `${perMessage(send?.calls ?? 0)} SMTP transaction (${send ? each(send) : '—'})`,
    `on the wire ${requests.map(([op, n]) => `${op} ${perMessage(n)}`).join(', ')}`,
  ].join(', ');
}

const busy = (run: HandoverRun) => `${Math.round(run.report.mainThreadBusy * 100)}%`;

/**
 * Figure 4b: messages per second handed back to a primary that is up again after continuity,
 * against Postfix flushing the same backlog with `postqueue -f`.
 */
export async function measureHandover(options: BenchOptions): Promise<FigureResult> {
  const figure = 'Hand-over throughput vs Postfix `postqueue -f`';
  const base = { id: 'handover.throughput', figure, aim: `≥ ${AIM_RATIO}× Postfix` };
  const missing = postfixMissing();
  const fast = await runLifeboat(FAST, 'fast');
  const postfix = missing === undefined ? await runPostfix() : undefined;
  const widest = await runLifeboat(WIDEST, 'widest');
  const shipped = await runLifeboat(DEFAULTS, 'defaults', SHIPPED_MESSAGES);
  const value = fmt(fast.perSecond, 'msg/s');

  let row: Row;
  if (postfix === undefined) {
    row = { ...base, value, reference: missing ?? '—', ratio: '—', verdict: 'SKIP' };
  } else {
    const ratio = fast.perSecond / postfix.perSecond;
    row = {
      ...base,
      value,
      reference: `Postfix flush ${fmt(postfix.perSecond, 'msg/s')}`,
      ratio: fmtRatio(ratio),
      verdict: ratio >= AIM_RATIO ? 'PASS' : 'MISS',
    };
  }
  row.data = { fast, widest, shipped, postfix, messages: MESSAGES };
  const shippedRow: Row = {
    id: 'handover.throughput.defaults',
    figure: `Hand-over throughput at the shipped settings (ratePerSecond ${DEFAULTS.ratePerSecond}, concurrency ${DEFAULTS.concurrency})`,
    value: fmt(shipped.perSecond, 'msg/s'),
    reference: `the configured pace, ${DEFAULTS.ratePerSecond} msg/s`,
    ratio: fmtRatio(shipped.perSecond / DEFAULTS.ratePerSecond),
    aim: `≥ ${PACE_KEPT}× the pace`,
    // The pace is a ceiling; the row says whether the hand-over keeps up with it.
    verdict: shipped.perSecond >= DEFAULTS.ratePerSecond * PACE_KEPT ? 'PASS' : 'MISS',
    data: { shipped },
  };

  const cpuMs = (run: HandoverRun) => run.report.cpu.userMs + run.report.cpu.systemMs;
  const send = fast.report.calls['mailer.send'];
  const perMessageCalls = Object.entries(fast.report.calls)
    .filter(([name, t]) => name.startsWith('store.') && t.calls >= fast.messages / 2)
    .map(([, t]) => t.ms / t.calls);
  const storeRange = `${fmt(Math.min(...perMessageCalls), 'ms')}–${fmt(Math.max(...perMessageCalls), 'ms')}`;
  const notes = [
    `Hand-over: ${MESSAGES} messages of about 2 KB (the corpus median), one recipient each, sent in by nodemailer over ${SEND_CONCURRENCY} connections; the primary is an smtp-server that counts each message and keeps its Message-ID. Lifeboat: the local runtime in a process of its own; continuity invoked, the ${MESSAGES} messages sent in and held, then revoke and the hand-over as the runtime runs it after a revoke from the admin API, at continuity.handover.ratePerSecond ${FAST.ratePerSecond} (the most the config allows) and concurrency ${FAST.concurrency}; timed from revoke until the primary holds all ${MESSAGES}: ${fmt(fast.ms / 1000, 's')}.${
      postfix
        ? ` Postfix: a private instance in relay mode (test/e2e/support/postfix.ts: initial destination concurrency 10, limit 20) to the same kind of primary; the same ${MESSAGES} messages sent in while the primary refused connections (all in the deferred queue ${fmt(postfix.deferMs / 1000, 's')} later), then the primary back on its port and \`postqueue -f\`; timed from the flush until the primary holds all ${MESSAGES}: ${fmt(postfix.ms / 1000, 's')}.`
        : ''
    } Every run is checked exactly once, or the row fails: ${MESSAGES} messages at the primary, ${MESSAGES} distinct Message-IDs, the ones sent; Lifeboat also ends with nothing held, ${MESSAGES} released and the organisation back in normal.`,
    `Hand-over at the shipped settings (ratePerSecond ${DEFAULTS.ratePerSecond}, concurrency ${DEFAULTS.concurrency}): ${fmt(shipped.perSecond, 'msg/s')}, ${fmt(shipped.ms / 1000, 's')} for ${shipped.messages} messages: the pace an admin gets unless they raise it, so a primary coming back is not flooded. At concurrency ${WIDEST.concurrency}, the most the config allows: ${fmt(widest.perSecond, 'msg/s')}${postfix ? ` (${fmtRatio(widest.perSecond / postfix.perSecond)} Postfix)` : ''}, the runtime's main thread busy ${busy(widest)} of the time and the process using ${fmt(cpuMs(widest) / MESSAGES, 'ms')} of CPU per message${widest.report.mainThreadBusy >= CPU_BOUND_SHARE ? ': there the ceiling is the main thread' : ''}.`,
    `Where the hand-over's time goes at concurrency ${FAST.concurrency}: the runtime's main thread is busy ${busy(fast)} of the time${fast.report.mainThreadBusy < CPU_BOUND_SHARE ? ' and waits the rest' : ''}; the process (main thread, storage thread with dynalite and s3rver, libuv) uses ${fmt(cpuMs(fast) / MESSAGES, 'ms')} of CPU per message. The hand-over reads the oldest held deliveries a batch at a time and keeps ${FAST.concurrency} in flight, releasing each straight into a claim (one conditional write) just before it is sent, recording its outcome (the second) and pacing every start; progress is recorded once per batch. Per handed-over message: ${describeCalls(fast)}. SMTP sessions are kept for the next message (${fast.connections} connections for ${MESSAGES} messages; Postfix used ${postfix ? `${postfix.connections}` : 'its own cache'}): smtp-server waits ${GREETING_PAUSE_MS} ms before its greeting, a pause paid once per session, not once per message (each transaction took ${send ? fmt(send.ms / send.calls, 'ms') : '—'} on average). A store call a message makes takes ${storeRange} on average here: the SDK, HTTP on loopback, and dynalite or s3rver in the runtime's storage thread.`,
  ];
  if (options.profile) {
    for (const settings of [FAST, WIDEST]) notes.push(await profileHandover(settings));
  }
  return { rows: [row, shippedRow], notes };
}

/** A profiled hand-over; returns the note on where its CPU went. */
async function profileHandover(settings: HandoverRun['settings']): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-profile-'));
  try {
    const file = path.join(dir, 'handover.cpuprofile');
    const run = await runLifeboat(settings, `profiled-${settings.concurrency}`, MESSAGES, file);
    const b = breakdown(await readProfile(file));
    return `Hand-over profile at concurrency ${settings.concurrency} (--profile; a separate run of ${run.messages} messages at ${fmt(run.perSecond, 'msg/s')} under the profiler): CPU of the runtime's main thread by component, from revoke until the hand-over ended (dynalite and s3rver run in the storage thread, outside this profile): ${describeBreakdown(b)}.`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const handoverFigure: Figure = { name: 'handover', run: measureHandover };
