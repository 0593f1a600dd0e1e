import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DRILL_PROBE_PREFIX } from '../../../lambdas/core/drill.js';
import {
  ATTACHMENTS_PREFIX,
  DRAFTS_PREFIX,
  GLACIER_IR_MIN_STORAGE_DAYS,
  INDEX_PREFIX,
  INDEXES,
  type IndexLayout,
  OUTGOING_PREFIX,
  PACKS_PREFIX,
  RAW_PACK_MARGIN_DAYS,
  RAW_PREFIX,
  TABLE_KEYS,
  UPLOADS_PREFIX,
} from '../../../lambdas/storage-layout.js';
import { acknowledgeNag, arnFinding } from '../nag.js';

/** The wildcard actions cdk-nag finds in a grantRead on a prefix of the bucket (with its key). */
const READ_FINDINGS = ['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*'];

/** The wildcard actions cdk-nag finds in a grantPut on a prefix of the bucket (with its key). */
const PUT_FINDINGS = ['Action::s3:Abort*', 'Action::kms:ReEncrypt*', 'Action::kms:GenerateDataKey*'];

/**
 * The layout names, read from the one declaration the adapters also use, and re-exported for the
 * constructs that grant access below the raw prefix.
 */
export { RAW_PREFIX } from '../../../lambdas/storage-layout.js';

/** Attribute the handlers set (epoch seconds) so DynamoDB drops a record when its mail expires. */
export const TTL_ATTRIBUTE = TABLE_KEYS.ttl;

/** GSI the sweeper queries for due deliveries (`gsi1pk` = state, `gsi1sk` = due time). */
export const BY_STATE_INDEX = INDEXES.byState.name;

/** GSI the webmail reads a mailbox from (`gsi2pk` = mailbox, `gsi2sk` = received time). */
export const BY_MAILBOX_INDEX = INDEXES.byMailbox.name;

/** Sparse GSI of deferred deliveries by route and arrival, for the oldest-deferred figure. */
export const BY_AGE_INDEX = INDEXES.byAge.name;

/**
 * Overwritten or deleted raw mail stays recoverable this long: versioning guards against a bad
 * handler or a mistaken admin, without keeping every old version for the whole retention.
 */
const NONCURRENT_VERSION_DAYS = 30;

/**
 * An attachment extracted for a download link is kept a day (S3 lifecycle rules count whole days):
 * its links live minutes, and the next link extracts it again.
 */
export const EXTRACTED_ATTACHMENT_DAYS = 1;

/**
 * A search index blob replaced by the indexer's next write stays as a noncurrent version this long
 * (the bucket is versioned for the raw mail): a day, the shortest a lifecycle rule counts. An index
 * is rebuilt from the raw mail, so its old versions protect nothing, and every write replaces the
 * mailbox's open segment (about 400 KB on average): kept 30 days they would cost as much as the mail.
 */
export const INDEX_NONCURRENT_DAYS = 1;

/**
 * A pack expired by its rule, or an index a resumed run replaced, stays a noncurrent version this
 * long: a day, the shortest a lifecycle rule counts (the raw mail it holds has reached retentionDays).
 */
export const PACK_NONCURRENT_DAYS = 1;

/** An upload SES abandoned half-way is cleaned up after this; nothing completes it later. */
const ABORT_INCOMPLETE_UPLOAD_DAYS = 7;

/** Days a file put through a signed upload is kept (UPLOAD_RECORD_DAYS: its record's life). */
export const UPLOAD_DAYS = 1;

/**
 * A version of a short-lived object replaced or deleted (the bucket is versioned for the raw mail)
 * goes after a day, the shortest a lifecycle rule counts: these objects are working copies, and
 * their old versions protect nothing.
 */
const REPLACED_WORKING_COPY_DAYS = 1;

/**
 * The lifecycle rule of a prefix of working copies (uploads, extracted attachments, draft bodies,
 * messages as sent): each object deleted `days` after it was written and a replaced version
 * {@link REPLACED_WORKING_COPY_DAYS} later; with `abortIncomplete`, a multipart upload nobody
 * completes is cleaned up after `days` as well (the prefixes a browser or a handler PUTs to).
 */
function expiryRule(
  id: string,
  prefix: string,
  days: number,
  options: { abortIncomplete?: boolean } = {},
): s3.LifecycleRule {
  return {
    id,
    prefix,
    expiration: Duration.days(days),
    noncurrentVersionExpiration: Duration.days(REPLACED_WORKING_COPY_DAYS),
    ...(options.abortIncomplete ? { abortIncompleteMultipartUploadAfter: Duration.days(days) } : {}),
  };
}

/** How long a browser may cache the answer to an upload's CORS preflight. */
const UPLOAD_CORS_MAX_AGE_SECONDS = 3_000;

/**
 * S3 Glacier Instant Retrieval bills an object for at least 90 days and at least 128 KB, charges per GB
 * read, and serves a GET at once (S3 User Guide, storage classes compared). Packs of raw mail are
 * written there, and raw mail the packer left moves there, if they then stay at least this long; S3's
 * default minimum transition size keeps every object under 128 KB in Standard, where it costs less
 * than 128 KB billed in Glacier IR.
 */
export { GLACIER_IR_MIN_STORAGE_DAYS } from '../../../lambdas/storage-layout.js';

/**
 * The DynamoDB calls the adapter (lambdas/adapters/dynamo-store.ts) makes, as IAM actions: conditional
 * puts, the counters' and marks' updates, single and batch gets, hold deletes, and queries of the
 * table and its indexes. Not Scan, BatchWriteItem or the stream reads that grantReadWriteData would
 * add: nothing issues them.
 */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
] as const;

/** What a caller of a table under a customer managed key needs of the key (what CDK's table grants give). */
const TABLE_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
] as const;

/** A function the store grants access to: its handle and its own role (for the cdk-nag acknowledgments). */
export interface StoreUser {
  readonly function: lambda.IFunction;
  readonly role: iam.Role;
}

export interface StoreProps {
  /** Days raw mail is kept before S3 expires it (config `retentionDays`). */
  readonly retentionDays: number;
  /**
   * Days mail is read routinely (config `historyDays`, at most `retentionDays`): raw mail older than this
   * is packed into Glacier Instant Retrieval, if it then stays there {@link GLACIER_IR_MIN_STORAGE_DAYS} days.
   */
  readonly historyDays: number;
}

/**
 * Where mail lives: the raw messages in S3 (the source of truth) and the single DynamoDB table of
 * messages, deliveries and holds, both encrypted with one customer-managed key. All three are retained
 * when the stack is deleted: tearing down must never lose archived mail.
 */
export class Store extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StoreProps) {
    super(scope, id);
    const rawTransitionDays = props.historyDays + RAW_PACK_MARGIN_DAYS;

    this.key = new kms.Key(this, 'Key', {
      description: 'Lifeboat: encrypts raw mail, the message table and the failed-invocation queue',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // S3 server access logs support only SSE-S3 on the target bucket, not SSE-KMS.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.retentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeNag(
      this.accessLogs,
      'AwsSolutions-S1',
      'This is the access-log target of the mail bucket; logging it into itself would loop.',
    );

    this.bucket = new s3.Bucket(this, 'Mail', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of one KMS call per object: same protection, a fraction of the cost.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'mail/',
      // Objects under 128 KB never transition (named here, though it is S3's default): Glacier IR would
      // bill them as 128 KB and charge a transition request each, more than Standard saves.
      transitionDefaultMinimumObjectSize: s3.TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K,
      lifecycleRules: [
        {
          id: 'expire-raw-mail',
          prefix: RAW_PREFIX,
          expiration: Duration.days(props.retentionDays),
          noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_DAYS),
          // The sweep packs raw mail once its day has left the history window (packs/, below). What it
          // leaves (mail with no record, a day it reached too late) is read only to replay it, rare, and
          // Glacier IR answers a plain GET at once, with no restore step, for a per-GB fee: it moves
          // there once the packer is done with its day, never before (the packer would pay the
          // retrieval fee to read it and the 90-day minimum to delete it).
          transitions:
            props.retentionDays - rawTransitionDays >= GLACIER_IR_MIN_STORAGE_DAYS
              ? [
                  {
                    storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                    transitionAfter: Duration.days(rawTransitionDays),
                  },
                ]
              : undefined,
        },
        // A pack holds a day of mail packed once the day has left the history window, so it expires
        // retentionDays − historyDays days after it is written: its newest message then is at least
        // retentionDays old (at most the packing margin and a day older for its oldest). It is written
        // once; a replaced index (a run that resumed) goes a day later.
        ...(props.retentionDays > props.historyDays
          ? [
              {
                id: 'expire-raw-packs',
                prefix: PACKS_PREFIX,
                expiration: Duration.days(props.retentionDays - props.historyDays),
                noncurrentVersionExpiration: Duration.days(PACK_NONCURRENT_DAYS),
              },
            ]
          : []),
        {
          id: 'expire-replaced-index-blobs',
          prefix: INDEX_PREFIX,
          noncurrentVersionExpiration: Duration.days(INDEX_NONCURRENT_DAYS),
          // A deleted segment (mail past the history window) leaves a marker with nothing behind it.
          expiredObjectDeleteMarker: true,
        },
        // A signed upload works for 15 minutes and its record for a day: a file not sent by then
        // is dropped. A message that used it keeps its own copy under outgoing/.
        expiryRule('expire-uploads', UPLOADS_PREFIX, UPLOAD_DAYS, { abortIncomplete: true }),
        // Draft bodies and messages as sent go with their records (the history window).
        expiryRule('expire-drafts', DRAFTS_PREFIX, props.historyDays),
        expiryRule('expire-outgoing', OUTGOING_PREFIX, props.historyDays),
        expiryRule('expire-extracted-attachments', ATTACHMENTS_PREFIX, EXTRACTED_ATTACHMENT_DAYS, {
          abortIncomplete: true,
        }),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.pk, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sk, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Projections from the layout: the queue indexes carry whole records, each query needing no second
    // read. byMailbox only keys: a delivery's mailbox keys never change, so its entry is written once,
    // when the delivery is created, where projecting every attribute rewrote it on every state change
    // (an index is written only when its keys or projected attributes change: DynamoDB Developer Guide,
    // global secondary indexes). The webmail, which alone reads it, reads the deliveries it lists.
    for (const index of Object.values(INDEXES) as IndexLayout[]) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.pk, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sk, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType[index.projection],
      });
    }
  }

  /** Lets a function make the DynamoDB calls the adapter makes ({@link TABLE_ACTIONS}), and nothing else. */
  grantTable(user: StoreUser): void {
    this.table.grant(user.function, ...TABLE_ACTIONS);
    this.key.grant(user.function, ...TABLE_KEY_ACTIONS);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'The table grant names the table and its own indexes (index/*); the KMS data-key actions are the ones DynamoDB needs of a caller of a table under the mail key, on that key only.',
      ['Action::kms:ReEncrypt*', 'Action::kms:GenerateDataKey*', arnFinding(this.table, '/index/*')],
    );
  }

  /** Lets a function read raw mail below `raw/` (and decrypt it), and nothing else in the bucket. */
  grantReadRaw(user: StoreUser): void {
    this.bucket.grantRead(user.function, `${RAW_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'grantRead on the raw/ prefix gives s3:GetObject*/GetBucket*/List* on the mail bucket and raw/* only (List lets a missing message answer 404, not 403).',
      [...READ_FINDINGS, arnFinding(this.bucket, `/${RAW_PREFIX}*`)],
    );
  }

  /**
   * The raw-mail packer (the sweep): packs and their indexes put and read below `packs/` (the read
   * checks what was written and serves a replay; List lets a missing pack answer 404, not 403),
   * originals deleted below `raw/` with s3:DeleteObject only. Not DeleteObjectVersion: a deleted
   * original stays a noncurrent version for the raw/ rule's days, recoverable.
   */
  grantRawPacking(user: StoreUser): void {
    this.bucket.grantRead(user.function, `${PACKS_PREFIX}*`);
    this.bucket.grantPut(user.function, `${PACKS_PREFIX}*`);
    user.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeletePackedRawMail',
        actions: ['s3:DeleteObject'],
        resources: [this.bucket.arnForObjects(`${RAW_PREFIX}*`)],
      }),
    );
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'The packer reads and puts packs below packs/ (named by day) and deletes packed originals below raw/ (s3:DeleteObject only) in the mail bucket, with the mail key for the packs.',
      [
        ...READ_FINDINGS,
        ...PUT_FINDINGS,
        arnFinding(this.bucket, `/${PACKS_PREFIX}*`),
        arnFinding(this.bucket, `/${RAW_PREFIX}*`),
      ],
    );
  }

  /**
   * Lets a function read and write the search indexes below `index/` (and use the key for them):
   * the indexer writes them, the webmail reads them.
   */
  grantIndex(user: StoreUser): void {
    this.bucket.grantRead(user.function, `${INDEX_PREFIX}*`);
    this.bucket.grantPut(user.function, `${INDEX_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'The search indexes are one blob per mailbox below index/, named by address: read and put on index/* of the mail bucket only, with the mail key for them.',
      [...READ_FINDINGS, ...PUT_FINDINGS, arnFinding(this.bucket, `/${INDEX_PREFIX}*`)],
    );
  }

  /**
   * Lets the probe function store a drill's probe messages as received mail (`raw/drill-…`, with the
   * mail key), so they are ingested through the drill's held scope: put there, nothing else.
   */
  grantDrillProbes(user: StoreUser): void {
    this.bucket.grantPut(user.function, `${RAW_PREFIX}${DRILL_PROBE_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      "A drill's probe messages are put below raw/drill-, named by the drill's id: put on that prefix of the mail bucket only, with the mail key for them.",
      [...PUT_FINDINGS, arnFinding(this.bucket, `/${RAW_PREFIX}${DRILL_PROBE_PREFIX}*`)],
    );
  }

  /**
   * Lets a function extract attachments below `attachments/` and presign them: read and put there,
   * nothing else (the lifecycle rule deletes them).
   */
  grantAttachments(user: StoreUser): void {
    this.bucket.grantRead(user.function, `${ATTACHMENTS_PREFIX}*`);
    this.bucket.grantPut(user.function, `${ATTACHMENTS_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'Attachments extracted for a download link are named attachments/<message id>/<index>: read and put below attachments/ of the mail bucket only, with the mail key for them.',
      [...READ_FINDINGS, ...PUT_FINDINGS, arnFinding(this.bucket, `/${ATTACHMENTS_PREFIX}*`)],
    );
  }

  /**
   * Lets browsers on the web app's origin PUT to a presigned upload URL (CORS): PUT only, with the
   * headers the URL is signed over. The signature is the authorisation; CORS only lets the page call.
   */
  allowUploadsFrom(origin: string): void {
    this.bucket.addCorsRule({
      allowedMethods: [s3.HttpMethods.PUT],
      allowedOrigins: [origin],
      allowedHeaders: ['content-type', 'if-none-match'],
      exposedHeaders: ['etag'],
      maxAge: UPLOAD_CORS_MAX_AGE_SECONDS,
    });
  }

  /**
   * The webmail's sending blobs: draft bodies read and written (drafts/), uploads read and put (the
   * put for the presigned URLs it signs: S3 checks the signer's own rights), messages as composed
   * put (outgoing/).
   */
  grantWebmailSending(user: StoreUser): void {
    for (const prefix of [DRAFTS_PREFIX, UPLOADS_PREFIX]) {
      this.bucket.grantRead(user.function, `${prefix}*`);
      this.bucket.grantPut(user.function, `${prefix}*`);
    }
    this.bucket.grantPut(user.function, `${OUTGOING_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'The webmail reads and puts draft bodies (drafts/*) and uploads (uploads/*, the put for the presigned URLs it signs) and puts composed messages (outgoing/*) in the mail bucket only, with the mail key for them.',
      [
        ...READ_FINDINGS,
        ...PUT_FINDINGS,
        arnFinding(this.bucket, `/${DRAFTS_PREFIX}*`),
        arnFinding(this.bucket, `/${UPLOADS_PREFIX}*`),
        arnFinding(this.bucket, `/${OUTGOING_PREFIX}*`),
      ],
    );
  }

  /**
   * A draft's body deleted at once when the draft is deleted (the webmail) or sent (the outbound
   * function, once it claims the message), as the local runtime does, instead of staying for the
   * drafts/ lifecycle rule: s3:DeleteObject below drafts/ only. Not DeleteObjectVersion: the
   * noncurrent version a delete leaves in the versioned bucket goes by the same rule a day later.
   */
  grantDeleteDraftBodies(user: StoreUser): void {
    user.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeleteDraftBodies',
        actions: ['s3:DeleteObject'],
        resources: [this.bucket.arnForObjects(`${DRAFTS_PREFIX}*`)],
      }),
    );
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'Draft bodies are deleted with their draft: s3:DeleteObject on drafts/* of the mail bucket only.',
      [arnFinding(this.bucket, `/${DRAFTS_PREFIX}*`)],
    );
  }

  /**
   * The outbound and events functions: messages as composed read (outgoing/), and mail Lifeboat
   * writes taken in as inbound (a colleague's copy, a sent copy, a bounce notice) put under raw/.
   */
  grantOutboundSending(user: StoreUser): void {
    this.bucket.grantRead(user.function, `${OUTGOING_PREFIX}*`);
    this.bucket.grantPut(user.function, `${RAW_PREFIX}*`);
    acknowledgeNag(
      user.role,
      'AwsSolutions-IAM5',
      'The outbound side reads messages as composed (outgoing/*) and puts the mail it takes in for colleagues and senders (raw/*) in the mail bucket only, with the mail key for them.',
      [
        ...READ_FINDINGS,
        ...PUT_FINDINGS,
        arnFinding(this.bucket, `/${OUTGOING_PREFIX}*`),
        arnFinding(this.bucket, `/${RAW_PREFIX}*`),
      ],
    );
  }
}
