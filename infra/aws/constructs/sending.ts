import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SES_SENDING_DETAIL_TYPES } from '../../../lambdas/adapters/ses-sending-events.js';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { OUTBOUND_LEASE_SECONDS } from '../../../lambdas/core/sending/outbound.js';
import { INGEST_MEMORY_MB } from '../function-memory.js';
import { acknowledgeNag, arnFinding } from '../nag.js';
import { type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';

/**
 * One run of the outbound worker: up to OUTBOUND_ROUNDS batches of messages of up to 40 MB, each
 * read from S3 and handed to SES; a run with more to do queues a wake-up for the next.
 */
export const OUTBOUND_TIMEOUT = Duration.minutes(5);
/**
 * A batch handed out stays invisible longer than a claim the run makes can last (the claim starts
 * after the batch is received, and the run ends within its timeout): a run that died is retried
 * once its claims have run out, so the retry sends the messages the dead run held.
 */
export const OUTBOUND_VISIBILITY_TIMEOUT = Duration.seconds(
  OUTBOUND_LEASE_SECONDS + OUTBOUND_TIMEOUT.toSeconds(),
);
/** Tries of one wake-up before the dead-letter queue: a throttle or a brief outage passes by then. */
export const OUTBOUND_MAX_RECEIVES = 5;
/** Wake-ups handed to one run: each names only a time, so ten cost one run of the worker. */
const OUTBOUND_BATCH_SIZE = 10;
const DEAD_LETTER_RETENTION = Duration.days(14);
/** SES events are small and few; a bounce notice is one DSN taken in. */
const EVENTS_TIMEOUT = Duration.seconds(60);

/** The name of the configuration set mail from the webmail is sent in. */
export function sendingConfigurationSetName(config: LifeboatConfig, stackName: string): string {
  return config.aws.sendingConfigurationSet ?? `${stackName}-webmail`.slice(0, 64);
}

export interface SendingProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Asked for the first attempt of mail taken in for colleagues and of bounce notices. */
  readonly deliver: lambda.IFunction;
  /** Colleagues' copies and notices are indexed like inbound mail. */
  readonly indexQueue: sqs.IQueue;
}

/**
 * Sending from the webmail in AWS:
 * - the outbound queue (SQS standard, under the mail key): a send puts a wake-up on it delayed to
 *   the end of the undo window; the outbound function then sends what is due through SES v2 in the
 *   configuration set, takes colleagues' copies in as inbound mail, and queues a retry's wake-up;
 *   wake-ups that fail five times wait in a dead-letter queue, alarmed;
 * - the configuration set, whose bounce, complaint and delivery events go to the default event bus
 *   (the only bus SES publishes to), where a rule hands this set's to the events function: each
 *   recorded in the sender's Sent view, a bounce a notice in their mailbox.
 * The webmail function gets its grants from {@link grantWebmail}.
 */
export class Sending extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: sqs.Queue;
  readonly outbound: LifeboatFunction;
  readonly events: LifeboatFunction;
  readonly configurationSet: ses.ConfigurationSet;
  readonly configurationSetName: string;
  readonly eventRule: events.Rule;

  constructor(scope: Construct, id: string, props: SendingProps) {
    super(scope, id);
    const { platform, config, deliver, indexQueue } = props;
    const { store, monitoring } = platform;
    const stack = Stack.of(this);

    // Wake-ups carry only a time, but the queue is under the mail key like every other queue here.
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
      visibilityTimeout: OUTBOUND_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: OUTBOUND_MAX_RECEIVES },
    });

    this.configurationSetName = sendingConfigurationSetName(config, stack.stackName);
    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName: this.configurationSetName,
      // Bounce and complaint rates per set, the figures SES reviews an account on.
      reputationMetrics: true,
      sendingEnabled: true,
    });
    this.configurationSet.addEventDestination('Events', {
      destination: ses.EventDestination.eventBus(
        events.EventBus.fromEventBusName(this, 'DefaultBus', 'default'),
      ),
      events: [ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT, ses.EmailSendingEvent.DELIVERY],
    });

    const environment = {
      OUTBOUND_QUEUE_URL: this.queue.queueUrl,
      SENDING_CONFIGURATION_SET: this.configurationSetName,
      INDEX_QUEUE_URL: indexQueue.queueUrl,
      DELIVER_FUNCTION_NAME: deliver.functionName,
    };
    this.outbound = new LifeboatFunction(this, 'Outbound', {
      handler: 'outbound',
      description:
        'Lifeboat: sends mail from the webmail once its undo window is over (SES, colleagues as inbound)',
      platform,
      timeout: OUTBOUND_TIMEOUT,
      memorySize: INGEST_MEMORY_MB,
      environment,
      // An SQS event source retries through the queue, not Lambda's async retries.
      failureQueue: false,
    });
    this.outbound.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: OUTBOUND_BATCH_SIZE,
        maxBatchingWindow: Duration.seconds(0),
      }),
    );
    // It puts a wake-up back (early, or a retry's): send on its own queue, besides consuming it.
    this.queue.grantSendMessages(this.outbound.function);
    // A message claimed for sending deletes the draft it was sent from, with its body.
    store.grantDeleteDraftBodies(this.outbound);

    this.events = new LifeboatFunction(this, 'Events', {
      handler: 'ses-events',
      description:
        'Lifeboat: records SES bounce, complaint and delivery events of mail sent from the webmail',
      platform,
      timeout: EVENTS_TIMEOUT,
      memorySize: INGEST_MEMORY_MB,
      environment,
    });
    this.eventRule = new events.Rule(this, 'EventRule', {
      description: `Lifeboat: SES events of the configuration set ${this.configurationSetName}`,
      eventPattern: {
        source: ['aws.ses'],
        detailType: [...SES_SENDING_DETAIL_TYPES],
        detail: { mail: { tags: { 'ses:configuration-set': [this.configurationSetName] } } },
      },
      targets: [new targets.LambdaFunction(this.events.function, { retryAttempts: 4 })],
    });

    for (const fn of [this.outbound, this.events]) {
      store.grantTable(fn);
      store.grantReadRaw(fn);
      store.grantOutboundSending(fn);
      deliver.grantInvoke(fn.function);
      indexQueue.grantSendMessages(fn.function);
      acknowledgeNag(
        fn.role,
        'AwsSolutions-IAM5',
        'grantInvoke of deliver names its ARN and its versions (ARN:*) only.',
        [`${arnFinding(deliver)}:*`],
      );
    }

    // SES v2 SendEmail checks the From domain's identity and the configuration set it names.
    this.outbound.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendFromTheDomainsInTheConfigurationSet',
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [
          ...config.domains.map((domain) =>
            stack.formatArn({
              service: 'ses',
              resource: 'identity',
              resourceName: domain,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          ),
          stack.formatArn({
            service: 'ses',
            resource: 'configuration-set',
            resourceName: this.configurationSetName,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ],
      }),
    );

    monitoring.addAlarm(
      'OutboundDeadLettersAlarm',
      'Wake-ups of the outbound worker failed five times and wait in the dead-letter queue: see the Outbound log; mail from the webmail may be waiting. Redrive them once the cause is fixed.',
      this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      1,
    );
  }

  /** The webmail function: its wake-ups go on the outbound queue; its blobs are the store's to grant. */
  grantWebmail(fn: LifeboatFunction): void {
    this.queue.grantSendMessages(fn.function);
  }
}
