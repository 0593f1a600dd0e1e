import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_THROTTLE } from '../../infra/aws/constructs/api.js';
import { logicalId, type Synthesized, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

const oidc = {
  aws: {
    adminAuth: {
      issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
      audience: ['api://lifeboat-console', '5f0c3a2e-8d5b-4c1e-9f7a-2b6d4e8c1a93'],
    },
  },
};

const only = (s: Synthesized, type: string): Resource => {
  const all = Object.values(s.template.findResources(type));
  expect(all, type).toHaveLength(1);
  return all[0] as Resource;
};

describe('Admin API', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('requires the JWT authorizer on every route, all of them below /admin/', () => {
    const authorizerId = logicalId(s.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttp');
    const routes = Object.values(s.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties,
    );
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['GET /admin/{proxy+}', 'POST /admin/{proxy+}']);
    for (const route of routes) {
      expect(route, route.RouteKey).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
      });
    }
  });

  it('leaves OPTIONS to API Gateway’s CORS answer, so no route runs the function without a token', () => {
    const keys = Object.values(s.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties.RouteKey as string,
    );
    expect(keys.some((k) => /^(OPTIONS|ANY) |\$default/.test(k))).toBe(false);
  });

  it('hands requests to the api function as payload format 2.0', () => {
    const fnId = logicalId(s.template, 'AWS::Lambda::Function', 'AdminApiFunction');
    expect(only(s, 'AWS::ApiGatewayV2::Integration').Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
  });

  it('throttles the stage', () => {
    expect(only(s, 'AWS::ApiGatewayV2::Stage').Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: API_THROTTLE.rateLimit,
        ThrottlingBurstLimit: API_THROTTLE.burstLimit,
      },
    });
  });

  it('logs every request as JSON to a log group with retention, with no path (it can hold an address)', () => {
    const logsId = logicalId(s.template, 'AWS::Logs::LogGroup', 'AdminApiAccessLogs');
    const settings = only(s, 'AWS::ApiGatewayV2::Stage').Properties.AccessLogSettings;
    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [logsId, 'Arn'] });
    const format = JSON.parse(settings.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      route: '$context.routeKey',
      status: '$context.status',
      caller: '$context.authorizer.claims.sub',
    });
    expect(settings.Format).not.toMatch(/\$context\.path|rawPath|requestBody/);
    expect(s.template.findResources('AWS::Logs::LogGroup')[logsId]?.Properties.RetentionInDays).toBe(
      s.config.aws.logRetentionDays,
    );
  });

  it('lets browsers call it only from the origin of continuity.paging.consoleUrl', () => {
    expect(only(s, 'AWS::ApiGatewayV2::Api').Properties.CorsConfiguration).toEqual({
      AllowOrigins: ['https://lifeboat.example.com'],
      AllowMethods: ['GET', 'POST'],
      AllowHeaders: ['authorization', 'content-type'],
      MaxAge: 3600,
    });
  });

  it('runs the api function outside the delivery VPC, even in port25 mode', () => {
    const port25 = synth({
      routes: [
        { name: 'primary', domains: ['example.com', 'example.org'], hosts: [{ host: 'mx.example.com' }] },
      ],
      aws: { delivery: 'port25' },
    });
    const fns = port25.template.findResources('AWS::Lambda::Function');
    expect(
      fns[logicalId(port25.template, 'AWS::Lambda::Function', 'AdminApiFunction')]?.Properties.VpcConfig,
    ).toBe(undefined);
  });

  it('lets only API Gateway routes of this API invoke the function', () => {
    const fnId = logicalId(s.template, 'AWS::Lambda::Function', 'AdminApiFunction');
    const apiId = logicalId(s.template, 'AWS::ApiGatewayV2::Api', 'AdminApiHttp');
    const permissions = Object.values(s.template.findResources('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.FunctionName?.['Fn::GetAtt']?.[0] === fnId,
    );
    expect(permissions.length).toBeGreaterThan(0);
    for (const p of permissions) {
      expect(p.Properties.Principal).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(p.Properties.SourceArn)).toContain(apiId);
    }
  });

  it('outputs its URL', () => {
    const apiId = logicalId(s.template, 'AWS::ApiGatewayV2::Api', 'AdminApiHttp');
    const url = JSON.stringify(s.template.findOutputs('AdminApiUrl').AdminApiUrl?.Value);
    expect(url).toContain(apiId);
    expect(url).toContain('.execute-api.');
  });

  describe('without aws.adminAuth: a Cognito user pool of its own', () => {
    it('signs in by email only as invited, with a TOTP code every time and long passwords', () => {
      expect(only(s, 'AWS::Cognito::UserPool').Properties).toMatchObject({
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        UsernameAttributes: ['email'],
        MfaConfiguration: 'ON',
        EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
        Policies: {
          PasswordPolicy: {
            MinimumLength: 14,
            RequireLowercase: true,
            RequireUppercase: true,
            RequireNumbers: true,
            RequireSymbols: true,
          },
        },
      });
    });

    it('has advanced security (threat protection) off', () => {
      const pool = only(s, 'AWS::Cognito::UserPool').Properties;
      expect(pool.UserPoolTier).toBe('ESSENTIALS');
      expect(pool.UserPoolAddOns).toBeUndefined();
    });

    it('is retained and protected from deletion with the stack', () => {
      const pool = only(s, 'AWS::Cognito::UserPool');
      expect(pool.DeletionPolicy).toBe('Retain');
      expect(pool.Properties.DeletionProtection).toBe('ACTIVE');
    });

    it('has a group named by adminGroup', () => {
      const custom = synth({ adminGroup: 'mail-admins' });
      expect(only(custom, 'AWS::Cognito::UserPoolGroup').Properties).toMatchObject({
        GroupName: 'mail-admins',
        UserPoolId: { Ref: logicalId(custom.template, 'AWS::Cognito::UserPool', 'AdminApiAdmins') },
      });
    });

    it('has a console client without a secret and without the hosted UI', () => {
      expect(only(s, 'AWS::Cognito::UserPoolClient').Properties).toMatchObject({
        GenerateSecret: false,
        AllowedOAuthFlowsUserPoolClient: false,
        ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
        PreventUserExistenceErrors: 'ENABLED',
      });
    });

    it('is the issuer the authorizer trusts, with the console client as audience', () => {
      const poolId = logicalId(s.template, 'AWS::Cognito::UserPool', 'AdminApiAdmins');
      const clientId = logicalId(s.template, 'AWS::Cognito::UserPoolClient', 'AdminApiAdminsConsole');
      expect(only(s, 'AWS::ApiGatewayV2::Authorizer').Properties).toMatchObject({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: {
          Issuer: {
            'Fn::Join': [
              '',
              ['https://cognito-idp.', { Ref: 'AWS::Region' }, '.amazonaws.com/', { Ref: poolId }],
            ],
          },
          Audience: [{ Ref: clientId }],
        },
      });
    });

    it('outputs the pool and client ids', () => {
      const outputs = s.template.findOutputs('*');
      expect(outputs.AdminUserPoolId?.Value).toEqual({
        Ref: logicalId(s.template, 'AWS::Cognito::UserPool', 'AdminApiAdmins'),
      });
      expect(outputs.AdminUserPoolClientId?.Value).toEqual({
        Ref: logicalId(s.template, 'AWS::Cognito::UserPoolClient', 'AdminApiAdminsConsole'),
      });
    });
  });

  describe('with aws.adminAuth: the organisation’s own OIDC provider', () => {
    let own: Synthesized;
    beforeAll(() => {
      own = synth(oidc);
    });

    it('checks tokens against the configured issuer and audience', () => {
      expect(only(own, 'AWS::ApiGatewayV2::Authorizer').Properties).toMatchObject({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: oidc.aws.adminAuth.issuer, Audience: oidc.aws.adminAuth.audience },
      });
    });

    it('creates no user pool, no client and no pool outputs', () => {
      for (const type of [
        'AWS::Cognito::UserPool',
        'AWS::Cognito::UserPoolClient',
        'AWS::Cognito::UserPoolGroup',
      ]) {
        own.template.resourceCountIs(type, 0);
      }
      const outputs = Object.keys(own.template.findOutputs('*'));
      expect(outputs).toContain('AdminApiUrl');
      expect(outputs).not.toContain('AdminUserPoolId');
      expect(outputs).not.toContain('AdminUserPoolClientId');
    });
  });
});
