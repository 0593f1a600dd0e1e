import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../lambdas/core/config.js';
import { logicalId, type Synthesized, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

/** The one resource of a type whose logical id starts with `prefix`. */
function resource(s: Synthesized, type: string, prefix: string): Resource {
  return s.template.findResources(type)[logicalId(s.template, type, prefix)] as Resource;
}

const probeFunction = (s: Synthesized) => resource(s, 'AWS::Lambda::Function', 'ContinuityProbeFunction');

describe('Probe schedule', () => {
  const schedule = (intervalSeconds: number) =>
    resource(
      synth({ continuity: { probes: { intervalSeconds } } }),
      'AWS::Events::Rule',
      'ContinuityProbeSchedule',
    ).Properties;

  it('runs a probe round every continuity.probes.intervalSeconds, rounded up to whole minutes', () => {
    const rule = schedule(90);
    expect(rule.ScheduleExpression).toBe('rate(2 minutes)');
    expect(rule.State).toBe('ENABLED');
  });

  it('never runs more often than once a minute', () => {
    expect(schedule(10).ScheduleExpression).toBe('rate(1 minute)');
  });

  it('targets the probe function and the queue that starts its later round, sending the tick and the run’s scheduled time', () => {
    const s = synth();
    const rule = resource(s, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: {
          'Fn::GetAtt': [logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction'), 'Arn'],
        },
      }),
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(s.template, 'AWS::SQS::Queue', 'ContinuityRoundTick1'), 'Arn'] },
        InputTransformer: {
          InputPathsMap: { time: '$.time' },
          InputTemplate: '{"tick":1,"time":<time>}',
        },
        // A tick EventBridge could not send within a minute is not sent hours later.
        RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 2 },
      }),
    ]);
  });

  it('targets only the probe when one round fits in each run', () => {
    const s = synth({ continuity: { probes: { intervalSeconds: 60 } } });
    const rule = resource(s, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toHaveLength(1);
    s.template.resourceCountIs('AWS::SQS::Queue', queueCount(synth()) - 1);
    expect(tickQueues(s)).toEqual([]);
  });
});

/** The tick queues' properties, in tick order. */
const tickQueues = (s: Synthesized) =>
  Object.entries(s.template.findResources('AWS::SQS::Queue'))
    .filter(([id]) => id.startsWith('ContinuityRoundTick'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, q]) => q.Properties);
const queueCount = (s: Synthesized) => Object.keys(s.template.findResources('AWS::SQS::Queue')).length;

describe('Probe ticks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('delays the tick 30 s on its queue, not in a Lambda or a workflow, and keeps it only until the next tick is due', () => {
    expect(tickQueues(s)).toEqual([
      expect.objectContaining({
        DelaySeconds: 30,
        // SQS's minimum, and the next run's tick 0 is due then: a message older than that is stale.
        MessageRetentionPeriod: 60,
        // At least the probe's timeout (Lambda requires it), and as long as a message is kept, so a
        // refused or throttled tick expires instead of being handed over again.
        VisibilityTimeout: 60,
        SqsManagedSseEnabled: true,
      }),
    ]);
    expect(tickQueues(s)[0]?.RedrivePolicy).toBeUndefined();
    s.template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
  });

  it('hands the probe one tick at a time as soon as its delay ends', () => {
    const probe = logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
    const queue = logicalId(s.template, 'AWS::SQS::Queue', 'ContinuityRoundTick1');
    const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) => m.Properties.FunctionName.Ref === probe,
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
      BatchSize: 1,
      MaximumBatchingWindowInSeconds: 0,
    });
    // Reserved concurrency 1 holds the probe to one run; a maximum concurrency would keep five
    // pollers polling an idle queue.
    expect(mappings[0]?.Properties.ScalingConfig).toBeUndefined();
  });

  it('lets only the schedule send to the tick queue, over TLS', () => {
    const queue = logicalId(s.template, 'AWS::SQS::Queue', 'ContinuityRoundTick1');
    const rule = logicalId(s.template, 'AWS::Events::Rule', 'ContinuityProbeSchedule');
    const policies = Object.values(s.template.findResources('AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p.Properties.Queues).includes(queue),
    );
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    const allows = statements.filter((st: { Effect: string }) => st.Effect === 'Allow');
    expect(allows).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
      }),
    ]);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('starts every further round that fits a run: at intervalSeconds 15, rounds 15 and 30 s in, not one at 45 s that could not end in time', () => {
    const every15 = synth({ continuity: { probes: { intervalSeconds: 15, checkTimeoutSeconds: 10 } } });
    // 45 s + a 10 s check + 5 s for the round ends at 60 s, past the 55 s a run may use.
    expect(tickQueues(every15).map((q) => [q.DelaySeconds, q.MessageRetentionPeriod])).toEqual([
      [15, 60],
      [30, 60],
    ]);
    const rule = resource(every15, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(
      rule.Targets.map(
        (t: { InputTransformer?: { InputTemplate: string } }) => t.InputTransformer?.InputTemplate,
      ),
    ).toEqual([undefined, '{"tick":1,"time":<time>}', '{"tick":2,"time":<time>}']);
  });

  it('fits the most ticks a run can have (intervalSeconds 10) in the five targets a rule may have', () => {
    const every10 = synth({ continuity: { probes: { intervalSeconds: 10, checkTimeoutSeconds: 1 } } });
    expect(tickQueues(every10).map((q) => q.DelaySeconds)).toEqual([10, 20, 30, 40]);
    const rule = resource(every10, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toHaveLength(5);
  });

  it('keeps a later tick of a longer run until the run’s end', () => {
    // intervalSeconds 90: a 2-minute run with a round at its start and one 90 s in.
    const every90 = synth({ continuity: { probes: { intervalSeconds: 90 } } });
    expect(tickQueues(every90)).toEqual([
      expect.objectContaining({ DelaySeconds: 90, MessageRetentionPeriod: 120, VisibilityTimeout: 120 }),
    ]);
  });

  it('starts no round further in than SQS can delay a message (15 minutes), and says so at synth', () => {
    const every910 = synth({
      continuity: { probes: { intervalSeconds: 910 } },
      queue: { leaseSeconds: 3600 },
    });
    expect(tickQueues(every910)).toEqual([]);
    const warnings = Annotations.fromStack(every910.stack).findWarning(
      '*',
      Match.stringLikeRegexp('910 s into each 16-minute run is not started'),
    );
    expect(warnings).toHaveLength(1);
  });

  it('raises an alarm when no tick is taken from the queue in five runs, since the probe then checks once a minute', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'NumberOfMessagesDeleted',
      Namespace: 'AWS/SQS',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: {
            'Fn::GetAtt': [logicalId(s.template, 'AWS::SQS::Queue', 'ContinuityRoundTick1'), 'QueueName'],
          },
        },
      ],
    });
    const stateMachineAlarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.Namespace === 'AWS/States',
    );
    expect(stateMachineAlarms).toEqual([]);
  });
});

describe('Probe function', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('runs one round at a time: reserved concurrency 1, and no immediate retry of a failed round', () => {
    expect(probeFunction(s).Properties.ReservedConcurrentExecutions).toBe(1);
    const probeId = logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: probeId },
      MaximumRetryAttempts: 0,
    });
    const deliverId = logicalId(s.template, 'AWS::Lambda::Function', 'DeliveryDeliverFunction');
    // The search indexer is the other function that runs one at a time (test/infra/webmail.test.ts).
    const indexerId = logicalId(s.template, 'AWS::Lambda::Function', 'SearchIndexerFunction');
    for (const [id, fn] of Object.entries(s.template.findResources('AWS::Lambda::Function'))) {
      if (id !== probeId && id !== deliverId && id !== indexerId)
        expect(fn.Properties.ReservedConcurrentExecutions, id).toBeUndefined();
    }
  });

  it('drops a round still throttled when the next is due, instead of running it up to 6 hours late', () => {
    const invokeConfig = (synthesized: Synthesized) => {
      const probeId = logicalId(synthesized.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
      return Object.values(synthesized.template.findResources('AWS::Lambda::EventInvokeConfig')).find(
        (c) => c.Properties.FunctionName.Ref === probeId,
      )!.Properties;
    };
    expect(invokeConfig(s).MaximumEventAgeInSeconds).toBe(60);
    expect(
      invokeConfig(synth({ continuity: { probes: { intervalSeconds: 300 } } })).MaximumEventAgeInSeconds,
    ).toBe(300);
    // A round's event is the schedule's tick, not mail: nothing for the failure queue to keep.
    expect(invokeConfig(s).DestinationConfig).toBeUndefined();
  });

  it('stops within one interval (60 s for a 1-minute schedule), so rounds never queue up', () => {
    expect(probeFunction(s).Properties.Timeout).toBe(60);
    const every5 = synth({ continuity: { probes: { intervalSeconds: 300 } } });
    expect(probeFunction(every5).Properties.Timeout).toBe(300);
  });

  it('stops before its claim on a delivery it hands over lapses, and within Lambda’s 15 minutes', () => {
    const timeout = (overrides: Partial<ConfigInput>) => probeFunction(synth(overrides)).Properties.Timeout;
    // queue.leaseSeconds also bounds how long its pending continuity actions stay its own.
    expect(timeout({ continuity: { probes: { intervalSeconds: 600 } }, queue: { leaseSeconds: 240 } })).toBe(
      240,
    );
    expect(
      timeout({ continuity: { probes: { intervalSeconds: 3600 } }, queue: { leaseSeconds: 3600 } }),
    ).toBe(900);
  });

  it('gets the admin email topic in its environment, as the admin API does and the mail path does not', () => {
    const topic = { Ref: logicalId(s.template, 'AWS::SNS::Topic', 'ContinuityAdminEmail') };
    for (const [id, fn] of Object.entries(s.template.findResources('AWS::Lambda::Function'))) {
      const value = fn.Properties.Environment?.Variables?.ADMIN_EMAIL_TOPIC_ARN;
      if (/^(ContinuityProbe|AdminApi)Function/.test(id)) expect(value, id).toEqual(topic);
      else expect(value, id).toBeUndefined();
    }
  });

  it('runs outside any VPC in connector mode', () => {
    expect(probeFunction(s).Properties.VpcConfig).toBeUndefined();
  });

  it('may be invoked by deliver and sweep, to check a route their attempt could not reach, and by no other function', () => {
    const probeId = logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
    const probeArn = { 'Fn::GetAtt': [probeId, 'Arn'] };
    const requesters = ['DeliveryDeliverFunction', 'DeliverySweepFunction'].map((p) =>
      logicalId(s.template, 'AWS::Lambda::Function', p),
    );
    for (const [id, fn] of Object.entries(s.template.findResources('AWS::Lambda::Function'))) {
      const value = fn.Properties.Environment?.Variables?.PROBE_FUNCTION_NAME;
      if (requesters.includes(id)) expect(value, id).toEqual({ Ref: probeId });
      else expect(value, id).toBeUndefined();
    }
    const invokers = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.PolicyDocument.Statement).includes(JSON.stringify(probeArn)))
      .flatMap((p) => p.Properties.Roles.map((r: { Ref: string }) => r.Ref));
    const roles = requesters.map(
      (id) => s.template.findResources('AWS::Lambda::Function')[id]?.Properties.Role['Fn::GetAtt'][0],
    );
    expect(invokers.sort()).toEqual(roles.sort());
  });
});

describe('Paging', () => {
  let s: Synthesized;
  let topicId: string;
  beforeAll(() => {
    s = synth({
      organisation: 'Contoso Ltd',
      continuity: { paging: { adminEmails: ['oncall@contoso-backup.net', 'cio@contoso-backup.net'] } },
    });
    topicId = logicalId(s.template, 'AWS::SNS::Topic', 'ContinuityAdminEmail');
  });

  it('encrypts the admin email topic with the mail key and names the organisation as sender', () => {
    expect(resource(s, 'AWS::SNS::Topic', 'ContinuityAdminEmail').Properties).toEqual({
      DisplayName: 'Lifeboat Contoso Ltd',
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(s.template, 'AWS::KMS::Key', 'StoreKey'), 'Arn'] },
    });
  });

  it('refuses to take a page over plain HTTP', () => {
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('subscribes each continuity.paging.adminEmails address by email, and nothing else', () => {
    const subscriptions = Object.values(s.template.findResources('AWS::SNS::Subscription'))
      .filter((r) => r.Properties.TopicArn.Ref === topicId)
      .map((r) => [r.Properties.Protocol, r.Properties.Endpoint]);
    expect(subscriptions).toEqual([
      ['email', 'oncall@contoso-backup.net'],
      ['email', 'cio@contoso-backup.net'],
    ]);
  });

  it('keeps the topic, without subscriptions, when no admin email is configured', () => {
    const none = synth({ continuity: { paging: { adminEmails: [] } } });
    const id = logicalId(none.template, 'AWS::SNS::Topic', 'ContinuityAdminEmail');
    expect(
      Object.values(none.template.findResources('AWS::SNS::Subscription')).filter(
        (r) => r.Properties.TopicArn.Ref === id,
      ),
    ).toEqual([]);
  });

  it('outputs the admin email topic', () => {
    s.template.hasOutput('AdminEmailTopicArn', { Value: { Ref: topicId } });
  });
});
