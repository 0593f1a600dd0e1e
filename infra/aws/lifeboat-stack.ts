import { Annotations, Aws, CfnOutput, Duration, Fn, Stack, type StackProps, Token } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type LifeboatConfig, recordDays } from '../../lambdas/core/config.js';
import { AdminApi, isLocalRuntimeUrl } from './constructs/api.js';
import { Continuity } from './constructs/continuity.js';
import { Delivery } from './constructs/delivery.js';
import { DeliveryNetwork } from './constructs/delivery-network.js';
import { Inbound, mailFromDomain } from './constructs/inbound.js';
import { type FunctionPlatform, functionConfigJson } from './constructs/lifeboat-function.js';
import { Monitoring } from './constructs/monitoring.js';
import { Sending } from './constructs/sending.js';
import { cognitoIssuerOrigin, StaffAuth, staffSignInHost } from './constructs/staff-auth.js';
import { Store } from './constructs/store.js';
import { WebApp } from './constructs/web-app.js';
import { SearchIndexer, Webmail } from './constructs/webmail.js';

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
  readonly webApp: WebApp;
  readonly staffAuth: StaffAuth;
  readonly indexer: SearchIndexer;
  readonly webmail: Webmail;
  readonly sending: Sending;
  /** The config as the functions get it: the webmail and console links default to the web app's. */
  readonly functionConfig: LifeboatConfig;

  constructor(scope: Construct, id: string, props: LifeboatStackProps) {
    super(scope, id, props);
    const logRetention = props.config.aws.logRetentionDays as logs.RetentionDays;

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
      retentionDays: props.config.retentionDays,
      historyDays: recordDays(props.config),
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      key: this.store.key,
      alarmEmails: props.config.aws.alarmEmails,
      oldestDeferredThreshold: Duration.minutes(props.config.aws.oldestDeferredAlarmMinutes),
    });

    // The web app first: its address is what staff are texted and admins are paged with.
    this.webApp = new WebApp(this, 'WebApp', {
      config: props.config,
      accessLogs: this.store.accessLogs,
      logRetention,
      connectOrigins: [
        cognitoIssuerOrigin(),
        Fn.join('', ['https://', staffSignInHost(props.config, this)]),
        // Any HTTP API of the region, not this one: naming it would make the API (whose CORS names
        // the web app) and the web app (whose CSP would name the API) depend on each other.
        Fn.join('', ['https://*.execute-api.', Aws.REGION, '.', Aws.URL_SUFFIX]),
        // Attachments go straight to the mail bucket through a presigned PUT; as for the API, any
        // bucket of the region: naming this one would make the bucket (whose CORS names the web app)
        // and the web app (whose CSP would name the bucket) depend on each other.
        Fn.join('', ['https://*.s3.', Aws.REGION, '.', Aws.URL_SUFFIX]),
      ],
    });
    this.store.allowUploadsFrom(this.webApp.origin);
    const config = withDeployedUrls(props.config, this.webApp.origin);
    this.functionConfig = config;
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
    this.indexer = new SearchIndexer(this, 'Search', { platform });
    this.inbound = new Inbound(this, 'Inbound', {
      platform,
      config,
      deliver: this.delivery.deliver.function,
      indexQueue: this.indexer.queue,
    });
    this.sending = new Sending(this, 'Sending', {
      platform,
      config,
      deliver: this.delivery.deliver.function,
      indexQueue: this.indexer.queue,
    });
    this.continuity = new Continuity(this, 'Continuity', {
      platform,
      config,
      network: this.network,
      routeSecrets: this.delivery.routeSecrets,
      checkRequesters: [this.delivery.deliver, this.delivery.sweep],
    });
    this.staffAuth = new StaffAuth(this, 'StaffAuth', { config, webOrigin: this.webApp.origin });
    this.adminApi = new AdminApi(this, 'AdminApi', {
      platform,
      config,
      continuity: this.continuity,
      staffAuth: this.staffAuth,
      webOrigin: this.webApp.origin,
    });
    this.webmail = new Webmail(this, 'Webmail', {
      platform,
      httpApi: this.adminApi.httpApi,
      staffAuth: this.staffAuth,
      sending: this.sending,
    });
    this.webApp.deploy({
      oidc: {
        authority: this.staffAuth.issuer,
        clientId: this.staffAuth.webClient.userPoolClientId,
        scope: 'openid profile email phone',
        signInOrigin: this.staffAuth.signInOrigin,
        federation:
          this.staffAuth.federatedClient && this.staffAuth.providerName
            ? {
                clientId: this.staffAuth.federatedClient.userPoolClientId,
                identityProvider: this.staffAuth.providerName,
              }
            : undefined,
      },
      apiBase: this.adminApi.httpApi.apiEndpoint,
    });

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
    new CfnOutput(this, 'WebAppUrl', {
      description:
        'The web app: staff webmail at /mail/, the admin console at /console/ (the links in texts and pages)',
      value: this.webApp.origin,
    });
    new CfnOutput(this, 'WebAppDistributionDomain', {
      description: 'Point the web app’s custom domain (aws.web.customDomain) here with a CNAME or alias',
      value: this.webApp.distribution.distributionDomainName,
    });
    new CfnOutput(this, 'StaffUserPoolId', {
      description: `Staff and admins sign in here; admins are the group ${config.adminGroup} (lifeboat users import --user-pool …)`,
      value: this.staffAuth.userPool.userPoolId,
    });
    new CfnOutput(this, 'StaffWebClientId', {
      description: 'The web app’s client (sign-in with password and SMS code, or passkey)',
      value: this.staffAuth.webClient.userPoolClientId,
    });
    new CfnOutput(this, 'StaffCliClientId', {
      description: 'The client for signing in to the admin API from the command line (step 11)',
      value: this.staffAuth.cliClient.userPoolClientId,
    });
    new CfnOutput(this, 'StaffSignInUrl', {
      description: 'Managed login (SAML: its /saml2/idpresponse is the reply URL to register at the IdP)',
      value: this.staffAuth.signInOrigin,
    });
    if (config.aws.staffAuth.customDomain) {
      new CfnOutput(this, 'StaffSignInDomainTarget', {
        description:
          'Point the sign-in custom domain (aws.staffAuth.customDomain) here with a CNAME or alias',
        value: this.staffAuth.domain.cloudFrontEndpoint,
      });
    }
    new CfnOutput(this, 'IndexDeadLetterQueueUrl', {
      description: 'Search index requests that failed five times wait here (alarmed)',
      value: this.indexer.deadLetters.queueUrl,
    });
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
    new CfnOutput(this, 'SendingConfigurationSet', {
      description:
        'Mail from the webmail goes out through SES in this configuration set (bounces, complaints and deliveries come back)',
      value: this.sending.configurationSetName,
    });
    new CfnOutput(this, 'OutboundDeadLetterQueueUrl', {
      description: 'Wake-ups of the outbound worker that failed five times wait here (alarmed): redrive them',
      value: this.sending.deadLetters.queueUrl,
    });
    this.inbound.identities.forEach(({ domain }, i) => {
      const from = mailFromDomain(config, domain);
      new CfnOutput(this, `MailFromRecords${i}`, {
        description: `Custom MAIL FROM records of ${domain} (SPF aligned for mail sent from the webmail)`,
        value: Fn.join('', [
          `${from} MX 10 feedback-smtp.`,
          Aws.REGION,
          `.amazonses.com | ${from} TXT "v=spf1 include:amazonses.com ~all"`,
        ]),
      });
    });
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

/**
 * The config the functions get: `continuity.staff.webmailUrl` and `continuity.paging.consoleUrl`
 * left at the local runtime's loopback defaults become the deployed web app's `/mail/` and
 * `/console` (known at deploy: CloudFront's domain, or `aws.web.customDomain`). A URL set to
 * anything else is kept as it is.
 */
export function withDeployedUrls(config: LifeboatConfig, webOrigin: string): LifeboatConfig {
  const { staff, paging } = config.continuity;
  return {
    ...config,
    continuity: {
      ...config.continuity,
      staff: {
        ...staff,
        webmailUrl: isLocalRuntimeUrl(staff.webmailUrl) ? `${webOrigin}/mail/` : staff.webmailUrl,
      },
      paging: {
        ...paging,
        consoleUrl: isLocalRuntimeUrl(paging.consoleUrl) ? `${webOrigin}/console` : paging.consoleUrl,
      },
    },
  };
}
