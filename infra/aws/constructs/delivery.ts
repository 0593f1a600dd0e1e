import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { LifeboatConfig } from '../../../lambdas/core/config.js';
import { DELIVER_MEMORY_MB, SWEEP_MEMORY_MB } from '../function-memory.js';
import type { DeliveryNetwork } from './delivery-network.js';
import { claimingTimeoutSeconds, type FunctionPlatform, LifeboatFunction } from './lifeboat-function.js';
import { notRunningWindow, scheduleMinutes } from './monitoring.js';

/** Secrets Manager appends `-` and six random characters to the name in a secret's full ARN. */
const COMPLETE_SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

export interface DeliveryProps {
  readonly platform: FunctionPlatform;
  readonly config: LifeboatConfig;
  /** Present in `port25` mode: deliver and sweep then run in its private subnets. @default no VPC */
  readonly network?: DeliveryNetwork | undefined;
}

/**
 * Getting mail to the primary: `deliver` (invoked by ingest for the first attempt) and `sweep`
 * (scheduled; picks up due retries from the byState index), both allowed to read raw mail and the
 * SMTP AUTH secrets the routes name, and nothing else.
 */
export class Delivery extends Construct {
  readonly deliver: LifeboatFunction;
  readonly sweep: LifeboatFunction;
  /** The SMTP AUTH secrets the routes name; whatever else talks SMTP to the primary needs the same. */
  readonly routeSecrets: secretsmanager.ISecret[];
  /** Minutes between sweeps: `queue.sweepIntervalSeconds` rounded up to whole minutes. */
  readonly sweepMinutes: number;

  constructor(scope: Construct, id: string, props: DeliveryProps) {
    super(scope, id);
    const { config, platform, network } = props;

    const timeout = Duration.seconds(claimingTimeoutSeconds(config));

    this.deliver = new LifeboatFunction(this, 'Deliver', {
      handler: 'deliver',
      description: 'Lifeboat: first delivery attempt of a message to the primary',
      platform,
      network,
      timeout,
      memorySize: DELIVER_MEMORY_MB,
      // Each run is one SMTP session to the primary: a burst of arrivals waits in Lambda's queue (throttled
      // events are kept and retried) instead of opening a session per message; the sweeper also picks up
      // mail that waits longer.
      reservedConcurrentExecutions: config.aws.deliverConcurrency,
    });
    this.sweep = new LifeboatFunction(this, 'Sweep', {
      handler: 'sweep',
      description: 'Lifeboat: retries due deliveries, packs archived raw mail, publishes queue metrics',
      platform,
      network,
      timeout,
      // Eight messages in flight at once (measured: 512 MB could not hold eight of SES's largest).
      memorySize: SWEEP_MEMORY_MB,
    });

    this.routeSecrets = routeSecrets(this, config);
    for (const fn of [this.deliver, this.sweep]) {
      platform.store.grantTable(fn);
      platform.store.grantReadRaw(fn);
      for (const secret of this.routeSecrets) secret.grantRead(fn.function);
    }
    // The sweep packs raw mail past the history window (lambdas/core/raw-packs.ts); deliver does not.
    platform.store.grantRawPacking(this.sweep);

    this.sweepMinutes = scheduleMinutes(config.queue.sweepIntervalSeconds);
    new events.Rule(this, 'SweepSchedule', {
      description: `Lifeboat: run the sweeper every ${this.sweepMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(this.sweepMinutes)),
      targets: [new targets.LambdaFunction(this.sweep.function, { retryAttempts: 2 })],
    });
    platform.monitoring.watchSchedule(
      'Sweep',
      this.sweep.function,
      notRunningWindow(this.sweepMinutes),
      'retries are not being picked up',
    );
  }
}

/**
 * The Secrets Manager secrets the routes' SMTP AUTH names (`auth.secretId`, a name or an ARN), so
 * grants name exactly those secrets.
 */
function routeSecrets(scope: Construct, config: LifeboatConfig): secretsmanager.ISecret[] {
  const ids = [...new Set(config.routes.flatMap((r) => (r.auth?.secretId ? [r.auth.secretId] : [])))];
  return ids.map((secretId, i) => {
    const id = `RouteSecret${i}`;
    if (COMPLETE_SECRET_ARN.test(secretId)) {
      return secretsmanager.Secret.fromSecretCompleteArn(scope, id, secretId);
    }
    if (secretId.startsWith('arn:')) {
      return secretsmanager.Secret.fromSecretPartialArn(scope, id, secretId);
    }
    return secretsmanager.Secret.fromSecretNameV2(scope, id, secretId);
  });
}
