import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Duration, Token, Tokenization } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type LifeboatConfig, parseConfig } from '../../../lambdas/core/config.js';
import { leaseSecondsFor } from '../../../lambdas/core/deliver.js';
import { ConfigError } from '../../../lambdas/core/errors.js';
import { REPO_ROOT } from '../deployment-config.js';
import { acknowledgeNag } from '../nag.js';
import type { DeliveryNetwork } from './delivery-network.js';
import type { Monitoring } from './monitoring.js';
import type { Store } from './store.js';

/** Where handler entry files live: `lambdas/handlers/<name>.ts`, each exporting `handler`. */
export const HANDLERS_DIR = join(REPO_ROOT, 'lambdas/handlers');

/** Lambda's hard ceiling on one invocation. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * The timeout of a function that claims deliveries (deliver, sweep, the probe's hand-over): a claim on a
 * route's delivery lasts that route's lease (`leaseSecondsFor`: at least `queue.leaseSeconds`, and never
 * shorter than the route's slowest attempt plus 30 s), and a run must end before the shortest of them
 * lapses, or a second worker could send the same recipient while the first is still talking to the
 * primary. Within that, the longest: a slow attempt is not cut off. At most Lambda's 15 minutes.
 */
export function claimingTimeoutSeconds(config: Pick<LifeboatConfig, 'queue' | 'routes'>): number {
  const leases = config.routes.map((route) => leaseSecondsFor(config, route.name));
  return Math.min(LAMBDA_MAX_TIMEOUT_SECONDS, ...leases);
}

/** Lambda caps all environment variables of a function together (keys and values) at 4 KB. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4 * 1024;

/**
 * Room counted for a value only known at deploy time (a generated function, bucket or table name):
 * CloudFormation names are `<stack>-<logical id>-<suffix>`, well under this for our stack names.
 */
export const DEPLOY_TIME_VALUE_ALLOWANCE_BYTES = 128;

/** How often Lambda retries a failed asynchronous invocation (its maximum) before the failure queue. */
const ASYNC_RETRY_ATTEMPTS = 2;

/**
 * The config as the functions get it in `LIFEBOAT_CONFIG`: validated, minified, without the `local`
 * and `aws` sections. Only the local runtime reads `local` and only the stack reads `aws`, and every
 * byte counts against Lambda's 4 KB environment. The handlers parse it again, so those sections read
 * as their defaults there.
 */
export function functionConfigJson(config: LifeboatConfig): string {
  const { local: _local, aws: _aws, ...rest } = config;
  return JSON.stringify(withoutDefaults(rest));
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The config with every setting the handlers' parse would give back by itself left out: a key is
 * dropped when parsing the config without it yields the same config, so defaults (the staff
 * notices' texts, the drill targets, every threshold left alone) cost the 4 KB environment nothing,
 * and a setting whose default depends on another one stays whenever dropping it would change it.
 * Lists are kept whole. Runs at synth time only: one parse per setting.
 */
function withoutDefaults(rest: Json): Json {
  // Deploy-time values (the web app's address in a link) are not URLs until CloudFormation
  // resolves them: the comparison parses a stand-in, the config keeps the token.
  const resolved = (node: unknown): unknown =>
    typeof node === 'string'
      ? node.replace(/\$\{Token\[[^\]]*\]\}/g, 'deploy-time.invalid')
      : Array.isArray(node)
        ? node.map(resolved)
        : isObject(node)
          ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolved(v)]))
          : node;
  const parsed = (candidate: Json) => parseConfig(resolved(candidate), 'LIFEBOAT_CONFIG');
  const expected = parsed(rest);
  const same = (candidate: Json) => {
    try {
      return isDeepStrictEqual(parsed(candidate), expected);
    } catch {
      return false;
    }
  };
  const pruned = structuredClone(rest);
  const visit = (node: Json) => {
    for (const key of Object.keys(node)) {
      const value = node[key];
      delete node[key];
      if (same(pruned)) continue;
      node[key] = value;
      if (isObject(value)) visit(value);
    }
  };
  visit(pruned);
  return pruned;
}

/**
 * esbuild's ESM output cannot `require` Node built-ins that CommonJS dependencies (nodemailer,
 * mailparser) ask for; this gives the bundle a real `require`.
 */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as lifeboatCreateRequire } from 'node:module'; const require = lifeboatCreateRequire(import.meta.url);";

/** What every Lifeboat function shares: where mail lives, the config, and where failures go. */
export interface FunctionPlatform {
  readonly store: Store;
  readonly monitoring: Monitoring;
  /** The validated config as {@link functionConfigJson} makes it, passed as `LIFEBOAT_CONFIG`. */
  readonly configJson: string;
  /** Where the config came from, named in a size error. */
  readonly configSource: string;
  readonly logRetention: logs.RetentionDays;
}

export interface LifeboatFunctionProps {
  /** Handler file name without `.ts` in `lambdas/handlers/`, e.g. `ingest`. */
  readonly handler: string;
  readonly description: string;
  readonly platform: FunctionPlatform;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** Runs the function in the delivery VPC (`aws.delivery: port25`). @default no VPC */
  readonly network?: DeliveryNetwork | undefined;
  /** Variables beyond the shared ones. @default none */
  readonly environment?: Record<string, string>;
  /**
   * Concurrent executions reserved for (and capped at) this number; 1 makes runs strictly one at a time.
   * @default no reservation: the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Retries of a failed asynchronous invocation before it goes to the failure queue (0–2).
   * @default 2
   */
  readonly asyncRetryAttempts?: number;
  /**
   * How long Lambda keeps an asynchronous event it could not run yet (throttled, or between retries)
   * before it gives up on it (60 s to 6 h).
   * @default Lambda's maximum, 6 hours
   */
  readonly maxEventAge?: Duration;
  /**
   * Send an asynchronous event that failed or expired to the failure queue (and its alarm). Off only for
   * a function whose events carry nothing worth replaying.
   * @default true
   */
  readonly failureQueue?: boolean;
}

/**
 * What every Lifeboat-built function shares, whatever it does: Node 22 on ARM64, bundled locally by
 * esbuild as ESM with source maps and the AWS SDK inside, text logs.
 */
export function nodeFunctionDefaults(entry: string) {
  return {
    entry,
    handler: 'handler',
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    // Text, not JSON: under the JSON log format Lambda wraps a console.log line in its own object and
    // CloudWatch stops reading the sweeper's Embedded Metric Format lines as metrics.
    loggingFormat: lambda.LoggingFormat.TEXT,
    // SDK v3 keeps connections alive by itself; the variable would only spend environment bytes.
    awsSdkConnectionReuse: false,
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    bundling: {
      format: nodejs.OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      banner: CREATE_REQUIRE_BANNER,
      minify: true,
      sourceMap: true,
      sourceMapMode: nodejs.SourceMapMode.DEFAULT,
      sourcesContent: false,
      // Bundle the AWS SDK too: the versions tested are the versions that run.
      externalModules: [],
      forceDockerBundling: false,
      logLevel: nodejs.LogLevel.WARNING,
    },
  } satisfies nodejs.NodejsFunctionProps;
}

/**
 * The one way Lifeboat makes a Lambda function: Node 22 on ARM64, bundled locally by esbuild as ESM
 * with source maps, a log group with retention, its own role (no managed policies), the shared
 * environment, failed asynchronous invocations sent to the failure queue, and an error alarm.
 * Adding a handler is one line: `new LifeboatFunction(this, 'Probe', { handler: 'probe', … })`.
 */
export class LifeboatFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  private readonly environment: Record<string, string>;
  private readonly configSource: string;

  constructor(scope: Construct, id: string, props: LifeboatFunctionProps) {
    super(scope, id);
    const { platform } = props;
    const entry = join(HANDLERS_DIR, `${props.handler}.ts`);
    if (!existsSync(entry)) {
      throw new Error(`${id}: no handler file ${entry} (expected lambdas/handlers/${props.handler}.ts)`);
    }

    const environment: Record<string, string> = {
      TABLE_NAME: platform.store.table.tableName,
      BUCKET_NAME: platform.store.bucket.bucketName,
      LIFEBOAT_CONFIG: platform.configJson,
      NODE_OPTIONS: '--enable-source-maps',
      ...props.environment,
    };
    assertEnvironmentFits(id, environment, platform.configSource);
    this.environment = environment;
    this.configSource = platform.configSource;

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: platform.logRetention });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Lifeboat ${props.handler} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      ...nodeFunctionDefaults(entry),
      description: props.description,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      environment,
      vpc: props.network?.vpc,
      vpcSubnets: props.network ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      securityGroups: props.network ? [props.network.securityGroup] : undefined,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      retryAttempts: props.asyncRetryAttempts ?? ASYNC_RETRY_ATTEMPTS,
      maxEventAge: props.maxEventAge,
      onFailure:
        (props.failureQueue ?? true)
          ? new destinations.SqsDestination(platform.monitoring.failedInvocations)
          : undefined,
    });

    if (props.network) {
      // What AWSLambdaVPCAccessExecutionRole grants, minus its logs:* on every log group.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ManageVpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }

    acknowledgeNag(
      this,
      'AwsSolutions-L1',
      'Node.js 22 is the pinned runtime: the handlers are bundled for it (target node22) and a runtime change is a deliberate, tested upgrade.',
    );
    if (props.network) {
      acknowledgeNag(
        this.role,
        'AwsSolutions-IAM5',
        'Lambda creates the function’s network interfaces before they have ARNs, and ec2:Describe* has no resource-level permissions: AWS requires Resource "*" (the statement AWSLambdaVPCAccessExecutionRole holds, without its logs:* on every log group).',
        ['Resource::*'],
      );
    }

    platform.monitoring.watchFunction(id, this.function);
  }

  /**
   * Adds a variable known only once another construct exists (the probe's name for deliver and
   * sweep), held to Lambda's 4 KB like those given at construction.
   */
  addEnvironment(name: string, value: string): void {
    this.environment[name] = value;
    assertEnvironmentFits(this.node.id, this.environment, this.configSource);
    this.function.addEnvironment(name, value);
  }
}

/**
 * Fails synth when the function's environment would exceed Lambda's 4 KB limit, naming the limit and
 * the config: a deploy would otherwise fail half-way through CloudFormation.
 * @throws ConfigError naming LIFEBOAT_CONFIG and the limit
 */
export function assertEnvironmentFits(
  functionId: string,
  environment: Record<string, string>,
  source: string,
): void {
  let total = 0;
  for (const [name, value] of Object.entries(environment)) {
    // A value with deploy-time parts (the config holds the web app's address): its literal text,
    // plus the allowance for each part.
    const valueBytes = Token.isUnresolved(value) ? deployTimeBytes(value) : Buffer.byteLength(value, 'utf8');
    total += Buffer.byteLength(name, 'utf8') + valueBytes;
  }
  if (total > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    const configBytes = Buffer.byteLength(environment.LIFEBOAT_CONFIG ?? '', 'utf8');
    throw new ConfigError(source, [
      `(root): the validated config is ${configBytes} bytes as LIFEBOAT_CONFIG; with the other variables of the ${functionId} function that is about ${total} bytes, over Lambda's limit of ${LAMBDA_ENVIRONMENT_LIMIT_BYTES} bytes (4 KB) for all environment variables together. Shorten it: fewer routes, addresses or phone numbers, shorter names.`,
    ]);
  }
}

/** The bytes of a string with deploy-time parts: its literal text, and the allowance for each part. */
function deployTimeBytes(value: string): number {
  const tokens = Tokenization.reverseString(value).tokens.length;
  const literal = value.replace(/\$\{Token\[[^\]]*\]\}/g, '');
  return Buffer.byteLength(literal, 'utf8') + tokens * DEPLOY_TIME_VALUE_ALLOWANCE_BYTES;
}
