import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INGEST_MEMORY_MB } from '../function-memory.js';
import { type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';
import type { Sending } from './sending.js';
import type { StaffAuth } from './staff-auth.js';

/** Where the staff webmail API lives on the HTTP API; every route needs a staff token. */
export const WEBMAIL_PATH = '/mail/api/{proxy+}';

/** The methods the webmail handler serves (not ANY: the CORS preflight stays API Gateway's). */
export const WEBMAIL_METHODS = [apigw.HttpMethod.GET, apigw.HttpMethod.POST] as const;

/**
 * The indexer drains the queue once a minute (every NORMAL_INDEX_INTERVAL_MINUTES in normal times)
 * and stops taking rounds 90 s before this timeout; the requests it holds stay invisible twice that
 * long, so a run still working is never handed the same requests by the next.
 */
export const INDEXER_TIMEOUT = Duration.minutes(5);
export const INDEX_VISIBILITY_TIMEOUT = Duration.minutes(10);

/** Minutes between the schedule's runs: each run drains when the organisation's state asks it to. */
export const INDEXER_SCHEDULE_MINUTES = 1;

/** Tries before a request goes to the dead-letter queue: a throttle or a brief S3 error passes by then. */
export const INDEX_MAX_RECEIVES = 5;

/**
 * Requests wait this long at most (a mailbox index can always be rebuilt from the raw mail): in
 * normal times up to NORMAL_INDEX_INTERVAL_MINUTES (half a day) by design, so a week leaves days to
 * mend an indexer that fails. Shorter than the dead-letter queue's 14 days (SQS's most), as a
 * request moved there keeps its first enqueue time and would otherwise expire on arrival.
 */
export const INDEX_RETENTION = Duration.days(7);
const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * The indexer's memory buys CPU: at 1,769 MB a Lambda function has one vCPU, four times what
 * ingest's measured 448 MB gives, so a catch-up of DRAIN_BACKLOG requests takes about two minutes
 * instead of eight. Parsing is CPU-bound, so an indexed message costs about the same GB-seconds
 * either way; the room also holds several of the largest messages parsed at once.
 */
export const INDEXER_MEMORY_MB = 1_769;

/** The webmail reads a page of records, a message, or a mailbox index: the API's 29 s and 512 MB… */
const WEBMAIL_TIMEOUT = Duration.seconds(29);
/** …except that reading one message parses it whole, up to SES's 40 MB: the ingest's measured peak. */
const WEBMAIL_MEMORY_MB = INGEST_MEMORY_MB;

export interface SearchIndexerProps {
  readonly platform: FunctionPlatform;
}

/**
 * The search indexer: an SQS standard queue fed by ingest (one request per new recipient), drained
 * by a scheduled function with a reserved concurrency of one, the one writer of every mailbox's
 * index, which writes each mailbox once per drain for all its new mail; a dead-letter queue with an
 * alarm.
 */
export class SearchIndexer extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: sqs.Queue;
  readonly indexer: LifeboatFunction;

  constructor(scope: Construct, id: string, props: SearchIndexerProps) {
    super(scope, id);
    const { platform } = props;
    const { store, monitoring } = platform;

    // Requests name a message and an address: personal data, so encrypted with the mail key.
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: store.key,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: store.key,
      enforceSSL: true,
      visibilityTimeout: INDEX_VISIBILITY_TIMEOUT,
      retentionPeriod: INDEX_RETENTION,
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: INDEX_MAX_RECEIVES },
    });

    this.indexer = new LifeboatFunction(this, 'Indexer', {
      handler: 'indexer',
      description: 'Lifeboat: indexes new mail into each mailbox’s search index (the one writer)',
      platform,
      timeout: INDEXER_TIMEOUT,
      memorySize: INDEXER_MEMORY_MB,
      // One run at a time: the single writer of every mailbox's index.
      reservedConcurrentExecutions: 1,
      environment: { INDEX_QUEUE_URL: this.queue.queueUrl },
      // A run that did not start is replaced by the next minute's, which drains the same queue.
      asyncRetryAttempts: 0,
      maxEventAge: Duration.minutes(INDEXER_SCHEDULE_MINUTES),
      failureQueue: false,
    });
    store.grantTable(this.indexer);
    store.grantReadRaw(this.indexer);
    store.grantIndex(this.indexer);
    this.queue.grantConsumeMessages(this.indexer.function);
    new events.Rule(this, 'Schedule', {
      description: `Lifeboat: run the search indexer every ${INDEXER_SCHEDULE_MINUTES} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(INDEXER_SCHEDULE_MINUTES)),
      targets: [new targets.LambdaFunction(this.indexer.function, { retryAttempts: 0 })],
    });

    monitoring.addAlarm(
      'IndexDeadLettersAlarm',
      'Search index requests failed five times and wait in the dead-letter queue: see the Indexer log; the mailbox index can be rebuilt.',
      this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      1,
    );
  }
}

export interface WebmailProps {
  readonly platform: FunctionPlatform;
  readonly httpApi: apigw.HttpApi;
  readonly staffAuth: StaffAuth;
  /** Sending from the webmail (drafts, uploads, send); without it those endpoints answer 404. */
  readonly sending?: Sending | undefined;
}

/**
 * The staff webmail API on the HTTP API: `/mail/api/…` behind a JWT authorizer that accepts only
 * the staff user pool's tokens issued to the web app. Its function is the only one on the API that
 * reads raw mail (with the mail key), reads the search indexes, and extracts and presigns attachments.
 */
export class Webmail extends Construct {
  readonly webmail: LifeboatFunction;
  readonly authorizer: authorizers.HttpUserPoolAuthorizer;

  constructor(scope: Construct, id: string, props: WebmailProps) {
    super(scope, id);
    const { platform, httpApi, staffAuth } = props;
    const { store } = platform;

    this.webmail = new LifeboatFunction(this, 'Webmail', {
      handler: 'webmail-lambda',
      description: 'Lifeboat: the staff webmail API (list, read, search, download links, drafts and send)',
      platform,
      timeout: WEBMAIL_TIMEOUT,
      memorySize: WEBMAIL_MEMORY_MB,
      failureQueue: false,
      environment: props.sending ? { OUTBOUND_QUEUE_URL: props.sending.queue.queueUrl } : undefined,
    });
    store.grantTable(this.webmail);
    store.grantReadRaw(this.webmail);
    store.grantIndex(this.webmail);
    store.grantAttachments(this.webmail);
    if (props.sending) {
      store.grantWebmailSending(this.webmail);
      store.grantDeleteDraftBodies(this.webmail);
      props.sending.grantWebmail(this.webmail);
    }

    // The pool's issuer and the web app's client ids as the audience: API Gateway checks signature,
    // issuer, audience and expiry before the function runs.
    this.authorizer = new authorizers.HttpUserPoolAuthorizer('StaffUserPool', staffAuth.userPool, {
      userPoolClients: [
        staffAuth.webClient,
        ...(staffAuth.federatedClient ? [staffAuth.federatedClient] : []),
      ],
    });
    httpApi.addRoutes({
      path: WEBMAIL_PATH,
      methods: [...WEBMAIL_METHODS],
      integration: new integrations.HttpLambdaIntegration('Webmail', this.webmail.function, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer: this.authorizer,
    });
  }
}
