/**
 * The README's worked month on AWS (Deploy to AWS, "What it costs"), computed from named inputs so
 * the table, its total and its ratio to the SES receiving floor come from one place:
 * `renderCostTable()` is the table the README shows (a unit test holds them equal), and
 * `npm run bench -- aws-cost` prints the ratio beside the measured figures.
 *
 * Prices: AWS list prices for us-east-1 (the service pricing pages; SES at its à-la-carte rates),
 * free tiers not subtracted except in the separate dedicated-account line.
 */
import { MAX_TICK_DELAY_SECONDS } from '../infra/aws/constructs/continuity.js';
import { METRICS } from '../infra/aws/constructs/monitoring.js';
import { INDEX_NONCURRENT_DAYS, PACK_NONCURRENT_DAYS } from '../infra/aws/constructs/store.js';
import { INDEXER_MEMORY_MB, INDEXER_SCHEDULE_MINUTES } from '../infra/aws/constructs/webmail.js';
import {
  DELIVER_MEMORY_MB,
  INGEST_MEMORY_MB,
  probeMemoryMb,
  SWEEP_MEMORY_MB,
} from '../infra/aws/function-memory.js';
import {
  LAMBDA_IDLE_CONNECTION_MS,
  MAX_CONNECTION_AGE_MS,
  MAX_MESSAGES_PER_CONNECTION,
} from '../lambdas/adapters/smtp-mailer.js';
import { parseConfig } from '../lambdas/core/config.js';
import { awsProbeTicks } from '../lambdas/core/probe-cycle.js';
import { awsRecordDays, PACK_SETTLE_MS, PACK_TARGET_BYTES } from '../lambdas/core/raw-packs.js';
import { DRAIN_BACKLOG, NORMAL_INDEX_INTERVAL_MINUTES } from '../lambdas/core/search/indexer.js';
import { SEGMENT_MESSAGES } from '../lambdas/core/search/mailbox-index.js';
import { RAW_PACK_MARGIN_DAYS } from '../lambdas/storage-layout.js';
import type { CapacityFigures } from './aws-capacity.js';
import type { PricedDurations } from './lambda-durations.js';
import type { Figure, FigureResult } from './report.js';

/** Three decimals: at two, 1.203 would read as the 1.20 it misses. */
const fmtRatio = (ratio: number) => `${ratio.toFixed(3)}×`;

/** Aim (the issue's bar for the worked month): at most this many times SES receiving alone. */
export const AIM_RATIO = 1.2;

const KB_PER_GB = 1024 * 1024;
/** Runs of a once-a-minute schedule in a 30-day month. */
const RUNS_PER_MONTH = 30 * 24 * 60;

/** The shipped continuity settings (every default), for what the stack builds from them. */
const SHIPPED = parseConfig(
  {
    domains: ['example.com'],
    routes: [{ name: 'primary', domains: ['example.com'], hosts: [{ host: 'mx.example.com' }] }],
  },
  'the worked month',
);

/**
 * Seconds into each minute at which the stack invokes the probe ([0, 30] at the defaults): the
 * schedule's own invocation, then one from each later tick's delaying queue
 * (infra/aws/constructs/continuity.ts).
 */
export const PROBE_TICKS = awsProbeTicks(SHIPPED);

/** The probe's tick queues: one per tick after the schedule's own, each with its event source mapping. */
export const TICK_QUEUES = PROBE_TICKS.filter((t) => t > 0 && t <= MAX_TICK_DELAY_SECONDS).length;

/**
 * Long polls an idle SQS event source mapping keeps open at once: Lambda "scales back the processing
 * to five concurrent batches" when traffic is low, and "can optimize to as few as 2" (Lambda
 * Developer Guide, scaling for SQS event source mappings): priced at five, the level it promises.
 */
const TICK_QUEUE_POLLERS = 5;
/** Each poller's ReceiveMessage waits up to SQS's longest long poll, then asks again: a billed request. */
const SQS_LONG_POLL_SECONDS = 20;

/**
 * What the mail path asks of DynamoDB and S3, measured (bench/aws-capacity.ts): the shared corpus
 * ingested and delivered through the AWS adapters on dynalite and s3rver, each call priced by
 * DynamoDB's rules from the item before and after it. test/corpus/aws-capacity.test.ts measures
 * again and fails when the adapters' calls no longer cost this.
 *
 * Per message, one envelope recipient: the message record and its byState day entry; the delivery
 * written three times (created queued, claimed, delivered), its byState entry put, moved on the
 * claim (a delete and a put) and removed on delivery, its byMailbox keys written once; no counter
 * move (queued and delivering are counted from the index, delivered from the flow's hour buckets:
 * DELIVERED_COUNT_READ_UNITS); the organic probe's attempt sample; this minute's flow bucket at
 * the attempt (nothing at ingest: a probe round counts each ended minute's accepted deliveries
 * from the message records). Per probe round in normal
 * times, the mean of a minute's two rounds with mail at the month's rate: the org state and the
 * queue depth in this minute's and this hour's bucket every round; in the round that finds a minute
 * ended, that minute's accepted count set on its bucket and the roll-up into its hour. Its reads:
 * org, holds, samples, tokens, oldest deferred, the counts, the buckets it rolls up, and in that
 * round the records of the minute that ended and of the minute ACCEPTED_RECOUNT_MINUTES before it
 * (their last count, which the hour takes). A quiet sweep: its three queue queries.
 */
/**
 * Read units of the DynamoDB store's `delivered` count in a month of steady mail, each time the
 * counts are read (every probe round, for its queue depth; every sweep, for the queue metrics): the
 * last day's 25 hour buckets, about 1 KB each with their histograms, read eventually consistent (a
 * read unit per 8 KB). The capacity bench's short run holds one or two hour buckets, so its
 * measured round reads only part of this.
 */
export const DELIVERED_COUNT_READ_UNITS = 4;

export const MEASURED_CAPACITY: CapacityFigures = {
  messages: 185,
  writeUnitsPerMessage: {
    'attempt samples': 1,
    delivery: 3,
    'delivery → byMailbox': 1,
    'delivery → byState': 4,
    'flow buckets': 1,
    message: 1.07,
    'message → byState': 1.07,
  },
  readUnitsPerMessage: 3,
  s3PerMessage: { GetObjectCommand: 2, PutObjectCommand: 1 },
  probeRoundWriteUnits: 4,
  probeRoundReadUnits: 15.5,
  sweepReadUnits: 1.5,
  storedKbPerMessage: {
    delivery: 0.65,
    'delivery → byMailbox': 0.26,
    message: 0.88,
    'message → byState': 0.88,
  },
};

/**
 * What a warm invocation of each function lasts in Lambda at its memory, measured
 * (bench/lambda-durations.ts, `npm run bench -- lambda-durations`, on the shared corpus): the real
 * handlers through the AWS adapters on dynalite and s3rver, each AWS call held to at least its
 * in-region time (DynamoDB 5 ms, S3 30 ms to the first byte then 50 MB/s, an asynchronous Invoke
 * 20 ms, SQS 15 ms), a STARTTLS primary 40 ms away through a proxy that delays every exchange; the
 * mean of each, without the time it waited for a core behind other work on the machine (a run at
 * load average 7.7 on 2 cores), its CPU time stretched to the function's share of a vCPU (memory ÷
 * 1,769 MB). Deliver
 * on a new SMTP session (connect, STARTTLS, EHLO twice) and on one kept from the instance's last
 * invocation; a quiet sweep; a probe round with its SMTP check to RCPT. The bench's rows compare a
 * new run with these and miss when one has moved by more than 30%. Ingest and the probe round were
 * measured again (a run at load average 4.4) when ingest stopped writing a flow bucket and the probe
 * round began counting the accepted mail of the minutes that ended; all five again (a run at load
 * average 3.4) when deliver stopped moving a `delivered` counter and the counts began adding up the
 * last day's hour buckets (a query more in each probe round and sweep).
 */
export const PRICED_DURATIONS: PricedDurations = {
  ingestSeconds: 0.132,
  deliverFreshSeconds: 0.582,
  deliverKeptSeconds: 0.249,
  sweepSeconds: 0.036,
  probeSeconds: 0.591,
};

/**
 * What each function called per invocation when PRICED_DURATIONS were measured, on average: AWS
 * calls by service, SMTP sessions opened and messages sent (a probe round's check opens a session
 * and sends none). test/corpus/lambda-durations.test.ts counts them again, with no latency added and
 * no clock read, and fails when a handler's calls change, so its duration is measured again.
 */
export const PRICED_DURATION_CALLS: Record<
  'ingest' | 'deliverFresh' | 'deliverKept' | 'sweep' | 'probe',
  Record<string, number>
> = {
  ingest: { dynamodb: 3, lambda: 1, s3: 1, smtpMessages: 0, smtpSessions: 0, sqs: 1 },
  deliverFresh: { dynamodb: 6, s3: 1, smtpMessages: 1, smtpSessions: 1 },
  deliverKept: { dynamodb: 6, s3: 1, smtpMessages: 1, smtpSessions: 0 },
  sweep: { dynamodb: 8, smtpMessages: 0, smtpSessions: 0 },
  probe: { dynamodb: 15.93, smtpMessages: 0, smtpSessions: 1 },
};

/**
 * Packed bytes over original bytes, each message its own gzip member as the packer writes it (level 6),
 * measured on the shared corpus (bench/pack-ratio.ts; test/corpus/pack-ratio.test.ts measures again and
 * fails when packing no longer gives these). The corpus's large messages are parser test cases, mostly
 * text and uncompressed parts, which pack far better than real attachments do.
 */
export const CORPUS_PACK_RATIOS = { small: 0.438, large: 0.266 };

/**
 * The ratios the worked month prices: mail under 128 KB as the corpus's packs; larger mail as it is in
 * real mail, text around an attachment that is compressed already (a JPEG, a PDF, an Office file) and
 * sent as base64: the corpus's small messages each sent with 300 KB of incompressible bytes
 * (bench/pack-ratio.ts measureAttachmentPackRatio), measured by the same test.
 */
export const PRICED_PACK_RATIOS = { small: CORPUS_PACK_RATIOS.small, large: 0.754 };

/** Characters of an SES message id (`raw/<id>`), as a pack index names each message. */
const SES_ID_CHARS = 40;

/** One message's entry in a pack index (lambdas/core/raw-packs.ts packIndexSchema), in bytes. */
export const PACK_INDEX_BYTES_PER_MESSAGE =
  Buffer.byteLength(
    JSON.stringify({
      key: `raw/${'x'.repeat(SES_ID_CHARS)}`,
      storedAt: '2026-11-22T10:00:00.000Z',
      size: 76_800,
      sha256: 'f'.repeat(64),
      offset: 33_554_432,
      length: 25_000,
    }),
  ) + 1;

const sumValues = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);

/** The organisation and its mail: every assumption of the estimate. */
export const ASSUMPTIONS = {
  users: 500,
  messagesPerUserPerDay: 100,
  days: 30,
  /** One envelope recipient per message. */
  recipientsPerMessage: 1,
  /**
   * Message sizes: 90% of messages under 128 KB averaging 35 KB, 10% (mail with attachments) averaging
   * 435 KB: 75 KB on average, as before, but with the attachments that real mail carries, which
   * decide both SES's chunk count and what Glacier IR can take. (The shared test corpus, parser edge
   * cases, has 85% of its bytes in the 4% of messages of 128 KB or more.)
   */
  smallShare: 0.9,
  smallKb: 35,
  largeKb: 435,
  /** SES counts a message's 256 KB chunks: 1 for the small ones, 2 for the large ones. */
  smallChunks: 1,
  largeChunks: 2,
  retentionDays: 365,
  historyDays: 30,
  /** Deleted or expired raw mail stays as a noncurrent version this long (NONCURRENT_VERSION_DAYS). */
  noncurrentDays: 30,
  /** DynamoDB's TTL deletes an expired item within a few days; counted as two. */
  ttlLagDays: 2,
  /**
   * Lambda durations, measured (PRICED_DURATIONS); deliver's on a new SMTP session and on a kept one.
   * The dashboard shows each function's real duration: put yours here.
   */
  ingestSeconds: PRICED_DURATIONS.ingestSeconds,
  deliverFreshSeconds: PRICED_DURATIONS.deliverFreshSeconds,
  deliverKeptSeconds: PRICED_DURATIONS.deliverKeptSeconds,
  sweepSeconds: PRICED_DURATIONS.sweepSeconds,
  probeSeconds: PRICED_DURATIONS.probeSeconds,
  /**
   * The deliver function keeps its SMTP session this long idle for the instance's next invocation
   * (LAMBDA_IDLE_CONNECTION_MS), for at most this many messages (MAX_MESSAGES_PER_CONNECTION) and
   * this many seconds from its start (MAX_CONNECTION_AGE_MS).
   */
  sessionIdleSeconds: LAMBDA_IDLE_CONNECTION_MS / 1000,
  messagesPerSession: MAX_MESSAGES_PER_CONNECTION,
  sessionMaxAgeSeconds: MAX_CONNECTION_AGE_MS / 1000,
  /**
   * Lambda keeps an idle instance for some minutes (it does not say how long): an instance counts as
   * warm when the concurrency it was started for comes back at least once in this window.
   */
  warmWindowMinutes: 10,
  /** Requests to the mail bucket that its access log records, ~400 bytes each, kept retentionDays. */
  accessLogBytesPerRequest: 400,
  /** Lambda's START, END and REPORT lines plus one line of our own, with CloudWatch's 26 bytes each. */
  logBytesPerInvocation: 684,
  logRetentionDays: 90,
  /** DynamoDB, S3 and SQS calls to KMS, with S3 Bucket Keys and DynamoDB caching the table key. */
  kmsRequests: 300_000,
  /** The stack's KMS keys, alarms and dashboards (test/infra/cost-model.test.ts counts them in the template). */
  customerManagedKeys: 2,
  /** Of which three watch sending from the webmail: the outbound and events functions' errors, the outbound dead letters. */
  alarms: 19,
  /** Embedded Metric Format metrics, one per name (no dimensions): the stack's METRICS. */
  customMetrics: Object.keys(METRICS).length,
  dashboards: 1,
  secrets: 1,
  adminApiRequests: 1_000,
  /**
   * The search indexer (a scheduled drain of an SQS standard queue, lambdas/handlers/indexer.ts):
   * per message one send, a tenth of a receive and of a delete (ten requests with their bodies, 1.1 KB
   * each on the corpus, are one 64 KB chunk), a record read, and its index entry. Ingest parses the
   * message once for its record and its index body, and the request carries the body when it fits in
   * one chunk: every corpus message's does (test/corpus/index-body.test.ts), so the share priced is 1.
   * Such a message costs 0.001 s (its body to its segment entry took a tenth of a raw read and parse's
   * CPU on the corpus, 0.2-0.9 ms against 2.4-10 ms on a loaded 2-core AMD EPYC machine: a tenth of 2.0
   * ms with half again for a Graviton2 vCPU, rounded up for the record reads); any other has its raw
   * message read and parsed (sixteen at once on one vCPU: 0.005 s each, from 2.0 ms of CPU a message
   * measured draining 5,000 messages of 79 KB on average into 500 mailboxes on an AMD EPYC core, with
   * half again for a Graviton2 vCPU and S3's latency not hidden). Per mailbox written in a drain, the
   * manifest and the open segment read and written (0.15 s, estimated); per scheduled run that does
   * not drain, the org state, the running drill and the queue's backlog asked (0.1 s). Messages
   * arrive evenly over the day here, which is the least a drain can batch: mail that comes in
   * working hours batches more.
   */
  indexCarriedShare: 1,
  indexCarriedSecondsPerMessage: 0.001,
  indexSecondsPerMessage: 0.005,
  indexSecondsPerMailboxWrite: 0.15,
  indexIdleRunSeconds: 0.1,
  /** Index size per message (`npm run bench`, webmail: 415-468 bytes per message); the open segment half full on average. */
  indexKbPerMessage: 0.45,
  /** Days an expired noncurrent version is still billed on average: S3 counts to the next midnight UTC. */
  noncurrentLagDays: 0.5,
  /**
   * Days a message waits past the history window before the sweep packs it: its day must end (half a
   * day on average), then an hour for late mail (PACK_SETTLE_MS); the packer keeps up within minutes.
   */
  packWaitDays: 0.5 + PACK_SETTLE_MS / 86_400_000,
  /**
   * Packing, per message, in the sweep (960 MB), estimated: its S3 GET (about 20 ms, four at a time),
   * its gzip (34 ms per MB measured on the shared corpus on a loaded 2-core machine: 2.5 ms at 75 KB)
   * and its DeleteObject (about 20 ms, eight at a time).
   */
  packSecondsPerMessage: 0.01,
  /**
   * Staff who sign in to the web app in a month without an outage: the quarterly drill, a third of
   * them each month (Cognito counts a monthly active user once, however often they sign in).
   */
  staffMonthlyActive: 167,
  /** Each drill loads the web app once: about 150 KB and 20 requests from CloudFront. */
  webLoadKb: 150,
  webRequestsPerLoad: 20,
  /**
   * Sending from the webmail: billed only when staff send, which is outage-time use (or a drill),
   * so it is listed here and kept out of the normal month and its ratio to SES receiving. What the
   * stack creates for it costs little idle: an SQS standard queue with its dead-letter queue (a
   * wake-up per send, delayed to the end of the undo window; the outbound function's event source
   * mapping long-polls it all month, priced in the month), one SES configuration set, one
   * EventBridge rule on the default bus (SES's events to it are free), the outbound and events
   * functions. Per message sent: SES $0.10 per 1,000 plus $0.12 per GB of attachments, one SQS send
   * and receive, one outbound run of about a second, about six write units and one event of each
   * kind back.
   */
  sendingQueues: 2,
  /** Event source mappings on the sending queues (the outbound queue's): each long-polls all month. */
  sendingQueueMappings: 1,
  sendingConfigurationSets: 1,
  sendingEventRules: 1,
  sendingOutboundSecondsPerMessage: 1,
  sendingWriteUnitsPerMessage: 6,
} as const;

/** The assumptions as numbers, so a test or a reader can try others. */
export type Assumptions = { readonly [K in keyof typeof ASSUMPTIONS]: number };

/** P(N ≥ k) for N Poisson with the given mean. */
function poissonAtLeast(k: number, mean: number): number {
  let below = 0;
  let term = Math.exp(-mean);
  for (let j = 0; j < k; j++) {
    below += term;
    term *= mean / (j + 1);
  }
  return Math.max(0, 1 - below);
}

/**
 * Which deliveries find a session kept from their instance's last invocation. Messages arrive as a
 * Poisson process at the month's average rate (evenly over the day, as the rest of the month assumes;
 * mail in working hours finds more sessions kept, the night's fewer). Deliveries under way at an
 * arrival are Poisson with mean rate × deliverFreshSeconds (the M/G/∞ queue; the longer duration, so
 * instances are not undercounted), and Lambda keeps as many instances warm as the concurrency that
 * comes back at least once in warmWindowMinutes (arrivals finding k under way: rate × P(N ≥ k) a
 * second). Invocations are taken as spread evenly over the warm instances (Lambda does not say how
 * it picks one), so an instance's next one comes after an exponential gap of mean instances ÷ rate;
 * its session is still kept when the gap is under sessionIdleSeconds and the session has not carried
 * its messagesPerSession (or what sessionMaxAgeSeconds lets it carry at that pace).
 */
export function keptSessions(a: Assumptions) {
  const rate = (a.users * a.messagesPerUserPerDay) / 86_400;
  const underWay = rate * a.deliverFreshSeconds;
  let instances = 1;
  while (rate * poissonAtLeast(instances, underWay) * a.warmWindowMinutes * 60 >= 1) instances++;
  const perInstance = rate / instances;
  const withinIdle = 1 - Math.exp(-perInstance * a.sessionIdleSeconds);
  const perSession = Math.min(a.messagesPerSession, Math.max(1, perInstance * a.sessionMaxAgeSeconds));
  const share = withinIdle * (1 - 1 / perSession);
  return {
    rate,
    instances,
    withinIdle,
    perSession,
    share,
    deliverSeconds: share * a.deliverKeptSeconds + (1 - share) * a.deliverFreshSeconds,
  };
}

/** us-east-1 list prices, USD. */
export const PRICES = {
  sesPer1000Messages: 0.1,
  sesPer1000Chunks: 0.09,
  s3StandardGbMonth: 0.023,
  s3GlacierIrGbMonth: 0.004,
  s3GlacierIrTransitionPer1000: 0.02,
  s3GlacierIrPutPer1000: 0.02,
  s3GlacierIrGetPer1000: 0.01,
  s3GlacierIrRetrievalGb: 0.03,
  s3PutPer1000: 0.005,
  s3GetPer1000: 0.0004,
  dynamoPerMillionWrites: 0.625,
  dynamoPerMillionReads: 0.125,
  dynamoGbMonth: 0.25,
  dynamoPitrGbMonth: 0.2,
  lambdaPerMillionRequests: 0.2,
  lambdaArmGbSecond: 0.0000133334,
  kmsKeyMonth: 1,
  kmsPer10000Requests: 0.03,
  cloudwatchAlarm: 0.1,
  cloudwatchMetric: 0.3,
  cloudwatchDashboard: 3,
  logsIngestGb: 0.5,
  logsStoredGbMonth: 0.03,
  httpApiPerMillion: 1,
  sqsStandardPerMillion: 0.4,
  cognitoEssentialsMau: 0.015,
  cognitoFreeMau: 10_000,
  cloudfrontGb: 0.085,
  cloudfrontPer10000Https: 0.01,
  secretMonth: 0.4,
  dataOutGb: 0.09,
  natHour: 0.045,
  natGb: 0.045,
  ipv4Hour: 0.005,
} as const;

/** The allowances every AWS account gets each month, for good (not the 12-month trial). */
export const ALWAYS_FREE = {
  lambdaRequests: 1_000_000,
  lambdaGbSeconds: 400_000,
  dynamoGb: 25,
  alarms: 10,
  customMetrics: 10,
  dashboards: 3,
  logsGb: 5,
  kmsRequests: 20_000,
  dataOutGb: 100,
} as const;

export interface CostItem {
  item: string;
  price: string;
  arithmetic: string;
  usd: number;
}

const money = (usd: number) => usd.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const gb = (n: number) => n.toFixed(n < 10 ? 2 : 1);
const millions = (n: number) => `${(n / 1e6).toFixed(2)} M`;

export interface WorkedMonth {
  messages: number;
  sesFloor: CostItem[];
  items: CostItem[];
  port25: CostItem[];
  sesUsd: number;
  totalUsd: number;
  ratio: number;
  port25TotalUsd: number;
  /**
   * What replaying a month of packed mail into a restored primary costs, once (not in the month):
   * Glacier IR's retrieval fee on the packs' bytes and a GET per pack (a replay reads each pack whole).
   */
  packedReplay: { gb: number; packs: number; usd: number };
  /** The same month in an account of its own, with the always-free allowances subtracted. */
  dedicated: { savingsUsd: number; totalUsd: number; ratio: number; detail: string };
}

/** The worked month: SES's part, then everything else, each with its price and arithmetic. */
export function workedMonth(
  a: Assumptions = ASSUMPTIONS,
  p: typeof PRICES = PRICES,
  c: CapacityFigures = MEASURED_CAPACITY,
  r: { small: number; large: number } = PRICED_PACK_RATIOS,
): WorkedMonth {
  const messages = a.users * a.messagesPerUserPerDay * a.days;
  const small = messages * a.smallShare;
  const large = messages - small;
  const smallGb = (small * a.smallKb) / KB_PER_GB;
  const largeGb = (large * a.largeKb) / KB_PER_GB;
  const monthGb = smallGb + largeGb;
  const chunks = small * a.smallChunks + large * a.largeChunks;

  const sesFloor: CostItem[] = [
    {
      item: 'SES receiving, messages',
      price: `$${p.sesPer1000Messages} per 1,000`,
      arithmetic: `${int(messages / 1000)} × $${p.sesPer1000Messages}`,
      usd: (messages / 1000) * p.sesPer1000Messages,
    },
    {
      item: 'SES receiving, 256 KB chunks',
      price: `$${p.sesPer1000Chunks} per 1,000 chunks`,
      arithmetic: `${int(small)} × 1 + ${int(large)} × 2 = ${int(chunks)} chunks → ${int(chunks / 1000)} × $${p.sesPer1000Chunks}`,
      usd: (chunks / 1000) * p.sesPer1000Chunks,
    },
  ];

  // Raw mail: each message in Standard through the history window until the sweep packs it, then
  // noncurrentDays more as the old version its delete leaves; packed (gzip, at the ratios measured on
  // the corpus) in Glacier IR from then until its pack expires, retentionDays − historyDays days after
  // it was written, and PACK_NONCURRENT_DAYS more as an old version.
  const rawStandardDays = a.historyDays + a.packWaitDays + a.noncurrentDays + a.noncurrentLagDays;
  const standardGb = (rawStandardDays / a.days) * monthGb;
  const packGb = smallGb * r.small + largeGb * r.large;
  const packRatio = packGb / monthGb;
  const packDays = a.retentionDays - a.historyDays + PACK_NONCURRENT_DAYS + a.noncurrentLagDays;
  const glacierGb = (packDays / a.days) * packGb;
  const packsPerMonth = a.days * Math.ceil(((packGb / a.days) * 1024 ** 3) / PACK_TARGET_BYTES);
  const packIndexGb = (((messages * PACK_INDEX_BYTES_PER_MESSAGE) / 1024 ** 3) * packDays) / a.days;
  // The packer's work: a GET and a DeleteObject (free) per message; per pack a PUT into Glacier IR, its
  // index's PUT, and the checks (three HEADs of the pack, two GETs of the index); the day's records
  // read once (a query, eventually consistent: half a unit per 4 KB); its Lambda time.
  const packGets = messages;
  const packIndexRequests = packsPerMonth * 6;
  const packReadUnits = (messages * (c.storedKbPerMessage['message → byState'] ?? 1)) / 4 / 2;
  const packGbSeconds = messages * a.packSecondsPerMessage * (SWEEP_MEMORY_MB / 1024);
  const packUsd =
    (packGets / 1000) * p.s3GetPer1000 +
    (packsPerMonth / 1000) * p.s3GlacierIrPutPer1000 +
    (packIndexRequests / 1000) * p.s3PutPer1000 +
    (packReadUnits / 1e6) * p.dynamoPerMillionReads +
    packGbSeconds * p.lambdaArmGbSecond;
  // Records are kept awsRecordDays, a few days past the history window for the packer.
  const recordDays = awsRecordDays(a) + a.ttlLagDays;
  const recordKbPerMessage = sumValues(c.storedKbPerMessage);
  const recordGb = (messages * (recordDays / a.days) * recordKbPerMessage) / KB_PER_GB;
  const runs = RUNS_PER_MONTH; // a sweep and a probe schedule a minute
  const rounds = runs * PROBE_TICKS.length; // one round per probe invocation
  // Each tick queue: the schedule's send, the mapping's receive that takes it (its poll ends early)
  // and its delete, a tick a run; and its pollers' long polls all month, idle or not.
  const tickMessages = TICK_QUEUES * runs;
  const tickPolls = TICK_QUEUES * TICK_QUEUE_POLLERS * ((a.days * 24 * 3600) / SQS_LONG_POLL_SECONDS);
  const tickRequests = tickPolls + 3 * tickMessages;
  // The outbound queue's mapping polls an idle queue the same way; a send's own requests are outage-time use.
  const sendingPolls =
    a.sendingQueueMappings * TICK_QUEUE_POLLERS * ((a.days * 24 * 3600) / SQS_LONG_POLL_SECONDS);
  // The search indexer: a drain every NORMAL_INDEX_INTERVAL_MINUTES, each mailbox written once per
  // drain when it received mail since the last (Poisson arrivals at the day's average rate).
  const indexRuns = (a.days * 24 * 60) / INDEXER_SCHEDULE_MINUTES;
  // In normal times a drain comes every NORMAL_INDEX_INTERVAL_MINUTES, or sooner once DRAIN_BACKLOG wait.
  const messagesPerMinute = messages / (a.days * 24 * 60);
  const drainMinutes = Math.min(NORMAL_INDEX_INTERVAL_MINUTES, DRAIN_BACKLOG / messagesPerMinute);
  const drains = (a.days * 24 * 60) / drainMinutes;
  const perMailboxPerDrain = (a.messagesPerUserPerDay * drainMinutes) / (24 * 60);
  const mailboxWrites = a.users * drains * (1 - Math.exp(-perMailboxPerDrain));
  const sqsRequests = messages * 1.2 + drains + (indexRuns - drains);
  // Messages whose request carries the body parsed at ingest; the others' raw messages are read again.
  const carriedMessages = messages * a.indexCarriedShare;
  const rawReadMessages = messages - carriedMessages;
  const indexGbSeconds =
    (INDEXER_MEMORY_MB / 1024) *
    (carriedMessages * a.indexCarriedSecondsPerMessage +
      rawReadMessages * a.indexSecondsPerMessage +
      mailboxWrites * a.indexSecondsPerMailboxWrite +
      (indexRuns - drains) * a.indexIdleRunSeconds);
  const indexPuts = mailboxWrites * 2;
  const indexGets = rawReadMessages + mailboxWrites * 2;
  const openSegmentKb = (SEGMENT_MESSAGES / 2) * a.indexKbPerMessage;
  const indexCurrentGb = (messages * (a.historyDays / a.days) * a.indexKbPerMessage) / KB_PER_GB;
  const indexNoncurrentGb =
    (mailboxWrites * openSegmentKb * ((INDEX_NONCURRENT_DAYS + a.noncurrentLagDays) / a.days)) / KB_PER_GB;
  const writeUnitsPerMessage = sumValues(c.writeUnitsPerMessage);
  const s3Puts = messages * (c.s3PerMessage.PutObjectCommand ?? 0);
  const s3Gets = messages * (c.s3PerMessage.GetObjectCommand ?? 0);
  const writes = messages * writeUnitsPerMessage + rounds * c.probeRoundWriteUnits;
  const reads =
    messages * c.readUnitsPerMessage +
    rounds * c.probeRoundReadUnits +
    runs * c.sweepReadUnits +
    (rounds + runs) * DELIVERED_COUNT_READ_UNITS + // the delivered count's day of hour buckets
    messages + // the indexer's record read
    indexRuns * 2; // and its org state and the newest drill, each run
  const invocations = messages * 2 + runs + rounds + a.adminApiRequests;
  const kept = keptSessions(a);
  const gbSeconds = {
    ingest: messages * (INGEST_MEMORY_MB / 1024) * a.ingestSeconds,
    deliver: messages * (DELIVER_MEMORY_MB / 1024) * kept.deliverSeconds,
    sweep: runs * (SWEEP_MEMORY_MB / 1024) * a.sweepSeconds,
    probe: rounds * (probeMemoryMb(2) / 1024) * a.probeSeconds,
  };
  const totalGbSeconds = gbSeconds.ingest + gbSeconds.deliver + gbSeconds.sweep + gbSeconds.probe;
  // SES's PUT, ingest's and deliver's GET, the packer's GET and DeleteObject.
  const loggedRequests = s3Puts + s3Gets + packGets * 2;
  const accessLogGb = (loggedRequests * a.accessLogBytesPerRequest) / 1024 ** 3;
  const accessLogStoredGb = accessLogGb * (a.retentionDays / a.days);
  const loggedInvocations = invocations + indexRuns;
  const logsGb = (loggedInvocations * a.logBytesPerInvocation) / 1024 ** 3;
  const logsStoredGb = logsGb * (a.logRetentionDays / a.days);

  const items: CostItem[] = [
    {
      item: 'S3 Standard: raw mail until the sweep packs it, then as the old version its delete leaves',
      price: `$${p.s3StandardGbMonth} per GB-month`,
      arithmetic: `${gb(monthGb)} GB × ${rawStandardDays.toFixed(1)} days (the history window, ${a.packWaitDays.toFixed(2)} to be packed, ${a.noncurrentDays} as an old version and ${a.noncurrentLagDays} to S3's midnight) = ${gb(standardGb)} GB`,
      usd: standardGb * p.s3StandardGbMonth,
    },
    {
      item: 'S3 Glacier Instant Retrieval: packed raw mail, from the end of the history window to retentionDays',
      price: `$${p.s3GlacierIrGbMonth} per GB-month`,
      arithmetic: `${gb(smallGb)} GB × ${r.small} + ${gb(largeGb)} GB × ${r.large} (gzip: mail under 128 KB as the shared corpus packs, larger mail as text around an already-compressed attachment packs) = ${gb(packGb)} GB, ${packRatio.toFixed(3)} of the mail, × ${packDays.toFixed(1)} days = ${gb(glacierGb)} GB`,
      usd: glacierGb * p.s3GlacierIrGbMonth,
    },
    {
      item: 'Raw-mail packing in the sweep: S3 requests, pack indexes, DynamoDB reads, Lambda',
      price: `$${p.s3GetPer1000} per 1,000 GET, $${p.s3GlacierIrPutPer1000} per 1,000 Glacier IR PUT, $${p.s3PutPer1000} per 1,000 PUT, $${p.s3StandardGbMonth} per GB-month, DeleteObject free; DynamoDB and Lambda as below`,
      arithmetic: `${int(packGets / 1000)} × $${p.s3GetPer1000} GET (each original) + ${int(packsPerMonth)} packs of ${PACK_TARGET_BYTES / 1024 ** 2} MB × $${p.s3GlacierIrPutPer1000} + ${int(packIndexRequests)} index and check requests; indexes ${PACK_INDEX_BYTES_PER_MESSAGE} B a message × ${packDays.toFixed(1)} days = ${gb(packIndexGb)} GB; ${int(packReadUnits)} read units (the day's records); ${int(messages)} messages × ${a.packSecondsPerMessage} s at ${SWEEP_MEMORY_MB} MB = ${int(packGbSeconds)} GB-s (no free allowance counted)`,
      usd: packUsd + packIndexGb * p.s3StandardGbMonth,
    },
    {
      item: 'S3 PUT (SES stores each message)',
      price: `$${p.s3PutPer1000} per 1,000`,
      arithmetic: `${int(s3Puts / 1000)} × $${p.s3PutPer1000}`,
      usd: (s3Puts / 1000) * p.s3PutPer1000,
    },
    {
      item: 'S3 GET (ingest and deliver read each message)',
      price: `$${p.s3GetPer1000} per 1,000`,
      arithmetic: `${int(s3Gets / 1000)} × $${p.s3GetPer1000}`,
      usd: (s3Gets / 1000) * p.s3GetPer1000,
    },
    {
      item: 'S3 access logs (one ~400-byte record per request, kept retentionDays)',
      price: `$${p.s3StandardGbMonth} per GB-month; delivery free`,
      arithmetic: `${millions(loggedRequests)} requests a month × 400 B = ${gb(accessLogGb)} GB × 12 months = ${gb(accessLogStoredGb)} GB`,
      usd: accessLogStoredGb * p.s3StandardGbMonth,
    },
    {
      item: 'DynamoDB writes',
      price: `$${p.dynamoPerMillionWrites} per million write units`,
      arithmetic: `${writeUnitsPerMessage.toFixed(2)} units per message, as measured (${Object.entries(
        c.writeUnitsPerMessage,
      )
        .map(([what, n]) => `${what} ${n}`)
        .join(
          ', ',
        )}) + ${c.probeRoundWriteUnits} per probe round (${int(rounds)} rounds) → ${millions(writes)}`,
      usd: (writes / 1e6) * p.dynamoPerMillionWrites,
    },
    {
      item: 'DynamoDB reads',
      price: `$${p.dynamoPerMillionReads} per million read units`,
      arithmetic: `${c.readUnitsPerMessage + 1} per message (the indexer's record read included) + ${c.probeRoundReadUnits} per probe round + ${c.sweepReadUnits} per sweep + ${DELIVERED_COUNT_READ_UNITS} per probe round and sweep (the delivered count: a day of hour buckets) + 2 per indexer run (the org state, the newest drill) → ${millions(reads)}`,
      usd: (reads / 1e6) * p.dynamoPerMillionReads,
    },
    {
      item: `DynamoDB storage (records for the history window and the packer's ${RAW_PACK_MARGIN_DAYS} days)`,
      price: `$${p.dynamoGbMonth} per GB-month`,
      arithmetic: `${recordDays} days × ${int(messages / a.days)} messages × ${recordKbPerMessage.toFixed(2)} KB as measured (${Object.entries(
        c.storedKbPerMessage,
      )
        .map(([what, kb]) => `${what} ${kb}`)
        .join(', ')}; DynamoDB's 100 bytes an item and an index entry included) = ${gb(recordGb)} GB`,
      usd: recordGb * p.dynamoGbMonth,
    },
    {
      item: 'DynamoDB point-in-time recovery',
      price: `$${p.dynamoPitrGbMonth} per GB-month`,
      arithmetic: `${gb(recordGb)} GB × $${p.dynamoPitrGbMonth}`,
      usd: recordGb * p.dynamoPitrGbMonth,
    },
    {
      item: 'Lambda requests',
      price: `$${p.lambdaPerMillionRequests} per million`,
      arithmetic: `2 per message + ${int(runs)} sweeps + ${int(rounds)} probe rounds + ${int(a.adminApiRequests)} API calls = ${millions(invocations)}`,
      usd: (invocations / 1e6) * p.lambdaPerMillionRequests,
    },
    {
      item: 'Lambda compute (ARM64, memory as measured)',
      price: `$${p.lambdaArmGbSecond} per GB-second`,
      arithmetic: `durations measured (lambda-durations): ingest ${INGEST_MEMORY_MB} MB × ${a.ingestSeconds} s and deliver ${DELIVER_MEMORY_MB} MB × ${kept.deliverSeconds.toFixed(3)} s per message (${(kept.share * 100).toFixed(1)}% on a kept SMTP session × ${a.deliverKeptSeconds} s, the rest on a new one × ${a.deliverFreshSeconds} s: ${kept.rate.toFixed(2)} messages a second, Poisson, over ${kept.instances} warm instances, ${(kept.withinIdle * 100).toFixed(1)}% within ${a.sessionIdleSeconds} s of the instance's last, 1 in ${kept.perSession.toFixed(0)} opening a session); sweep ${SWEEP_MEMORY_MB} MB × ${a.sweepSeconds} s × ${int(runs)} runs; probe ${probeMemoryMb(2)} MB × ${a.probeSeconds} s (one round, no wait) × ${int(rounds)} rounds = ${int(totalGbSeconds)} GB-s`,
      usd: totalGbSeconds * p.lambdaArmGbSecond,
    },
    {
      item: 'SQS: the probe’s second round each minute (a message the schedule sends, delayed 30 s)',
      price: `$${p.sqsStandardPerMillion} per million requests`,
      arithmetic: `${int(tickMessages)} sends, receives and deletes each + ${int(tickPolls)} long polls (the event source mapping's ${TICK_QUEUE_POLLERS} pollers, ${SQS_LONG_POLL_SECONDS} s each, idle or not) = ${millions(tickRequests)} requests`,
      usd: (tickRequests / 1e6) * p.sqsStandardPerMillion,
    },
    {
      item: 'SQS: the webmail’s outbound queue, idle (sending itself is outage-time use, below)',
      price: `$${p.sqsStandardPerMillion} per million requests`,
      arithmetic: `${int(sendingPolls)} long polls (the outbound function's event source mapping: ${TICK_QUEUE_POLLERS} pollers, ${SQS_LONG_POLL_SECONDS} s each, idle or not) = ${millions(sendingPolls)} requests`,
      usd: (sendingPolls / 1e6) * p.sqsStandardPerMillion,
    },
    {
      item: 'KMS',
      price: `$${p.kmsKeyMonth} per key-month, $${p.kmsPer10000Requests} per 10,000 requests`,
      arithmetic: `${a.customerManagedKeys} keys (mail, alarms) + ≈ ${int(a.kmsRequests)} requests (S3 Bucket Keys, DynamoDB's cached table key)`,
      usd: a.customerManagedKeys * p.kmsKeyMonth + (a.kmsRequests / 10_000) * p.kmsPer10000Requests,
    },
    {
      item: 'CloudWatch alarms, metrics, dashboard',
      price: `$${p.cloudwatchAlarm} per alarm, $${p.cloudwatchMetric} per metric, $${p.cloudwatchDashboard} per dashboard`,
      arithmetic: `${a.alarms} alarms + ${a.customMetrics} custom metrics + ${a.dashboards} dashboard`,
      usd:
        a.alarms * p.cloudwatchAlarm +
        a.customMetrics * p.cloudwatchMetric +
        a.dashboards * p.cloudwatchDashboard,
    },
    {
      item: 'CloudWatch Logs',
      price: `$${p.logsIngestGb} per GB ingested, $${p.logsStoredGbMonth} per GB-month kept`,
      arithmetic: `${millions(loggedInvocations)} invocations (the indexer's runs included) × ${a.logBytesPerInvocation} B = ${gb(logsGb)} GB, kept ${a.logRetentionDays} days (${gb(logsStoredGb)} GB)`,
      usd: logsGb * p.logsIngestGb + logsStoredGb * p.logsStoredGbMonth,
    },
    {
      item: 'Admin and webmail API, email pages',
      price: `HTTP API $${p.httpApiPerMillion} per million requests; SNS email $2 per 100,000`,
      arithmetic: `${int(a.adminApiRequests)} requests; pages only in an outage`,
      usd: (a.adminApiRequests / 1e6) * p.httpApiPerMillion,
    },
    {
      item: `Search indexer: SQS standard, Lambda (a drain every ${(drainMinutes / 60).toFixed(0)} hours in normal times, every minute in an outage or a drill)`,
      price: `SQS $${p.sqsStandardPerMillion} per million requests; Lambda as above`,
      arithmetic: `${millions(sqsRequests)} requests (a send per message, receives and deletes ten at a time, a backlog check a run); ${int(indexRuns)} runs, ${int(carriedMessages)} messages indexed from the body their request carries × ${a.indexCarriedSecondsPerMessage} s + ${int(rawReadMessages)} read and parsed again × ${a.indexSecondsPerMessage} s + ${int(mailboxWrites)} mailbox writes × ${a.indexSecondsPerMailboxWrite} s + ${int(indexRuns - drains)} idle runs × ${a.indexIdleRunSeconds} s at ${INDEXER_MEMORY_MB} MB (one vCPU) = ${int(indexGbSeconds)} GB-s (no free allowance counted)`,
      usd:
        (sqsRequests / 1e6) * p.sqsStandardPerMillion +
        (indexRuns / 1e6) * p.lambdaPerMillionRequests +
        indexGbSeconds * p.lambdaArmGbSecond,
    },
    {
      item: 'Search indexes in S3 (a manifest and an open segment per mailbox, rewritten once a drain)',
      price: `$${p.s3PutPer1000} per 1,000 PUT, $${p.s3GetPer1000} per 1,000 GET, $${p.s3StandardGbMonth} per GB-month`,
      arithmetic: `${int(a.users)} mailboxes × ${int(drains)} drains × ${(1 - Math.exp(-perMailboxPerDrain)).toFixed(3)} (the chance of new mail in ${(drainMinutes / 60).toFixed(0)} hours at ${a.messagesPerUserPerDay} a day) = ${int(mailboxWrites)} mailbox writes: ${int(indexPuts / 1000)} × $${p.s3PutPer1000} PUT + ${int(indexGets / 1000)} × $${p.s3GetPer1000} GET (manifest and segment; ${int(rawReadMessages)} raw messages read again); ${gb(indexCurrentGb)} GB of indexes + ${gb(indexNoncurrentGb)} GB of replaced segments (${openSegmentKb.toFixed(0)} KB each, kept ${INDEX_NONCURRENT_DAYS} day)`,
      usd:
        (indexPuts / 1000) * p.s3PutPer1000 +
        (indexGets / 1000) * p.s3GetPer1000 +
        (indexCurrentGb + indexNoncurrentGb) * p.s3StandardGbMonth,
    },
    {
      item: 'Staff sign-in (Cognito Essentials, for passkeys) and the web app (CloudFront)',
      price: `Cognito $${p.cognitoEssentialsMau} per monthly active user above ${int(p.cognitoFreeMau)} free; CloudFront $${p.cloudfrontGb} per GB, $${p.cloudfrontPer10000Https} per 10,000 HTTPS requests`,
      arithmetic: `${int(a.staffMonthlyActive)} active users (the drill); ${int(a.staffMonthlyActive)} loads × ${a.webLoadKb} KB and ${a.webRequestsPerLoad} requests`,
      usd:
        Math.max(0, a.staffMonthlyActive - p.cognitoFreeMau) * p.cognitoEssentialsMau +
        ((a.staffMonthlyActive * a.webLoadKb) / KB_PER_GB) * p.cloudfrontGb +
        ((a.staffMonthlyActive * a.webRequestsPerLoad) / 10_000) * p.cloudfrontPer10000Https,
    },
    {
      item: 'Secrets Manager',
      price: `$${p.secretMonth} per secret-month`,
      arithmetic: `${a.secrets} secret, read once per cold start`,
      usd: a.secrets * p.secretMonth,
    },
    {
      item: 'Data transfer out to the primary',
      price: `$${p.dataOutGb} per GB`,
      arithmetic: `${gb(monthGb)} GB × $${p.dataOutGb}`,
      usd: monthGb * p.dataOutGb,
    },
  ];

  const port25: CostItem[] = [
    {
      item: 'NAT gateway hours (`port25`)',
      price: `$${p.natHour} per hour`,
      arithmetic: `730 h × $${p.natHour}`,
      usd: 730 * p.natHour,
    },
    {
      item: 'NAT gateway data (`port25`)',
      price: `$${p.natGb} per GB`,
      arithmetic: `${gb(monthGb)} GB to the primary × $${p.natGb} (S3 and DynamoDB use free gateway endpoints)`,
      usd: monthGb * p.natGb,
    },
    {
      item: 'Public IPv4 address (`port25`)',
      price: `$${p.ipv4Hour} per hour`,
      arithmetic: `730 h × $${p.ipv4Hour}`,
      usd: 730 * p.ipv4Hour,
    },
  ];

  const round = (usd: number) => Math.round(usd * 100) / 100;
  const sum = (list: readonly CostItem[]) => list.reduce((total, i) => total + round(i.usd), 0);
  const sesUsd = sum(sesFloor);
  const totalUsd = sesUsd + sum(items);
  const free = {
    lambda:
      (Math.min(invocations, ALWAYS_FREE.lambdaRequests) / 1e6) * p.lambdaPerMillionRequests +
      Math.min(totalGbSeconds, ALWAYS_FREE.lambdaGbSeconds) * p.lambdaArmGbSecond,
    dynamo: Math.min(recordGb, ALWAYS_FREE.dynamoGb) * p.dynamoGbMonth,
    cloudwatch:
      Math.min(a.alarms, ALWAYS_FREE.alarms) * p.cloudwatchAlarm +
      Math.min(a.customMetrics, ALWAYS_FREE.customMetrics) * p.cloudwatchMetric +
      Math.min(a.dashboards, ALWAYS_FREE.dashboards) * p.cloudwatchDashboard +
      Math.min(logsGb, ALWAYS_FREE.logsGb) * p.logsIngestGb,
    kms: (Math.min(a.kmsRequests, ALWAYS_FREE.kmsRequests) / 10_000) * p.kmsPer10000Requests,
    dataOut: Math.min(monthGb, ALWAYS_FREE.dataOutGb) * p.dataOutGb,
  };
  const savingsUsd = round(free.lambda + free.dynamo + free.cloudwatch + free.kms + free.dataOut);
  return {
    messages,
    sesFloor,
    items,
    port25,
    sesUsd,
    totalUsd,
    ratio: totalUsd / sesUsd,
    port25TotalUsd: totalUsd + sum(port25),
    packedReplay: {
      gb: packGb,
      packs: packsPerMonth,
      usd: packGb * p.s3GlacierIrRetrievalGb + (packsPerMonth / 1000) * p.s3GlacierIrGetPer1000,
    },
    dedicated: {
      savingsUsd,
      totalUsd: totalUsd - savingsUsd,
      ratio: (totalUsd - savingsUsd) / sesUsd,
      detail: `Lambda $${money(free.lambda)}, DynamoDB storage $${money(free.dynamo)}, CloudWatch $${money(free.cloudwatch)}, KMS $${money(free.kms)}, data transfer $${money(free.dataOut)}`,
    },
  };
}

const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;

/** The cost table as the README shows it. */
export function renderCostTable(month = workedMonth()): string {
  const line = (i: CostItem) => row([i.item, i.price, i.arithmetic, money(i.usd)]);
  const bold = (label: string, usd: string) => row([`**${label}**`, '', '', `**${usd}**`]);
  return [
    row(['Item', 'Price used', 'Arithmetic', '$/month']),
    '| --- | --- | --- | ---: |',
    ...month.sesFloor.map(line),
    bold('SES receiving alone (the floor)', money(month.sesUsd)),
    ...month.items.map(line),
    bold('Total, `connector` mode', money(month.totalUsd)),
    bold('Ratio to the SES floor', fmtRatio(month.ratio)),
    row([
      'Always-free allowances, if Lifeboat has an AWS account to itself',
      'Lambda 1 M requests and 400,000 GB-s, DynamoDB 25 GB, CloudWatch 10 alarms, 10 metrics, 3 dashboards and 5 GB of logs, KMS 20,000 requests, 100 GB out',
      month.dedicated.detail,
      `−${money(month.dedicated.savingsUsd)}`,
    ]),
    bold('Total in an account of its own', money(month.dedicated.totalUsd)),
    bold('Ratio to the SES floor in an account of its own', fmtRatio(month.dedicated.ratio)),
    ...month.port25.map(line),
    bold('Total, `port25` mode', money(month.port25TotalUsd)),
  ].join('\n');
}

/** The mail path's DynamoDB and S3 work measured again on the corpus; undefined without the corpus. */
async function measureCapacity(): Promise<CapacityFigures | undefined> {
  const [{ capacityFigures, measureMailPath }, { startAwsEmulators }, { loadCorpus }] = await Promise.all([
    import('./aws-capacity.js'),
    import('../test/support/aws-emulators.js'),
    import('./corpus.js'),
  ]);
  const corpus = await loadCorpus();
  if (!corpus) return undefined;
  const emulators = await startAwsEmulators();
  try {
    return capacityFigures(
      await measureMailPath(
        emulators,
        corpus.map((m) => m.raw),
      ),
    );
  } finally {
    await emulators.stop();
  }
}

/** Archived mail packed as the packer packs it, on the corpus, beside the ratios the month prices. */
async function packRatioRow(month: WorkedMonth): Promise<FigureResult['rows'][number]> {
  const [{ loadCorpus }, { measureAttachmentPackRatio, measurePackRatios, LARGE_BYTES }] = await Promise.all([
    import('./corpus.js'),
    import('./pack-ratio.js'),
  ]);
  const corpus = await loadCorpus();
  const measured = corpus ? measurePackRatios(corpus.map((m) => m.raw)) : undefined;
  const attachments = corpus
    ? measureAttachmentPackRatio(corpus.filter((m) => m.raw.length < LARGE_BYTES).map((m) => m.raw))
    : undefined;
  const matches =
    measured?.small.ratio === PRICED_PACK_RATIOS.small && attachments?.ratio === PRICED_PACK_RATIOS.large;
  return {
    id: 'cost.pack-ratio',
    figure:
      'Packed raw mail ÷ original, each message its own gzip member (measured: the shared corpus under 128 KB; larger mail as its messages sent with a 300 KB incompressible attachment)',
    value:
      measured && attachments
        ? `${measured.small.ratio} small, ${attachments.ratio} large (the corpus's own large messages: ${measured.large.ratio})`
        : 'corpus missing',
    reference: `the worked month prices ${PRICED_PACK_RATIOS.small} and ${PRICED_PACK_RATIOS.large}; a month of packed mail replayed costs $${money(month.packedReplay.usd)}`,
    ratio: '—',
    aim: 'the month prices what the code does',
    verdict: matches ? 'PASS' : 'MISS',
    data: { measured, attachments, priced: PRICED_PACK_RATIOS, packedReplay: month.packedReplay },
  };
}

/** The bench's rows: the mail path's measured write units, and the worked month's ratio to SES receiving alone. */
export const awsCostFigure: Figure = {
  name: 'aws-cost',
  async run(): Promise<FigureResult> {
    const month = workedMonth();
    const measured = await measureCapacity();
    const perMessage = measured ? sumValues(measured.writeUnitsPerMessage) : Number.NaN;
    const modelled = sumValues(MEASURED_CAPACITY.writeUnitsPerMessage);
    const matches = measured !== undefined && JSON.stringify(measured) === JSON.stringify(MEASURED_CAPACITY);
    return {
      rows: [
        {
          id: 'cost.dynamo-writes',
          figure:
            'DynamoDB write units per message, ingest to delivered (measured: the shared corpus through the AWS adapters on dynalite)',
          value: measured ? perMessage.toFixed(2) : 'corpus missing',
          reference: `the worked month prices ${modelled.toFixed(2)}`,
          ratio: measured ? `${(perMessage / modelled).toFixed(2)}×` : '—',
          aim: 'the month prices what the code does',
          verdict: matches ? 'PASS' : 'MISS',
          data: { measured, modelled: MEASURED_CAPACITY },
        },
        await packRatioRow(month),
        {
          id: 'cost.ratio',
          figure: `Worked AWS month (${ASSUMPTIONS.users} users × ${ASSUMPTIONS.messagesPerUserPerDay} messages a day, connector mode) ÷ SES receiving alone`,
          value: `$${money(month.totalUsd)}`,
          reference: `SES receiving $${money(month.sesUsd)}`,
          ratio: fmtRatio(month.ratio),
          aim: `≤ ${AIM_RATIO.toFixed(1)}×`,
          verdict: month.ratio <= AIM_RATIO ? 'PASS' : 'MISS',
          data: { totalUsd: month.totalUsd, sesUsd: month.sesUsd, dedicated: month.dedicated },
        },
        {
          id: 'cost.ratio.dedicated',
          figure:
            'The same month in an AWS account of its own (always-free allowances subtracted) ÷ SES receiving alone',
          value: `$${money(month.dedicated.totalUsd)}`,
          reference: `SES receiving $${money(month.sesUsd)}`,
          ratio: fmtRatio(month.dedicated.ratio),
          aim: `≤ ${AIM_RATIO.toFixed(1)}×`,
          verdict: month.dedicated.ratio <= AIM_RATIO ? 'PASS' : 'MISS',
        },
      ],
      notes: [
        "Worked AWS month: computed in bench/aws-cost.ts from list prices and the assumptions there; DynamoDB write and read units and S3 requests per message are measured (bench/aws-capacity.ts: the shared corpus ingested and delivered through the AWS adapters on dynalite and s3rver, each call priced by DynamoDB's rules from the item before and after it), Lambda memory comes from the lambda-memory figure, durations from the lambda-durations figure. The README shows the same table.",
      ],
    };
  },
};
