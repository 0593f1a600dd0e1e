import { readFileSync } from 'node:fs';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEPLOY_TIME_VALUE_ALLOWANCE_BYTES,
  functionConfigJson,
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
} from '../../infra/aws/constructs/lifeboat-function.js';
import { EXAMPLE_CONFIG_PATH } from '../../infra/aws/deployment-config.js';
import { MEASURED_PEAK_MIB, MEMORY_HEADROOM } from '../../infra/aws/function-memory.js';
import { DEFAULT_STAFF_TEMPLATES, parseConfig, parseConfigJson } from '../../lambdas/core/config.js';
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
      probe: byPrefix('ContinuityProbeFunction'),
      api: byPrefix('AdminApiFunction'),
      indexer: byPrefix('SearchIndexerFunction'),
      webmail: byPrefix('WebmailFunction'),
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

  it('get the table, the bucket and the validated config (without the local and aws sections) in their environment', () => {
    const tableId = logicalId(s.template, 'AWS::DynamoDB::Table', 'StoreTable');
    const bucketId = logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail');
    for (const [name, fn] of Object.entries(fns)) {
      const env = fn.Properties.Environment.Variables;
      expect(env.TABLE_NAME, name).toEqual({ Ref: tableId });
      expect(env.BUCKET_NAME, name).toEqual({ Ref: bucketId });
      const { local: _local, aws: _aws, ...deployed } = s.stack.functionConfig;
      // Settings left at their defaults may be left out: what the handler parses back is the config.
      const { local: _l, aws: _a, ...read } = parseConfigJson(env.LIFEBOAT_CONFIG);
      expect(read, name).toEqual(deployed);
      expect(env.LIFEBOAT_CONFIG, name).not.toMatch(/\n/);
    }
  });

  it('tell ingest which function makes the first delivery attempt', () => {
    const deliverId = logicalId(s.template, 'AWS::Lambda::Function', 'DeliveryDeliverFunction');
    expect(fns.ingest!.Properties.Environment.Variables.DELIVER_FUNCTION_NAME).toEqual({ Ref: deliverId });
    expect(fns.sweep!.Properties.Environment.Variables.DELIVER_FUNCTION_NAME).toBeUndefined();
  });

  it('send every failed asynchronous invocation but the probe’s to the encrypted failure queue, after two retries', () => {
    const queueId = logicalId(s.template, 'AWS::SQS::Queue', 'MonitoringFailedInvocations');
    const configs = Object.entries(s.template.findResources('AWS::Lambda::EventInvokeConfig'));
    expect(configs).toHaveLength(9);
    // The indexer's and the outbound worker's events wait in SQS and the webmail's come from API
    // Gateway: not asynchronous.
    for (const [id, config] of configs.filter(
      ([id]) => !/^(ContinuityProbe|Search|Webmail|SendingOutbound)/.test(id),
    )) {
      expect(config.Properties, id).toMatchObject({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    }
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(s.template, 'AWS::KMS::Key', 'StoreKey'), 'Arn'] },
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  describe('deliver, sweep and the probe', () => {
    const timeouts = (overrides: Parameters<typeof synth>[0]) =>
      Object.fromEntries(
        Object.entries(synth(overrides).template.findResources('AWS::Lambda::Function'))
          .filter(([id]) => /^(DeliveryDeliver|DeliverySweep|ContinuityProbe)Function/.test(id))
          .map(([id, fn]) => [id.replace(/Function[0-9A-F]{8}$/, ''), fn.Properties.Timeout]),
      );

    it('end a run before the shortest lease on a delivery it claims lapses, and no sooner', () => {
      // The base route: one host, 30 s connect, 120 s socket timeouts: 2×30 + 2×120 + 30 = 330 s lease.
      expect(timeouts({ queue: { leaseSeconds: 240 } })).toMatchObject({
        DeliveryDeliver: 330,
        DeliverySweep: 330,
      });
      expect(timeouts({ queue: { leaseSeconds: 600 } })).toMatchObject({
        DeliveryDeliver: 600,
        DeliverySweep: 600,
      });
    });

    it('take the shortest route’s lease when routes differ', () => {
      const quick = {
        name: 'quick',
        domains: ['example.org'],
        hosts: [{ host: 'mail.example.org', port: 587 }],
        connectTimeoutSeconds: 10,
        socketTimeoutSeconds: 60,
        auth: { user: 'b', secretId: 'lifeboat/org-smtp' },
      };
      const slow = {
        name: 'slow',
        domains: ['example.com'],
        hosts: [
          { host: 'mx1.example.com', port: 587 },
          { host: 'mx2.example.com', port: 587 },
        ],
        auth: { user: 'a', secretId: 'lifeboat/com-smtp' },
      };
      // quick: max(120, 2×10 + 2×60 + 30 = 170); slow: 2×2×30 + 2×120 + 30 = 390.
      expect(timeouts({ routes: [slow, quick], queue: { leaseSeconds: 120 } })).toMatchObject({
        DeliveryDeliver: 170,
        DeliverySweep: 170,
      });
    });

    it('stay within Lambda’s 15 minutes', () => {
      expect(timeouts({ queue: { leaseSeconds: 3600 } })).toMatchObject({
        DeliveryDeliver: 900,
        DeliverySweep: 900,
      });
    });
  });

  it('get the memory their measured peak on SES’s largest message needs, with a quarter to spare', () => {
    const memory = Object.fromEntries(
      Object.entries(fns).map(([name, fn]) => [name, fn.Properties.MemorySize]),
    );
    expect(memory).toEqual({
      ingest: 448,
      deliver: 384,
      sweep: 960,
      probe: 448,
      api: 512,
      // One vCPU, for a catch-up's parsing (INDEXER_MEMORY_MB), more than its peak needs.
      indexer: 1769,
      webmail: 448,
    });
    for (const [name, peak] of [
      ['ingest', MEASURED_PEAK_MIB.ingest],
      // Both parse a whole message as ingest does (to index it, to read it or extract an attachment).
      ['indexer', MEASURED_PEAK_MIB.ingest],
      ['webmail', MEASURED_PEAK_MIB.ingest],
      ['deliver', MEASURED_PEAK_MIB.deliver],
      ['sweep', MEASURED_PEAK_MIB.deliverEightInFlight],
    ] as const) {
      expect(memory[name], name).toBeGreaterThanOrEqual(peak * MEMORY_HEADROOM);
    }
  });

  it('give the probe room for every message the hand-over keeps in flight', () => {
    const probeMemory = (concurrency: number) => {
      const { template } = synth({ continuity: { handover: { concurrency } } });
      return template.findResources('AWS::Lambda::Function')[
        logicalId(template, 'AWS::Lambda::Function', 'ContinuityProbeFunction')
      ]!.Properties.MemorySize;
    };
    expect(probeMemory(8)).toBe(960);
    expect(probeMemory(1)).toBe(384);
  });

  it('cap deliver’s concurrent runs at aws.deliverConcurrency, 10 unless set', () => {
    const deliver = (s: Synthesized) =>
      s.template.findResources('AWS::Lambda::Function')[
        logicalId(s.template, 'AWS::Lambda::Function', 'DeliveryDeliverFunction')
      ]!.Properties.ReservedConcurrentExecutions;
    expect(deliver(s)).toBe(10);
    expect(deliver(synth({ aws: { deliverConcurrency: 3 } }))).toBe(3);
  });

  it('leaves the staff notices’ default texts out of LIFEBOAT_CONFIG, and the handlers read them back', () => {
    const config = parseConfig({
      domains: ['example.com'],
      routes: [{ name: 'primary', domains: ['example.com'], hosts: [{ host: 'mail.example.com' }] }],
      continuity: { staff: { templates: { revoke: { sms: 'Mail is back, {organisation}.' } } } },
    });
    const json = functionConfigJson(config);
    expect(JSON.parse(json).continuity.staff.templates).toEqual({
      revoke: { sms: 'Mail is back, {organisation}.' },
    });
    expect(json).not.toContain(DEFAULT_STAFF_TEMPLATES.invoke.sms);
    expect(parseConfigJson(json).continuity.staff.templates).toEqual(config.continuity.staff.templates);
  });

  it('leaves drill settings at their defaults out of LIFEBOAT_CONFIG, and the handlers read them back', () => {
    const config = parseConfig({
      domains: ['example.com'],
      routes: [{ name: 'primary', domains: ['example.com'], hosts: [{ host: 'mail.example.com' }] }],
      drill: { targets: { invokeSeconds: 600 } },
    });
    const json = functionConfigJson(config);
    expect(JSON.parse(json).drill).toEqual({ targets: { invokeSeconds: 600 } });
    expect(parseConfigJson(json).drill).toEqual(config.drill);
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

  it('fit the example config with every continuity and sign-in setting filled in, and 100 staff phones', () => {
    const example = JSON.parse(readFileSync(EXAMPLE_CONFIG_PATH, 'utf8'));
    const filled = synth({
      ...example,
      domains: [...example.domains, 'lifeboat.example.com'],
      continuity: {
        probes: {
          intervalSeconds: 60,
          roundTrip: { sendTo: 'lifeboat-probe@example.com', returnAddress: 'probe@lifeboat.example.com' },
        },
        paging: {
          adminPhones: ['+447700900101', '+447700900102', '+447700900103'],
          adminEmails: ['it-oncall@example-backup.net', 'alice@example-backup.net', 'bob@example-backup.net'],
          consoleUrl: 'https://lifeboat.example.com/console',
        },
        staff: {
          phones: Array.from({ length: 100 }, (_, i) => `+4477009${String(i).padStart(5, '0')}`),
          webmailUrl: 'https://lifeboat.example.com/mail',
        },
      },
      aws: {
        ...example.aws,
        alarmEmails: ['ops@example-backup.net'],
        adminAuth: {
          issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
          audience: ['api://5f0c3a2e-8d5b-4c1e-9f7a-2b6d4e8c1a93'],
        },
      },
    });
    const sizes = Object.values(filled.template.findResources('AWS::Lambda::Function'))
      .filter((fn) => fn.Properties.Environment?.Variables?.LIFEBOAT_CONFIG !== undefined)
      .map((fn) =>
        Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).reduce(
          (total, [name, value]) =>
            total +
            name.length +
            (typeof value === 'string' ? Buffer.byteLength(value) : DEPLOY_TIME_VALUE_ALLOWANCE_BYTES),
          0,
        ),
      );
    expect(sizes).toHaveLength(9);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT_BYTES);
  });
});

describe('Sweep schedule', () => {
  const rate = (sweepIntervalSeconds: number) => {
    const { template } = synth({ queue: { sweepIntervalSeconds } });
    const rules = template.findResources('AWS::Events::Rule');
    return rules[logicalId(template, 'AWS::Events::Rule', 'DeliverySweepSchedule')]!.Properties;
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
