import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { MAX_CONNECTIONS_PER_ROUTE, MAX_MESSAGES_PER_CONNECTION } from '../lambdas/adapters/smtp-mailer.js';
import { PostfixInstance } from '../test/e2e/support/postfix.js';
import { ChildRuntime } from './child-runtime.js';
import { BenchPrimary } from './continuity-sink.js';
import { breakdown, describeBreakdown, describeBusy, readProfile } from './cpu-profile.js';
import { postfixCpuMs, postfixMissing, postfixTuning, postfixVersion } from './postfix-reference.js';
import type { BenchOptions, Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio } from './stats.js';

/** Aim: Lifeboat hands a backlog back at least as fast as Postfix flushes the same backlog. */
export const AIM_RATIO = 1;
/**
 * Messages held during continuity (and deferred in Postfix) in each run: enough for the run to
 * last about a second, and for the mailer's sessions to reach their transaction cap once.
 */
const MESSAGES = 500;
/**
 * Timed runs per side at the main settings, alternating Lifeboat and Postfix; each side's figure
 * is its best run, the one least disturbed by anything else on the machine.
 */
const ROUNDS = 2;
/** The run at the shipped pace (10 a second) holds fewer, to keep the figure near a minute. */
const SHIPPED_MESSAGES = 100;
/** A run whose main thread was busy this share of the time or more is said to be bound by its CPU. */
const CPU_BOUND_SHARE = 0.9;
/**
 * The hand-over settings of the main figure: the fastest pace the config allows, and as many in
 * flight as Postfix sends to one destination at once (default_destination_concurrency_limit, 20),
 * which is also the mailer's limit of sessions per route. Both are settings an admin can make.
 */
export const FAST = { ratePerSecond: 1000, concurrency: 20 } as const;
/** Fewer in flight, as for a primary that should see fewer sessions at once. */
const NARROW = { ratePerSecond: 1000, concurrency: 8 } as const;
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

export interface Job {
  messageId: string;
  to: string;
  raw: Buffer;
}

/**
 * `count` plain-text messages of about 2 KB (the median size of the mail corpus), each with a
 * Message-ID of its own so the primary can tell a duplicate from a second message.
 */
export function backlog(label: string, count: number): Job[] {
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
export async function sendAll(port: number, jobs: readonly Job[]): Promise<void> {
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

export interface HandoverRun {
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
  /** CPU of the whole process: the JavaScript thread and libuv's (file reads). */
  cpu: { userMs: number; systemMs: number };
  /** Share of the time the runtime's event loop was busy (not waiting for I/O). */
  mainThreadBusy: number;
  stateAfterRevoke: string;
  state: string | undefined;
  handover: { startedAt: string; finishedAt: string | null; total: number; released: number } | null;
  queue: Record<string, number>;
  /** Calls and their summed wall time, by `store.<method>`, `blobs.<method>` and `mailer.<method>`. */
  calls: Record<string, { calls: number; ms: number }>;
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
export async function runLifeboat(
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
    const arrived = await primary.reach(messages, Math.max(RUN_TIMEOUT_MS, messages * 20));
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

export interface FlushRun {
  messages: number;
  /** `postqueue -f` → the last message at the primary. */
  ms: number;
  perSecond: number;
  /** Sending the backlog in until all of it sat in the deferred queue. */
  deferMs: number;
  /** SMTP connections the primary accepted during the flush. */
  connections: number;
  /** CPU of all of Postfix's processes from the flush until the queue was empty, when known. */
  cpuMs?: number;
  /** The speed settings the harness changes from the shipped ones. */
  tuning: string;
}

const best = <T extends { perSecond: number }>(runs: readonly T[]) =>
  runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a)) as T;

/**
 * Postfix: the same backlog sent in while the primary refuses connections, so it all sits in the
 * deferred queue; then the primary back on the same port and `postqueue -f`, timed until the
 * primary holds every message.
 */
export async function runPostfix(messages = MESSAGES): Promise<FlushRun> {
  const jobs = backlog('postfix', messages);
  // The waits grow with the backlog: Postfix takes in and flushes a few hundred a second here.
  const waitMs = Math.max(60_000, messages * 20);
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
    await postfix.waitForQueueSize(messages, { queues: 'deferred', timeoutMs: waitMs });
    const deferMs = performance.now() - t0;
    if ((await postfix.queueSize()) !== messages)
      throw new Error(`Postfix: ${await postfix.queueSize()} messages queued, ${messages} expected`);
    await primary.start(primary.port);
    const cpuBefore = postfixCpuMs(postfix);
    const started = performance.now();
    await postfix.flush();
    const arrived = await primary.reach(messages, Math.max(RUN_TIMEOUT_MS, waitMs));
    await postfix.waitForQueueSize(0, { timeoutMs: waitMs });
    const cpuAfter = postfixCpuMs(postfix);
    assertExactlyOnce('Postfix', primary, jobs);
    const ms = arrived - started;
    return {
      messages,
      ms,
      perSecond: messages / (ms / 1000),
      deferMs,
      connections: primary.connections,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuMs: cpuAfter - cpuBefore } : {}),
      tuning: postfixTuning(postfix),
    };
  } finally {
    await postfix.dispose();
    await primary.stop();
  }
}

/** `3.0 store calls (replaceDelivery 2.0, 0.07 ms each; …), 1.0 raw read (…), 1.0 SMTP transaction (…)` per message, from the runtime's tally. */
function describeCalls(run: HandoverRun): string {
  const perMessage = (n: number) => (n / run.messages).toFixed(1);
  const entries = Object.entries(run.report.calls).sort((a, b) => b[1].calls - a[1].calls);
  const group = (prefix: string) => entries.filter(([name]) => name.startsWith(prefix));
  const total = (list: typeof entries) => list.reduce((s, [, t]) => s + t.calls, 0);
  const each = (t: { calls: number; ms: number }) => fmt(t.ms / t.calls, 'ms');
  // Calls made once per batch or once per event (the hold lifted, say) are summed, not listed.
  const store = group('store.').filter(([, t]) => t.calls >= run.messages / 20);
  const reads = run.report.calls['blobs.getRaw'];
  const send = run.report.calls['mailer.send'];
  return [
    `${perMessage(total(group('store.')))} store calls (${store
      .map(([name, t]) => `${name.slice('store.'.length)} ${perMessage(t.calls)}, ${each(t)} each`)
      .join('; ')}; the rest once per batch or per event)`,
    `${perMessage(reads?.calls ?? 0)} raw file read (${reads ? each(reads) : '—'} each, asynchronous, on libuv's threads)`,
    `${perMessage(send?.calls ?? 0)} SMTP transaction (${send ? each(send) : '—'})`,
  ].join(', ');
}

const busy = (run: HandoverRun) => `${Math.round(run.report.mainThreadBusy * 100)}%`;
const cpuMs = (run: HandoverRun) => run.report.cpu.userMs + run.report.cpu.systemMs;
const settingsText = (s: HandoverRun['settings']) =>
  `ratePerSecond ${s.ratePerSecond}, concurrency ${s.concurrency}`;

function describeRuns(runs: ReadonlyArray<{ perSecond: number }>): string {
  return runs.map((r) => fmt(r.perSecond)).join(' and ');
}

/**
 * Figure 4b: messages per second handed back to a primary that is up again after continuity,
 * against Postfix flushing the same backlog with `postqueue -f`.
 */
export async function measureHandover(options: BenchOptions): Promise<FigureResult> {
  const figure = 'Hand-over throughput vs Postfix `postqueue -f`';
  const base = { id: 'handover.throughput', figure, aim: `≥ ${AIM_RATIO}× Postfix` };
  const missing = postfixMissing();
  const fastRuns: HandoverRun[] = [];
  const postfixRuns: FlushRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    fastRuns.push(await runLifeboat(FAST, `fast${round}`));
    if (missing === undefined) postfixRuns.push(await runPostfix());
  }
  const narrow = await runLifeboat(NARROW, 'narrow');
  const widest = await runLifeboat(WIDEST, 'widest');
  const shipped = await runLifeboat(DEFAULTS, 'defaults', SHIPPED_MESSAGES);
  const fast = best(fastRuns);
  const postfix = postfixRuns.length > 0 ? best(postfixRuns) : undefined;
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
  row.data = { fastRuns, narrow, widest, shipped, postfixRuns, messages: MESSAGES, rounds: ROUNDS };
  const shippedRow: Row = {
    id: 'handover.throughput.defaults',
    figure: `Hand-over throughput at the shipped settings (${settingsText(DEFAULTS)})`,
    value: fmt(shipped.perSecond, 'msg/s'),
    reference: `the configured pace, ${DEFAULTS.ratePerSecond} msg/s`,
    ratio: fmtRatio(shipped.perSecond / DEFAULTS.ratePerSecond),
    aim: `≥ ${PACE_KEPT}× the pace`,
    // The pace is a ceiling; the row says whether the hand-over keeps up with it.
    verdict: shipped.perSecond >= DEFAULTS.ratePerSecond * PACE_KEPT ? 'PASS' : 'MISS',
    data: { shipped },
  };

  const ratioTo = (run: HandoverRun) =>
    postfix ? ` (${fmtRatio(run.perSecond / postfix.perSecond)} Postfix)` : '';
  const send = fast.report.calls['mailer.send'];
  const notes = [
    `Hand-over: ${MESSAGES} messages of about 2 KB (the corpus median), one recipient each, sent in by nodemailer over ${SEND_CONCURRENCY} connections; the primary is an smtp-server that counts each message and keeps its Message-ID, and waits ${GREETING_PAUSE_MS} ms before greeting each new connection (smtp-server's default). Lifeboat: the local runtime in a process of its own; continuity invoked, the ${MESSAGES} messages sent in and held, then revoke and the hand-over as the runtime runs it after a revoke from the admin API, with continuity.handover.ratePerSecond ${FAST.ratePerSecond} (the most the config allows) and concurrency ${FAST.concurrency}, Postfix's default_destination_concurrency_limit and the mailer's sessions per route; timed from revoke until the primary holds all ${MESSAGES}. ${ROUNDS} runs per side, alternating; the best of each is shown: Lifeboat ${describeRuns(fastRuns)} msg/s.${
      postfix
        ? ` Postfix ${postfixVersion()}: a private instance in relay mode (test/e2e/support/postfix.ts; the speed settings the harness changes from the shipped ones: ${postfix.tuning}) to the same kind of primary; the same ${MESSAGES} messages sent in while the primary refused connections (all in the deferred queue ${fmt(postfix.deferMs / 1000, 's')} later), then the primary back on its port and \`postqueue -f\`, timed from the flush until the primary holds all ${MESSAGES}: ${describeRuns(postfixRuns)} msg/s.`
        : ''
    } Every run is checked exactly once, or the row fails: ${MESSAGES} messages at the primary, ${MESSAGES} distinct Message-IDs, the ones sent; Lifeboat also ends with nothing held, ${MESSAGES} released and the organisation back in normal.`,
    `Hand-over connections: Lifeboat opened ${fast.connections} to the primary for ${MESSAGES} messages (at most ${FAST.concurrency} at once, ${MAX_MESSAGES_PER_CONNECTION} transactions each before a fresh one, as Exchange's receive connectors allow by default)${postfix ? `; Postfix opened ${postfix.connections} (its connection cache reuses a session without a count limit)` : ''}. Per handed-over message, counted by wrappers around the runtime's store, raw files and mailer in its process: ${describeCalls(fast)}.`,
    `Where the hand-over's time goes at concurrency ${FAST.concurrency}: the runtime's JavaScript thread is busy ${busy(fast)} of the time${fast.report.mainThreadBusy < CPU_BOUND_SHARE ? ' and idle the rest' : ': there the ceiling is that thread'}; the process uses ${fmt(cpuMs(fast) / MESSAGES, 'ms')} of CPU per message (user ${fmt(fast.report.cpu.userMs / MESSAGES, 'ms')}, system ${fmt(fast.report.cpu.systemMs / MESSAGES, 'ms')}). A delivery is one conditional write releasing it straight into a claim, an asynchronous read of its raw file, one SMTP transaction on a kept session (MAIL, RCPT, DATA, then RSET before the next; ${send ? fmt(send.ms / send.calls, 'ms') : '—'} on average with ${FAST.concurrency} in flight, most of it waiting on the two event loops), and one write of the outcome; SQLite calls are synchronous and take a fraction of a millisecond.${
      postfix?.cpuMs !== undefined
        ? ` Postfix's flush used ${fmt(postfix.cpuMs / MESSAGES, 'ms')} of CPU per message over all its processes.`
        : ''
    } The pace (${FAST.ratePerSecond} a second) only holds starts back while the hand-over runs ahead of it. At concurrency ${NARROW.concurrency}: ${fmt(narrow.perSecond, 'msg/s')}${ratioTo(narrow)}, ${narrow.connections} connections, each transaction ${describeSend(narrow)}. At concurrency ${WIDEST.concurrency}, the most the config allows (sessions stay at ${MAX_CONNECTIONS_PER_ROUTE}; the rest wait for one with their message read): ${fmt(widest.perSecond, 'msg/s')}${ratioTo(widest)}, the JavaScript thread busy ${busy(widest)} of the time and ${fmt(cpuMs(widest) / MESSAGES, 'ms')} of CPU per message.`,
    `Hand-over at the shipped settings (${settingsText(DEFAULTS)}): ${fmt(shipped.perSecond, 'msg/s')}, ${fmt(shipped.ms / 1000, 's')} for ${shipped.messages} messages: the pace an admin gets unless they raise it, so a primary coming back is not flooded.`,
  ];
  if (options.profile) {
    for (const settings of [FAST, WIDEST]) notes.push(await profileHandover(settings));
  }
  return { rows: [row, shippedRow], notes };
}

/** `12.3 ms` on average, from a run's tally. */
function describeSend(run: HandoverRun): string {
  const send = run.report.calls['mailer.send'];
  return send ? fmt(send.ms / send.calls, 'ms') : '—';
}

/** A profiled hand-over; returns the note on where its main thread's time went. */
async function profileHandover(settings: HandoverRun['settings']): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-profile-'));
  try {
    const file = path.join(dir, 'handover.cpuprofile');
    const run = await runLifeboat(settings, `profiled-${settings.concurrency}`, MESSAGES, file);
    const b = breakdown(await readProfile(file));
    return `Hand-over profile at concurrency ${settings.concurrency} (--profile; a separate run of ${run.messages} messages at ${fmt(run.perSecond, 'msg/s')} under the profiler, which slows it): the runtime's JavaScript thread from revoke until the hand-over ended, ${describeBusy(b, run.messages)}; per message by component: ${describeBreakdown(b, run.messages)}.`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const handoverFigure: Figure = { name: 'handover', run: measureHandover };
