import { Annotations, Aws, CfnOutput, Duration, Fn, Stack, type StackProps, Token } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type LifeboatConfig, recordDays } from '../../lambdas/core/config.js';
import { AdminApi } from './constructs/api.js';
import { Continuity } from './constructs/continuity.js';
import { Delivery } from './constructs/delivery.js';
import { DeliveryNetwork } from './constructs/delivery-network.js';
import { Inbound } from './constructs/inbound.js';
import { type FunctionPlatform, functionConfigJson } from './constructs/lifeboat-function.js';
import { Monitoring } from './constructs/monitoring.js';
import { Store } from './constructs/store.js';

/**
 * Regions where SES receives email (SES endpoints page, "Email receiving endpoints"). A deploy
 * elsewhere succeeds but no mail ever arrives, so synth warns.
 */
export const SES_RECEIVING_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ca-central-1',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-northeast-1',
] as const;

export interface LifeboatStackProps extends StackProps {
  /** The validated deployment config. */
  readonly config: LifeboatConfig;
  /** The file the config came from, named in errors. @default 'config' */
  readonly configSource?: string;
}

/**
 * The mail path (SES in, S3 and DynamoDB to keep, Lambda to deliver, CloudWatch to watch) and continuity
 * (probes and paging, the admin API).
 */
export class LifeboatStack extends Stack {
  readonly store: Store;
  readonly monitoring: Monitoring;
  readonly network: DeliveryNetwork | undefined;
  readonly delivery: Delivery;
  readonly inbound: Inbound;
  readonly continuity: Continuity;
  readonly adminApi: AdminApi;

  constructor(scope: Construct, id: string, props: LifeboatStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.aws.logRetentionDays as logs.RetentionDays;

    if (
      !Token.isUnresolved(this.region) &&
      !(SES_RECEIVING_REGIONS as readonly string[]).includes(this.region)
    ) {
      Annotations.of(this).addWarningV2(
        'lifeboat:sesReceivingRegion',
        `SES does not receive email in ${this.region} (as far as this version knows): use one of ${SES_RECEIVING_REGIONS.join(', ')}.`,
      );
    }

    this.store = new Store(this, 'Store', {
      retentionDays: config.retentionDays,
      historyDays: recordDays(config),
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      key: this.store.key,
      alarmEmails: config.aws.alarmEmails,
      oldestDeferredThreshold: Duration.minutes(config.aws.oldestDeferredAlarmMinutes),
    });
    const platform: FunctionPlatform = {
      store: this.store,
      monitoring: this.monitoring,
      configJson: functionConfigJson(config),
      configSource: props.configSource ?? 'config',
      logRetention,
    };

    this.network =
      config.aws.delivery === 'port25'
        ? new DeliveryNetwork(this, 'Network', {
            elasticIpAllocationId: config.aws.elasticIpAllocationId,
            flowLogRetention: logRetention,
            smtpPorts: config.routes.flatMap((route) => route.hosts.map((host) => host.port)),
          })
        : undefined;
    this.delivery = new Delivery(this, 'Delivery', { platform, config, network: this.network });
    this.inbound = new Inbound(this, 'Inbound', {
      platform,
      config,
      deliver: this.delivery.deliver.function,
    });
    this.continuity = new Continuity(this, 'Continuity', {
      platform,
      config,
      network: this.network,
      routeSecrets: this.delivery.routeSecrets,
    });
    this.adminApi = new AdminApi(this, 'AdminApi', { platform, config, continuity: this.continuity });

    this.outputs(config);
  }

  private outputs(config: LifeboatConfig): void {
    new CfnOutput(this, 'MxRecord', {
      description: 'MX record value for every accepted domain (after the domains are verified in SES)',
      value: Fn.join('', ['10 inbound-smtp.', Aws.REGION, '.amazonaws.com']),
    });
    new CfnOutput(this, 'MailBucketName', { value: this.store.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.store.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
    new CfnOutput(this, 'FailedInvocationsQueueUrl', { value: this.monitoring.failedInvocations.queueUrl });
    new CfnOutput(this, 'ReceiptRuleSetName', { value: this.inbound.ruleSetName });
    new CfnOutput(this, 'AdminApiUrl', {
      description: 'The admin API; its routes are below admin/ (e.g. admin/status)',
      value: this.adminApi.url,
    });
    new CfnOutput(this, 'AdminEmailTopicArn', {
      description: 'Pages by email go to this topic: each continuity.paging.adminEmails address must confirm',
      value: this.continuity.adminEmailTopic.topicArn,
    });
    if (this.adminApi.userPool && this.adminApi.userPoolClient) {
      new CfnOutput(this, 'AdminUserPoolId', {
        description: `Cognito user pool of the admins: create each admin here and add them to ${config.adminGroup}`,
        value: this.adminApi.userPool.userPoolId,
      });
      new CfnOutput(this, 'AdminUserPoolClientId', {
        description:
          'The console’s client id in the admin user pool (sign-in and the CLI steps in the guide)',
        value: this.adminApi.userPoolClient.userPoolClientId,
      });
    }
    if (!config.aws.activateRuleSet) {
      new CfnOutput(this, 'ActivateRuleSetCommand', {
        description: 'Run once to make the rule set active (aws.activateRuleSet is false)',
        value: Fn.join('', [
          'aws ses set-active-receipt-rule-set --region ',
          Aws.REGION,
          ` --rule-set-name ${this.inbound.ruleSetName}`,
        ]),
      });
      // SES refuses to delete the active rule set, and nothing deactivates a set activated by hand.
      new CfnOutput(this, 'DeactivateRuleSetCommand', {
        description:
          'Run before deleting the stack if the rule set is still active (stops all SES receiving in this region)',
        value: Fn.join('', ['aws ses set-active-receipt-rule-set --region ', Aws.REGION]),
      });
    }
    if (this.network) {
      new CfnOutput(this, 'DeliveryElasticIp', {
        description:
          'Deliveries come from this address: ask AWS to lift its port-25 limit and allow it at the primary',
        value: this.network.publicIp ?? `see ${this.network.allocationId} in the EC2 console`,
      });
      new CfnOutput(this, 'DeliveryElasticIpAllocationId', { value: this.network.allocationId });
    }
    this.inbound.identities.forEach(({ domain, identity }, i) => {
      const records = [1, 2, 3].map((n) => {
        const name = identity[`dkimDnsTokenName${n}` as 'dkimDnsTokenName1'];
        const value = identity[`dkimDnsTokenValue${n}` as 'dkimDnsTokenValue1'];
        return Fn.join('', [name, ' CNAME ', value]);
      });
      new CfnOutput(this, `DkimRecords${i}`, {
        description: `DKIM CNAME records that verify ${domain} in SES`,
        value: Fn.join(' | ', records),
      });
    });
  }
}
