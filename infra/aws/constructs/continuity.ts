import { Annotations, Aws, Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { awsProbeTicks, awsScheduleMs } from '../../../lambdas/core/probe-cycle.js';
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
   * Starts the probe's later invocations of each scheduled run (at the defaults, 30 s after the
   * schedule's): absent when one round per run is all `intervalSeconds` asks for.
   */
  readonly probeTicks: sfn.StateMachine | undefined;

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

    this.probeTicks = probeTickMachine(this, this.probe, config, platform.monitoring);
    new events.Rule(this, 'ProbeSchedule', {
      description: `Lifeboat: run a probe round every ${this.probeMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(this.probeMinutes)),
      targets: [
        new targets.LambdaFunction(this.probe.function, { retryAttempts: 2 }),
        ...(this.probeTicks ? [new targets.SfnStateMachine(this.probeTicks, { retryAttempts: 2 })] : []),
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
 * The rounds of a scheduled run after its first (awsProbeTicks: at the defaults one, 30 s in): an
 * Express state machine the schedule starts with the probe, which waits and then invokes the probe
 * asynchronously with `{ tick: n }`. EventBridge and its Scheduler start targets only to the minute;
 * a Step Functions Wait state is exact to the second, and an Express workflow bills its 30 s at 64 MB
 * ($0.00001667 per GB-second) where the probe waiting in Lambda billed them at its 448 MB. The
 * asynchronous invoke leaves throttling to Lambda's event queue, which retries a tick that meets a
 * run still going (a hand-over) within seconds and drops it after the probe's maximum event age.
 */
function probeTickMachine(
  scope: Construct,
  probe: LifeboatFunction,
  config: LifeboatConfig,
  monitoring: FunctionPlatform['monitoring'],
): sfn.StateMachine | undefined {
  const ticks = awsProbeTicks(config);
  if (ticks.length < 2) return undefined;
  let chain: sfn.Chain | undefined;
  for (let n = 1; n < ticks.length; n++) {
    const wait = new sfn.Wait(scope, `WaitForTick${n}`, {
      time: sfn.WaitTime.duration(Duration.seconds((ticks[n] as number) - (ticks[n - 1] as number))),
    });
    const invoke = new tasks.LambdaInvoke(scope, `StartTick${n}`, {
      lambdaFunction: probe.function,
      invocationType: tasks.LambdaInvocationType.EVENT,
      payload: sfn.TaskInput.fromObject({ tick: n }),
      retryOnServiceExceptions: false,
    });
    // A tick is worth starting only near its time: two quick retries, not CDK's six over two minutes.
    invoke.addRetry({
      errors: [
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
      ],
      interval: Duration.seconds(1),
      maxAttempts: 2,
      backoffRate: 2,
    });
    chain = chain ? chain.next(wait).next(invoke) : sfn.Chain.start(wait).next(invoke);
  }
  const machine = new sfn.StateMachine(scope, 'RoundTicks', {
    stateMachineType: sfn.StateMachineType.EXPRESS,
    comment: `Lifeboat: start the probe ${ticks.slice(1).join(' s, ')} s into each scheduled run`,
    definitionBody: sfn.DefinitionBody.fromChainable(chain as sfn.Chain),
    timeout: Duration.millis(awsScheduleMs(config)),
  });
  monitoring.addAlarm(
    'RoundTicksFailedAlarm',
    'The state machine that starts the probe’s later rounds of each minute failed: until it runs again, the primary is checked once a minute and an outage pages later than a minute.',
    machine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
    1,
  );
  acknowledgeNag(
    machine,
    'AwsSolutions-SF1',
    'Every execution is the same wait and invoke, a tick number its only data: logging would write events a minute that say nothing and need CloudWatch Logs delivery rights on Resource "*". A failed execution raises the RoundTicksFailed alarm.',
  );
  acknowledgeNag(
    machine,
    'AwsSolutions-SF2',
    'A wait and an asynchronous invoke: nothing to trace that the probe’s own metrics and logs do not show.',
  );
  acknowledgeNag(
    machine.role,
    'AwsSolutions-IAM5',
    'CDK’s LambdaInvoke grants lambda:InvokeFunction on the probe function and its versions (<arn>:*); the state machine invokes only that function.',
    [arnFinding(probe.function, ':*')],
  );
  return machine;
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
