import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OUTBOUND_MAX_RECEIVES,
  OUTBOUND_TIMEOUT,
  OUTBOUND_VISIBILITY_TIMEOUT,
} from '../../infra/aws/constructs/sending.js';
import { UPLOAD_DAYS } from '../../infra/aws/constructs/store.js';
import { OUTBOUND_LEASE_SECONDS } from '../../lambdas/core/sending/outbound.js';
import { UPLOAD_RECORD_DAYS } from '../../lambdas/core/sending/uploads.js';
import { UPLOADS_PREFIX } from '../../lambdas/storage-layout.js';
import { list, logicalId, roleStatements, type Statement, type Synthesized, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

const one = (s: Synthesized, type: string, prefix: string): Resource =>
  s.template.findResources(type)[logicalId(s.template, type, prefix)] as Resource;

const actionsOf = (statements: Statement[]) => statements.flatMap((st) => list(st.Action));

describe('Sending from the webmail in AWS', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('queues wake-ups on an encrypted queue whose batches stay hidden longer than a claim and a run', () => {
    const queue = one(s, 'AWS::SQS::Queue', 'SendingQueue').Properties;
    expect(queue.VisibilityTimeout).toBe(OUTBOUND_VISIBILITY_TIMEOUT.toSeconds());
    expect(OUTBOUND_VISIBILITY_TIMEOUT.toSeconds()).toBeGreaterThanOrEqual(
      OUTBOUND_LEASE_SECONDS + OUTBOUND_TIMEOUT.toSeconds(),
    );
    expect(queue.KmsMasterKeyId).toBeDefined();
    expect(queue.RedrivePolicy).toMatchObject({ maxReceiveCount: OUTBOUND_MAX_RECEIVES });
    expect(queue.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]).toBe(
      logicalId(s.template, 'AWS::SQS::Queue', 'SendingDeadLetters'),
    );
    const mapping = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).find(
      (m) =>
        m.Properties.EventSourceArn['Fn::GetAtt']?.[0] ===
        logicalId(s.template, 'AWS::SQS::Queue', 'SendingQueue'),
    );
    expect(mapping?.Properties.FunctionName.Ref).toBe(
      logicalId(s.template, 'AWS::Lambda::Function', 'SendingOutboundFunction'),
    );
  });

  it('alarms when wake-ups wait in the dead-letter queue', () => {
    const alarm = one(s, 'AWS::CloudWatch::Alarm', 'MonitoringOutboundDeadLettersAlarm').Properties;
    expect(alarm.Dimensions[0].Value['Fn::GetAtt'][0]).toBe(
      logicalId(s.template, 'AWS::SQS::Queue', 'SendingDeadLetters'),
    );
    expect(alarm.Threshold).toBe(1);
  });

  it('lets the outbound function send only from the domains’ identities in the configuration set', () => {
    const statements = roleStatements(s, 'SendingOutboundRole');
    const ses = statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('ses:')));
    expect(ses).toHaveLength(1);
    expect(list(ses[0]?.Action).sort()).toEqual(['ses:SendEmail', 'ses:SendRawEmail']);
    const resources = JSON.stringify(ses[0]?.Resource);
    expect(resources).toContain(':identity/example.com');
    expect(resources).toContain(':identity/example.org');
    expect(resources).toContain(':configuration-set/Lifeboat-webmail');
    expect(resources).not.toContain('"*"');
    // Raw mail it writes (colleagues, notices) and messages as composed; never uploads or indexes,
    // and of drafts only the deletion of a sent draft's body.
    const s3 = statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('s3:')));
    const s3Text = JSON.stringify(s3.filter((st) => !JSON.stringify(st.Resource).includes('/drafts/')));
    expect(s3Text).toContain('/outgoing/*');
    expect(s3Text).toContain('/raw/*');
    expect(s3Text).not.toMatch(/uploads\/|drafts\/|index\//);
  });

  it('lets the webmail and the outbound function delete draft bodies, s3:DeleteObject on drafts/* only', () => {
    const bucketArn = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail'), 'Arn'] };
    for (const role of ['WebmailRole', 'SendingOutboundRole']) {
      const onDrafts = roleStatements(s, role).filter((st) =>
        JSON.stringify(st.Resource).includes('/drafts/'),
      );
      const deletes = onDrafts.filter((st) => actionsOf([st]).some((a) => a.startsWith('s3:Delete')));
      expect(deletes, role).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: 's3:DeleteObject',
          Resource: { 'Fn::Join': ['', [bucketArn, '/drafts/*']] },
        }),
      ]);
    }
    // The outbound function neither reads nor writes draft bodies: it only deletes a sent one's.
    expect(
      actionsOf(
        roleStatements(s, 'SendingOutboundRole').filter((st) =>
          JSON.stringify(st.Resource).includes('/drafts/'),
        ),
      ),
    ).toEqual(['s3:DeleteObject']);
    // Nothing else may delete anything in the mail bucket but the sweep, which deletes the raw
    // originals it has packed (below raw/ only, never a version: test/infra/replay.test.ts).
    const deleters = Object.keys(s.template.findResources('AWS::IAM::Role')).filter((role) =>
      roleStatements(s, role).some(
        (st) =>
          actionsOf([st]).some((a) => a.startsWith('s3:Delete')) &&
          JSON.stringify(st.Resource).includes(JSON.stringify(bucketArn)),
      ),
    );
    expect(deleters.map((id) => id.replace(/Role[0-9A-F]{8}$/, '')).sort()).toEqual([
      'DeliverySweep',
      'SendingOutbound',
      'Webmail',
    ]);
  });

  it('gives no other function SES sending', () => {
    const roles = Object.keys(s.template.findResources('AWS::IAM::Role')).filter(
      (id) => !id.startsWith('SendingOutboundRole'),
    );
    for (const role of roles) {
      expect(actionsOf(roleStatements(s, role))).not.toContain('ses:SendRawEmail');
    }
  });

  it('lets the webmail presign uploads, keep drafts and queue wake-ups, and send nothing itself', () => {
    const statements = roleStatements(s, 'WebmailRole');
    const actions = actionsOf(statements);
    expect(actions).toContain('sqs:SendMessage');
    expect(actions.some((a) => a.startsWith('ses:'))).toBe(false);
    expect(actions).not.toContain('lambda:InvokeFunction');
    const text = JSON.stringify(statements);
    for (const prefix of ['/uploads/*', '/drafts/*', '/outgoing/*']) expect(text).toContain(prefix);
    const fn = one(s, 'AWS::Lambda::Function', 'WebmailFunction').Properties;
    expect(fn.Environment.Variables.OUTBOUND_QUEUE_URL.Ref).toBe(
      logicalId(s.template, 'AWS::SQS::Queue', 'SendingQueue'),
    );
  });

  it('creates the configuration set with bounce, complaint and delivery events to the default bus, and a rule to the events function', () => {
    expect(one(s, 'AWS::SES::ConfigurationSet', 'SendingConfigurationSet').Properties.Name).toBe(
      'Lifeboat-webmail',
    );
    const dest = one(s, 'AWS::SES::ConfigurationSetEventDestination', 'SendingConfigurationSetEvents')
      .Properties.EventDestination;
    expect([...dest.MatchingEventTypes].sort()).toEqual(['bounce', 'complaint', 'delivery']);
    expect(JSON.stringify(dest.EventBridgeDestination.EventBusArn)).toContain('event-bus/default');
    const rule = one(s, 'AWS::Events::Rule', 'SendingEventRule').Properties;
    expect(rule.EventPattern).toMatchObject({
      source: ['aws.ses'],
      detail: { mail: { tags: { 'ses:configuration-set': ['Lifeboat-webmail'] } } },
    });
    expect(rule.Targets[0].Arn['Fn::GetAtt'][0]).toBe(
      logicalId(s.template, 'AWS::Lambda::Function', 'SendingEventsFunction'),
    );
  });

  it('names the configuration set from the config when it is set', () => {
    const named = synth({ aws: { alarmEmails: ['ops@example.com'], sendingConfigurationSet: 'staff-mail' } });
    expect(one(named, 'AWS::SES::ConfigurationSet', 'SendingConfigurationSet').Properties.Name).toBe(
      'staff-mail',
    );
  });

  it('expires uploads a day after and lets only the web app PUT them from a browser', () => {
    expect(UPLOAD_DAYS).toBe(UPLOAD_RECORD_DAYS);
    const bucket = one(s, 'AWS::S3::Bucket', 'StoreMail').Properties;
    const rule = (bucket.LifecycleConfiguration.Rules as Array<Record<string, unknown>>).find(
      (r) => r.Prefix === UPLOADS_PREFIX,
    );
    expect(rule).toMatchObject({
      Status: 'Enabled',
      ExpirationInDays: UPLOAD_DAYS,
      NoncurrentVersionExpiration: { NoncurrentDays: UPLOAD_DAYS },
    });
    const [cors] = bucket.CorsConfiguration.CorsRules;
    expect(cors.AllowedMethods).toEqual(['PUT']);
    expect(cors.AllowedHeaders).toEqual(['content-type', 'if-none-match']);
    expect(JSON.stringify(cors.AllowedOrigins)).toContain('WebAppDistribution');
  });

  it('sets a custom MAIL FROM domain on each identity and outputs its records', () => {
    const identities = Object.values(s.template.findResources('AWS::SES::EmailIdentity'));
    expect(identities.map((i) => i.Properties.MailFromAttributes)).toEqual([
      { MailFromDomain: 'bounce.example.com', BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' },
      { MailFromDomain: 'bounce.example.org', BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' },
    ]);
    const output = JSON.stringify(s.template.toJSON().Outputs.MailFromRecords0.Value);
    expect(output).toContain('bounce.example.com MX 10 feedback-smtp.');
    expect(output).toContain('bounce.example.com TXT \\"v=spf1 include:amazonses.com ~all\\"');
  });
});
