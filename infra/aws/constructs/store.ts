import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INDEXES, type IndexLayout, RAW_PREFIX, TABLE_KEYS } from '../../../lambdas/storage-layout.js';
import { acknowledgeNag } from '../nag.js';

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

/** An upload SES abandoned half-way is cleaned up after this; nothing completes it later. */
const ABORT_INCOMPLETE_UPLOAD_DAYS = 7;

export interface StoreProps {
  /** Days raw mail is kept before S3 expires it (config `retentionDays`). */
  readonly retentionDays: number;
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
      lifecycleRules: [
        {
          id: 'expire-raw-mail',
          prefix: RAW_PREFIX,
          expiration: Duration.days(props.retentionDays),
          noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_DAYS),
        },
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
    // Every index projects all attributes: each query returns whole records, never a second read.
    const indexes: readonly IndexLayout[] = [INDEXES.byState, INDEXES.byMailbox, INDEXES.byAge];
    for (const index of indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.pk, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sk, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
  }
}
