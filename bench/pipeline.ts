import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { PostfixInstance } from '../test/e2e/support/postfix.js';
import { ChildRuntime } from './child-runtime.js';
import { CORPUS_MISSING, type CorpusMessage, loadCorpus } from './corpus.js';
import { breakdown, describeBreakdown, describeBusy, readProfile } from './cpu-profile.js';
import { filesystemOf } from './host.js';
import { postfixCpuMs, postfixMissing, postfixTuning, postfixVersion } from './postfix-reference.js';
import type { BenchOptions, Figure, FigureResult, Row } from './report.js';
import { CountingSink } from './sink.js';
import { fmt, fmtRatio } from './stats.js';

/** Aim: Lifeboat's local pipeline moves as many messages a second as Postfix relaying them. */
export const AIM_RATIO = 1;
/** The least the row passes with: four fifths of Postfix's rate. */
export const FLOOR_RATIO = 0.8;
/** SMTP client connections sending at once, the same for both sides. */
const CONCURRENCY = 4;
/** Times the corpus is sent in a timed run, so a run is long enough to time. */
const PASSES = 3;
/**
 * Timed runs per side, alternating Lifeboat and Postfix; each side's figure is its best run, which
 * is the run least disturbed by anything else on the machine.
 */
const ROUNDS = 2;
/**
 * Passes of the corpus sent and relayed before timing starts, so that each code path a message
 * takes (its charsets, its MIME shapes) is compiled before the clock starts, as in a runtime that
 * has been taking mail for a while; connections and queue directories are set up too. With 20
 * messages instead, V8's compiling of what the rest first met counted in the timed run: about a
 * fifth of the runtime's CPU a message, and a few hundredths of the ratio.
 */
const WARMUP_PASSES = 1;
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
  /** SMTP connections the sink accepted in the timed run. */
  connections: number;
  /** CPU of the bench's own process (the sending client and the sink) in the timed run. */
  clientCpuMs: number;
  /** CPU the system under test spent in the timed run (every process and thread of it), when known. */
  cpuMs?: number;
  /** Lifeboat: the runtime process's CPU split, and the share of the run its event loop was busy. */
  runtime?: RuntimeCpu;
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
  const warm = await sendAll(port, jobs.slice(0, Math.ceil((jobs.length / PASSES) * WARMUP_PASSES)));
  await sink.reach(warmBase + warm.accepted, RUN_TIMEOUT_MS);
  onWarm();
  const base = sink.count;
  const bytesBefore = sink.bytes;
  const connectionsBefore = sink.connections;
  const clientCpu = process.cpuUsage();
  const t0 = performance.now();
  const sent = await sendAll(port, jobs);
  const acceptMs = performance.now() - t0;
  const end = await sink.reach(base + sent.accepted, RUN_TIMEOUT_MS);
  const client = process.cpuUsage(clientCpu);
  const totalMs = end - t0;
  return {
    accepted: sent.accepted,
    rejected: sent.rejected,
    bytes: sink.bytes - bytesBefore,
    acceptMs,
    totalMs,
    perSecond: sent.accepted / (totalMs / 1000),
    connections: sink.connections - connectionsBefore,
    clientCpuMs: (client.user + client.system) / 1000,
  };
}

interface RuntimeCpu {
  userMs: number;
  systemMs: number;
  mainThreadBusy: number;
  /** CPU of the main thread alone (Linux; NaN elsewhere): the rest went to the mail workers, V8 and libuv. */
  mainThreadMs: number;
}

/** The Lifeboat runtime in a child process (bench/pipeline-runtime.ts), driven by lines on stdio. */
class RuntimeChild extends ChildRuntime {
  static start(
    sinkPort: number,
    dataDir: string,
    mode: RuntimeMode,
    relayOnly: boolean,
    profileFile?: string,
  ): RuntimeChild {
    return new RuntimeChild(
      ChildRuntime.spawnScript(
        'bench/pipeline-runtime.ts',
        [String(sinkPort), dataDir, mode, ...(relayOnly ? ['relay-only'] : [])],
        profileFile,
      ),
    );
  }

  /** Asks the runtime to finish what is in flight and exit; resolves with its CPU since `mark`. */
  async stop(): Promise<RuntimeCpu> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.send('stop');
    const cpu = await this.expect<RuntimeCpu>('cpu');
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
  options: { profileFile?: string; relayOnly?: boolean } = {},
): Promise<RunResult> {
  const sink = await CountingSink.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-'));
  const child = RuntimeChild.start(sink.port, dataDir, mode, options.relayOnly === true, options.profileFile);
  try {
    const { smtpPort } = await child.expect<{ smtpPort: number }>('ready');
    const result = await timedRun(smtpPort, sink, jobs, () => child.send('mark'));
    const runtime = await child.stop();
    return { ...result, cpuMs: runtime.userMs + runtime.systemMs, runtime };
  } finally {
    await child.kill();
    await sink.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** What the notes say about the Postfix instance the runs used. */
interface PostfixSetup {
  version: string;
  tuning: string;
}

async function runPostfix(jobs: readonly Job[]): Promise<RunResult & { setup: PostfixSetup }> {
  const sink = await CountingSink.start();
  try {
    const postfix = await PostfixInstance.create({
      mode: 'relay',
      domains: [DOMAIN],
      relayhost: `127.0.0.1:${sink.port}`,
    });
    try {
      let cpuBefore: number | undefined;
      const result = await timedRun(postfix.port, sink, jobs, () => {
        cpuBefore = postfixCpuMs(postfix);
      });
      const cpuAfter = postfixCpuMs(postfix);
      const cpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
      return {
        ...result,
        ...(cpuMs !== undefined ? { cpuMs } : {}),
        setup: { version: postfixVersion(), tuning: postfixTuning(postfix) },
      };
    } finally {
      await postfix.dispose();
    }
  } finally {
    await sink.close();
  }
}

const best = <T extends RunResult>(runs: readonly T[]) =>
  runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a)) as T;

function describeRuns(runs: readonly RunResult[]): string {
  return runs.map((r) => fmt(r.perSecond)).join(' and ');
}

const perMessage = (ms: number | undefined, run: RunResult) => fmt((ms ?? Number.NaN) / run.accepted, 'ms');

/** `88%`: the share of a run the runtime's event loop was busy. */
function busyShare(run: RunResult): string {
  return run.runtime ? `${Math.round(run.runtime.mainThreadBusy * 100)}%` : '—';
}

/** A short profiled Lifeboat run; returns the note on where its main thread's time went. */
async function profileLifeboat(jobs: readonly Job[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-profile-'));
  try {
    const file = path.join(dir, 'runtime.cpuprofile');
    const run = await runLifeboat(jobs, 'local', { profileFile: file });
    const b = breakdown(await readProfile(file));
    return `Pipeline profile (--profile; a separate run of ${run.accepted} messages at ${fmt(run.perSecond, 'msg/s')} under the profiler, which slows it): the runtime's main thread, from the end of warm-up until every delivery finished, ${describeBusy(b, run.accepted)}; per message by component: ${describeBreakdown(b, run.accepted)}. The fsyncs themselves run on libuv's threads, outside this profile: they are in the process's system time above.`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Figure 1: messages per second through the local pipeline — SMTP in to the receiver, the raw
 * message and its receipt fsynced, ingest into SQLite, SMTP out to a counting sink — against
 * Postfix relaying the same messages from the same client to the same kind of sink, each
 * fsyncing every message before its 250.
 */
export async function measurePipeline(options: BenchOptions): Promise<FigureResult> {
  const figure = 'Local pipeline throughput (SMTP in → fsynced file → ingest → SQLite → SMTP out)';
  const base = { id: 'pipeline.throughput', figure, aim: `≥ ${FLOOR_RATIO}× Postfix (aim ${AIM_RATIO}×)` };
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
  const postfixRuns: Array<RunResult & { setup: PostfixSetup }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    lifeboatRuns.push(await runLifeboat(jobs, 'local'));
    if (missing === undefined) postfixRuns.push(await runPostfix(jobs));
  }
  const inMemory = await runLifeboat(jobs, 'memory');
  const relayOnly = await runLifeboat(jobs, 'local', { relayOnly: true });
  const relayOnlyInMemory = await runLifeboat(jobs, 'memory', { relayOnly: true });
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
      verdict: ratio >= FLOOR_RATIO ? 'PASS' : 'MISS',
    };
  }
  const fs = filesystemOf(tmpdir());
  row.data = {
    lifeboatRuns,
    postfixRuns,
    concurrency: CONCURRENCY,
    passes: PASSES,
    rounds: ROUNDS,
    corpusMessages: corpus.length,
    inMemory,
    relayOnly,
    relayOnlyInMemory,
    filesystem: fs ?? null,
  };

  const corpusBytes = corpus.reduce((s, m) => s + m.raw.length, 0);
  const onDisk = fs ? `${fs.type} (${fs.source})` : 'a file system this bench could not name';
  const noSync =
    fs?.type === 'tmpfs' ? ' That is tmpfs, where fsync costs nothing: set TMPDIR to a disk to time it.' : '';
  const notes = [
    `Pipeline: the ${corpus.length} corpus messages (${fmt(corpusBytes / 1024 / 1024, 'MB')}) sent ${PASSES} times (${jobs.length} messages), one envelope recipient each, by nodemailer with raw bytes and an explicit envelope over a pool of ${CONCURRENCY} connections, after the corpus sent ${WARMUP_PASSES === 1 ? 'once' : `${WARMUP_PASSES} times`} untimed as a warm-up; timed from the first send until the sink (an smtp-server that counts and discards) holds every accepted message. ${ROUNDS} runs per side, alternating; the best of each is shown. Both fsync every message before its 250, and both keep their data under ${tmpdir()}, on ${onDisk}.${noSync} Lifeboat: the local runtime (infra/local/runtime.ts) as \`npm start\` runs it, in a process of its own: the raw message and its receipt each written to a temp file, fsynced, renamed and their folder fsynced before the 250; ingest into SQLite (WAL, synchronous NORMAL) after it; relayed over kept SMTP sessions (${lifeboat.connections} connections to the sink for ${lifeboat.accepted} messages); runs of ${describeRuns(lifeboatRuns)} msg/s.${
      postfix
        ? ` Postfix ${postfix.setup.version}: a private instance in relay mode (test/e2e/support/postfix.ts) to its own sink, durable as the distribution ships it: cleanup fsyncs each queue file before smtpd answers 250 (no setting turns that off). The speed settings the harness changes from the shipped ones: ${postfix.setup.tuning}. ${postfix.connections} connections to the sink; runs of ${describeRuns(postfixRuns)} msg/s.`
        : ''
    }`,
  ];

  const runtime = lifeboat.runtime;
  notes.push(
    `Pipeline CPU per message, best runs: the Lifeboat runtime process ${perMessage(lifeboat.cpuMs, lifeboat)} (user ${perMessage(runtime?.userMs, lifeboat)}, system ${perMessage(runtime?.systemMs, lifeboat)}: socket and file system calls, fsync), over all its threads. Of it, the main thread (SMTP in and out, SQLite, the file calls, the search index writes) used ${perMessage(runtime?.mainThreadMs, lifeboat)} and was busy ${busyShare(lifeboat)} of the run; the rest is the mail worker thread (SPF, DKIM and DMARC, the parse for the record and for the search index), V8's garbage collector and compiler threads, and libuv's threads doing the file system calls and fsyncs.${
      postfix
        ? ` Postfix ${perMessage(postfix.cpuMs, postfix)} over all its processes (master, smtpd, cleanup, qmgr, smtp, read from /proc), which spread over the machine's cores.`
        : ''
    } The bench's own process (the sending client and the sink) used ${perMessage(lifeboat.clientCpuMs, lifeboat)} in Lifeboat's run${postfix ? ` and ${perMessage(postfix.clientCpuMs, postfix)} in Postfix's` : ''}, on the same cores.`,
  );
  const memoryCpu = (inMemory.cpuMs ?? Number.NaN) / inMemory.accepted;
  const cpuPerMessage = (lifeboat.cpuMs ?? Number.NaN) / lifeboat.accepted;
  notes.push(
    `Pipeline with the stores in memory: the same receiver, mail worker, ingest and deliver over MemoryStore and MemoryBlobs (test/support) instead of SQLite and fsynced files, one run: ${fmt(inMemory.perSecond, 'msg/s')}${
      postfix ? ` (${fmtRatio(inMemory.perSecond / postfix.perSecond)} Postfix)` : ''
    }, ${fmt(memoryCpu, 'ms')} of CPU per message, its JavaScript thread busy ${busyShare(inMemory)} of the run. It indexes nothing (the webmail's search index is the local runtime's), so SQLite, the fsynced files and the search indexing together take ${Math.round((1 - memoryCpu / cpuPerMessage) * 100)}% of the runtime's CPU per message; the rest is SMTP in, SPF, DKIM and DMARC, the parse for the record, and SMTP out.`,
  );
  const versus = (run: RunResult) =>
    postfix ? ` (${fmtRatio(run.perSecond / postfix.perSecond)} Postfix)` : '';
  notes.push(
    `Pipeline as a plain relay, to tell SES's part of the work from the relay's: the same runs with no SPF, DKIM or DMARC check and no parse (every verdict PASS, an empty summary; not a mode Lifeboat ships), one run each: on the SQLite and file stores ${fmt(relayOnly.perSecond, 'msg/s')}${versus(relayOnly)} at ${perMessage(relayOnly.cpuMs, relayOnly)} of CPU per message, its main thread busy ${busyShare(relayOnly)} of the run; with the stores in memory ${fmt(relayOnlyInMemory.perSecond, 'msg/s')}${versus(relayOnlyInMemory)} at ${perMessage(relayOnlyInMemory.cpuMs, relayOnlyInMemory)}. The checks and the parse are what separate the first of these from the runtime as it ships.`,
  );
  if (options.profile) notes.push(await profileLifeboat(jobs.slice(0, corpus.length)));
  return { rows: [row], notes };
}

export const pipelineFigure: Figure = { name: 'pipeline', run: measurePipeline };
