/**
 * The handlers of the lambda-durations figure in a process of their own, so each invocation's CPU
 * time is the function's alone (the emulators, the primary and its proxy run in the parent):
 * `node --import tsx lambda-durations-child.ts '<ChildArgs as JSON>'`. Prints one JSON line, the
 * {@link ChildResult}.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { MiddlewareStack } from '@smithy/types';
import { type Context, lambdaTrigger } from '../lambdas/adapters/context.js';
import { createDynamoStore } from '../lambdas/adapters/dynamo-store.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { createS3Blobs } from '../lambdas/adapters/s3-blobs.js';
import { createSmtpMailer, LAMBDA_IDLE_CONNECTION_MS } from '../lambdas/adapters/smtp-mailer.js';
import { createSmtpProber } from '../lambdas/adapters/smtp-prober.js';
import { createSqsIndexRequests } from '../lambdas/adapters/sqs-index-requests.js';
import { parseConfig, recordDays } from '../lambdas/core/config.js';
import { createDeliverHandler } from '../lambdas/handlers/deliver.js';
import { createIngestHandler } from '../lambdas/handlers/ingest.js';
import { createProbeHandler } from '../lambdas/handlers/probe.js';
import { createSweepHandler } from '../lambdas/handlers/sweep.js';
import { ManualClock } from '../test/support/memory-store.js';
import { loadCorpus } from './corpus.js';
import { IN_REGION } from './lambda-durations.js';

/** Where the parent's emulators and primary listen. */
export interface ChildArgs {
  dynamoEndpoint: string;
  s3Endpoint: string;
  tableName: string;
  bucket: string;
  /** The round-trip proxy in front of the primary. */
  smtpPort: number;
  /** Messages of the corpus to use (all when absent). */
  limit?: number;
  /** Quiet sweeps and probe rounds. @default SCHEDULED_RUNS */
  scheduledRuns?: number;
}

/** What an invocation is, in the result. */
export type InvocationKind = 'ingest' | 'deliverFresh' | 'deliverKept' | 'sweep' | 'probe';

/** For a test: no latency added, and each invocation's start and end told. */
export interface RunHooks {
  /** Hold each AWS call to its in-region time. @default true */
  latency?: boolean;
  /** Told before and after each timed invocation (the first delivery of the kept pass is neither kind: not told). */
  around?: (kind: InvocationKind, phase: 'start' | 'end') => void;
}

/** One invocation: its wall time and the CPU the process spent in it, in milliseconds; its AWS calls by service. */
export interface Invocation {
  wallMs: number;
  cpuMs: number;
  /** Time the main thread spent runnable but waiting for a core (other work on the machine). */
  queuedMs: number;
  calls: Record<string, number>;
}

export interface ChildResult {
  ingest: Invocation[];
  /** Deliver invocations that opened a new SMTP session (the function ending its sessions after each). */
  deliverFresh: Invocation[];
  /** Deliver invocations on the session the last one kept. */
  deliverKept: Invocation[];
  sweep: Invocation[];
  probe: Invocation[];
  /** SMTP checks the probe rounds made. */
  probeChecks: number;
  /** Messages the primary did not take (left out of the deliver times). */
  undelivered: number;
}

/**
 * Milliseconds the main thread has spent runnable but waiting for a core (Linux's
 * /proc/self/schedstat, its second field); 0 where there is no such file.
 */
function runQueueWaitMs(): number {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1] ?? 0) / 1e6;
  } catch {
    return 0;
  }
}

/** Quiet sweeps and probe rounds timed. */
const SCHEDULED_RUNS = 30;

const MULTI_ITEM = new Set([
  'TransactWriteItemsCommand',
  'TransactGetItemsCommand',
  'BatchWriteItemCommand',
  'BatchGetItemCommand',
]);

type AnyStack = MiddlewareStack<object, object>;

/**
 * Counts every call of the client under `service` in `calls`, and (with `latency`) holds it to at
 * least `latencyOf(command, output)` milliseconds.
 */
function instrument(
  client: { middlewareStack: unknown },
  service: string,
  calls: Record<string, number>,
  latency: boolean,
  latencyOf: (command: string, output: Record<string, unknown>) => number,
): void {
  (client.middlewareStack as AnyStack).add(
    (next, context) => async (args) => {
      const started = performance.now();
      const out = await next(args);
      calls[service] = (calls[service] ?? 0) + 1;
      if (!latency) return out;
      const command = (context as { commandName?: string }).commandName ?? '';
      const left = latencyOf(command, out.output as Record<string, unknown>) - (performance.now() - started);
      if (left > 0) await delay(left);
      return out;
    },
    { step: 'initialize', name: 'lifeboatInRegionLatency' },
  );
}

/** An HTTP handler answering every request itself, for the services no emulator stands in for. */
function answering(answer: (body: string) => { statusCode: number; body: string }) {
  return {
    async handle(request: { body?: unknown }) {
      const body = typeof request.body === 'string' ? request.body : '';
      const a = answer(body);
      return {
        response: {
          statusCode: a.statusCode,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: new TextEncoder().encode(a.body),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
}

const DOMAIN = 'example.com';

/** An SES receipt rule's Lambda action event for a stored message, every verdict passed. */
function sesEvent(messageId: string, recipient: string, at: Date) {
  const verdict = { status: 'PASS' };
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        eventVersion: '1.0',
        ses: {
          mail: {
            timestamp: at.toISOString(),
            source: 'sender@example.org',
            messageId,
            destination: [recipient],
            headersTruncated: false,
            commonHeaders: { to: [recipient] },
          },
          receipt: {
            timestamp: at.toISOString(),
            processingTimeMillis: 200,
            recipients: [recipient],
            spamVerdict: verdict,
            virusVerdict: verdict,
            spfVerdict: verdict,
            dkimVerdict: verdict,
            dmarcVerdict: verdict,
            action: {
              type: 'Lambda',
              functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:ingest',
              invocationType: 'Event',
            },
          },
        },
      },
    ],
  };
}

/**
 * Ingests and delivers the corpus twice through the real handlers (deliver ending its session after
 * each invocation, then keeping it), then runs quiet sweeps and probe rounds; each invocation timed.
 */
export async function runHandlers(args: ChildArgs, hooks: RunHooks = {}): Promise<ChildResult> {
  const latency = hooks.latency ?? true;
  const calls: Record<string, number> = {};
  const corpus = await loadCorpus();
  if (!corpus) throw new Error('the mail corpus is missing');
  const raws = corpus.slice(0, args.limit ?? corpus.length).map((m) => m.raw);
  const region = 'us-east-1';
  const config = parseConfig(
    {
      domains: [DOMAIN],
      // The shipped route's TLS (opportunistic STARTTLS); the bench's primary has a self-signed certificate.
      routes: [
        {
          name: 'primary',
          domains: [DOMAIN],
          hosts: [{ host: '127.0.0.1', port: args.smtpPort }],
          verifyCertificate: false,
        },
      ],
    },
    'durations bench',
  );
  const dynamo = new DynamoDBClient({
    region,
    endpoint: args.dynamoEndpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  instrument(dynamo, 'dynamodb', calls, latency, (command) =>
    MULTI_ITEM.has(command) ? IN_REGION.dynamoMultiItemMs : IN_REGION.dynamoMs,
  );
  const s3Options = {
    region,
    endpoint: args.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
  const s3 = new S3Client(s3Options);
  instrument(s3, 's3', calls, latency, (command, output) => {
    const bytes = command === 'GetObjectCommand' ? Number(output.ContentLength ?? 0) : 0;
    return IN_REGION.s3FirstByteMs + (bytes / (IN_REGION.s3MegabytesPerSecond * 1e6)) * 1000;
  });
  const ses = new S3Client(s3Options);
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const lambda = new LambdaClient({
    region,
    credentials,
    requestHandler: answering(() => ({ statusCode: 202, body: '' })),
  });
  instrument(lambda, 'lambda', calls, latency, () => IN_REGION.lambdaInvokeMs);
  const sqs = new SQSClient({
    region,
    credentials,
    md5: false,
    requestHandler: answering((body) => {
      const entries = (JSON.parse(body || '{}').Entries ?? []) as Array<{ Id: string; MessageBody: string }>;
      const Successful = entries.map((e) => ({
        Id: e.Id,
        MessageId: createHash('sha256').update(e.MessageBody).digest('hex').slice(0, 32),
        MD5OfMessageBody: createHash('md5').update(e.MessageBody).digest('hex'),
      }));
      return { statusCode: 200, body: JSON.stringify({ Successful, Failed: [] }) };
    }),
  });
  instrument(sqs, 'sqs', calls, latency, () => IN_REGION.sqsSendMs);

  const store = createDynamoStore(dynamo, { tableName: args.tableName, retentionDays: recordDays(config) });
  const blobs = createS3Blobs(s3, args.bucket);
  // A fixed start, so the minutes each step falls in (and what a probe round rolls up) are the same every run.
  const clock = new ManualClock(new Date('2026-11-23T09:00:00Z'));
  const index = createSqsIndexRequests(sqs, 'https://sqs.us-east-1.amazonaws.com/123456789012/index');
  const prober = createSmtpProber({ hostname: config.hostname });
  let probeChecks = 0;
  const context = (mailer: Context['mailer']): Context => ({
    config,
    store,
    continuity: store,
    notifier: { async send() {} } as unknown as Context['notifier'],
    prober: {
      async check(...a) {
        probeChecks++;
        return prober.check(...a);
      },
    },
    blobs,
    mailer,
    trigger: lambdaTrigger('deliver', region, lambda),
    clock,
    log: silentLogger,
  });
  const timed = async <T>(kind: InvocationKind | null, work: () => Promise<T>): Promise<[T, Invocation]> => {
    if (kind) hooks.around?.(kind, 'start');
    for (const k of Object.keys(calls)) delete calls[k];
    const queued = runQueueWaitMs();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const result = await work();
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    const queuedMs = runQueueWaitMs() - queued;
    if (kind) hooks.around?.(kind, 'end');
    return [result, { wallMs, cpuMs: (used.user + used.system) / 1000, queuedMs, calls: { ...calls } }];
  };

  const result: ChildResult = {
    ingest: [],
    deliverFresh: [],
    deliverKept: [],
    sweep: [],
    probe: [],
    probeChecks: 0,
    undelivered: 0,
  };
  for (const keep of [false, true]) {
    // Kept: one session for the whole pass (no limit of messages per session), so every invocation
    // after the first is on a kept session; the month counts the shipped limit's new sessions itself.
    const mailer = createSmtpMailer({
      hostname: config.hostname,
      idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS,
      ...(keep ? { maxMessagesPerConnection: Number.MAX_SAFE_INTEGER } : {}),
    });
    const ctx = context(mailer);
    const ingest = createIngestHandler(() => ctx, { index });
    const deliver = createDeliverHandler(() => ctx, { endSessionsAfterRun: !keep });
    for (const [i, raw] of raws.entries()) {
      const messageId = `durations${keep ? 'k' : 'f'}${String(i).padStart(6, '0')}00000000000000000000`;
      // SES's S3 action, before the ingest function runs.
      await ses.send(new PutObjectCommand({ Bucket: args.bucket, Key: `raw/${messageId}`, Body: raw }));
      const [, ingested] = await timed('ingest', () =>
        ingest(sesEvent(messageId, `user${i % 50}@${DOMAIN}`, clock.now())),
      );
      result.ingest.push(ingested);
      clock.advance(1);
      const kind = !keep ? 'deliverFresh' : i > 0 ? 'deliverKept' : null;
      const [delivered, invocation] = await timed(kind, () => deliver({ messageId }));
      if (delivered.delivered !== 1) result.undelivered++;
      else if (!keep) result.deliverFresh.push(invocation);
      else if (i > 0) result.deliverKept.push(invocation);
      clock.advance(1);
    }
    await mailer.close();
  }
  const mailer = createSmtpMailer({ hostname: config.hostname });
  const ctx = context(mailer);
  const sweep = createSweepHandler(
    () => ctx,
    () => {},
  );
  const probe = createProbeHandler(() => ctx);
  for (let i = 0; i < (args.scheduledRuns ?? SCHEDULED_RUNS); i++) {
    clock.advance(30);
    result.sweep.push((await timed('sweep', () => sweep({})))[1]);
    result.probe.push((await timed('probe', () => probe({ tick: 0 })))[1]);
  }
  await mailer.close();
  result.probeChecks = probeChecks;
  for (const c of [dynamo, s3, ses, lambda, sqs]) c.destroy();
  return result;
}

// Run as a script (the figure's child process), not when a test imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runHandlers(JSON.parse(process.argv[2] ?? '{}') as ChildArgs).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
