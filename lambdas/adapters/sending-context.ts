import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { LifeboatConfig } from '../core/config.js';
import { formatIssues } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { createIntake } from '../core/sending/intake.js';
import type { Intake, SendingDeps } from '../core/sending/records.js';
import type {
  BlobStore,
  Clock,
  ContinuityStore,
  DeliveryTrigger,
  Logger,
  MessageStore,
  OutboundRelay,
} from '../ports.js';
import { createDynamoSendingStore } from './dynamo-sending.js';
import { createS3SendingBlobs } from './s3-blobs.js';
import { createS3UploadSigner } from './s3-upload-signer.js';
import { createSesRelay } from './ses-relay.js';
import { createSqsIndexRequests } from './sqs-index-requests.js';
import { createSqsOutboundWakes, type OutboundWakes } from './sqs-outbound-wake.js';

/** What the stack sets for sending: the outbound queue, and for the outbound function the SES side. */
export const sendingEnvSchema = z.object({
  OUTBOUND_QUEUE_URL: z.string().min(1),
  /** The outbound function only: the configuration set SES sends in. */
  SENDING_CONFIGURATION_SET: z.string().min(1).optional(),
  /** The outbound function only: colleagues' copies are indexed like inbound mail. */
  INDEX_QUEUE_URL: z.string().min(1).optional(),
  AWS_REGION: z.string().default('us-east-1'),
});
export type SendingEnv = z.infer<typeof sendingEnvSchema>;

/** The sending environment, or undefined where the stack set none (sending not deployed). */
export function readSendingEnv(env: NodeJS.ProcessEnv = process.env): SendingEnv | undefined {
  if (env.OUTBOUND_QUEUE_URL === undefined) return undefined;
  const result = sendingEnvSchema.safeParse(env);
  if (!result.success) throw new ConfigError('environment', formatIssues(result.error.issues));
  return result.data;
}

/** A part the webmail function holds only for the types: the outbound function does that work. */
function elsewhere(what: string): never {
  throw new Error(`${what} runs in the outbound function, not here`);
}

export interface AwsSendingBase {
  config: LifeboatConfig;
  store: MessageStore;
  continuity: Pick<ContinuityStore, 'appendAudit' | 'getOrg'>;
  blobs: BlobStore;
  dynamo: DynamoDBClient;
  s3: S3Client;
  tableName: string;
  bucket: string;
  clock: Clock;
  log: Logger;
}

/**
 * The sending deps of the webmail function: records in the table, draft bodies, uploads and
 * composed messages in the mail bucket, presigned uploads, wake-ups on the outbound queue. It
 * never sends or takes mail in (no SES, no deliver function): the outbound function does, once
 * the undo window is over. The relay it holds only says outside mail can leave (SES).
 */
export function createWebmailSendingDeps(
  base: AwsSendingBase,
  env: SendingEnv,
): { deps: SendingDeps; wakes: OutboundWakes } {
  const wakes = createSqsOutboundWakes({
    sqs: new SQSClient({ region: env.AWS_REGION }),
    queueUrl: env.OUTBOUND_QUEUE_URL,
    clock: base.clock,
    log: base.log,
  });
  const relay: OutboundRelay = { send: async () => elsewhere('sending through SES') };
  const intake: Intake = { accept: async () => elsewhere('taking mail in for colleagues') };
  const trigger: DeliveryTrigger = { requestDelivery: async () => elsewhere('asking for a delivery') };
  return {
    deps: {
      config: base.config,
      store: base.store,
      blobs: base.blobs,
      sending: createDynamoSendingStore(base.dynamo, { tableName: base.tableName }),
      sendingBlobs: createS3SendingBlobs(base.s3, base.bucket),
      uploads: createS3UploadSigner({ s3: base.s3, bucket: base.bucket, clock: base.clock }),
      relay,
      intake,
      trigger,
      continuity: base.continuity,
      clock: base.clock,
      log: base.log,
      wake: wakes.wake,
    },
    wakes,
  };
}

/**
 * The outbound function's deps: the same records and blobs, SES v2 in the configuration set as
 * the relay, colleagues' copies and bounce notices taken in as inbound mail (raw mail, records,
 * the deliver function asked, the indexer's queue), a retry's wake-up on the outbound queue.
 */
export function createOutboundSendingDeps(
  base: AwsSendingBase & { trigger: DeliveryTrigger },
  env: SendingEnv,
): { deps: SendingDeps; wakes: OutboundWakes } {
  if (!env.SENDING_CONFIGURATION_SET)
    throw new ConfigError('environment', ['SENDING_CONFIGURATION_SET: required by the outbound function']);
  const sqs = new SQSClient({ region: env.AWS_REGION });
  const wakes = createSqsOutboundWakes({
    sqs,
    queueUrl: env.OUTBOUND_QUEUE_URL,
    clock: base.clock,
    log: base.log,
  });
  return {
    deps: {
      config: base.config,
      store: base.store,
      blobs: base.blobs,
      sending: createDynamoSendingStore(base.dynamo, { tableName: base.tableName }),
      sendingBlobs: createS3SendingBlobs(base.s3, base.bucket),
      uploads: { sign: async () => elsewhere('signing uploads') },
      relay: createSesRelay(new SESv2Client({ region: env.AWS_REGION }), env.SENDING_CONFIGURATION_SET),
      intake: createIntake({
        config: base.config,
        store: base.store,
        blobs: base.blobs,
        clock: base.clock,
        log: base.log,
        trigger: base.trigger,
        index: env.INDEX_QUEUE_URL ? createSqsIndexRequests(sqs, env.INDEX_QUEUE_URL) : undefined,
      }),
      trigger: base.trigger,
      continuity: base.continuity,
      clock: base.clock,
      log: base.log,
      wake: wakes.wake,
    },
    wakes,
  };
}
