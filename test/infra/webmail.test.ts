import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { INDEX_NONCURRENT_DAYS } from '../../infra/aws/constructs/store.js';
import { SPA_ROUTER_CODE, WebApp } from '../../infra/aws/constructs/web-app.js';
import {
  INDEX_MAX_RECEIVES,
  INDEX_RETENTION,
  INDEXER_MEMORY_MB,
  INDEXER_SCHEDULE_MINUTES,
  INDEXER_TIMEOUT,
} from '../../infra/aws/constructs/webmail.js';
import { REPO_ROOT } from '../../infra/aws/deployment-config.js';
import { NORMAL_INDEX_INTERVAL_MINUTES } from '../../lambdas/core/search/indexer.js';
import { appContentSecurityPolicy, PERMISSIONS_POLICY } from '../../lambdas/webmail/headers.js';
import { logicalId, type Synthesized, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

const one = (s: Synthesized, type: string, prefix: string): Resource =>
  s.template.findResources(type)[logicalId(s.template, type, prefix)] as Resource;

const saml = {
  aws: {
    staffAuth: {
      federation: {
        type: 'saml' as const,
        name: 'Contoso',
        metadataUrl:
          'https://login.microsoftonline.com/tenant/federationmetadata/2007-06/federationmetadata.xml',
        addressesAttribute: 'http://schemas.contoso.com/claims/addresses',
      },
    },
  },
};

describe('Staff sign-in (Cognito)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('lets nobody sign up, signs in by address, and needs a second factor by SMS, app or passkey, never email', () => {
    const pool = one(s, 'AWS::Cognito::UserPool', 'StaffAuthPool').Properties;
    expect(pool).toMatchObject({
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      UsernameAttributes: ['email'],
      MfaConfiguration: 'ON',
      UserPoolTier: 'ESSENTIALS',
      WebAuthnFactorConfiguration: 'MULTI_FACTOR_WITH_USER_VERIFICATION',
      WebAuthnUserVerification: 'required',
      Policies: {
        PasswordPolicy: { MinimumLength: 14 },
        SignInPolicy: { AllowedFirstAuthFactors: ['PASSWORD', 'WEB_AUTHN'] },
      },
    });
    expect([...pool.EnabledMfas].sort()).toEqual(['SMS_MFA', 'SOFTWARE_TOKEN_MFA']);
    expect(JSON.stringify(pool.Policies.SignInPolicy)).not.toMatch(/EMAIL_OTP|SMS_OTP/);
    // Codes go out by SMS through the pool's own SNS role.
    expect(pool.SmsConfiguration.SnsCallerArn).toBeDefined();
  });

  it('recovers accounts through an admin only, never by email', () => {
    const pool = one(s, 'AWS::Cognito::UserPool', 'StaffAuthPool').Properties;
    expect(pool.AccountRecoverySetting).toEqual({
      RecoveryMechanisms: [{ Name: 'admin_only', Priority: 1 }],
    });
  });

  it('makes the passkey relying party the managed login domain, where passkeys are made', () => {
    const pool = one(s, 'AWS::Cognito::UserPool', 'StaffAuthPool').Properties;
    expect(JSON.stringify(pool.WebAuthnRelyingPartyID)).toContain('.auth.');
    expect(JSON.stringify(pool.WebAuthnRelyingPartyID)).toContain('.amazoncognito.com');
    const off = synth({ aws: { staffAuth: { passkeys: false } } });
    const offPool = one(off, 'AWS::Cognito::UserPool', 'StaffAuthPool').Properties;
    expect(offPool.Policies.SignInPolicy.AllowedFirstAuthFactors).toEqual(['PASSWORD']);
    expect(offPool.WebAuthnRelyingPartyID).toBeUndefined();
  });

  it('has the addresses attribute and the admin group', () => {
    const pool = one(s, 'AWS::Cognito::UserPool', 'StaffAuthPool').Properties;
    expect(pool.Schema).toContainEqual(
      expect.objectContaining({ Name: 'addresses', AttributeDataType: 'String', Mutable: true }),
    );
    const groups = Object.values(s.template.findResources('AWS::Cognito::UserPoolGroup'));
    expect(groups.map((g) => g.Properties.GroupName)).toEqual(['lifeboat-admins']);
  });

  it('gives the web app a code + PKCE client with no secret, returning only to /mail/ and /console/', () => {
    const web = one(s, 'AWS::Cognito::UserPoolClient', 'StaffAuthPoolWeb').Properties;
    const distribution = logicalId(s.template, 'AWS::CloudFront::Distribution', 'WebAppDistribution');
    const url = (path: string) => ({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }, path]],
    });
    expect(web).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      SupportedIdentityProviders: ['COGNITO'],
      CallbackURLs: [url('/mail/'), url('/console/')],
      LogoutURLs: [url('/mail/'), url('/console/')],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
    });
    // No token the web app holds can call Cognito's user APIs, and none can change an attribute.
    expect(web.AllowedOAuthScopes).not.toContain('aws.cognito.signin.user.admin');
    expect(web.WriteAttributes).toEqual([]);
  });

  it('keeps a managed login domain (version 2) with its style', () => {
    expect(one(s, 'AWS::Cognito::UserPoolDomain', 'StaffAuthPoolDomain').Properties.ManagedLoginVersion).toBe(
      2,
    );
    s.template.resourceCountIs('AWS::Cognito::ManagedLoginBranding', 1);
  });

  it('federates through a client of its own that alone writes the mapped addresses and has no API sign-in', () => {
    const f = synth(saml);
    const idp = one(f, 'AWS::Cognito::UserPoolIdentityProvider', 'StaffAuthSaml').Properties;
    expect(idp).toMatchObject({
      ProviderName: 'Contoso',
      ProviderType: 'SAML',
      ProviderDetails: { MetadataURL: saml.aws.staffAuth.federation.metadataUrl },
      AttributeMapping: {
        email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
        'custom:addresses': saml.aws.staffAuth.federation.addressesAttribute,
      },
    });
    const sso = one(f, 'AWS::Cognito::UserPoolClient', 'StaffAuthPoolWebFederated').Properties;
    expect(sso).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      // The provider's Ref is its name (Contoso), and makes the client wait for it.
      SupportedIdentityProviders: [
        { Ref: logicalId(f.template, 'AWS::Cognito::UserPoolIdentityProvider', 'StaffAuthSaml') },
      ],
      ExplicitAuthFlows: ['ALLOW_REFRESH_TOKEN_AUTH'],
    });
    expect(sso.WriteAttributes).toContain('custom:addresses');
    const clients = f.template.findResources('AWS::Cognito::UserPoolClient');
    const web = Object.entries(clients).find(([id]) => /^StaffAuthPoolWeb[0-9A-F]{8}$/.test(id))?.[1];
    expect(web?.Properties.WriteAttributes).toEqual([]);
  });

  it('is retained and protected from deletion', () => {
    const pool = one(s, 'AWS::Cognito::UserPool', 'StaffAuthPool');
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.Properties.DeletionProtection).toBe('ACTIVE');
  });
});

describe('Web app (S3 and CloudFront)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('keeps the bucket private and readable by this distribution only, through origin access control', () => {
    const bucketId = logicalId(s.template, 'AWS::S3::Bucket', 'WebAppBucket');
    const bucket = s.template.findResources('AWS::S3::Bucket')[bucketId]!.Properties;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const oac = Object.values(s.template.findResources('AWS::CloudFront::OriginAccessControl'));
    expect(oac).toHaveLength(1);
    expect(oac[0]!.Properties.OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
    });
    const policy = Object.values(s.template.findResources('AWS::S3::BucketPolicy')).find(
      (p) => p.Properties.Bucket.Ref === bucketId,
    )!;
    const reads = policy.Properties.PolicyDocument.Statement.filter(
      (st: { Effect: string }) => st.Effect === 'Allow',
    );
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({
      Action: 's3:GetObject',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
    });
  });

  it('redirects to HTTPS and sends the app’s security headers, HSTS included', () => {
    const dist = one(s, 'AWS::CloudFront::Distribution', 'WebAppDistribution').Properties.DistributionConfig;
    expect(dist.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    const headers = one(s, 'AWS::CloudFront::ResponseHeadersPolicy', 'WebAppHeaders').Properties
      .ResponseHeadersPolicyConfig;
    const csp = JSON.stringify(headers.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy);
    for (const directive of appContentSecurityPolicy()
      .split('; ')
      .filter((d) => !/^(connect-src|form-action)/.test(d))) {
      expect(csp).toContain(directive);
    }
    expect(csp).toContain('cognito-idp.');
    expect(csp).toContain('.auth.');
    expect(headers.SecurityHeadersConfig).toMatchObject({
      FrameOptions: { FrameOption: 'DENY', Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
      ContentTypeOptions: { Override: true },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 31536000, IncludeSubdomains: true, Override: true },
    });
    expect(headers.CustomHeadersConfig.Items).toEqual([
      { Header: 'Permissions-Policy', Value: PERMISSIONS_POLICY, Override: true },
    ]);
  });

  it('routes the single-page apps on the viewer request', () => {
    const fn = one(s, 'AWS::CloudFront::Function', 'WebAppSpaRouter').Properties;
    expect(fn.FunctionCode).toBe(SPA_ROUTER_CODE);
    const run = new Function(`${SPA_ROUTER_CODE}; return handler;`)() as (e: unknown) => {
      uri?: string;
      statusCode?: number;
      headers?: { location: { value: string } };
    };
    const at = (uri: string) => run({ request: { uri } });
    expect(at('/mail/inbox/123').uri).toBe('/mail/index.html');
    expect(at('/console/events/e1').uri).toBe('/console/index.html');
    expect(at('/mail/sw.js').uri).toBe('/mail/sw.js');
    expect(at('/assets/mail-1.js').uri).toBe('/assets/mail-1.js');
    expect(at('/mail').headers?.location.value).toBe('/mail/');
    expect(at('/').headers?.location.value).toBe('/mail/');
  });

  it('deploys app-config.json naming the pool’s issuer, the web client and the HTTP API', () => {
    const deployments = Object.values(s.template.findResources('Custom::CDKBucketDeployment'));
    const pages = deployments.find((d) => JSON.stringify(d.Properties).includes('no-cache'))!;
    const markers = JSON.stringify(pages.Properties.SourceMarkers ?? pages.Properties.SourceMarkersConfig);
    expect(markers).toContain(logicalId(s.template, 'AWS::Cognito::UserPool', 'StaffAuthPool'));
    expect(markers).toContain(logicalId(s.template, 'AWS::Cognito::UserPoolClient', 'StaffAuthPoolWeb'));
    expect(markers).toContain(logicalId(s.template, 'AWS::ApiGatewayV2::Api', 'AdminApiHttp'));
  });

  it('texts staff and pages admins with the deployed web app’s links when left at the local defaults', () => {
    const local = synth({
      continuity: {
        paging: { consoleUrl: 'http://127.0.0.1:8787' },
        staff: { webmailUrl: 'http://127.0.0.1:8787/mail/' },
      },
    });
    expect(local.stack.functionConfig.continuity.staff.webmailUrl).toMatch(
      /^https:\/\/\$\{Token\[.+\]\}\/mail\/$/,
    );
    expect(local.stack.functionConfig.continuity.paging.consoleUrl).toMatch(
      /^https:\/\/\$\{Token\[.+\]\}\/console$/,
    );
    // Set elsewhere, they are kept.
    expect(s.stack.functionConfig.continuity.staff.webmailUrl).toBe('https://lifeboat.example.com/mail');
  });

  it('deploys a placeholder page and warns when the web app was not built', () => {
    const stack = new Stack(new App(), 'Bare');
    const web = new WebApp(stack, 'WebApp', {
      config: s.config,
      accessLogs: new s3.Bucket(stack, 'Logs'),
      connectOrigins: [],
      logRetention: 90,
      distDir: join(REPO_ROOT, 'no-such-build'),
    });
    web.deploy({ oidc: { authority: 'a', clientId: 'c', scope: 'openid', signInOrigin: 'o' }, apiBase: '' });
    expect(web.built).toBe(false);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('not built'));
    expect(warnings).toHaveLength(1);
    expect(Object.keys(Template.fromStack(stack).findResources('Custom::CDKBucketDeployment'))).toHaveLength(
      1,
    );
  });

  it('outputs the web app’s address and the sign-in ids', () => {
    const outputs = Object.keys(s.template.findOutputs('*'));
    for (const name of [
      'WebAppUrl',
      'StaffUserPoolId',
      'StaffWebClientId',
      'StaffCliClientId',
      'StaffSignInUrl',
    ]) {
      expect(outputs).toContain(name);
    }
  });
});

describe('Search indexer', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('is fed by a standard queue, encrypted, with a dead-letter queue after a few tries', () => {
    const queue = one(s, 'AWS::SQS::Queue', 'SearchQueue').Properties;
    const dlqId = logicalId(s.template, 'AWS::SQS::Queue', 'SearchDeadLetters');
    expect(queue).toMatchObject({
      VisibilityTimeout: 600,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: INDEX_MAX_RECEIVES,
      },
    });
    expect(queue.FifoQueue).toBeUndefined();
    expect(queue.KmsMasterKeyId).toBeDefined();
    // Requests stay hidden while a run that received them may still be working on them.
    expect(queue.VisibilityTimeout).toBeGreaterThan(INDEXER_TIMEOUT.toSeconds());
    // Half a day of waiting in normal times fits many times over, and a request moved to the
    // dead-letter queue (which keeps its first enqueue time) still has days there.
    const dlq = one(s, 'AWS::SQS::Queue', 'SearchDeadLetters').Properties;
    expect(queue.MessageRetentionPeriod).toBe(INDEX_RETENTION.toSeconds());
    expect(queue.MessageRetentionPeriod).toBeGreaterThanOrEqual(4 * NORMAL_INDEX_INTERVAL_MINUTES * 60);
    expect(dlq.MessageRetentionPeriod).toBeGreaterThan(queue.MessageRetentionPeriod);
  });

  it('drains the queue from a schedule, one run at a time (the one writer of every index)', () => {
    // No function polls the index queue; the one event source mapping is the outbound queue's.
    const indexQueue = logicalId(s.template, 'AWS::SQS::Queue', 'SearchQueue');
    for (const m of Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'))) {
      expect(JSON.stringify(m.Properties.EventSourceArn)).not.toContain(indexQueue);
    }
    const fn = one(s, 'AWS::Lambda::Function', 'SearchIndexerFunction').Properties;
    expect(fn.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Timeout).toBe(INDEXER_TIMEOUT.toSeconds());
    // A catch-up parses on a whole vCPU, which Lambda gives at 1,769 MB.
    expect(fn.MemorySize).toBe(INDEXER_MEMORY_MB);
    expect(INDEXER_MEMORY_MB).toBeGreaterThanOrEqual(1_769);
    expect(fn.Environment.Variables.INDEX_QUEUE_URL).toEqual({
      Ref: logicalId(s.template, 'AWS::SQS::Queue', 'SearchQueue'),
    });
    const rule = one(s, 'AWS::Events::Rule', 'SearchSchedule').Properties;
    expect(rule.ScheduleExpression).toBe(`rate(${INDEXER_SCHEDULE_MINUTES} minute)`);
    expect(rule.Targets[0].Arn).toEqual({
      'Fn::GetAtt': [logicalId(s.template, 'AWS::Lambda::Function', 'SearchIndexerFunction'), 'Arn'],
    });
  });

  it('expires replaced index blobs after a day instead of keeping every old version', () => {
    const bucket = one(s, 'AWS::S3::Bucket', 'StoreMail').Properties;
    const rule = bucket.LifecycleConfiguration.Rules.find(
      (r: { Id: string }) => r.Id === 'expire-replaced-index-blobs',
    );
    expect(rule).toMatchObject({
      Prefix: 'index/',
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: INDEX_NONCURRENT_DAYS },
    });
  });

  it('alarms on any request in the dead-letter queue', () => {
    const alarm = one(s, 'AWS::CloudWatch::Alarm', 'MonitoringIndexDeadLettersAlarm').Properties;
    expect(alarm).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
  });

  it('is fed by ingest, which may only send to it', () => {
    const ingest = one(s, 'AWS::Lambda::Function', 'InboundIngestFunction').Properties;
    expect(ingest.Environment.Variables.INDEX_QUEUE_URL).toEqual({
      Ref: logicalId(s.template, 'AWS::SQS::Queue', 'SearchQueue'),
    });
    const sqsActions = Object.entries(s.template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('InboundIngest'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .flatMap((st: { Action: string | string[] }) => (Array.isArray(st.Action) ? st.Action : [st.Action]))
      .filter((a: string) => a.startsWith('sqs:'));
    expect(sqsActions.sort()).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
  });
});
