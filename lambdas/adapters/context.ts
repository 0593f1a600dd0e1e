import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { formatIssues, type LifeboatConfig, parseConfigJson } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { awsRecordDays, packStorageClass } from '../core/raw-packs.js';
import { oncePerInterval, type RouteChecks } from '../core/route-checks.js';
import type { MessageReading } from '../core/summarise.js';
import {
  type BlobStore,
  type Clock,
  type ContinuityStore,
  type DeliveryTrigger,
  type Logger,
  type Mailer,
  type MessageStore,
  type Metrics,
  type Notifier,
  type RawPackStore,
  type ReplayWaker,
  type SendingStore,
  type SmtpProber,
  systemClock,
} from '../ports.js';
import { createDynamoSendingStore } from './dynamo-sending.js';
import { createDynamoStore } from './dynamo-store.js';
import { emfMetrics } from './emf-metrics.js';
import { jsonLogger } from './logger.js';
import { createSnsNotifier } from './notifiers.js';
import { passwordSource } from './passwords.js';
import { createS3Blobs, createS3RawPacks } from './s3-blobs.js';
import { createSesStaffEmail } from './ses-staff-email.js';
import { createSmtpMailer, LAMBDA_IDLE_CONNECTION_MS } from './smtp-mailer.js';
import { createSmtpProber } from './smtp-prober.js';

/** The environment every handler reads once, at cold start. */
export const envSchema = z.object({
  TABLE_NAME: z.string().min(1),
  BUCKET_NAME: z.string().min(1),
  LIFEBOAT_CONFIG: z.string().min(2),
  /** Set in AWS: ingest asks for the first attempt by invoking this function. */
  DELIVER_FUNCTION_NAME: z.string().min(1).optional(),
  /** Set in AWS on deliver and sweep: an attempt that cannot reach a route asks this function (the probe) to check it. */
  PROBE_FUNCTION_NAME: z.string().min(1).optional(),
  /** Set in AWS: the SNS topic whose email subscriptions are the admins' alternate addresses. */
  ADMIN_EMAIL_TOPIC_ARN: z.string().min(1).optional(),
  /**
   * Set in AWS on the admin API only: the From address of staff notices by email (`aws.staffEmailFrom`
   * or its default); SES may send from its domain's identity. Unset: staff email is refused with a reason.
   */
  STAFF_EMAIL_FROM: z.email().optional(),
  AWS_REGION: z.string().default('us-east-1'),
});
export type LifeboatEnv = z.infer<typeof envSchema>;

export interface Context {
  config: LifeboatConfig;
  store: MessageStore;
  continuity: ContinuityStore;
  notifier: Notifier;
  prober: SmtpProber;
  blobs: BlobStore;
  mailer: Mailer;
  trigger: DeliveryTrigger;
  clock: Clock;
  log: Logger;
  /** Where an attempt that could not reach its route asks for the route's check at once; optional. */
  checks?: RouteChecks | undefined;
  /** Counters for the alarms; absent on the single-node runtime, which has no CloudWatch. */
  metrics?: Metrics | undefined;
  /**
   * How ingest parses a raw message for its record and its index body: in the invocation's own
   * thread in Lambda; on the single-node runtime, its worker threads. @default readMessage
   */
  summarise?: ((raw: Buffer) => Promise<MessageReading>) | undefined;
  /**
   * The admin console's job records (replays, drills, staff notices, settings overrides): kinds of
   * the sending store under JOBS_OWNER. Absent in functions that run none of them.
   */
  jobs?: SendingStore | undefined;
  /** Wakes the replay runner when a replay is started or resumed (the single-node runtime's). */
  replays?: ReplayWaker | undefined;
  /**
   * The raw-mail packer's view of the bucket (AWS; only the sweep is granted it and runs the packer).
   */
  packs?: RawPackStore | undefined;
}

/** Reads and validates the environment, naming every missing or wrong setting. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): LifeboatEnv {
  const result = envSchema.safeParse(env);
  if (!result.success) throw new ConfigError('environment', formatIssues(result.error.issues));
  return result.data;
}

/** The DynamoDB and S3 clients of a Lambda function (the single-node runtime builds none). */
export function createAwsClients(env: LifeboatEnv) {
  const region = env.AWS_REGION;
  const dynamo = new DynamoDBClient({ region });
  const s3 = new S3Client({
    region,
    // Checksums only when required: s3rver would otherwise store the aws-chunked framing as the object.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { dynamo, s3 };
}

/** Ingest's request for a first attempt: an asynchronous invoke of the deliver function. */
export function lambdaTrigger(
  functionName: string,
  region: string,
  lambda: LambdaClient = new LambdaClient({ region }),
): DeliveryTrigger {
  return {
    async requestDelivery(messageId) {
      await lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify({ messageId })),
        }),
      );
    },
  };
}

/**
 * Route checks in AWS: an asynchronous invoke of the probe with `{ check: route }`, at most once per
 * route per probe interval from each instance (the probe spaces the checks whoever asks).
 */
export function lambdaRouteChecks(
  functionName: string,
  region: string,
  config: LifeboatConfig,
  clock: Clock,
) {
  const lambda = new LambdaClient({ region });
  const invoke: RouteChecks = {
    async requestCheck(route) {
      await lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify({ check: route })),
        }),
      );
    },
  };
  return oncePerInterval(invoke, clock, config.continuity.probes.intervalSeconds * 1000);
}

/** A trigger for contexts that never ask for delivery (deliver and sweep attempt it themselves). */
const noTrigger: DeliveryTrigger = {
  async requestDelivery() {
    throw new Error('DELIVER_FUNCTION_NAME is not set: this function cannot request delivery');
  },
};

/** Builds a handler's dependencies from its environment; parts can be replaced (the local runtime's trigger). */
export function createContext(env: LifeboatEnv, overrides: Partial<Context> = {}): Context {
  const config = overrides.config ?? parseConfigJson(env.LIFEBOAT_CONFIG, 'LIFEBOAT_CONFIG');
  const { dynamo, s3 } = createAwsClients(env);
  // Records expire with the history window (and the packer's few days past it: awsRecordDays); the raw
  // mail, the source of truth, stays for retentionDays.
  const clock = overrides.clock ?? systemClock;
  const store = createDynamoStore(dynamo, {
    tableName: env.TABLE_NAME,
    retentionDays: awsRecordDays(config),
    now: () => clock.now(),
  });
  const passwords = passwordSource(env.AWS_REGION);
  return {
    config,
    store,
    continuity: store,
    notifier: createSnsNotifier(new SNSClient({ region: env.AWS_REGION }), {
      adminEmailTopicArn: env.ADMIN_EMAIL_TOPIC_ARN,
      staffEmail: env.STAFF_EMAIL_FROM
        ? createSesStaffEmail({ from: env.STAFF_EMAIL_FROM, region: env.AWS_REGION })
        : undefined,
    }),
    prober: createSmtpProber({ hostname: config.hostname, passwords }),
    blobs: createS3Blobs(s3, env.BUCKET_NAME),
    // Kept between invocations by the functions that ask (deliver): LAMBDA_IDLE_CONNECTION_MS says why.
    mailer: createSmtpMailer({
      hostname: config.hostname,
      passwords,
      idleTimeoutMs: LAMBDA_IDLE_CONNECTION_MS,
    }),
    trigger: env.DELIVER_FUNCTION_NAME ? lambdaTrigger(env.DELIVER_FUNCTION_NAME, env.AWS_REGION) : noTrigger,
    checks: env.PROBE_FUNCTION_NAME
      ? lambdaRouteChecks(env.PROBE_FUNCTION_NAME, env.AWS_REGION, config, clock)
      : undefined,
    clock,
    log: jsonLogger(),
    metrics: emfMetrics(),
    jobs: createDynamoSendingStore(dynamo, { tableName: env.TABLE_NAME }),
    packs: createS3RawPacks(s3, env.BUCKET_NAME, packStorageClass(config)),
    ...overrides,
  };
}

let cached: Context | undefined;

/** The context of this Lambda instance, built on first use (cold start) from process.env. */
export function defaultContext(): Context {
  cached ??= createContext(readEnv());
  return cached;
}
