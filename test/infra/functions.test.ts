import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalId, type Synthesized, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

describe('Lambda functions', () => {
  let s: Synthesized;
  let fns: Record<string, Resource>;
  beforeAll(() => {
    s = synth();
    const all = s.template.findResources('AWS::Lambda::Function');
    const byPrefix = (prefix: string) =>
      all[logicalId(s.template, 'AWS::Lambda::Function', prefix)] as Resource;
    fns = {
      ingest: byPrefix('InboundIngestFunction'),
      deliver: byPrefix('DeliveryDeliverFunction'),
      sweep: byPrefix('DeliverySweepFunction'),
    };
  });

  it('run Node 22 on ARM64 with source maps, text logs (EMF-safe) and a log group with retention', () => {
    for (const [name, fn] of Object.entries(fns)) {
      expect(fn.Properties, name).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogFormat: 'Text', LogGroup: { Ref: expect.stringMatching(/Logs/) } },
      });
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
    for (const [id, group] of Object.entries(s.template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays, id).toBe(s.config.aws.logRetentionDays);
    }
  });

  it('get the table, the bucket and the validated config in their environment', () => {
    const tableId = logicalId(s.template, 'AWS::DynamoDB::Table', 'StoreTable');
    const bucketId = logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail');
    for (const [name, fn] of Object.entries(fns)) {
      const env = fn.Properties.Environment.Variables;
      expect(env.TABLE_NAME, name).toEqual({ Ref: tableId });
      expect(env.BUCKET_NAME, name).toEqual({ Ref: bucketId });
      expect(JSON.parse(env.LIFEBOAT_CONFIG), name).toEqual(s.config);
      expect(env.LIFEBOAT_CONFIG, name).not.toMatch(/\n/);
    }
  });

  it('tell ingest which function makes the first delivery attempt', () => {
    const deliverId = logicalId(s.template, 'AWS::Lambda::Function', 'DeliveryDeliverFunction');
    expect(fns.ingest!.Properties.Environment.Variables.DELIVER_FUNCTION_NAME).toEqual({ Ref: deliverId });
    expect(fns.sweep!.Properties.Environment.Variables.DELIVER_FUNCTION_NAME).toBeUndefined();
  });

  it('send every failed asynchronous invocation to the encrypted failure queue after two retries', () => {
    const queueId = logicalId(s.template, 'AWS::SQS::Queue', 'MonitoringFailedInvocations');
    const configs = Object.values(s.template.findResources('AWS::Lambda::EventInvokeConfig'));
    expect(configs).toHaveLength(3);
    for (const config of configs) {
      expect(config.Properties).toMatchObject({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    }
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(s.template, 'AWS::KMS::Key', 'StoreKey'), 'Arn'] },
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it('end deliver and sweep runs before their lease on a delivery lapses', () => {
    const leased = synth({ queue: { leaseSeconds: 240 } });
    const timeouts = Object.entries(leased.template.findResources('AWS::Lambda::Function'))
      .filter(([id]) => /Deliver|Sweep/.test(id) && id.includes('Function'))
      .map(([, fn]) => fn.Properties.Timeout);
    expect(timeouts).toEqual([240, 240]);
  });

  it('refuses a config too large for the 4 KB Lambda environment, naming the limit', () => {
    const addresses = Array.from({ length: 120 }, (_, i) => `person-number-${i}@example.com`);
    expect(() =>
      synth({
        routes: [
          {
            name: 'primary',
            domains: ['example.com', 'example.org'],
            addresses,
            hosts: [{ host: 'mail.example.com', port: 587 }],
          },
        ],
      }),
    ).toThrow(/LIFEBOAT_CONFIG.*over Lambda's limit of 4096 bytes \(4 KB\)/s);
  });
});

describe('Sweep schedule', () => {
  const rate = (sweepIntervalSeconds: number) => {
    const { template } = synth({ queue: { sweepIntervalSeconds } });
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    return rules[0]!.Properties;
  };

  it('runs the sweeper every queue.sweepIntervalSeconds rounded up to whole minutes', () => {
    const rule = rate(150);
    expect(rule.ScheduleExpression).toBe('rate(3 minutes)');
    expect(rule.State).toBe('ENABLED');
    expect(rule.Targets[0].RetryPolicy).toEqual({ MaximumRetryAttempts: 2 });
  });

  it('never runs more often than once a minute', () => {
    expect(rate(5).ScheduleExpression).toBe('rate(1 minute)');
  });
});
