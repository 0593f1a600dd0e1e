import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CANCEL_CHECK_MS } from '../lambdas/core/replay.js';
import { ChildRuntime } from './child-runtime.js';
import {
  backlog,
  FAST,
  type FlushRun,
  type HandoverRun,
  type Job,
  runLifeboat,
  runPostfix,
  sendAll,
} from './continuity-handover.js';
import { BenchPrimary } from './continuity-sink.js';
import { postfixMissing, postfixVersion } from './postfix-reference.js';
import type { BenchOptions, Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio } from './stats.js';

/** Archived messages replayed, handed over and flushed by Postfix in each column: the work item's 10,000. */
export const MESSAGES = 10_000;
/**
 * Aim: a replay as fast as the hand-over at the same settings (both are paced sends of stored mail
 * to one primary; a replay also reads each message's headers and writes a report row).
 */
export const AIM_RATIO = 0.8;
/** A column whose messages have not all reached the primary by then is reported as an error. */
const RUN_TIMEOUT_MS = 600_000;
/** The settings that ship: what an admin gets unless they raise them. */
const DEFAULT_RATE = 10;

interface ReplayReport {
  job: {
    id: string;
    state: string;
    progress: { total: number | null; done: number; sent: number; present: number; failed: number };
  };
  ms: number;
  cpu: { userMs: number; systemMs: number };
}

interface ReplayRun {
  messages: number;
  /** Start of the replay → the last copy at the primary. */
  ms: number;
  perSecond: number;
  connections: number;
  /** Taking the archive in, the normal way (received, delivered to the primary). */
  seedMs: number;
  report: ReplayReport;
}

class ReplayChild extends ChildRuntime {
  static start(primaryPort: number, dataDir: string): ReplayChild {
    return new ReplayChild(
      ChildRuntime.spawnScript('bench/replay-runtime.ts', [
        String(primaryPort),
        dataDir,
        String(FAST.ratePerSecond),
        String(FAST.concurrency),
      ]),
    );
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send('stop');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Fails the run unless every job arrived exactly once among `ids`. */
function assertOnce(ids: readonly string[], jobs: readonly Job[]): void {
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const missing = jobs.filter((j) => !seen.has(j.messageId)).length;
  const twice = [...seen.values()].filter((n) => n > 1).length;
  if (ids.length !== jobs.length || missing || twice) {
    throw new Error(
      `replay: ${ids.length} copies for ${jobs.length} messages, ${missing} missing, ${twice} twice`,
    );
  }
}

/**
 * The archive as a restored primary needs it back: MESSAGES messages received and delivered the
 * normal way (so each has its raw file and its records), then a replay of the window that holds
 * them, at the hand-over's fastest settings; timed from the start until the primary holds a
 * second copy of every one.
 */
async function runReplay(): Promise<ReplayRun> {
  const jobs = backlog('replay', MESSAGES);
  const primary = new BenchPrimary();
  await primary.start(0);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-replay-'));
  const child = ReplayChild.start(primary.port, dataDir);
  try {
    const { smtpPort } = await child.expect<{ smtpPort: number }>('ready');
    const from = new Date(Date.now() - 1000).toISOString();
    const seedStarted = performance.now();
    await sendAll(smtpPort, jobs);
    await primary.reach(MESSAGES, RUN_TIMEOUT_MS);
    child.send('idle');
    await child.expect('idle');
    const seedMs = performance.now() - seedStarted;
    const before = primary.connections;
    // Files are stamped to the millisecond; the window must end after the last one.
    await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    child.send(`replay ${from}`);
    const arrived = await primary.reach(2 * MESSAGES, RUN_TIMEOUT_MS);
    const report = await child.expect<ReplayReport>('replayed');
    assertOnce(primary.messageIds.slice(MESSAGES), jobs);
    if (report.job.state !== 'finished' || report.job.progress.sent !== MESSAGES) {
      throw new Error(`replay ended ${report.job.state} with ${JSON.stringify(report.job.progress)}`);
    }
    const ms = arrived - started;
    return {
      messages: MESSAGES,
      ms,
      perSecond: MESSAGES / (ms / 1000),
      connections: primary.connections - before,
      seedMs,
      report,
    };
  } finally {
    await child.close();
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The replay figure: MESSAGES archived messages replayed into a local primary, beside the
 * hand-over of as many held messages and Postfix's `postqueue -f` of as many deferred ones, all
 * three measured in this run on this machine.
 */
export async function measureReplay(_options: BenchOptions): Promise<FigureResult> {
  const figure = `Replay of ${MESSAGES.toLocaleString('en')} archived messages into a restored primary`;
  const replay = await runReplay();
  const handover: HandoverRun = await runLifeboat(FAST, 'replay-handover', MESSAGES);
  const missing = postfixMissing();
  const postfix: FlushRun | undefined = missing === undefined ? await runPostfix(MESSAGES) : undefined;
  const ratio = replay.perSecond / handover.perSecond;
  const row: Row = {
    id: 'replay.throughput',
    figure,
    value: fmt(replay.perSecond, 'msg/s'),
    reference: `hand-over ${fmt(handover.perSecond, 'msg/s')}; ${postfix ? `Postfix flush ${fmt(postfix.perSecond, 'msg/s')}` : `Postfix column skipped: ${missing}`}`,
    ratio: `${fmtRatio(ratio)} hand-over${postfix ? `, ${fmtRatio(replay.perSecond / postfix.perSecond)} Postfix` : ''}`,
    aim: `≥ ${AIM_RATIO}× the hand-over`,
    verdict: ratio >= AIM_RATIO ? 'PASS' : 'MISS',
    data: { replay, handover, postfix, messages: MESSAGES },
  };
  const cpu = replay.report.cpu.userMs + replay.report.cpu.systemMs;
  const notes = [
    `Replay: ${MESSAGES} messages of about 2 KB, one recipient each, received by the local runtime (in a process of its own) and delivered to the primary the normal way (${fmt(replay.seedMs / 1000, 's')}), so each has its raw file and its records; then a replay of the window holding them, started as the admin API starts one, with the hand-over's settings at their fastest (continuity.handover.ratePerSecond ${FAST.ratePerSecond}, concurrency ${FAST.concurrency}): ${fmt(replay.ms / 1000, 's')} from the start (listing the archive by file time, writing the plan) until the primary held a second copy of every message, each marked X-Lifeboat-Replay, checked exactly once by Message-ID. ${replay.connections} SMTP connections; the runtime's process used ${fmt(cpu / MESSAGES, 'ms')} of CPU per message. A replay writes one report row per message as the primary answers (its checkpoint), and looks for a cancel every ${CANCEL_CHECK_MS} ms.`,
    `Beside it, in the same run: the hand-over of ${MESSAGES} held messages at the same settings (bench/continuity-handover.ts's run), ${fmt(handover.perSecond, 'msg/s')}${postfix ? `; Postfix ${postfixVersion()} flushing ${MESSAGES} deferred messages to the same kind of primary with \`postqueue -f\`, ${fmt(postfix.perSecond, 'msg/s')}` : `; ${missing ?? ''}`}. At the shipped pace (${DEFAULT_RATE} a second) a replay of ${MESSAGES} takes ${fmt(MESSAGES / DEFAULT_RATE / 60, 'min')}, as the hand-over would: a restored primary is not flooded unless the admin raises the pace.`,
  ];
  return { rows: [row], notes };
}

export const replayFigure: Figure = { name: 'replay', run: measureReplay };
