import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeNag } from '../nag.js';

/** Namespace of the custom metrics the sweeper publishes through Embedded Metric Format. */
export const METRIC_NAMESPACE = 'Lifeboat';

/** Custom metrics (no dimensions): the sweeper's on every run, and a count of each page the notifier refused. */
export const METRICS = {
  oldestDeferredAgeSeconds: 'OldestDeferredAgeSeconds',
  failedDeliveries: 'FailedDeliveries',
  deferredDeliveries: 'DeferredDeliveries',
  failedNotifications: 'FailedNotifications',
} as const;

/** EventBridge schedules have a one-minute resolution. */
const MIN_SCHEDULE_MINUTES = 1;

/** A scheduled function silent for this many of its intervals (and at least 15 minutes) raises an alarm. */
const MISSED_RUNS_BEFORE_ALARM = 3;
const MIN_NOT_RUNNING_WINDOW = Duration.minutes(15);

/** Whole minutes between runs of a schedule asked for in seconds: rounded up, at least one minute. */
export function scheduleMinutes(intervalSeconds: number): number {
  return Math.max(MIN_SCHEDULE_MINUTES, Math.ceil(intervalSeconds / 60));
}

/** How long a function on an `every`-minute schedule may stay silent before its not-running alarm. */
export function notRunningWindow(every: number): Duration {
  return Duration.minutes(Math.max(MIN_NOT_RUNNING_WINDOW.toMinutes(), every * MISSED_RUNS_BEFORE_ALARM));
}

/** Alarm and dashboard resolution: fine enough to page within minutes, coarse enough to stay cheap. */
const ALARM_PERIOD = Duration.minutes(5);

/** The longest SQS keeps a message: a failed invocation stays there for an admin to inspect or redrive. */
const FAILED_INVOCATION_RETENTION = Duration.days(14);

export interface MonitoringProps {
  /** Addresses subscribed to the alarm topic by email. @default none */
  readonly alarmEmails?: readonly string[];
  /** Alarm when the oldest deferred delivery is older than this. @default Duration.minutes(60) */
  readonly oldestDeferredThreshold?: Duration;
  /** Encrypts the failed-invocation queue (it holds SES event headers). */
  readonly key: kms.IKey;
}

/**
 * Where trouble becomes visible: the queue every failed asynchronous invocation lands in, the alarms
 * (errors per function, queue depth, deferred and failed deliveries) and the topic they notify, and one
 * dashboard. Functions register themselves through {@link Monitoring.watchFunction}.
 */
export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly failedInvocations: sqs.Queue;
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm is named `<stackName>-<id>`, so the alarm key's policy can name this stack's alarms. */
  readonly alarmNamePrefix: string;
  private readonly alarmAction: actions.SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);

    // CloudWatch alarms can publish to an encrypted topic only if the key lets cloudwatch.amazonaws.com
    // use it, so alarms get their own key instead of widening the key that protects mail.
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Lifeboat: encrypts alarm notifications',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Only for this stack's alarms in this account (the key policy of the SNS Developer Guide's "Enable
    // compatibility between event sources from AWS services and encrypted topics", with the
    // confused-deputy conditions CloudWatch sends: aws:SourceAccount and the alarm's ARN).
    this.alarmNamePrefix = `${Stack.of(this).stackName}-`;
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // A key policy's own key is its only resource.
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${this.alarmNamePrefix}*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'Alarms', {
      displayName: 'Lifeboat alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });
    for (const email of props.alarmEmails ?? []) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.alarmAction = new actions.SnsAction(this.alarmTopic);

    this.failedInvocations = new sqs.Queue(this, 'FailedInvocations', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: FAILED_INVOCATION_RETENTION,
    });
    acknowledgeNag(
      this.failedInvocations,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of every asynchronous invocation; a queue behind it would only move the problem.',
    );

    this.alarm(
      'FailedInvocationsAlarm',
      'An asynchronous invocation failed after its retries: see the FailedInvocations queue.',
      this.failedInvocations.metricApproximateNumberOfMessagesVisible({
        period: ALARM_PERIOD,
        statistic: 'Maximum',
      }),
      1,
    );

    const oldestDeferred = this.customMetric(METRICS.oldestDeferredAgeSeconds, 'Maximum');
    const failed = this.customMetric(METRICS.failedDeliveries, 'Sum');
    const deferred = this.customMetric(METRICS.deferredDeliveries, 'Maximum');
    const threshold = props.oldestDeferredThreshold ?? Duration.minutes(60);
    this.alarm(
      'OldestDeferredAlarm',
      `A delivery has been deferred for more than ${threshold.toHumanString()}: the primary may be refusing or unreachable.`,
      oldestDeferred,
      threshold.toSeconds(),
      cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
    this.alarm(
      'FailedDeliveriesAlarm',
      'A delivery failed permanently (5xx or expired): an admin must retry, reroute or bounce it.',
      failed,
      1,
    );

    // A page SNS refused (SMS sandbox, spend limit, AccessDenied) is otherwise only a log line: this
    // alarm emails the alarm addresses, a path that does not depend on the SMS that failed.
    this.alarm(
      'FailedNotificationsAlarm',
      'A page or text to admins or staff was refused by SNS (SMS sandbox, spend limit, AccessDenied): see `lifeboat status` or GET /admin/status, and the outbox for the error.',
      this.customMetric(METRICS.failedNotifications, 'Sum'),
      1,
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-mail-path`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue',
        left: [deferred, failed],
        right: [oldestDeferred],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failed invocations',
        left: [this.failedInvocations.metricApproximateNumberOfMessagesVisible({ period: ALARM_PERIOD })],
        width: 12,
      }),
    );
  }

  /** Adds the function's error alarm and its dashboard row. Called by every {@link LifeboatFunction}. */
  watchFunction(id: string, fn: lambda.IFunction): void {
    this.alarm(
      `${id}ErrorsAlarm`,
      `The ${id} function reported errors.`,
      fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' }),
      1,
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${id}: invocations and errors`,
        left: [fn.metricInvocations({ period: ALARM_PERIOD }), fn.metricErrors({ period: ALARM_PERIOD })],
        right: [fn.metricThrottles({ period: ALARM_PERIOD })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: `${id}: duration`,
        left: [fn.metricDuration({ period: ALARM_PERIOD, statistic: 'p99' })],
        width: 12,
      }),
    );
  }

  /**
   * Alarms when a scheduled function has not run for `window`: a disabled or broken schedule is
   * otherwise silent, because a function that never runs never errs. `consequence` tells the reader
   * what is not happening meanwhile.
   */
  watchSchedule(id: string, fn: lambda.IFunction, window: Duration, consequence: string): void {
    this.alarm(
      `${id}NotRunningAlarm`,
      `The ${id} function has not run for ${window.toHumanString()}: ${consequence}.`,
      fn.metricInvocations({ period: window, statistic: 'Sum' }),
      1,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      cloudwatch.TreatMissingData.BREACHING,
    );
  }

  /**
   * Alarms (to the alarm topic, on alarm and on recovery) when `metric` reaches `threshold`, or as
   * `options` compare it (a flow that stopped: below the threshold, no data breaching).
   */
  addAlarm(
    id: string,
    description: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    options: {
      comparisonOperator?: cloudwatch.ComparisonOperator;
      treatMissingData?: cloudwatch.TreatMissingData;
    } = {},
  ): cloudwatch.Alarm {
    return this.alarm(
      id,
      description,
      metric,
      threshold,
      options.comparisonOperator,
      options.treatMissingData,
    );
  }

  /** Adds a row of widgets to the dashboard (the widths of one row add up to 24). */
  addDashboardRow(...widgets: cloudwatch.IWidget[]): void {
    this.dashboard.addWidgets(...widgets);
  }

  private customMetric(metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      statistic,
      period: ALARM_PERIOD,
    });
  }

  private alarm(
    id: string,
    description: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    comparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    // No data means nothing happened: no errors, no deferred mail, an empty queue.
    treatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${this.alarmNamePrefix}${id}`,
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator,
      treatMissingData,
    });
    alarm.addAlarmAction(this.alarmAction);
    alarm.addOkAction(this.alarmAction);
    return alarm;
  }
}
