import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_THROTTLE, STAFF_EMAIL_FROM_ENV } from '../../infra/aws/constructs/api.js';
import { list, logicalId, roleStatements, type Synthesized, sesArn, synth } from './stack.js';

type Resource = ReturnType<Template['findResources']>[string];

const oidc = {
  aws: {
    adminAuth: {
      issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
      audience: ['api://lifeboat-console', '5f0c3a2e-8d5b-4c1e-9f7a-2b6d4e8c1a93'],
    },
  },
};

/** The ARN the stack formats for the SES identity of `domain` in its own account and region. */
const identityArn = (domain: string) => sesArn(`identity/${domain}`);

/** Where each function's environment names a From address for staff notices, by function. */
const staffEmailFroms = (s: Synthesized) =>
  Object.fromEntries(
    Object.entries(s.template.findResources('AWS::Lambda::Function')).flatMap(([id, fn]) => {
      const from = fn.Properties.Environment?.Variables?.[STAFF_EMAIL_FROM_ENV];
      return from === undefined ? [] : [[id.replace(/[0-9A-F]{8}$/, ''), from]];
    }),
  );

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

  it('requires a JWT authorizer on every route: the admin pool’s below /admin/, the staff pool’s below /mail/api/', () => {
    const admin = logicalId(s.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttpAdminUserPool');
    const staff = logicalId(s.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttpStaffUserPool');
    const routes = Object.values(s.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties,
    );
    expect(routes.map((r) => r.RouteKey).sort()).toEqual([
      'GET /admin/{proxy+}',
      'GET /mail/api/{proxy+}',
      'POST /admin/{proxy+}',
      'POST /mail/api/{proxy+}',
    ]);
    for (const route of routes) {
      expect(route, route.RouteKey).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: route.RouteKey.includes('/admin/') ? admin : staff },
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
    const integrations = Object.values(s.template.findResources('AWS::ApiGatewayV2::Integration')).filter(
      (i) => JSON.stringify(i.Properties.IntegrationUri).includes(fnId),
    );
    expect(integrations).toHaveLength(1);
    expect(integrations[0]?.Properties).toMatchObject({
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

  it('lets browsers call it only from the web app’s origin and a console origin set elsewhere', () => {
    const cors = only(s, 'AWS::ApiGatewayV2::Api').Properties.CorsConfiguration;
    const distribution = logicalId(s.template, 'AWS::CloudFront::Distribution', 'WebAppDistribution');
    expect(cors.AllowOrigins).toEqual([
      { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }]] },
      'https://lifeboat.example.com',
    ]);
    expect(cors).toMatchObject({
      AllowMethods: ['GET', 'POST'],
      AllowHeaders: ['authorization', 'content-type'],
      MaxAge: 3600,
    });
    // Left at the local runtime's default, the console is the web app's: one origin only.
    const local = synth({ continuity: { paging: { consoleUrl: 'http://127.0.0.1:8787' } } });
    expect(only(local, 'AWS::ApiGatewayV2::Api').Properties.CorsConfiguration.AllowOrigins).toHaveLength(1);
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

  it('without aws.adminAuth, trusts the staff pool for the admin routes, with the web and CLI clients as audience', () => {
    const poolId = logicalId(s.template, 'AWS::Cognito::UserPool', 'StaffAuthPool');
    const web = logicalId(s.template, 'AWS::Cognito::UserPoolClient', 'StaffAuthPoolWeb');
    const cli = logicalId(s.template, 'AWS::Cognito::UserPoolClient', 'StaffAuthPoolCli');
    const admin = logicalId(s.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttpAdminUserPool');
    expect(s.template.findResources('AWS::ApiGatewayV2::Authorizer')[admin]?.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        Issuer: {
          'Fn::Join': [
            '',
            ['https://cognito-idp.', { Ref: 'AWS::Region' }, '.amazonaws.com/', { Ref: poolId }],
          ],
        },
        Audience: [{ Ref: web }, { Ref: cli }],
      },
    });
  });

  describe('staff notices by email', () => {
    it('sends them from continuity@ the first accepted domain, the api function alone, SendEmail on that identity only', () => {
      expect(staffEmailFroms(s)).toEqual({ AdminApiFunction: 'continuity@example.com' });
      const ses = roleStatements(s, 'AdminApiRole').filter((st) =>
        list(st.Action).some((a) => a.startsWith('ses:')),
      );
      expect(ses).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'ses:SendEmail',
          Resource: identityArn('example.com'),
        }),
      ]);
    });

    it('sends them from aws.staffEmailFrom, through the identity of its domain', () => {
      const own = synth({ aws: { staffEmailFrom: 'IT-Notices@Example.org' } });
      expect(staffEmailFroms(own)).toEqual({ AdminApiFunction: 'it-notices@example.org' });
      const ses = roleStatements(own, 'AdminApiRole').filter((st) =>
        list(st.Action).some((a) => a.startsWith('ses:')),
      );
      expect(ses).toEqual([
        expect.objectContaining({ Action: 'ses:SendEmail', Resource: identityArn('example.org') }),
      ]);
    });
  });

  describe('with aws.adminAuth: the organisation’s own OIDC provider', () => {
    let own: Synthesized;
    beforeAll(() => {
      own = synth(oidc);
    });

    it('checks admin tokens against the configured issuer and audience', () => {
      const admin = logicalId(own.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttpAdminJwt');
      expect(own.template.findResources('AWS::ApiGatewayV2::Authorizer')[admin]?.Properties).toMatchObject({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: oidc.aws.adminAuth.issuer, Audience: oidc.aws.adminAuth.audience },
      });
    });

    it('still signs staff in to the webmail through the staff pool', () => {
      const staff = logicalId(own.template, 'AWS::ApiGatewayV2::Authorizer', 'AdminApiHttpStaffUserPool');
      const issuer = JSON.stringify(
        own.template.findResources('AWS::ApiGatewayV2::Authorizer')[staff]?.Properties.JwtConfiguration
          .Issuer,
      );
      expect(issuer).toContain(logicalId(own.template, 'AWS::Cognito::UserPool', 'StaffAuthPool'));
    });
  });
});
