import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { API_MEMORY_MB } from '../function-memory.js';
import { acknowledgeNag } from '../nag.js';
import { ADMIN_EMAIL_TOPIC_ENV, type Continuity } from './continuity.js';
import { type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';

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

/** Cognito: long passphrases, every character class (cdk-nag COG1 asks for at least 8). */
const PASSWORD_MIN_LENGTH = 14;

/** A console sign-in lasts a working day; after that it takes the password and a TOTP code again. */
const REFRESH_TOKEN_VALIDITY = Duration.hours(12);

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

export interface AdminApiProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Gives the function the paging rights and the admin email topic (invoking continuity texts staff). */
  readonly continuity: Continuity;
}

/**
 * The admin API: an HTTP API whose every route under `/admin/` needs a JWT that API Gateway has verified,
 * from the organisation's own OIDC provider (`aws.adminAuth`) or from a Cognito user pool the stack
 * creates; the `api` function then requires membership of `adminGroup`. Throttled, access-logged, and
 * open to browsers only from the console's origin (`continuity.paging.consoleUrl`).
 */
export class AdminApi extends Construct {
  readonly api: LifeboatFunction;
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** The stage's invoke URL, ending in `/`. */
  readonly url: string;
  /** Only when `aws.adminAuth` is not set. */
  readonly userPool: cognito.UserPool | undefined;
  /** The console's client of {@link AdminApi.userPool}. */
  readonly userPoolClient: cognito.UserPoolClient | undefined;

  constructor(scope: Construct, id: string, props: AdminApiProps) {
    super(scope, id);
    const { config, platform, continuity } = props;
    const stack = Stack.of(this);

    // Not in the delivery VPC: the API talks to DynamoDB, S3 and SNS only, never SMTP.
    this.api = new LifeboatFunction(this, 'Api', {
      handler: 'api',
      description: 'Lifeboat: the admin API (status, events, invoke and revoke continuity, queue)',
      platform,
      timeout: API_FUNCTION_TIMEOUT,
      memorySize: API_MEMORY_MB,
      environment: { [ADMIN_EMAIL_TOPIC_ENV]: continuity.adminEmailTopic.topicArn },
    });
    // Records only: nothing the admin API serves reads raw mail.
    platform.store.grantTable(this.api);
    continuity.grantPaging(this.api);

    let authorizer: apigw.IHttpRouteAuthorizer;
    const { adminAuth } = config.aws;
    if (adminAuth) {
      this.userPool = undefined;
      this.userPoolClient = undefined;
      authorizer = new authorizers.HttpJwtAuthorizer('AdminJwt', adminAuth.issuer, {
        jwtAudience: [...adminAuth.audience],
      });
    } else {
      this.userPool = this.createUserPool(config);
      this.userPoolClient = this.userPool.addClient('Console', {
        userPoolClientName: 'lifeboat-console',
        // A browser app cannot keep a secret.
        generateSecret: false,
        // SRP for the console; password auth (over TLS to Cognito, MFA still required) for the CLI steps
        // in the guide. No hosted UI until the console has an address to return to.
        authFlows: { userSrp: true, userPassword: true },
        disableOAuth: true,
        preventUserExistenceErrors: true,
        enableTokenRevocation: true,
        refreshTokenValidity: REFRESH_TOKEN_VALIDITY,
      });
      authorizer = new authorizers.HttpUserPoolAuthorizer('AdminUserPool', this.userPool, {
        userPoolClients: [this.userPoolClient],
      });
    }

    const consoleOrigin = new URL(config.continuity.paging.consoleUrl).origin;
    this.httpApi = new apigw.HttpApi(this, 'Http', {
      apiName: `${stack.stackName}-admin`,
      description: 'Lifeboat admin API',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [consoleOrigin],
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

  /**
   * The admins' own user pool: invited by an admin only, TOTP MFA required, long passwords, and the group
   * the API checks. Retained (and protected from deletion) like the mail: deleting the stack never deletes
   * the admins' accounts by accident.
   */
  private createUserPool(config: LifeboatConfig): cognito.UserPool {
    const pool = new cognito.UserPool(this, 'Admins', {
      userPoolName: `${Stack.of(this).stackName}-admins`,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      mfa: cognito.Mfa.REQUIRED,
      // TOTP only: SMS codes would need an SNS role for Cognito and can be intercepted.
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: PASSWORD_MIN_LENGTH,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      userInvitation: {
        emailSubject: `Lifeboat admin console for ${config.organisation}`,
        emailBody: `You are an admin of the Lifeboat email continuity service for ${config.organisation}. Sign in as {username} with the temporary password {####}, then set a password and an authenticator app.`,
      },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    pool.addGroup('AdminGroup', {
      groupName: config.adminGroup,
      description: 'Lifeboat admins: may use the admin API and console',
    });
    acknowledgeNag(
      pool,
      'AwsSolutions-COG8',
      'Threat protection (the Plus feature plan) is off on purpose: the pool holds a handful of admins that another admin invites (self sign-up is off), every sign-in needs a TOTP code, and the API checks the admin group on every call; Plus adds a per-user charge and adaptive rules to tune for no real gain here.',
    );
    return pool;
  }
}
