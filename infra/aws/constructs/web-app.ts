import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import {
  appContentSecurityPolicy,
  PERMISSIONS_POLICY,
  STRICT_TRANSPORT_SECURITY,
} from '../../../lambdas/webmail/headers.js';
import { REPO_ROOT } from '../deployment-config.js';
import { acknowledgeNag } from '../nag.js';

/** Where `npm run build:web` (Vite) writes the web app. */
export const WEB_DIST_DIR = join(REPO_ROOT, 'dist/web');

/** The page that proves a build is there: the webmail's shell. */
const WEB_ENTRY = 'mail/index.html';

/** Vite's content-hashed files: a new build gives them new names, so they never change in place. */
const HASHED_ASSETS_PREFIX = 'assets/';

/** A hashed asset never changes: browsers and CloudFront keep it a year. */
const IMMUTABLE = s3deploy.CacheControl.fromString('public, max-age=31536000, immutable');

/** The pages, the service worker and app-config.json are checked on every load, so a deploy shows at once. */
const REVALIDATE = s3deploy.CacheControl.fromString('no-cache');

/**
 * The viewer-request function: the SPAs' own routes (`/mail/inbox/…`, `/console/events/…`, anything
 * without a file extension below them) get their `index.html`; `/`, `/mail` and `/console` redirect to
 * the app's folder, so the SMS link (`…/mail`) and the bare domain both land on the webmail.
 */
export const SPA_ROUTER_CODE = `function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === '/' || uri === '/mail' || uri === '/console') {
    var to = uri === '/' ? '/mail/' : uri + '/';
    return { statusCode: 302, statusDescription: 'Found', headers: { location: { value: to } } };
  }
  var app = uri.match(/^\\/(mail|console)\\//);
  if (app && !/\\.[A-Za-z0-9]+$/.test(uri)) request.uri = '/' + app[1] + '/index.html';
  return request;
}`;

/** The placeholder page deployed when the web app was not built before synth. */
const PLACEHOLDER_HTML = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Lifeboat</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<h1>Lifeboat</h1><p>The web app was not built when this stack was deployed. Run <code>npm ci</code>
(which builds it) and <code>npx cdk deploy</code> again.</p></html>`;

/** What the web app reads at start (`/app-config.json`); the same shape the local runtime serves. */
export interface AppConfig {
  oidc: {
    authority: string;
    clientId: string;
    scope: string;
    /** Managed login's origin, for the sign-out redirect (`<domain>/logout`). */
    signInOrigin: string;
    /** The corporate IdP's client, when federation is configured: sign in with `identity_provider`. */
    federation?: { clientId: string; identityProvider: string } | undefined;
  };
  apiBase: string;
}

export interface WebAppProps {
  readonly config: LifeboatConfig;
  /** Where CloudFront's and the bucket's access logs go (the store's access-log bucket). */
  readonly accessLogs: s3.IBucket;
  /**
   * Origins besides its own the app talks to: the OpenID issuer, managed login, the HTTP API.
   * They go into the CSP's `connect-src` and `form-action`.
   */
  readonly connectOrigins: readonly string[];
  /** Days the upload function's log is kept (`aws.logRetentionDays`). */
  readonly logRetention: logs.RetentionDays;
  /** Where the web app is built. @default WEB_DIST_DIR */
  readonly distDir?: string;
}

/**
 * The web app (webmail and console) on a private S3 bucket behind CloudFront: origin access control
 * (only this distribution may read the bucket; nothing is public), HTTPS only, the app's security
 * headers from the one module the local runtime serves them from, HSTS, and a viewer-request function
 * for the single-page apps' routes.
 */
export class WebApp extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly headers: cloudfront.ResponseHeadersPolicy;
  readonly router: cloudfront.Function;
  /** `https://<custom domain or CloudFront's>`, no trailing slash. */
  readonly origin: string;
  /** Whether dist/web was there at synth (false: a placeholder page is deployed). */
  readonly built: boolean;
  private readonly distDir: string;
  private readonly logRetention: logs.RetentionDays;

  constructor(scope: Construct, id: string, props: WebAppProps) {
    super(scope, id);
    const { config } = props;
    const { customDomain } = config.aws.web;
    this.distDir = props.distDir ?? WEB_DIST_DIR;
    this.logRetention = props.logRetention;
    this.built = existsSync(join(this.distDir, WEB_ENTRY));

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'web/',
      // Only the build, which the next deploy puts back; retained so a stack delete never fails on it.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const origins_ = props.connectOrigins.join(' ');
    const hsts = parseHsts(STRICT_TRANSPORT_SECURITY);
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      comment: 'Lifeboat web app: CSP, HSTS, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: appContentSecurityPolicy({ authorityOrigin: origins_ }),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.seconds(hsts.maxAge),
          includeSubdomains: hsts.includeSubdomains,
          override: true,
        },
      },
      customHeadersBehavior: {
        customHeaders: [{ header: 'Permissions-Policy', value: PERMISSIONS_POLICY, override: true }],
      },
    });

    this.router = new cloudfront.Function(this, 'SpaRouter', {
      comment: 'Lifeboat: single-page app routes to their index.html',
      code: cloudfront.FunctionCode.fromInline(SPA_ROUTER_CODE),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${Stack.of(this).stackName}: Lifeboat web app`,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
        compress: true,
        functionAssociations: [
          { function: this.router, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
        ],
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      ...(customDomain
        ? {
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            domainNames: [customDomain.domainName],
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', customDomain.certificateArn),
          }
        : {}),
    });
    this.origin = `https://${customDomain?.domainName ?? this.distribution.distributionDomainName}`;

    acknowledgeNag(
      this.distribution,
      'AwsSolutions-CFR1',
      'No geo restriction: staff read their mail wherever they are when the mail server fails (travelling, at home abroad); every page and API call needs a sign-in.',
    );
    acknowledgeNag(
      this.distribution,
      'AwsSolutions-CFR2',
      'No WAF web ACL: the distribution serves only static files from a private bucket (nothing to inject into), the API behind it has its own throttling and authorizer, and a web ACL costs at least $5 a month plus per-request fees for no protection these files need.',
    );
    acknowledgeNag(
      this.distribution,
      'AwsSolutions-CFR3',
      'No CloudFront access logs: they would record every staff member’s IP address and path for static files only; the bucket’s own server access logs and the HTTP API’s access log (every signed-in call) cover what an investigation needs.',
    );
    if (!customDomain) {
      acknowledgeNag(
        this.distribution,
        'AwsSolutions-CFR4',
        'Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose TLS policy CloudFront sets and cannot be changed (TLSv1 minimum on that certificate); with aws.web.customDomain the stack sets TLSv1.2_2021.',
      );
    }
  }

  /**
   * Uploads the web app and its `app-config.json`, and clears CloudFront's cache of them. Hashed assets
   * keep a year's cache and are never pruned (a browser still on the previous page may ask for them);
   * everything else revalidates on each load. Without a build, a placeholder page says how to make one.
   */
  deploy(appConfig: AppConfig): void {
    const sources = [s3deploy.Source.jsonData('app-config.json', appConfig)];
    if (this.built) {
      sources.push(s3deploy.Source.asset(this.distDir, { exclude: [`${HASHED_ASSETS_PREFIX}*`] }));
    } else {
      sources.push(s3deploy.Source.data(WEB_ENTRY, PLACEHOLDER_HTML));
      Annotations.of(this).addWarningV2(
        'lifeboat:webNotBuilt',
        `The web app is not built (${WEB_ENTRY} is missing in ${this.distDir}): a placeholder page is deployed instead. Run npm ci (or the web build) before cdk deploy.`,
      );
    }
    // One log group for the shared upload function, kept like every other function's.
    const logGroup = new logs.LogGroup(this, 'UploadLogs', { retention: this.logRetention });
    const pages = new s3deploy.BucketDeployment(this, 'Pages', {
      logGroup,
      sources,
      destinationBucket: this.bucket,
      exclude: [`${HASHED_ASSETS_PREFIX}*`],
      prune: true,
      cacheControl: [REVALIDATE],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
    });
    this.acknowledgeUploader();
    if (this.built && existsSync(join(this.distDir, HASHED_ASSETS_PREFIX))) {
      const assets = new s3deploy.BucketDeployment(this, 'Assets', {
        sources: [s3deploy.Source.asset(join(this.distDir, HASHED_ASSETS_PREFIX))],
        destinationBucket: this.bucket,
        destinationKeyPrefix: HASHED_ASSETS_PREFIX,
        prune: false,
        cacheControl: [IMMUTABLE],
        memoryLimit: 256,
        logGroup,
      });
      // The pages name the assets: upload those first, then the pages and the invalidation. Only the
      // pages' custom resource waits: the shared upload function lives under the pages construct.
      const upload = pages.node.children.find((c) => c.node.id.startsWith('CustomResource'));
      (upload ?? pages).node.addDependency(assets);
    }
  }

  /**
   * The upload function CDK's BucketDeployment shares across the stack (a singleton at its root),
   * acknowledged finding by finding: it runs only during a deploy.
   */
  private acknowledgeUploader(): void {
    const stack = Stack.of(this);
    const uploader = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!uploader) return;
    acknowledgeNag(
      uploader,
      'AwsSolutions-L1',
      'CDK’s BucketDeployment function runs the runtime its layer (the AWS CLI) is built for, pinned by the aws-cdk-lib version; it runs only during a deploy.',
    );
    acknowledgeNag(
      uploader,
      'AwsSolutions-IAM4',
      'CDK’s BucketDeployment function carries AWSLambdaBasicExecutionRole (its own log group); it runs only during a deploy and reads or writes no mail.',
      ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    );
    acknowledgeNag(
      uploader,
      'AwsSolutions-IAM5',
      'CDK’s BucketDeployment copies the web app from the CDK asset bucket into the web bucket (objects unknown in advance, so prefix wildcards on those two buckets only) and invalidates the distribution (cloudfront:CreateInvalidation and GetInvalidation have no resource-level permission in its policy).',
      [
        'Action::s3:GetBucket*',
        'Action::s3:GetObject*',
        'Action::s3:List*',
        'Action::s3:Abort*',
        'Action::s3:DeleteObject*',
        `Resource::arn:${pseudo(stack.partition, 'Partition')}:s3:::cdk-hnb659fds-assets-${pseudo(stack.account, 'AccountId')}-${pseudo(stack.region, 'Region')}/*`,
        `Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`,
        'Resource::*',
      ],
    );
  }
}

/** A stack attribute as cdk-nag writes it in a finding: the value once known, else `<AWS::Name>`. */
function pseudo(value: string, name: string): string {
  return Token.isUnresolved(value) ? `<AWS::${name}>` : value;
}

/** `max-age=N; includeSubDomains` as CloudFront's structured HSTS setting. */
export function parseHsts(value: string): { maxAge: number; includeSubdomains: boolean } {
  const maxAge = /max-age=(\d+)/i.exec(value)?.[1];
  if (maxAge === undefined) throw new Error(`HSTS value without max-age: ${value}`);
  return { maxAge: Number(maxAge), includeSubdomains: /includeSubDomains/i.test(value) };
}
