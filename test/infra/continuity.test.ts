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

  it('targets the probe function and the state machine that starts its later rounds', () => {
    const s = synth();
    const rule = resource(s, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: {
          'Fn::GetAtt': [logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction'), 'Arn'],
        },
      }),
      expect.objectContaining({
        Arn: { Ref: logicalId(s.template, 'AWS::StepFunctions::StateMachine', 'ContinuityRoundTicks') },
      }),
    ]);
  });

  it('targets only the probe when one round fits in each run', () => {
    const s = synth({ continuity: { probes: { intervalSeconds: 60 } } });
    const rule = resource(s, 'AWS::Events::Rule', 'ContinuityProbeSchedule').Properties;
    expect(rule.Targets).toHaveLength(1);
    s.template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
  });
});

describe('Probe ticks', () => {
  /** The state machine's definition with its tokens (the function ARN) flattened to text. */
  const definition = (s: Synthesized) => {
    const sm = resource(s, 'AWS::StepFunctions::StateMachine', 'ContinuityRoundTicks').Properties;
    const parts = sm.DefinitionString['Fn::Join'][1] as unknown[];
    return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
  };

  it('waits 30 s in an Express workflow, not in the Lambda, then invokes the probe asynchronously with tick 1', () => {
    const s = synth();
    const sm = resource(s, 'AWS::StepFunctions::StateMachine', 'ContinuityRoundTicks').Properties;
    expect(sm.StateMachineType).toBe('EXPRESS');
    const d = definition(s);
    expect(d.StartAt).toBe('WaitForTick1');
    expect(d.States.WaitForTick1).toMatchObject({ Type: 'Wait', Seconds: 30, Next: 'StartTick1' });
    expect(d.States.StartTick1).toMatchObject({
      Type: 'Task',
      End: true,
      Parameters: { InvocationType: 'Event', Payload: { tick: 1 } },
    });
    expect(d.TimeoutSeconds).toBe(60);
  });

  it('starts every further round that fits a run: at intervalSeconds 15, rounds 15 and 30 s in, not one at 45 s that could not end in time', () => {
    const d = definition(synth({ continuity: { probes: { intervalSeconds: 15, checkTimeoutSeconds: 10 } } }));
    // 45 s + a 10 s check + 5 s for the round ends at 60 s, past the 55 s a run may use.
    expect(Object.keys(d.States)).toEqual(['WaitForTick1', 'StartTick1', 'WaitForTick2', 'StartTick2']);
    expect(d.States.WaitForTick2.Seconds).toBe(15);
    expect(d.States.StartTick2.Parameters.Payload).toEqual({ tick: 2 });
  });

  it('may invoke the probe function and nothing else', () => {
    const s = synth();
    const probe = logicalId(s.template, 'AWS::Lambda::Function', 'ContinuityProbeFunction');
    const policies = Object.entries(s.template.findResources('AWS::IAM::Policy')).filter(([id]) =>
      id.startsWith('ContinuityRoundTicksRole'),
    );
    expect(policies.length).toBeGreaterThan(0);
    for (const [, policy] of policies) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        expect(statement.Action).toBe('lambda:InvokeFunction');
        expect(JSON.stringify(statement.Resource)).toContain(probe);
      }
    }
  });

  it('raises an alarm when the state machine fails, since the probe then checks once a minute', () => {
    const s = synth();
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Dimensions: [
        {
          Name: 'StateMachineArn',
          Value: { Ref: logicalId(s.template, 'AWS::StepFunctions::StateMachine', 'ContinuityRoundTicks') },
        },
      ],
    });
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
    expect(invokers.filter((r: string) => !r.startsWith('ContinuityRoundTicks')).sort()).toEqual(
      roles.sort(),
    );
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
