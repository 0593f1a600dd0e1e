import { Annotations, Aws, Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { awsProbeTicks, awsProbeWindowMs } from '../../../lambdas/core/probe-cycle.js';
import { probeMemoryMb } from '../function-memory.js';
import { acknowledgeNag, arnFinding } from '../nag.js';
import type { DeliveryNetwork } from './delivery-network.js';
import { claimingTimeoutSeconds, type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';
import { notRunningWindow, scheduleMinutes } from './monitoring.js';

/** The variable naming the admin email topic (lambdas/adapters/context.ts reads it). */
export const ADMIN_EMAIL_TOPIC_ENV = 'ADMIN_EMAIL_TOPIC_ARN';

/** The variable naming the probe function to deliver and sweep (lambdas/adapters/context.ts reads it). */
export const PROBE_FUNCTION_ENV = 'PROBE_FUNCTION_NAME';

/** Lambda's shortest maximum event age for asynchronous invocations (its range is 60 s to 6 hours). */
const MIN_MAX_EVENT_AGE_SECONDS = 60;

/** SQS delays a message at most 15 minutes (DelaySeconds, 0 to 900). */
export const MAX_TICK_DELAY_SECONDS = 900;

/** SQS keeps a message at least a minute (MessageRetentionPeriod, 60 s to 14 days). */
const MIN_TICK_RETENTION_SECONDS = 60;

/** How long a tick's queue is watched for ticks taken, in scheduled runs: one missing is no alarm. */
const TICK_ALARM_RUNS = 5;

/** SNS shows a topic's display name as the sender name of its emails, up to 100 characters. */
const MAX_DISPLAY_NAME_LENGTH = 100;

/** Why the SMS statement names Resource "*": the reason an auditor reads next to the finding. */
export const SMS_PUBLISH_REASON =
  'SMS pages are sns:Publish with a PhoneNumber, not to a topic: that form of Publish has no resource ARN and SNS has no condition key for the destination number, so AWS requires Resource "*". IAM cannot tell it from Publish to another topic, so the statement is held to sns:Publish alone, in the stack’s own region (aws:RequestedRegion, where the SMS spend limit applies), and exists only when the config lists admin or staff phone numbers; topics encrypted with a key the role lacks stay closed to it.';

export interface ContinuityProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Present in `port25` mode: the probe then runs where deliver and sweep run. @default no VPC */
  readonly network?: DeliveryNetwork | undefined;
  /** The routes' SMTP AUTH secrets: the round-trip probe and the hand-over log in to the primary. */
  readonly routeSecrets: readonly secretsmanager.ISecret[];
  /**
   * Functions whose failed attempts ask the probe to check a route at once (deliver and sweep):
   * each may invoke the probe and is told its name. @default none
   */
  readonly checkRequesters?: readonly LifeboatFunction[] | undefined;
}

/**
 * Watching the primary and paging people: the `probe` function on a schedule of
 * `continuity.probes.intervalSeconds` (one round at a time, then the hand-over while recovering), the
 * encrypted topic that emails `continuity.paging.adminEmails`, and SMS to admin and staff phones.
 * Other functions that page (the admin API) get the same rights through {@link Continuity.grantPaging}.
 */
export class Continuity extends Construct {
  readonly probe: LifeboatFunction;
  /** Emails pages to each of `continuity.paging.adminEmails` (each must confirm the subscription). */
  readonly adminEmailTopic: sns.Topic;
  /** Minutes between probe rounds: `continuity.probes.intervalSeconds` rounded up, at least 1. */
  readonly probeMinutes: number;
  /** Whether the config lists any phone number, so the paging functions may send SMS. */
  readonly sendsSms: boolean;
  /**
   * The queues that start the probe's later invocations of each scheduled run, one per tick (at the
   * defaults one, 30 s after the schedule's): empty when one round per run is all `intervalSeconds`
   * asks for.
   */
  readonly tickQueues: sqs.Queue[];

  constructor(scope: Construct, id: string, props: ContinuityProps) {
    super(scope, id);
    const { config, platform, network } = props;
    const { paging, staff, probes } = config.continuity;

    // The mail key: the functions that publish already use it for the table, so no principal gains a
    // key it did not have, and pages (event ids, links, no mail) need no key of their own.
    this.adminEmailTopic = new sns.Topic(this, 'AdminEmail', {
      displayName: `Lifeboat ${config.organisation}`.slice(0, MAX_DISPLAY_NAME_LENGTH),
      masterKey: platform.store.key,
      enforceSSL: true,
    });
    for (const email of paging.adminEmails) {
      this.adminEmailTopic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.sendsSms = paging.adminPhones.length + staff.phones.length > 0;

    this.probeMinutes = scheduleMinutes(probes.intervalSeconds);
    // A round (and the hand-over after it) ends before the next one is due, so rounds do not queue up
    // behind the reserved concurrency of 1; before its claim on a delivery it hands over lapses; and
    // within queue.leaseSeconds, after which its pending continuity actions count as a dead worker's
    // (pendingLeaseMs).
    const timeoutSeconds = Math.min(
      this.probeMinutes * 60,
      config.queue.leaseSeconds,
      claimingTimeoutSeconds(config),
    );
    this.probe = new LifeboatFunction(this, 'Probe', {
      handler: 'probe',
      description: 'Lifeboat: probes the primary, steps the continuity state, pages, and hands mail over',
      platform,
      network,
      timeout: Duration.seconds(timeoutSeconds),
      // The hand-over keeps continuity.handover.concurrency messages in memory at once (measured).
      memorySize: probeMemoryMb(config.continuity.handover.concurrency),
      // Two rounds at once would both count a failure or both page: one at a time, whatever the schedule.
      reservedConcurrentExecutions: 1,
      // The next scheduled round is the retry; an immediate one would count the same outage twice.
      asyncRetryAttempts: 0,
      // A round throttled behind the one still running is stale once the next is due: Lambda drops it
      // then, instead of retrying it for up to 6 hours and running old rounds back to back.
      maxEventAge: Duration.seconds(Math.max(MIN_MAX_EVENT_AGE_SECONDS, this.probeMinutes * 60)),
      // A round's event is only the schedule's tick: nothing to replay. A failed round raises the
      // function's error alarm, a missing one the not-running alarm.
      failureQueue: false,
      environment: { [ADMIN_EMAIL_TOPIC_ENV]: this.adminEmailTopic.topicArn },
    });
    platform.store.grantTable(this.probe);
    platform.store.grantReadRaw(this.probe);
    // A running drill's probe messages are written as received mail and ingested by the probe run.
    platform.store.grantDrillProbes(this.probe);
    for (const secret of props.routeSecrets) secret.grantRead(this.probe.function);
    this.grantPaging(this.probe);
    // A delivery that cannot reach its route asks for the route's check at once (asynchronously; a
    // request throttled behind a running round waits at most the maximum event age above).
    for (const requester of props.checkRequesters ?? []) {
      requester.addEnvironment(PROBE_FUNCTION_ENV, this.probe.function.functionName);
      this.probe.function.grantInvoke(requester.function);
      acknowledgeNag(
        requester.role,
        'AwsSolutions-IAM5',
        'grantInvoke of the probe names its ARN and its versions (ARN:*) only.',
        [`${arnFinding(this.probe.function)}:*`],
      );
    }

    this.tickQueues = probeTickQueues(this, this.probe, config, timeoutSeconds, platform.monitoring);
    new events.Rule(this, 'ProbeSchedule', {
      description: `Lifeboat: run a probe round every ${this.probeMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(this.probeMinutes)),
      targets: [
        new targets.LambdaFunction(this.probe.function, { retryAttempts: 2 }),
        // The run's scheduled time goes with the tick: one the schedule sent late (its retries) is
        // dropped by the probe instead of running late, towards the next tick.
        ...this.tickQueues.map(
          (queue, i) =>
            new targets.SqsQueue(queue, {
              message: events.RuleTargetInput.fromObject({ tick: i + 1, time: events.EventField.time }),
              retryAttempts: 2,
              maxEventAge: Duration.seconds(MIN_MAX_EVENT_AGE_SECONDS),
            }),
        ),
      ],
    });
    platform.monitoring.watchSchedule(
      'Probe',
      this.probe.function,
      notRunningWindow(this.probeMinutes),
      'the primary is not being checked, so nobody would be paged about an outage and no hand-over runs',
    );
    platform.monitoring.addDashboardRow(
      new cloudwatch.GraphWidget({
        title: 'Pages by email',
        left: [
          this.adminEmailTopic.metricNumberOfMessagesPublished({ period: Duration.minutes(5) }),
          this.adminEmailTopic.metricNumberOfNotificationsDelivered({ period: Duration.minutes(5) }),
          this.adminEmailTopic.metricNumberOfNotificationsFailed({ period: Duration.minutes(5) }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'SMS spent this month (USD)',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/SNS',
            metricName: 'SMSMonthToDateSpentUSD',
            statistic: 'Maximum',
            period: Duration.hours(1),
          }),
        ],
        width: 12,
      }),
    );

    warnIfUnreachable(this, 'continuity.paging.consoleUrl', paging.consoleUrl, 'pages link admins to it');
    warnIfUnreachable(this, 'continuity.staff.webmailUrl', staff.webmailUrl, 'staff are texted this link');
  }

  /**
   * Lets a function page: publish to the admin email topic (and use its key), and, when the config lists
   * phone numbers, send SMS; sets nothing else. The function must have {@link ADMIN_EMAIL_TOPIC_ENV}.
   */
  grantPaging(fn: LifeboatFunction): void {
    this.adminEmailTopic.grantPublish(fn.function);
    if (!this.sendsSms) return;
    const policy = new iam.Policy(fn, 'SmsPaging', {
      statements: [
        new iam.PolicyStatement({
          sid: 'SendSmsPagesToPhoneNumbers',
          actions: ['sns:Publish'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:RequestedRegion': Aws.REGION } },
        }),
      ],
    });
    policy.attachToRole(fn.role);
    acknowledgeNag(policy, 'AwsSolutions-IAM5', SMS_PUBLISH_REASON, ['Resource::*']);
  }
}

/**
 * The rounds of a scheduled run after its first (awsProbeTicks: at the defaults one, 30 s in): for
 * each, an SQS queue whose delivery delay is the tick's offset, to which the schedule sends
 * `{ tick: n, time }` with the probe's own invocation, and from which an event source mapping hands
 * the probe the message when the delay is over. EventBridge and its Scheduler start targets only to
 * the minute; the queue's delay is exact to the second and costs only its requests (a send, the
 * pollers' long polls, a delete), where the probe waiting in Lambda billed the wait at its 448 MB and
 * a Step Functions Express wait at 64 MB.
 *
 * A tick runs near its time or not at all: a message that meets a run still going is retried by the
 * event source mapping while it is hidden (Lambda throttles it: reserved concurrency 1), and the
 * probe drops it once its round could not end before the next tick is due (awsProbeTickWindowMs).
 * The queue keeps a message only until the next tick is due, at least SQS's minute, and hides one
 * handed over for longer than that, so nothing is handed over twice: a refused message (the
 * function's error alarm) expires instead of coming back. A tick's queue that hands over no tick in
 * {@link TICK_ALARM_RUNS} runs (the schedule could not send, the mapping could not receive or invoke)
 * raises the RoundTicksMissed alarm.
 *
 * A tick further in than SQS's 15-minute delay is not started (a warning at synth): such a run
 * checks once, at its start.
 */
function probeTickQueues(
  scope: Construct,
  probe: LifeboatFunction,
  config: LifeboatConfig,
  timeoutSeconds: number,
  monitoring: FunctionPlatform['monitoring'],
): sqs.Queue[] {
  const ticks = awsProbeTicks(config);
  const runMinutes = scheduleMinutes(config.continuity.probes.intervalSeconds);
  const queues: sqs.Queue[] = [];
  for (let n = 1; n < ticks.length; n++) {
    const offset = ticks[n] as number;
    if (offset > MAX_TICK_DELAY_SECONDS) {
      Annotations.of(scope).addWarningV2(
        'lifeboat:continuity.probes.intervalSeconds',
        `continuity.probes.intervalSeconds is ${config.continuity.probes.intervalSeconds}: the round ${offset} s into each ${runMinutes}-minute run is not started (SQS delays a message at most ${MAX_TICK_DELAY_SECONDS} s), so the primary is checked once a run. Choose a whole number of minutes, or an interval that fits ${MAX_TICK_DELAY_SECONDS} s.`,
      );
      continue;
    }
    // Kept until the next tick is due: a message older than that has no round left to run.
    const retentionSeconds = Math.max(
      MIN_TICK_RETENTION_SECONDS,
      Math.ceil(offset + awsProbeWindowMs(config, n) / 1000),
    );
    const queue = new sqs.Queue(scope, `RoundTick${n}`, {
      // A tick number and a time: SQS's own keys, which the schedule may use without a key policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deliveryDelay: Duration.seconds(offset),
      retentionPeriod: Duration.seconds(retentionSeconds),
      // At least the function's timeout (Lambda requires it), and longer than a message is kept.
      visibilityTimeout: Duration.seconds(Math.max(timeoutSeconds, retentionSeconds)),
    });
    // One tick an invocation, handed over as soon as its delay ends. No maximum concurrency: at most
    // one message is ever visible on a tick's queue, reserved concurrency 1 already holds the probe
    // to one run, and the setting would keep five pollers polling where Lambda can otherwise scale an
    // idle mapping down to two.
    probe.function.addEventSource(
      new SqsEventSource(queue, { batchSize: 1, maxBatchingWindow: Duration.seconds(0) }),
    );
    acknowledgeNag(
      queue,
      'AwsSolutions-SQS3',
      'A tick is worth running only near its time: a failed or stale tick is not kept or retried (the queue keeps a message no longer than until the next tick is due). A refused tick raises the probe’s error alarm, a queue that hands over no tick the RoundTicksMissed alarm.',
    );
    monitoring.addAlarm(
      n === 1 ? 'RoundTicksMissedAlarm' : `RoundTicks${n}MissedAlarm`,
      `The probe took no tick from the queue that starts its round ${offset} s into each run for ${TICK_ALARM_RUNS} runs: until it does again, the primary is checked less often and an outage pages later than a minute.`,
      queue.metricNumberOfMessagesDeleted({
        period: Duration.minutes(TICK_ALARM_RUNS * runMinutes),
        statistic: 'Sum',
      }),
      1,
      {
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      },
    );
    queues.push(queue);
  }
  return queues;
}

/**
 * Warns at synth when a link people are sent still points at the local runtime's default (loopback or
 * plain http): the deploy works, but the link does not.
 */
function warnIfUnreachable(scope: Construct, setting: string, value: string, why: string): void {
  // The stack's own web app address (the default in AWS), known at deploy: reachable by design.
  if (Token.isUnresolved(value)) return;
  const url = new URL(value);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (loopback || url.protocol !== 'https:') {
    Annotations.of(scope).addWarningV2(
      `lifeboat:${setting}`,
      `${setting} is ${value}, which people outside this machine cannot open (${why}); set it to the https address of the deployed page.`,
    );
  }
}
