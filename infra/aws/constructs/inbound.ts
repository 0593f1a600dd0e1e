import { join } from 'node:path';
import { ArnFormat, Aws, CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ses from 'aws-cdk-lib/aws-ses';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { ConfigError } from '../../../lambdas/core/errors.js';
import { REPO_ROOT } from '../deployment-config.js';
import { INGEST_MEMORY_MB } from '../function-memory.js';
import { acknowledgeNag, arnFinding } from '../nag.js';
import { type FunctionPlatform, LifeboatFunction, nodeFunctionDefaults } from './lifeboat-function.js';
import { RAW_PREFIX } from './store.js';

/** SES caps receipt rule and rule set names at 64 characters. */
const MAX_SES_NAME_LENGTH = 64;

/** SES takes at most 100 recipients (addresses or domains) in one receipt rule (SES quotas). */
export const MAX_RULE_RECIPIENTS = 100;

/** The one receipt rule: stores every message for the accepted domains, then invokes ingest. */
export const RECEIPT_RULE_NAME = 'store-and-ingest';

/** Ingest's resource-policy statement for SES (the Lambda permission's statement id). */
const INGEST_PERMISSION_ID = 'AllowSesReceiptRule';

/** The activation custom resource's handler (run by CloudFormation on deploy and delete). */
const ACTIVATION_HANDLER = join(REPO_ROOT, 'infra/aws/custom-resources/active-rule-set.ts');

/** Two SES calls and one HTTPS PUT: the smallest memory and a minute are plenty. */
const ACTIVATION_MEMORY_MB = 128;
const ACTIVATION_TIMEOUT = Duration.minutes(1);

export interface InboundProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Ingest hands each new message to this function (InvocationType Event). */
  readonly deliver: lambda.IFunction;
  /** Ingest asks here for each new message to be indexed into its recipients' mailboxes. */
  readonly indexQueue?: sqs.IQueue | undefined;
}

/**
 * How mail gets in: an SES receipt rule set with one rule for every accepted domain that stores the raw
 * message under `raw/` (as a role only SES, for that rule, may assume) and then invokes `ingest`
 * asynchronously; optionally the domain identities and the rule set's activation.
 */
export class Inbound extends Construct {
  readonly ingest: LifeboatFunction;
  readonly ruleSet: ses.ReceiptRuleSet;
  readonly ruleSetName: string;
  readonly ruleName: string;
  /** `arn:…:ses:<region>:<account>:receipt-rule-set/<set>:receipt-rule/<rule>`, as SES sends it in aws:SourceArn. */
  readonly ruleArn: string;
  readonly rule: ses.CfnReceiptRule;
  /** The role SES stores raw mail with (the S3 action's IamRoleArn). */
  readonly storeRole: iam.Role;
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
      environment: {
        DELIVER_FUNCTION_NAME: deliver.functionName,
        ...(props.indexQueue ? { INDEX_QUEUE_URL: props.indexQueue.queueUrl } : {}),
      },
    });
    // Send only (with the queue's key to encrypt): ingest never reads or deletes index requests.
    props.indexQueue?.grantSendMessages(this.ingest.function);
    store.grantTable(this.ingest);
    store.grantReadRaw(this.ingest);
    deliver.grantInvoke(this.ingest.function);
    acknowledgeNag(
      this.ingest.role,
      'AwsSolutions-IAM5',
      'grantInvoke of deliver names its ARN and its versions (ARN:*) only.',
      [`${arnFinding(deliver)}:*`],
    );

    this.ruleSetName = sesName(`${stack.stackName}-inbound`);
    this.ruleName = RECEIPT_RULE_NAME;
    this.ruleArn = stack.formatArn({
      service: 'ses',
      resource: 'receipt-rule-set',
      resourceName: `${this.ruleSetName}:receipt-rule/${this.ruleName}`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    if (config.domains.length > MAX_RULE_RECIPIENTS) {
      throw new ConfigError(platform.configSource, [
        `domains: ${config.domains.length} domains; one SES receipt rule takes at most ${MAX_RULE_RECIPIENTS} recipients, and a second rule would store a message addressed to both twice`,
      ]);
    }

    // SES writes the raw message as this role (the S3 action's IamRoleArn), so S3 calls KMS for the
    // bucket's SSE-KMS as an IAM principal of this account and the bucket and key policies name no
    // service. Only SES, for this one rule of this account, may assume it (SES Developer Guide, "Giving
    // permissions to Amazon SES for email receiving": IAM role for the Deliver to S3 bucket action and
    // its trust policy).
    this.storeRole = new iam.Role(this, 'SesStoreRole', {
      description: 'Lifeboat: SES stores received mail under raw/ with this role',
      assumedBy: new iam.PrincipalWithConditions(new iam.ServicePrincipal('ses.amazonaws.com'), {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID, 'aws:SourceArn': this.ruleArn },
      }),
      // Inline, so the permissions exist as soon as the role does: SES test-writes when the rule is created.
      inlinePolicies: {
        StoreRawMail: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'PutRawMail',
              actions: ['s3:PutObject'],
              resources: [store.bucket.arnForObjects(`${RAW_PREFIX}*`)],
            }),
            new iam.PolicyStatement({
              sid: 'EncryptRawMailThroughS3',
              // Encrypt and GenerateDataKey as the S3 action's IamRoleArn documents; Decrypt because S3
              // needs it to complete a multipart upload under SSE-KMS (S3 multipart upload permissions).
              actions: ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'],
              resources: [store.key.keyArn],
              // Only for S3's calls on the role's behalf: the role cannot use the key directly.
              conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
            }),
          ],
        }),
      },
    });
    acknowledgeNag(
      this.storeRole,
      'AwsSolutions-IAM5',
      'SES names each object raw/<sesMessageId>, unknown in advance: the role may put objects below raw/ of the mail bucket and nothing else.',
      [arnFinding(store.bucket, `/${RAW_PREFIX}*`)],
    );

    // SES invokes ingest for this rule of this account only (SES Developer Guide, "Give SES permission to
    // invoke a Lambda function": SourceAccount and SourceArn).
    this.ingest.function.addPermission(INGEST_PERMISSION_ID, {
      principal: new iam.ServicePrincipal('ses.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceAccount: Aws.ACCOUNT_ID,
      sourceArn: this.ruleArn,
    });
    const permission = this.ingest.function.permissionsNode.findChild(INGEST_PERMISSION_ID);

    this.ruleSet = new ses.ReceiptRuleSet(this, 'RuleSet', { receiptRuleSetName: this.ruleSetName });
    // One rule for every accepted domain: SES runs each matching rule once per message, so a message
    // addressed to two domains is stored and ingested once, with every envelope recipient in one event.
    // L1: the S3 action's IamRoleArn has no L2 property.
    this.rule = new ses.CfnReceiptRule(this, 'Rule', {
      ruleSetName: this.ruleSet.receiptRuleSetName,
      rule: {
        name: this.ruleName,
        enabled: true,
        recipients: [...config.domains],
        scanEnabled: true,
        tlsPolicy: config.aws.requireTls ? 'Require' : 'Optional',
        actions: [
          {
            s3Action: {
              bucketName: store.bucket.bucketName,
              objectKeyPrefix: RAW_PREFIX,
              iamRoleArn: this.storeRole.roleArn,
            },
          },
          { lambdaAction: { functionArn: this.ingest.function.functionArn, invocationType: 'Event' } },
        ],
      },
    });
    // SES test-writes with the role when it creates the rule, and checks it may invoke ingest.
    this.rule.node.addDependency(this.storeRole, permission);

    if (config.aws.manageDomainIdentities) {
      config.domains.forEach((domain, i) => {
        this.identities.push({
          domain,
          // A custom MAIL FROM domain so SPF aligns with the From domain of mail sent from the webmail;
          // without its MX record SES uses its own domain instead of refusing to send.
          identity: new ses.EmailIdentity(this, `Identity${i}`, {
            identity: ses.Identity.domain(domain),
            mailFromDomain: mailFromDomain(config, domain),
            mailFromBehaviorOnMxFailure: ses.MailFromBehaviorOnMxFailure.USE_DEFAULT_VALUE,
          }),
        });
      });
    }

    if (config.aws.activateRuleSet) this.activate(platform.logRetention);
  }

  /**
   * CloudFormation cannot make a rule set active, so a custom resource calls SetActiveReceiptRuleSet on
   * deploy; on delete it deactivates the set (SES refuses to delete the active one), but only while it
   * is still the active one, so a set an admin activated since stays active.
   */
  private activate(logRetention: logs.RetentionDays): void {
    const logGroup = new logs.LogGroup(this, 'ActivateRuleSetLogs', { retention: logRetention });
    const role = new iam.Role(this, 'ActivateRuleSetRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Lifeboat: activates the receipt rule set, and deactivates it on delete if still active',
    });
    logGroup.grantWrite(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ActivateReceiptRuleSet',
        actions: ['ses:SetActiveReceiptRuleSet', 'ses:DescribeActiveReceiptRuleSet'],
        // Neither action has resource-level permissions (Service Authorization Reference, Amazon SES).
        resources: ['*'],
      }),
    );
    const fn = new nodejs.NodejsFunction(this, 'ActivateRuleSetFunction', {
      ...nodeFunctionDefaults(ACTIVATION_HANDLER),
      description: 'Lifeboat: makes the receipt rule set active; on delete, inactive if it still is',
      memorySize: ACTIVATION_MEMORY_MB,
      timeout: ACTIVATION_TIMEOUT,
      role,
      logGroup,
    });
    const activation = new CustomResource(this, 'ActivateRuleSet', {
      resourceType: 'Custom::LifeboatActiveReceiptRuleSet',
      serviceToken: fn.functionArn,
      properties: { RuleSetName: this.ruleSetName },
    });
    // Activate only a set that has its rule; delete the activation (deactivate) before the set.
    activation.node.addDependency(this.ruleSet, this.rule);

    acknowledgeNag(
      role,
      'AwsSolutions-IAM5',
      'ses:SetActiveReceiptRuleSet and ses:DescribeActiveReceiptRuleSet support no resource-level permissions; AWS requires Resource "*".',
      ['Resource::*'],
    );
    acknowledgeNag(
      fn,
      'AwsSolutions-L1',
      'Node.js 22 is the pinned runtime of every Lifeboat function: the handlers are bundled for it (target node22).',
    );
  }
}

/** Truncates to SES's name limit; names keep their distinguishing prefix. */
function sesName(name: string): string {
  return name.slice(0, MAX_SES_NAME_LENGTH).replace(/[^A-Za-z0-9]+$/, '');
}

/** The custom MAIL FROM domain of one accepted domain: `aws.mailFromSubdomain` below it. */
export function mailFromDomain(config: Pick<LifeboatConfig, 'aws'>, domain: string): string {
  return `${config.aws.mailFromSubdomain}.${domain}`;
}
