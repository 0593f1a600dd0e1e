import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { findExecutable } from '../test/e2e/support/executables.js';
import { PostfixInstance, postfixUnavailableReason } from '../test/e2e/support/postfix.js';
import { ChildRuntime } from './child-runtime.js';
import { CORPUS_MISSING, type CorpusMessage, loadCorpus } from './corpus.js';
import { breakdown, describeBreakdown, readProfile } from './cpu-profile.js';
import type { BenchOptions, Figure, FigureResult, Row } from './report.js';
import { CountingSink } from './sink.js';
import { fmt, fmtRatio } from './stats.js';

/** Aim: Lifeboat's local pipeline moves at least half as many messages per second as Postfix relaying. */
export const AIM_RATIO = 0.5;
/** SMTP client connections sending at once, the same for both sides. */
const CONCURRENCY = 4;
/** Times the corpus is sent in a timed run, so a run is long enough to time. */
const PASSES = 3;
/**
 * Timed runs per side, alternating Lifeboat and Postfix; each side's figure is its best run, which
 * is the run least disturbed by anything else on the machine.
 */
const ROUNDS = 2;
/** Messages sent and relayed before timing starts (connections, JIT, queue directories). */
const WARMUP_MESSAGES = 20;
/** A run that has not reached the sink by then is reported as an error with the count it reached. */
const RUN_TIMEOUT_MS = 180_000;
const SENDER = 'sender@example.org';
const DOMAIN = 'bench.test';

interface Job {
  raw: Buffer;
  to: string;
}

interface RunResult {
  /** Messages the system under test accepted (250) in the timed run. */
  accepted: number;
  rejected: number;
  /** Bytes the sink received in the timed run. */
  bytes: number;
  /** First send to the last 250 reply. */
  acceptMs: number;
  /** First send to the last message at the sink. */
  totalMs: number;
  perSecond: number;
  /** CPU the system under test spent in the timed run, when known. */
  cpuMs?: number;
}

function jobsFor(corpus: readonly CorpusMessage[], passes: number): Job[] {
  const jobs: Job[] = [];
  for (let p = 0; p < passes; p++) {
    corpus.forEach((m, i) => {
      jobs.push({ raw: m.raw, to: `user${(p * corpus.length + i) % 50}@${DOMAIN}` });
    });
  }
  return jobs;
}

/** Sends every job over a pool of CONCURRENCY connections with raw bytes and an explicit envelope. */
async function sendAll(port: number, jobs: readonly Job[]): Promise<{ accepted: number; rejected: number }> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    pool: true,
    maxConnections: CONCURRENCY,
    maxMessages: Number.POSITIVE_INFINITY,
    secure: false,
    ignoreTLS: true,
    name: 'client.bench.test',
  });
  try {
    const outcomes = await Promise.allSettled(
      jobs.map((j) => transport.sendMail({ envelope: { from: SENDER, to: [j.to] }, raw: j.raw })),
    );
    const rejected = outcomes.filter((o) => o.status === 'rejected').length;
    return { accepted: jobs.length - rejected, rejected };
  } finally {
    transport.close();
  }
}

/** Warms up, then times `jobs` from the first send until the sink holds every accepted message. */
async function timedRun(
  port: number,
  sink: CountingSink,
  jobs: readonly Job[],
  onWarm: () => void = () => {},
): Promise<RunResult> {
  const warmBase = sink.count;
  const warm = await sendAll(port, jobs.slice(0, WARMUP_MESSAGES));
  await sink.reach(warmBase + warm.accepted, RUN_TIMEOUT_MS);
  onWarm();
  const base = sink.count;
  const bytesBefore = sink.bytes;
  const t0 = performance.now();
  const sent = await sendAll(port, jobs);
  const acceptMs = performance.now() - t0;
  const end = await sink.reach(base + sent.accepted, RUN_TIMEOUT_MS);
  const totalMs = end - t0;
  return {
    accepted: sent.accepted,
    rejected: sent.rejected,
    bytes: sink.bytes - bytesBefore,
    acceptMs,
    totalMs,
    perSecond: sent.accepted / (totalMs / 1000),
  };
}

/** The Lifeboat runtime in a child process (bench/pipeline-runtime.ts), driven by lines on stdio. */
class RuntimeChild extends ChildRuntime {
  static start(sinkPort: number, dataDir: string, mode: RuntimeMode, profileFile?: string): RuntimeChild {
    return new RuntimeChild(
      ChildRuntime.spawnScript('bench/pipeline-runtime.ts', [String(sinkPort), dataDir, mode], profileFile),
    );
  }

  /** Asks the runtime to finish what is in flight and exit; resolves with its CPU since `mark`. */
  async stop(): Promise<{ userMs: number; systemMs: number }> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.send('stop');
    const cpu = await this.expect<{ userMs: number; systemMs: number }>('cpu');
    await exited;
    return cpu;
  }

  /** Ends the child if it is still running (after an error) and waits until it has exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** `local`: the local runtime as `npm start` runs it; `memory`: the same with the stores in memory. */
type RuntimeMode = 'local' | 'memory';

async function runLifeboat(
  jobs: readonly Job[],
  mode: RuntimeMode,
  profileFile?: string,
): Promise<RunResult> {
  const sink = await CountingSink.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-'));
  const child = RuntimeChild.start(sink.port, dataDir, mode, profileFile);
  try {
    const { smtpPort } = await child.expect<{ smtpPort: number }>('ready');
    const result = await timedRun(smtpPort, sink, jobs, () => child.send('mark'));
    const cpu = await child.stop();
    return { ...result, cpuMs: cpu.userMs + cpu.systemMs };
  } finally {
    await child.kill();
    await sink.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runPostfix(jobs: readonly Job[]): Promise<RunResult> {
  const sink = await CountingSink.start();
  try {
    const postfix = await PostfixInstance.create({
      mode: 'relay',
      domains: [DOMAIN],
      relayhost: `127.0.0.1:${sink.port}`,
    });
    try {
      return await timedRun(postfix.port, sink, jobs);
    } finally {
      await postfix.dispose();
    }
  } finally {
    await sink.close();
  }
}

const best = (runs: readonly RunResult[]) =>
  runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a)) as RunResult;

function describeRuns(runs: readonly RunResult[]): string {
  return runs.map((r) => fmt(r.perSecond)).join(' and ');
}

/** Why Postfix cannot be the reference here, or undefined when it can. */
function postfixMissing(): string | undefined {
  if (findExecutable('postfix') === undefined) return 'Postfix not installed: run apt-get install postfix';
  const reason = postfixUnavailableReason();
  return reason === undefined ? undefined : `Postfix cannot run here: ${reason}`;
}

/** A short profiled Lifeboat run; returns the note on where its CPU went. */
async function profileLifeboat(jobs: readonly Job[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-profile-'));
  try {
    const file = path.join(dir, 'runtime.cpuprofile');
    const run = await runLifeboat(jobs, 'local', file);
    const b = breakdown(await readProfile(file));
    return `Pipeline profile (--profile; a separate run of ${run.accepted} messages at ${fmt(run.perSecond, 'msg/s')} under the profiler): CPU of the Lifeboat runtime process by component, from the end of warm-up until every delivery finished: ${describeBreakdown(b)}.`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Figure 1: messages per second through the local pipeline — SMTP in to the receiver, raw bytes
 * to S3 (s3rver), ingest, DynamoDB (dynalite), SMTP out to a counting sink — against Postfix
 * relaying the same messages from the same client to the same kind of sink.
 */
export async function measurePipeline(options: BenchOptions): Promise<FigureResult> {
  const figure = 'Local pipeline throughput (SMTP in → S3 → ingest → DynamoDB → SMTP out)';
  const base = { id: 'pipeline.throughput', figure, aim: `≥ ${AIM_RATIO}× Postfix` };
  const corpus = await loadCorpus();
  if (!corpus) {
    return {
      rows: [{ ...base, value: 'skipped', reference: CORPUS_MISSING, ratio: '—', verdict: 'SKIP' }],
      notes: [],
    };
  }
  const jobs = jobsFor(corpus, PASSES);
  const missing = postfixMissing();
  const lifeboatRuns: RunResult[] = [];
  const postfixRuns: RunResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    lifeboatRuns.push(await runLifeboat(jobs, 'local'));
    if (missing === undefined) postfixRuns.push(await runPostfix(jobs));
  }
  const inMemory = await runLifeboat(jobs, 'memory');
  const lifeboat = best(lifeboatRuns);
  const postfix = postfixRuns.length > 0 ? best(postfixRuns) : undefined;
  const value = fmt(lifeboat.perSecond, 'msg/s');

  let row: Row;
  if (postfix === undefined) {
    row = { ...base, value, reference: missing ?? '—', ratio: '—', verdict: 'SKIP' };
  } else {
    const ratio = lifeboat.perSecond / postfix.perSecond;
    row = {
      ...base,
      value,
      reference: `Postfix relay ${fmt(postfix.perSecond, 'msg/s')}`,
      ratio: fmtRatio(ratio),
      verdict: ratio >= AIM_RATIO ? 'PASS' : 'MISS',
    };
  }
  row.data = {
    lifeboatRuns,
    postfixRuns,
    concurrency: CONCURRENCY,
    passes: PASSES,
    rounds: ROUNDS,
    corpusMessages: corpus.length,
    inMemory,
  };

  const corpusBytes = corpus.reduce((s, m) => s + m.raw.length, 0);
  const cpuPerMessage = (lifeboat.cpuMs ?? Number.NaN) / lifeboat.accepted;
  const notes = [
    `Pipeline: the ${corpus.length} corpus messages (${fmt(corpusBytes / 1024 / 1024, 'MB')}) sent ${PASSES} times (${jobs.length} messages), one envelope recipient each, by nodemailer with raw bytes and an explicit envelope over a pool of ${CONCURRENCY} connections, after ${WARMUP_MESSAGES} untimed warm-up messages; timed from the first send until the sink (an smtp-server that counts and discards) holds every accepted message. ${ROUNDS} runs per side, alternating; the best of each is shown. Lifeboat: the local runtime (infra/local/runtime.ts) in a process of its own, relaying each message on its own SMTP connection; runs of ${describeRuns(lifeboatRuns)} msg/s; ${fmt(cpuPerMessage, 'ms')} of CPU per message in the runtime process, whose single thread was busy ${Math.round(((lifeboat.cpuMs ?? 0) / lifeboat.totalMs) * 100)}% of the run.${
      postfix
        ? ` Postfix: a private instance in relay mode (test/e2e/support/postfix.ts) to its own sink; runs of ${describeRuns(postfixRuns)} msg/s.`
        : ''
    }`,
  ];
  const memoryCpu = (inMemory.cpuMs ?? Number.NaN) / inMemory.accepted;
  notes.push(
    `Pipeline without the AWS emulators: the same receiver, ingest and deliver with MemoryStore and MemoryBlobs (test/support) in place of DynamoDB and S3, one run: ${fmt(inMemory.perSecond, 'msg/s')}${
      postfix ? ` (${fmtRatio(inMemory.perSecond / postfix.perSecond)} Postfix)` : ''
    }, ${fmt(memoryCpu, 'ms')} of CPU per message. So the S3 and DynamoDB calls — SDK clients, HTTP on loopback, s3rver and dynalite, all in the runtime's one process — take ${Math.round((1 - memoryCpu / cpuPerMessage) * 100)}% of its CPU per message.`,
  );
  if (options.profile) notes.push(await profileLifeboat(jobs.slice(0, corpus.length)));
  return { rows: [row], notes };
}

export const pipelineFigure: Figure = { name: 'pipeline', run: measurePipeline };
