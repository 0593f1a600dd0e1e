import { Match, type Template } from 'aws-cdk-lib/assertions';
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

  it('targets the probe function', () => {
    const s = synth();
    const rule = resource(s, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: {
          'Fn::GetAtt': [logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction'), 'Arn'],
        },
      }),
    ]);
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
    for (const [id, fn] of Object.entries(s.template.findResources('AWS::Lambda::Function'))) {
      if (id !== probeId && id !== deliverId)
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
