/**
 * How long the mail path's Lambda functions run per invocation, measured rather than estimated:
 * the real handlers (ingest, deliver, a quiet sweep, a probe round) through the AWS adapters on
 * dynalite and s3rver, each AWS call held to at least its in-region time by an SDK middleware
 * (IN_REGION), and an SMTP primary with STARTTLS reached through a TCP proxy that adds a round trip
 * to every exchange. Deliver is measured twice: on a new session per invocation, and on a session
 * kept from the instance's last invocation. The handlers run in a process of their own
 * (lambda-durations-child.ts), so the CPU each invocation spends is the function's alone: Lambda
 * gives a function CPU in proportion to its memory, and that part of the time is stretched to the
 * share the function gets. The worked month (bench/aws-cost.ts) prices these figures.
 */
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import {
  DELIVER_MEMORY_MB,
  INGEST_MEMORY_MB,
  probeMemoryMb,
  SWEEP_MEMORY_MB,
} from '../infra/aws/function-memory.js';
import { makeSelfSignedCertificate } from '../infra/local/self-signed.js';
import { runJsonChild } from './child-runtime.js';
import { CORPUS_MISSING, loadCorpus, REPO_ROOT } from './corpus.js';
import type { ChildArgs, ChildResult, Invocation } from './lambda-durations-child.js';
import type { Figure, FigureResult, Row } from './report.js';
import { mean, median, percentile } from './stats.js';

/**
 * What each call takes in the region, at least (a call the emulator answers more slowly keeps its
 * own time). Typical medians for a function in the same region, not best cases.
 */
export const IN_REGION = {
  /**
   * DynamoDB GetItem, PutItem, UpdateItem, Query: "single-digit millisecond performance at any
   * scale" (DynamoDB's product page); from Lambda over a kept HTTPS connection, a few ms at the median.
   */
  dynamoMs: 5,
  /** TransactWriteItems and batch calls: two phases over several items, about twice a single write. */
  dynamoMultiItemMs: 10,
  /**
   * S3 requests under 512 KB: "median latencies are often in the tens of milliseconds range" (S3's
   * performance guidelines, timeouts and retries). Taken as the time to a GET's first byte.
   */
  s3FirstByteMs: 30,
  /** Then a GET's body at this rate: one stream into a function of a few hundred MB. */
  s3MegabytesPerSecond: 50,
  /** Lambda Invoke with InvocationType Event: answered 202 once the event is queued. */
  lambdaInvokeMs: 20,
  /** SQS SendMessageBatch: stored redundantly before it answers. */
  sqsSendMs: 15,
  /**
   * Round trip to the primary: "tens of milliseconds", an organisation's own mail server in the
   * same part of the world as the region (us-east-1 to a data centre in the US Midwest or Canada).
   */
  smtpRoundTripMs: 40,
  /** The primary's own work before its 250 after the final dot: Postfix's cleanup writes and fsyncs the queue file. */
  primaryQueueMs: 5,
} as const;

/**
 * Memory at which a function has the equivalent of one vCPU ("At 1,769 MB, a function has the
 * equivalent of one vCPU", Lambda's memory settings page); below it, a share in proportion. A core of
 * this machine is taken as fast as a Graviton one.
 */
export const ONE_VCPU_MB = 1769;

/**
 * An invocation's duration in Lambda at `memoryMb`: its wall time here without the time it waited
 * for a core behind other work on this machine, its CPU time stretched to the share of a vCPU the
 * function gets (never shortened: above one vCPU a single thread gains nothing).
 */
export function lambdaMs(i: Invocation, memoryMb: number): number {
  return i.wallMs - i.queuedMs + i.cpuMs * Math.max(0, ONE_VCPU_MB / memoryMb - 1);
}

/**
 * A TCP proxy that delays every chunk by half a round trip each way and the connection itself by a
 * round trip (the TCP handshake), so each exchange of an SMTP session costs what it would over the WAN.
 */
async function roundTripProxy(upstreamPort: number, rttMs: number) {
  const sockets = new Set<net.Socket>();
  const later = (fn: () => void) => setTimeout(fn, rttMs / 2);
  const server = net.createServer((client) => {
    client.pause();
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    setTimeout(() => {
      client.resume();
      client.on('data', (d: Buffer) => later(() => upstream.write(d)));
      upstream.on('data', (d: Buffer) => later(() => client.write(d)));
      client.on('end', () => later(() => upstream.end()));
      upstream.on('end', () => later(() => client.end()));
    }, rttMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The primary: STARTTLS with a certificate of its own, 250 after its queue file is written. */
export async function startPrimary() {
  const { cert, key } = makeSelfSignedCertificate({
    commonName: 'mx.example.com',
    dnsNames: ['mx.example.com'],
    ipAddresses: ['127.0.0.1'],
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const seen = { sessions: 0, messages: 0 };
  const server = new SMTPServer({
    logger: false,
    key,
    cert,
    disabledCommands: ['AUTH'],
    authOptional: true,
    size: 64 * 1024 * 1024,
    onConnect(_session, cb) {
      seen.sessions++;
      cb();
    },
    onData(stream, _session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        seen.messages++;
        setTimeout(() => cb(), IN_REGION.primaryQueueMs);
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    seen,
    port: (server.server.address() as AddressInfo).port,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const CHILD = path.join(REPO_ROOT, 'bench/lambda-durations-child.ts');

/** Runs the handlers in a child process against the emulators, the primary and its proxy here. */
function runChild(args: ChildArgs): Promise<ChildResult> {
  return runJsonChild<ChildResult>(
    ['--import', 'tsx', CHILD, JSON.stringify(args)],
    (stderr) => new Error(`durations child: ${stderr.trim().split('\n').slice(-3).join(' ')}`),
    { cwd: REPO_ROOT, env: { ...process.env, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: '1' } },
  );
}

/** One function's invocations: here (wall, CPU) and as Lambda would bill them at its memory, in ms. */
export interface Durations {
  n: number;
  memoryMb: number;
  medianMs: number;
  p95Ms: number;
  meanMs: number;
  cpuMeanMs: number;
  /** Time it waited for a core behind other work here, on average (left out of the Lambda figures). */
  queuedMeanMs: number;
  /** What Lambda bills, on average, at the function's memory. */
  lambdaMedianMs: number;
  lambdaP95Ms: number;
  lambdaMeanMs: number;
  /** AWS calls per invocation by service, on average. */
  calls: Record<string, number>;
}

/** Each service's calls per invocation, on average, to two decimals. */
export function meanCalls(list: readonly Invocation[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const i of list) for (const [k, n] of Object.entries(i.calls)) total[k] = (total[k] ?? 0) + n;
  return Object.fromEntries(
    Object.entries(total)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, n]) => [k, Math.round((n / Math.max(1, list.length)) * 100) / 100]),
  );
}

function summary(list: readonly Invocation[], memoryMb: number): Durations {
  const wall = list.map((i) => i.wallMs);
  const billed = list.map((i) => lambdaMs(i, memoryMb));
  const r = Math.round;
  return {
    n: list.length,
    memoryMb,
    medianMs: r(median(wall)),
    p95Ms: r(percentile(wall, 95)),
    meanMs: r(mean(wall)),
    cpuMeanMs: Math.round(mean(list.map((i) => i.cpuMs)) * 10) / 10,
    queuedMeanMs: Math.round(mean(list.map((i) => i.queuedMs)) * 10) / 10,
    lambdaMedianMs: r(median(billed)),
    lambdaP95Ms: r(percentile(billed, 95)),
    lambdaMeanMs: r(mean(billed)),
    calls: meanCalls(list),
  };
}

export interface MeasuredDurations {
  ingest: Durations;
  deliverFresh: Durations;
  deliverKept: Durations;
  sweep: Durations;
  probe: Durations;
  probeChecks: number;
  undelivered: number;
}

/** The emulators, a STARTTLS primary behind the round-trip proxy, and the handlers in a child process. */
export async function measureDurations(limit?: number): Promise<MeasuredDurations> {
  const { startAwsEmulators } = await import('../test/support/aws-emulators.js');
  const emulators = await startAwsEmulators();
  const primary = await startPrimary();
  const proxy = await roundTripProxy(primary.port, IN_REGION.smtpRoundTripMs);
  try {
    const url = async (client: typeof emulators.dynamo | typeof emulators.s3) => {
      const e = await client.config.endpoint?.();
      if (!e) throw new Error('the emulators have no endpoint');
      return `${e.protocol}//${e.hostname}:${e.port}${e.path}`;
    };
    const r = await runChild({
      dynamoEndpoint: await url(emulators.dynamo),
      s3Endpoint: await url(emulators.s3),
      tableName: await emulators.createTable(),
      bucket: await emulators.createBucket(),
      smtpPort: proxy.port,
      ...(limit === undefined ? {} : { limit }),
    });
    return {
      ingest: summary(r.ingest, INGEST_MEMORY_MB),
      deliverFresh: summary(r.deliverFresh, DELIVER_MEMORY_MB),
      deliverKept: summary(r.deliverKept, DELIVER_MEMORY_MB),
      sweep: summary(r.sweep, SWEEP_MEMORY_MB),
      probe: summary(r.probe, probeMemoryMb(2)),
      probeChecks: r.probeChecks,
      undelivered: r.undelivered,
    };
  } finally {
    await proxy.stop();
    await primary.stop();
    await emulators.stop();
  }
}

/** A Lambda figure this far from what the month prices (either way) misses: the month wants pricing again. */
export const DRIFT_TOLERANCE = 0.3;

/** The durations the worked month prices, in seconds (bench/aws-cost.ts). */
export interface PricedDurations {
  ingestSeconds: number;
  deliverFreshSeconds: number;
  deliverKeptSeconds: number;
  sweepSeconds: number;
  probeSeconds: number;
}

/** The rows: each function's wall time here (median, p95), and its mean in Lambda beside what the month prices. */
export function durationRows(m: MeasuredDurations, priced: PricedDurations): Row[] {
  const line = (id: string, what: string, d: Durations, pricedSeconds: number): Row => {
    const ratio = d.lambdaMeanMs / (pricedSeconds * 1000);
    return {
      id: `lambda-durations.${id}`,
      figure: `${what}: wall time per warm invocation here, median / p95 (n = ${d.n}); mean in Lambda at ${d.memoryMb} MB (without the waits for a core here, CPU stretched to its share of a vCPU)`,
      value: `${d.medianMs} / ${d.p95Ms} ms here (CPU ${d.cpuMeanMs} ms, ${d.queuedMeanMs} ms waiting for a core); Lambda mean ${d.lambdaMeanMs} ms`,
      reference: `the worked month prices ${Math.round(pricedSeconds * 1000)} ms`,
      ratio: `${ratio.toFixed(2)}×`,
      aim: `within ${DRIFT_TOLERANCE * 100}% of the priced figure`,
      verdict: Math.abs(ratio - 1) <= DRIFT_TOLERANCE ? 'PASS' : 'MISS',
      data: { ...d, pricedSeconds },
    };
  };
  return [
    line(
      'ingest',
      'Lambda ingest (S3 GET, parse, records, deliver invoked, index request)',
      m.ingest,
      priced.ingestSeconds,
    ),
    line(
      'deliver-fresh',
      'Lambda deliver on a new SMTP session (connect, STARTTLS, EHLO twice, the message)',
      m.deliverFresh,
      priced.deliverFreshSeconds,
    ),
    line(
      'deliver-kept',
      'Lambda deliver on a session kept from its last invocation',
      m.deliverKept,
      priced.deliverKeptSeconds,
    ),
    line('sweep', 'Lambda sweep with nothing due', m.sweep, priced.sweepSeconds),
    line(
      'probe',
      `Lambda probe, one round (${m.probeChecks} SMTP checks to RCPT in ${m.probe.n} rounds)`,
      m.probe,
      priced.probeSeconds,
    ),
  ];
}

/** The figure: the shared corpus through the handlers; the month's priced durations from bench/aws-cost.ts. */
export const lambdaDurationsFigure: Figure = {
  name: 'lambda-durations',
  async run(): Promise<FigureResult> {
    if (!(await loadCorpus())) return { rows: [], notes: [CORPUS_MISSING] };
    const { PRICED_DURATIONS } = await import('./aws-cost.js');
    const measured = await measureDurations();
    return {
      rows: durationRows(measured, PRICED_DURATIONS),
      notes: [
        `Lambda durations: the real handlers in a process of their own, through the AWS adapters on dynalite and s3rver, each call held to at least its in-region time (DynamoDB ${IN_REGION.dynamoMs} ms, ${IN_REGION.dynamoMultiItemMs} ms for a transaction or batch; S3 ${IN_REGION.s3FirstByteMs} ms to the first byte, then ${IN_REGION.s3MegabytesPerSecond} MB/s; Lambda async Invoke ${IN_REGION.lambdaInvokeMs} ms; SQS ${IN_REGION.sqsSendMs} ms), a STARTTLS primary ${IN_REGION.smtpRoundTripMs} ms away through a TCP proxy, answering 250 ${IN_REGION.primaryQueueMs} ms after the final dot; ${measured.undelivered} undelivered left out. In Lambda each invocation's time waiting for a core behind other work here (Linux's run-queue wait) is left out and its CPU time stretched to the function's share of a vCPU (memory ÷ ${ONE_VCPU_MB} MB). Warm invocations: a cold start's init is not counted. bench/aws-cost.ts prices the month from these.`,
      ],
    };
  },
};
