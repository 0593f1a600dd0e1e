import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { API_MEMORY_MB } from '../function-memory.js';
import { ADMIN_EMAIL_TOPIC_ENV, type Continuity } from './continuity.js';
import { type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';
import type { StaffAuth } from './staff-auth.js';

/** Where the admin API lives; the handler's routes are all below it. */
export const ADMIN_PATH = '/admin/{proxy+}';

/**
 * The methods the handler serves. Not ANY: an ANY route would also catch the browser's CORS preflight
 * (OPTIONS, sent without a token) and the authorizer would refuse it; with only these routes, API Gateway
 * answers the preflight itself from the CORS settings and never invokes the function unauthenticated.
 */
export const ADMIN_METHODS = [apigw.HttpMethod.GET, apigw.HttpMethod.POST] as const;

/**
 * A handful of admins and one console: steady rate and burst well above what they make, low enough that a
 * leaked token or a looping client cannot run up Lambda and DynamoDB charges.
 */
export const API_THROTTLE = { rateLimit: 20, burstLimit: 40 } as const;

/** API Gateway gives up on an HTTP API integration after 30 s; the function stops just before. */
const API_FUNCTION_TIMEOUT = Duration.seconds(29);

/** How long a browser may cache the CORS preflight answer. */
const CORS_MAX_AGE = Duration.hours(1);

/**
 * Access log fields: who (the token's subject) did what (method and route) with which outcome. Not the
 * path: it can hold a recipient's address (`/admin/messages/…/recipients/<address>/retry`), and mail
 * addresses stay out of logs; what an admin changed is in the audit log with its detail.
 */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  route: '$context.routeKey',
  status: '$context.status',
  latencyMs: '$context.responseLatency',
  responseBytes: '$context.responseLength',
  caller: '$context.authorizer.claims.sub',
  authorizerError: '$context.authorizer.error',
  integrationError: '$context.integrationErrorMessage',
});

/** The admin API's environment variable naming the From address of staff notices by email. */
export const STAFF_EMAIL_FROM_ENV = 'STAFF_EMAIL_FROM';

/** The local part of the staff notices' From address when `aws.staffEmailFrom` is not set. */
export const DEFAULT_STAFF_EMAIL_LOCAL_PART = 'continuity';

/**
 * The From address of staff notices by email: `aws.staffEmailFrom` (the config refuses one off the
 * accepted domains), or `continuity@<first accepted domain>`. Only the admin API gets it, as an
 * environment variable of its own, so it costs LIFEBOAT_CONFIG (and the 4 KB environment of every
 * other function) nothing.
 */
export function staffEmailFrom(config: Pick<LifeboatConfig, 'aws' | 'domains'>): string {
  return config.aws.staffEmailFrom ?? `${DEFAULT_STAFF_EMAIL_LOCAL_PART}@${config.domains[0]}`;
}

export interface AdminApiProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Gives the function the paging rights and the admin email topic (invoking continuity texts staff). */
  readonly continuity: Continuity;
  /** Staff and admins sign in here (unless `aws.adminAuth` names another provider for the admins). */
  readonly staffAuth: StaffAuth;
  /** The web app's origin: browsers may call the API from it. */
  readonly webOrigin: string;
}

/** A URL of the local runtime's defaults (loopback): never an origin to allow in AWS. */
export function isLocalRuntimeUrl(url: string): boolean {
  return /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(url);
}

/**
 * The HTTP API of the admins and staff: every route under `/admin/` needs a JWT that API Gateway has
 * verified, from the organisation's own OIDC provider (`aws.adminAuth`) or from the staff user pool;
 * the `api` function then requires membership of `adminGroup`. The webmail adds `/mail/api/` (see
 * webmail.ts). Throttled, access-logged, and open to browsers only from the web app's origin.
 */
export class AdminApi extends Construct {
  readonly api: LifeboatFunction;
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** The stage's invoke URL, ending in `/`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: AdminApiProps) {
    super(scope, id);
    const { config, platform, continuity } = props;
    const stack = Stack.of(this);

    const noticeFrom = staffEmailFrom(config);

    // Not in the delivery VPC: the API talks to DynamoDB, S3, SNS and SES only, never SMTP.
    this.api = new LifeboatFunction(this, 'Api', {
      handler: 'api',
      description: 'Lifeboat: the admin API (status, events, invoke and revoke continuity, queue)',
      platform,
      timeout: API_FUNCTION_TIMEOUT,
      memorySize: API_MEMORY_MB,
      environment: {
        [ADMIN_EMAIL_TOPIC_ENV]: continuity.adminEmailTopic.topicArn,
        [STAFF_EMAIL_FROM_ENV]: noticeFrom,
      },
    });
    // The records, and raw mail for one read: the quarantine preview (GET /admin/quarantine/<id>),
    // so an admin can judge a quarantined message safely before releasing or deleting it. Read
    // only (s3:GetObject on raw/ and kms:Decrypt on the mail key), audited as quarantine-view, and
    // only for mail with a quarantined delivery; a bounce's DSN quotes the original's headers from it.
    platform.store.grantTable(this.api);
    platform.store.grantReadRaw(this.api);
    continuity.grantPaging(this.api);
    // Staff notices by email: SES v2 SendEmail from the From address's domain identity, without a
    // configuration set (SES then checks the identity alone). Not SendRawEmail: a notice is plain text.
    this.api.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendStaffNoticesFromTheIdentity',
        actions: ['ses:SendEmail'],
        resources: [
          stack.formatArn({
            service: 'ses',
            resource: 'identity',
            resourceName: noticeFrom.slice(noticeFrom.lastIndexOf('@') + 1),
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ],
      }),
    );

    let authorizer: apigw.IHttpRouteAuthorizer;
    const { adminAuth } = config.aws;
    if (adminAuth) {
      authorizer = new authorizers.HttpJwtAuthorizer('AdminJwt', adminAuth.issuer, {
        jwtAudience: [...adminAuth.audience],
      });
    } else {
      // The staff pool: the function then requires the admin group. The CLI client is for the guide's
      // command-line sign-in, the web clients for the console.
      const { staffAuth } = props;
      authorizer = new authorizers.HttpUserPoolAuthorizer('AdminUserPool', staffAuth.userPool, {
        userPoolClients: [
          staffAuth.webClient,
          staffAuth.cliClient,
          ...(staffAuth.federatedClient ? [staffAuth.federatedClient] : []),
        ],
      });
    }

    // The web app (webmail and console) calls the API from its own origin; a console hosted
    // elsewhere (continuity.paging.consoleUrl set to another origin) may too.
    const consoleOrigin = Token.isUnresolved(config.continuity.paging.consoleUrl)
      ? undefined
      : new URL(config.continuity.paging.consoleUrl).origin;
    const allowOrigins = [props.webOrigin];
    if (consoleOrigin && consoleOrigin !== props.webOrigin && !isLocalRuntimeUrl(consoleOrigin)) {
      allowOrigins.push(consoleOrigin);
    }
    this.httpApi = new apigw.HttpApi(this, 'Http', {
      apiName: `${stack.stackName}-admin`,
      description: 'Lifeboat admin API',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins,
        allowMethods: ADMIN_METHODS.map((m) => apigw.CorsHttpMethod[m]),
        allowHeaders: ['authorization', 'content-type'],
        maxAge: CORS_MAX_AGE,
      },
    });
    this.httpApi.addRoutes({
      path: ADMIN_PATH,
      methods: [...ADMIN_METHODS],
      integration: new integrations.HttpLambdaIntegration('Api', this.api.function, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: platform.logRetention });
    this.stage = this.httpApi.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...API_THROTTLE },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });
    this.url = this.stage.url;

    // The handler answers an unexpected error with a 500 instead of failing the invocation, so the
    // function's error alarm would stay silent: the API's own 5xx count is watched instead.
    const period = Duration.minutes(5);
    platform.monitoring.addAlarm(
      'ApiServerErrorsAlarm',
      'The admin API answered with a 5xx: see the Api function’s log.',
      this.httpApi.metricServerError({ period, statistic: 'Sum' }),
      1,
    );
    platform.monitoring.addDashboardRow(
      new cloudwatch.GraphWidget({
        title: 'Admin API: requests and errors',
        left: [
          this.httpApi.metricCount({ period, statistic: 'Sum' }),
          this.httpApi.metricClientError({ period, statistic: 'Sum' }),
          this.httpApi.metricServerError({ period, statistic: 'Sum' }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Admin API: latency',
        left: [this.httpApi.metricLatency({ period, statistic: 'p99' })],
        width: 12,
      }),
    );
  }
}
