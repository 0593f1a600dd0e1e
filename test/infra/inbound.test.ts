import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_RULE_RECIPIENTS } from '../../infra/aws/constructs/inbound.js';
import { logicalId, type Synthesized, sesArn, synth } from './stack.js';

type RuleAction = { S3Action?: unknown; LambdaAction?: unknown };

/**
 * The actions SES runs for one message: those of every enabled rule with a recipient entry matching
 * one of the envelope recipients (an address matches itself, a domain its addresses), each rule once.
 */
function actionsRunFor(template: Template, recipients: string[]): RuleAction[] {
  const matches = (entry: string, address: string) =>
    entry.includes('@') ? entry === address : address.split('@')[1] === entry;
  return Object.values(template.findResources('AWS::SES::ReceiptRule'))
    .map((r) => r.Properties.Rule)
    .filter(
      (rule) =>
        rule.Enabled &&
        recipients.some((address) => (rule.Recipients as string[]).some((e) => matches(e, address))),
    )
    .flatMap((rule) => rule.Actions as RuleAction[]);
}

const ruleArn = (rule: string) => sesArn(`receipt-rule-set/Lifeboat-inbound:receipt-rule/${rule}`);

describe('Inbound', () => {
  let s: Synthesized;
  let ingestId: string;
  let bucketId: string;
  let keyId: string;
  let storeRoleId: string;
  beforeAll(() => {
    s = synth();
    ingestId = logicalId(s.template, 'AWS::Lambda::Function', 'InboundIngestFunction');
    bucketId = logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail');
    keyId = logicalId(s.template, 'AWS::KMS::Key', 'StoreKey');
    storeRoleId = logicalId(s.template, 'AWS::IAM::Role', 'InboundSesStoreRole');
  });

  it('has one receipt rule for every accepted domain', () => {
    s.template.resourceCountIs('AWS::SES::ReceiptRuleSet', 1);
    s.template.hasResourceProperties('AWS::SES::ReceiptRuleSet', { RuleSetName: 'Lifeboat-inbound' });
    const rules = Object.values(s.template.findResources('AWS::SES::ReceiptRule'));
    expect(rules.map((r) => r.Properties.Rule.Name)).toEqual(['store-and-ingest']);
    expect(rules[0]!.Properties.Rule.Recipients).toEqual(['example.com', 'example.org']);
  });

  it('stores and ingests a message addressed to two accepted domains once', () => {
    // SES runs the actions of every rule that matches any envelope recipient, once per message.
    const run = actionsRunFor(s.template, ['alice@example.com', 'bob@example.org']);
    expect(run.filter((a) => a.S3Action)).toHaveLength(1);
    expect(run.filter((a) => a.LambdaAction)).toHaveLength(1);
    expect(actionsRunFor(s.template, ['carol@other.example'])).toEqual([]);
  });

  it('stores the raw message under raw/ as its own role first, then invokes ingest asynchronously, with scanning on', () => {
    const [rule] = Object.values(s.template.findResources('AWS::SES::ReceiptRule'));
    expect(rule!.Properties.Rule).toMatchObject({ Enabled: true, ScanEnabled: true, TlsPolicy: 'Optional' });
    expect(rule!.Properties.Rule.Actions).toEqual([
      {
        S3Action: {
          BucketName: { Ref: bucketId },
          ObjectKeyPrefix: 'raw/',
          IamRoleArn: { 'Fn::GetAtt': [storeRoleId, 'Arn'] },
        },
      },
      { LambdaAction: { FunctionArn: { 'Fn::GetAtt': [ingestId, 'Arn'] }, InvocationType: 'Event' } },
    ]);
  });

  it('requires TLS from senders only when aws.requireTls is set', () => {
    const strict = synth({ aws: { requireTls: true } });
    for (const rule of Object.values(strict.template.findResources('AWS::SES::ReceiptRule'))) {
      expect(rule.Properties.Rule.TlsPolicy).toBe('Require');
    }
  });

  it('lets only SES assume the store role, for this rule of this account', () => {
    const role = s.template.findResources('AWS::IAM::Role')[storeRoleId]!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'ses.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: {
            'aws:SourceAccount': { Ref: 'AWS::AccountId' },
            'aws:SourceArn': ruleArn('store-and-ingest'),
          },
        },
      },
    ]);
  });

  it('lets the store role put objects below raw/ and use the mail key through S3, nothing else', () => {
    const role = s.template.findResources('AWS::IAM::Role')[storeRoleId]!;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = role.Properties.Policies.flatMap(
      (p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement,
    );
    expect(statements).toEqual([
      {
        Sid: 'PutRawMail',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/raw/*']] },
      },
      {
        Sid: 'EncryptRawMailThroughS3',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      },
    ]);
    // No separate policy resource SES could race: the permissions are part of the role.
    expect(
      Object.keys(s.template.findResources('AWS::IAM::Policy')).filter((id) =>
        id.startsWith('InboundSesStore'),
      ),
    ).toEqual([]);
  });

  it('names SES in no bucket or key policy: the role is the only way SES writes', () => {
    const policies = [
      ...Object.values(s.template.findResources('AWS::S3::BucketPolicy')).map(
        (p) => p.Properties.PolicyDocument,
      ),
      ...Object.values(s.template.findResources('AWS::KMS::Key')).map((k) => k.Properties.KeyPolicy),
    ];
    for (const doc of policies) {
      for (const statement of doc.Statement) {
        expect(JSON.stringify(statement.Principal ?? {})).not.toContain('ses.amazonaws.com');
      }
    }
  });

  it('creates the rule only after the store role and the ingest permission (SES tests both)', () => {
    const [rule] = Object.values(s.template.findResources('AWS::SES::ReceiptRule'));
    const permissionId = logicalId(s.template, 'AWS::Lambda::Permission', 'InboundIngestFunctionAllowSes');
    expect(rule!.DependsOn).toEqual(expect.arrayContaining([storeRoleId, permissionId]));
  });

  it('lets SES invoke ingest for this rule of this account only', () => {
    const permissions = Object.values(s.template.findResources('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'ses.amazonaws.com',
    );
    expect(permissions.map((p) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [ingestId, 'Arn'] },
        Principal: 'ses.amazonaws.com',
        SourceAccount: { Ref: 'AWS::AccountId' },
        SourceArn: ruleArn('store-and-ingest'),
      },
    ]);
  });

  it('refuses more accepted domains than one receipt rule takes, naming the limit', () => {
    const domains = Array.from({ length: MAX_RULE_RECIPIENTS + 1 }, (_, i) => `d${i}.io`);
    expect(() =>
      synth({
        domains,
        routes: [
          {
            name: 'primary',
            domains,
            hosts: [{ host: 'mail.example.com', port: 587 }],
          },
        ],
      }),
    ).toThrow(/at most 100 recipients/);
  });

  it('activates the rule set with its own custom resource, allowed only to read and set the active set', () => {
    const activation = Object.entries(s.template.findResources('Custom::LifeboatActiveReceiptRuleSet'));
    expect(activation).toHaveLength(1);
    const [, resource] = activation[0]!;
    const fnId = logicalId(s.template, 'AWS::Lambda::Function', 'InboundActivateRuleSetFunction');
    expect(resource.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [fnId, 'Arn'] },
      RuleSetName: 'Lifeboat-inbound',
    });
    // Deleted (deactivated) before the rule and the set it names.
    expect(resource.DependsOn).toEqual(
      expect.arrayContaining([
        logicalId(s.template, 'AWS::SES::ReceiptRuleSet', 'InboundRuleSet'),
        logicalId(s.template, 'AWS::SES::ReceiptRule', 'InboundRule'),
      ]),
    );
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('ActivateRuleSet'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ActivateReceiptRuleSet',
            Action: ['ses:DescribeActiveReceiptRuleSet', 'ses:SetActiveReceiptRuleSet'],
            Effect: 'Allow',
            Resource: '*',
          },
        ]),
      },
    });
  });

  it('outputs the activation command instead when aws.activateRuleSet is false, and the deactivation the stack’s deletion needs', () => {
    const manual = synth({ aws: { activateRuleSet: false } });
    manual.template.resourceCountIs('Custom::LifeboatActiveReceiptRuleSet', 0);
    manual.template.hasOutput('DeactivateRuleSetCommand', {
      Value: { 'Fn::Join': ['', ['aws ses set-active-receipt-rule-set --region ', { Ref: 'AWS::Region' }]] },
    });
    expect(Object.keys(s.template.findOutputs('*'))).not.toContain('DeactivateRuleSetCommand');
    manual.template.hasOutput('ActivateRuleSetCommand', {
      Value: {
        'Fn::Join': [
          '',
          [
            'aws ses set-active-receipt-rule-set --region ',
            { Ref: 'AWS::Region' },
            ' --rule-set-name Lifeboat-inbound',
          ],
        ],
      },
    });
  });

  it('creates a DKIM domain identity per domain and outputs its CNAMEs and the MX value', () => {
    s.template.resourceCountIs('AWS::SES::EmailIdentity', 2);
    s.template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'example.org' });
    expect(Object.keys(s.template.findOutputs('*'))).toEqual(
      expect.arrayContaining(['DkimRecords0', 'DkimRecords1', 'MxRecord']),
    );
    const unmanaged = synth({ aws: { manageDomainIdentities: false } });
    unmanaged.template.resourceCountIs('AWS::SES::EmailIdentity', 0);
  });
});
