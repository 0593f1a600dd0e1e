import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE } from '../../lambdas/adapters/emf-metrics.js';
import { FAILED_NOTIFICATIONS_METRIC } from '../../lambdas/core/notification-failures.js';
import { logicalId, type Synthesized, synth } from './stack.js';

describe('Monitoring', () => {
  let s: Synthesized;
  let topicId: string;
  let alarms: ReturnType<Template['findResources']>;
  beforeAll(() => {
    s = synth({
      aws: { oldestDeferredAlarmMinutes: 45, alarmEmails: ['ops@example.com', 'oncall@example.com'] },
    });
    topicId = logicalId(s.template, 'AWS::SNS::Topic', 'MonitoringAlarms');
    alarms = s.template.findResources('AWS::CloudWatch::Alarm');
  });

  const alarm = (prefix: string) => {
    const match = Object.entries(alarms).filter(([id]) => id.startsWith(prefix));
    expect(match, prefix).toHaveLength(1);
    return match[0]![1].Properties;
  };

  it('alarms on errors of each function', () => {
    for (const [prefix, fnPrefix] of [
      ['InboundIngestIngestErrorsAlarm', 'InboundIngestFunction'],
      ['MonitoringDeliverErrorsAlarm', 'DeliveryDeliverFunction'],
      ['MonitoringSweepErrorsAlarm', 'DeliverySweepFunction'],
      ['MonitoringProbeErrorsAlarm', 'ContinuityProbeFunction'],
      ['MonitoringApiErrorsAlarm', 'AdminApiFunction'],
    ]) {
      const fnId = logicalId(s.template, 'AWS::Lambda::Function', fnPrefix!);
      const props = Object.values(alarms).find(
        (a) => a.Properties.MetricName === 'Errors' && a.Properties.Dimensions?.[0]?.Value?.Ref === fnId,
      )?.Properties;
      expect(props, prefix).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 1, Statistic: 'Sum' });
    }
  });

  it('alarms as soon as one failed invocation sits in the failure queue', () => {
    expect(alarm('MonitoringFailedInvocationsAlarm')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms when the oldest deferred delivery is older than aws.oldestDeferredAlarmMinutes', () => {
    expect(alarm('MonitoringOldestDeferredAlarm')).toMatchObject({
      Namespace: 'Lifeboat',
      MetricName: 'OldestDeferredAgeSeconds',
      Statistic: 'Maximum',
      Threshold: 45 * 60,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm('MonitoringOldestDeferredAlarm').Dimensions).toBeUndefined();
  });

  it('alarms on any permanently failed delivery', () => {
    expect(alarm('MonitoringFailedDeliveriesAlarm')).toMatchObject({
      Namespace: 'Lifeboat',
      MetricName: 'FailedDeliveries',
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('alarms on any page the notifier refused, to the alarm topic, from the metric the core emits', () => {
    expect(alarm('MonitoringFailedNotificationsAlarm')).toMatchObject({
      Namespace: METRIC_NAMESPACE,
      MetricName: FAILED_NOTIFICATIONS_METRIC,
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
    expect(alarm('MonitoringFailedNotificationsAlarm').Dimensions).toBeUndefined();
  });

  it('alarms when the sweeper or the probe stops running, counting silence as a breach', () => {
    for (const id of ['MonitoringSweepNotRunningAlarm', 'MonitoringProbeNotRunningAlarm']) {
      expect(alarm(id), id).toMatchObject({
        MetricName: 'Invocations',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
        Period: 15 * 60,
      });
    }
    expect(alarm('MonitoringProbeNotRunningAlarm').AlarmDescription).toMatch(/nobody would be paged/);
  });

  it('waits three probe intervals before calling a slow probe schedule silent', () => {
    const slow = synth({ continuity: { probes: { intervalSeconds: 600 } } });
    const [, props] = Object.entries(slow.template.findResources('AWS::CloudWatch::Alarm')).find(([id]) =>
      id.startsWith('MonitoringProbeNotRunningAlarm'),
    )!;
    expect(props.Properties.Period).toBe(30 * 60);
  });

  it('alarms on any 5xx answer of the admin API, which the function itself does not count as an error', () => {
    const apiId = logicalId(s.template, 'AWS::ApiGatewayV2::Api', 'AdminApiHttp');
    expect(alarm('MonitoringApiServerErrorsAlarm')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Statistic: 'Sum',
      Threshold: 1,
      Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }],
    });
  });

  it('notifies the alarm topic on alarm and on recovery', () => {
    for (const [id, a] of Object.entries(alarms)) {
      expect(a.Properties.AlarmActions, id).toEqual([{ Ref: topicId }]);
      expect(a.Properties.OKActions, id).toEqual([{ Ref: topicId }]);
    }
  });

  it('encrypts the alarm topic, requires TLS to publish, and subscribes each alarm email', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: {
        'Fn::GetAtt': [logicalId(s.template, 'AWS::KMS::Key', 'MonitoringAlarmTopicKey'), 'Arn'],
      },
    });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const subscriptions = Object.values(s.template.findResources('AWS::SNS::Subscription')).filter(
      (r) => r.Properties.TopicArn.Ref === topicId,
    );
    expect(subscriptions.map((r) => [r.Properties.Protocol, r.Properties.Endpoint])).toEqual([
      ['email', 'ops@example.com'],
      ['email', 'oncall@example.com'],
    ]);
  });

  it('lets only this stack’s CloudWatch alarms in this account use the alarm topic key, a key that protects no mail', () => {
    s.template.hasResourceProperties('AWS::KMS::Key', {
      Description: 'Lifeboat: encrypts alarm notifications',
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':cloudwatch:',
                      { Ref: 'AWS::Region' },
                      ':',
                      { Ref: 'AWS::AccountId' },
                      ':alarm:Lifeboat-*',
                    ],
                  ],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  it('names every alarm after the stack, so that condition covers each of them', () => {
    const names = Object.values(alarms).map((a) => a.Properties.AlarmName as string);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) expect(name).toMatch(/^Lifeboat-[A-Za-z0-9]+$/);
    expect(new Set(names).size).toBe(names.length);
  });

  it('has one dashboard with the queue metrics and a row per function', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(
      Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody,
    );
    for (const text of [
      'OldestDeferredAgeSeconds',
      'DeferredDeliveries',
      'FailedDeliveries',
      'Ingest: invocations',
      'Deliver: duration',
      'Sweep: invocations',
      'Probe: invocations',
      'Api: duration',
      'Pages by email',
      'SMSMonthToDateSpentUSD',
      'Admin API: requests and errors',
    ]) {
      expect(body).toContain(text);
    }
  });
});
