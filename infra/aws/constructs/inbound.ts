import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sesActions from 'aws-cdk-lib/aws-ses-actions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { acknowledgeNag, arnFinding } from '../nag.js';
import {
  type FunctionPlatform,
  LifeboatFunction,
  READ_RAW_AND_TABLE_ACTIONS,
  READ_RAW_AND_TABLE_REASON,
} from './lifeboat-function.js';
import { RAW_PREFIX, type Store } from './store.js';

/** SES caps receipt rule and rule set names at 64 characters. */
const MAX_SES_NAME_LENGTH = 64;

/** Parsing a 40 MB message with attachments needs room; memory also buys CPU on Lambda. */
const INGEST_MEMORY_MB = 1024;

export interface InboundProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Ingest hands each new message to this function (InvocationType Event). */
  readonly deliver: lambda.IFunction;
}

/**
 * How mail gets in: an SES receipt rule set with one rule per accepted domain that stores the raw
 * message under `raw/` and then invokes `ingest` asynchronously; the bucket and key policies that let
 * SES (and only these rules) write; optionally the domain identities and the rule set's activation.
 */
export class Inbound extends Construct {
  readonly ingest: LifeboatFunction;
  readonly ruleSet: ses.ReceiptRuleSet;
  readonly ruleSetName: string;
  readonly ruleNames: string[];
  readonly identities: { domain: string; identity: ses.EmailIdentity }[] = [];

  constructor(scope: Construct, id: string, props: InboundProps) {
    super(scope, id);
    const { config, platform, deliver } = props;
    const { store } = platform;
    const stack = Stack.of(this);

    this.ingest = new LifeboatFunction(this, 'Ingest', {
      handler: 'ingest',
      description: 'Lifeboat: records a message SES received and queues its deliveries',
      platform,
      memorySize: INGEST_MEMORY_MB,
      environment: { DELIVER_FUNCTION_NAME: deliver.functionName },
    });
    store.table.grantReadWriteData(this.ingest.function);
    store.bucket.grantRead(this.ingest.function, `${RAW_PREFIX}*`);
    deliver.grantInvoke(this.ingest.function);
    acknowledgeNag(this.ingest.role, 'AwsSolutions-IAM5', READ_RAW_AND_TABLE_REASON, [
      ...READ_RAW_AND_TABLE_ACTIONS,
      arnFinding(store.bucket, `/${RAW_PREFIX}*`),
      arnFinding(store.table, '/index/*'),
    ]);
    acknowledgeNag(
      this.ingest.role,
      'AwsSolutions-IAM5',
      'grantInvoke of deliver names its ARN and its versions (ARN:*) only.',
      [`${arnFinding(deliver)}:*`],
    );

    this.ruleSetName = sesName(`${stack.stackName}-inbound`);
    this.ruleNames = config.domains.map((domain, i) => sesName(`${i}-${domain.replaceAll('.', '-')}`));
    const ruleArns = this.ruleNames.map((rule) =>
      stack.formatArn({
        service: 'ses',
        resource: 'receipt-rule-set',
        resourceName: `${this.ruleSetName}:receipt-rule/${rule}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    );

    // Only these rules of this account may write, and only below raw/ (SES receiving permissions guide).
    store.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowSesToStoreRawMail',
        principals: [new iam.ServicePrincipal('ses.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [store.bucket.arnForObjects(`${RAW_PREFIX}*`)],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID, 'aws:SourceArn': ruleArns },
        },
      }),
    );
    // The bucket encrypts with the mail key (SSE-KMS), so SES's PutObject needs the key through S3.
    // Not the S3 action's own kmsKeyArn: that is client-side encryption, and the handlers would read
    // ciphertext instead of the bytes SES received.
    store.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowSesToEncryptRawMailThroughS3',
        principals: [new iam.ServicePrincipal('ses.amazonaws.com')],
        // Decrypt as well: S3 needs it to complete a multipart upload of a large message.
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        // A key policy's own key is its only resource.
        resources: ['*'],
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Aws.ACCOUNT_ID,
            'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com`,
          },
        },
      }),
    );

    this.ruleSet = new ses.ReceiptRuleSet(this, 'RuleSet', { receiptRuleSetName: this.ruleSetName });
    const bucketPolicy = store.bucket.policy;
    config.domains.forEach((domain, i) => {
      const rule = this.ruleSet.addRule(`Domain${i}`, {
        receiptRuleName: this.ruleNames[i],
        recipients: [domain],
        scanEnabled: true,
        tlsPolicy: config.aws.requireTls ? ses.TlsPolicy.REQUIRE : ses.TlsPolicy.OPTIONAL,
        actions: [
          new StoreRawMail(store),
          new sesActions.Lambda({
            function: this.ingest.function,
            invocationType: sesActions.LambdaInvocationType.EVENT,
          }),
        ],
      });
      // SES writes a test object when it creates the rule: the bucket policy must exist first.
      if (bucketPolicy) rule.node.addDependency(bucketPolicy);
    });

    if (config.aws.manageDomainIdentities) {
      config.domains.forEach((domain, i) => {
        this.identities.push({
          domain,
          identity: new ses.EmailIdentity(this, `Identity${i}`, { identity: ses.Identity.domain(domain) }),
        });
      });
    }

    if (config.aws.activateRuleSet) this.activate(platform.logRetention);
  }

  /**
   * CloudFormation cannot make a rule set active, so a small custom resource calls
   * SetActiveReceiptRuleSet on deploy and deactivates on delete (SES refuses to delete the active set).
   */
  private activate(logRetention: logs.RetentionDays): void {
    const logGroup = new logs.LogGroup(this, 'ActivateRuleSetLogs', { retention: logRetention });
    const activation = new cr.AwsCustomResource(this, 'ActivateRuleSet', {
      resourceType: 'Custom::LifeboatActiveReceiptRuleSet',
      onCreate: this.setActiveCall(this.ruleSetName),
      onUpdate: this.setActiveCall(this.ruleSetName),
      onDelete: {
        service: 'SES',
        action: 'SetActiveReceiptRuleSet',
        parameters: {},
        physicalResourceId: cr.PhysicalResourceId.of(this.ruleSetName),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['ses:SetActiveReceiptRuleSet'],
          // SetActiveReceiptRuleSet has no resource-level permissions: IAM accepts only "*".
          resources: ['*'],
        }),
      ]),
      installLatestAwsSdk: false,
      logGroup,
    });
    activation.node.addDependency(this.ruleSet);

    acknowledgeNag(
      activation,
      'AwsSolutions-IAM5',
      'ses:SetActiveReceiptRuleSet supports no resource-level permissions; AWS requires Resource "*".',
      ['Resource::*'],
    );
    const provider = Stack.of(this).node.tryFindChild(
      `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll('-', '')}`,
    );
    if (provider) {
      acknowledgeNag(
        provider,
        'AwsSolutions-IAM4',
        'The CDK-provided custom-resource function uses AWSLambdaBasicExecutionRole: it may write its own logs, nothing else.',
        ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      );
      acknowledgeNag(
        provider,
        'AwsSolutions-L1',
        'The CDK-provided custom-resource function’s runtime is chosen by aws-cdk-lib; it runs once per deploy.',
      );
    }
  }

  private setActiveCall(ruleSetName: string): cr.AwsSdkCall {
    return {
      service: 'SES',
      action: 'SetActiveReceiptRuleSet',
      parameters: { RuleSetName: ruleSetName },
      physicalResourceId: cr.PhysicalResourceId.of(ruleSetName),
    };
  }
}

/**
 * SES S3 action storing the raw message under `raw/` with the bucket's own SSE-KMS encryption. CDK's S3
 * action is not used because its bucket policy lacks the aws:SourceArn condition.
 */
class StoreRawMail implements ses.IReceiptRuleAction {
  constructor(private readonly store: Store) {}

  bind(): ses.ReceiptRuleActionConfig {
    return { s3Action: { bucketName: this.store.bucket.bucketName, objectKeyPrefix: RAW_PREFIX } };
  }
}

/** Truncates to SES's name limit; names keep their distinguishing prefix. */
function sesName(name: string): string {
  return name.slice(0, MAX_SES_NAME_LENGTH).replace(/[^A-Za-z0-9]+$/, '');
}
