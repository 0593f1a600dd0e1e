import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalId, type Synthesized, synth } from './stack.js';

const ruleArn = (rule: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ses:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:receipt-rule-set/Lifeboat-inbound:receipt-rule/${rule}`,
    ],
  ],
});

describe('Inbound', () => {
  let s: Synthesized;
  let ingestId: string;
  let bucketId: string;
  beforeAll(() => {
    s = synth();
    ingestId = logicalId(s.template, 'AWS::Lambda::Function', 'InboundIngestFunction');
    bucketId = logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail');
  });

  it('has one receipt rule per accepted domain, each for that whole domain', () => {
    s.template.resourceCountIs('AWS::SES::ReceiptRuleSet', 1);
    s.template.hasResourceProperties('AWS::SES::ReceiptRuleSet', { RuleSetName: 'Lifeboat-inbound' });
    const rules = Object.values(s.template.findResources('AWS::SES::ReceiptRule'));
    expect(rules.map((r) => r.Properties.Rule.Recipients)).toEqual([['example.com'], ['example.org']]);
    expect(rules.map((r) => r.Properties.Rule.Name)).toEqual(['0-example-com', '1-example-org']);
  });

  it('stores the raw message under raw/ first, then invokes ingest asynchronously, with scanning on', () => {
    const rules = Object.values(s.template.findResources('AWS::SES::ReceiptRule'));
    for (const rule of rules) {
      expect(rule.Properties.Rule).toMatchObject({ Enabled: true, ScanEnabled: true, TlsPolicy: 'Optional' });
      expect(rule.Properties.Rule.Actions).toEqual([
        { S3Action: { BucketName: { Ref: bucketId }, ObjectKeyPrefix: 'raw/' } },
        { LambdaAction: { FunctionArn: { 'Fn::GetAtt': [ingestId, 'Arn'] }, InvocationType: 'Event' } },
      ]);
    }
  });

  it('requires TLS from senders only when aws.requireTls is set', () => {
    const strict = synth({ aws: { requireTls: true } });
    for (const rule of Object.values(strict.template.findResources('AWS::SES::ReceiptRule'))) {
      expect(rule.Properties.Rule.TlsPolicy).toBe('Require');
    }
  });

  it('lets SES put objects only under raw/, only from this account and only from these rules', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'AllowSesToStoreRawMail',
            Effect: 'Allow',
            Principal: { Service: 'ses.amazonaws.com' },
            Action: 's3:PutObject',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/raw/*']] },
            Condition: {
              StringEquals: {
                'aws:SourceAccount': { Ref: 'AWS::AccountId' },
                'aws:SourceArn': [ruleArn('0-example-com'), ruleArn('1-example-org')],
              },
            },
          },
        ]),
      },
    });
  });

  it('creates each rule only after the bucket policy exists (SES test-writes when a rule is created)', () => {
    const policyId = logicalId(s.template, 'AWS::S3::BucketPolicy', 'StoreMailPolicy');
    for (const rule of Object.values(s.template.findResources('AWS::SES::ReceiptRule'))) {
      expect(rule.DependsOn).toEqual(expect.arrayContaining([policyId]));
    }
  });

  it('lets SES use the mail key only through S3 and only for this account', () => {
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'ses.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: {
              StringEquals: {
                'aws:SourceAccount': { Ref: 'AWS::AccountId' },
                'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
              },
            },
          }),
        ]),
      },
    });
  });

  it('lets SES invoke ingest, for this account only', () => {
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [ingestId, 'Arn'] },
      Principal: 'ses.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
  });

  it('activates the rule set with a custom resource that may call only SetActiveReceiptRuleSet', () => {
    const activation = Object.values(s.template.findResources('Custom::LifeboatActiveReceiptRuleSet'));
    expect(activation).toHaveLength(1);
    const create = JSON.parse(activation[0]!.Properties.Create);
    expect(create).toMatchObject({
      service: 'SES',
      action: 'SetActiveReceiptRuleSet',
      parameters: { RuleSetName: 'Lifeboat-inbound' },
    });
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('ActivateRuleSet'),
      PolicyDocument: {
        Statement: [{ Action: 'ses:SetActiveReceiptRuleSet', Effect: 'Allow', Resource: '*' }],
      },
    });
  });

  it('outputs the activation command instead when aws.activateRuleSet is false', () => {
    const manual = synth({ aws: { activateRuleSet: false } });
    manual.template.resourceCountIs('Custom::LifeboatActiveReceiptRuleSet', 0);
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
