import { mkdir } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import path from 'node:path';
import type { SMTPServer } from 'smtp-server';
import {
  type Context,
  createAwsClients,
  createContext,
  type LifeboatEnv,
} from '../../lambdas/adapters/context.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { createConsoleNotifier } from '../../lambdas/adapters/notifiers.js';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { runHandover } from '../../lambdas/core/continuity-service.js';
import { createApiHandler } from '../../lambdas/handlers/api.js';
import { createDeliverHandler } from '../../lambdas/handlers/deliver.js';
import { createIngestHandler } from '../../lambdas/handlers/ingest.js';
import { createProbeHandler } from '../../lambdas/handlers/probe.js';
import { createSweepHandler } from '../../lambdas/handlers/sweep.js';
import type { Clock, Logger, Mailer, Notifier, SmtpProber } from '../../lambdas/ports.js';
import { createLocalApi, ensureAdminToken } from './http-api.js';
import { createReceiver } from './receiver.js';
import { createLocalResolver } from './resolver.js';
import { ensureTable, startStorage } from './storage.js';

export const LOCAL_TABLE = 'lifeboat';
export const LOCAL_BUCKET = 'lifeboat-raw';

export interface RuntimeOptions {
  config: LifeboatConfig;
  /** Overrides `config.local.dataDir`. */
  dataDir?: string;
  /** Port overrides; 0 picks a free port (tests). Given any, the admin API picks a free port too unless named. */
  ports?: Partial<{ smtp: number; dynamodb: number; s3: number; api: number }>;
  log?: Logger;
  clock?: Clock;
  mailer?: Mailer;
  notifier?: Notifier;
  prober?: SmtpProber;
  /** Milliseconds between sweeps; 0 turns the timer off (tests sweep by hand). */
  sweepIntervalMs?: number;
  /** Milliseconds between probe rounds; 0 turns the timer off. @default continuity.probes.intervalSeconds */
  probeIntervalMs?: number;
  /** Serve the admin API on `local.apiPort`. @default true */
  api?: boolean;
  /** Local-only admin endpoints under /local/ (the demo primary's switch). */
  localEndpoints?: Parameters<typeof createLocalApi>[0]['local'];
  /** Ask for the first attempt right after ingest, as in AWS. @default true */
  deliverOnIngest?: boolean;
}

export interface Runtime {
  config: LifeboatConfig;
  ctx: Context;
  env: LifeboatEnv;
  smtpPort: number;
  /** The admin API's port, or null when it is off. */
  apiPort: number | null;
  /** Bearer token of the local admin API. */
  adminToken: string;
  dynamodbEndpoint: string;
  s3Endpoint: string;
  ingest: ReturnType<typeof createIngestHandler>;
  deliver: ReturnType<typeof createDeliverHandler>;
  sweep: ReturnType<typeof createSweepHandler>;
  probe: ReturnType<typeof createProbeHandler>;
  api: ReturnType<typeof createApiHandler>;
  /** Starts the hand-over now if the organisation is recovering (as the API does after a revoke). */
  kickHandover(): Promise<void>;
  /** Resolves once every delivery requested so far has finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Listens on a loopback port (0 picks a free one) and resolves with the port taken. */
export function listen(server: Server | SMTPServer, port: number, host: string): Promise<number> {
  const net: Server = 'server' in server ? server.server : server;
  // On the outer server: an SMTPServer re-emits its socket's errors, and one unheard would crash.
  const events = server as Server;
  return new Promise((resolve, reject) => {
    events.once('error', reject);
    server.listen(port, host, () => {
      events.removeListener('error', reject);
      resolve((net.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: { close(cb: () => void): void }): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Starts Lifeboat on one machine: dynalite for the DynamoDB API and s3rver for the S3 API (both
 * persisted under the data folder, in a thread of their own), the SMTP receiver standing in for
 * SES, and the same ingest, deliver and sweep handlers that run in Lambda, wired to those endpoints.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const config = options.config;
  const host = config.local.listen;
  const dataDir = path.resolve(options.dataDir ?? config.local.dataDir);
  const log = options.log ?? silentLogger;
  await mkdir(path.join(dataDir, 'dynamodb'), { recursive: true });
  await mkdir(path.join(dataDir, 's3'), { recursive: true });

  const storage = await startStorage({
    dynamoDir: path.join(dataDir, 'dynamodb'),
    s3Dir: path.join(dataDir, 's3'),
    host,
    dynamoPort: options.ports?.dynamodb ?? config.local.dynamodbPort,
    s3Port: options.ports?.s3 ?? config.local.s3Port,
    bucket: LOCAL_BUCKET,
  });
  // Start-up that fails after this point (a port taken) must not leave the storage thread running.
  let apiServer: Server | null = null;
  const abandon = async <T>(step: Promise<T>): Promise<T> => {
    try {
      return await step;
    } catch (err) {
      if (apiServer?.listening) await closeServer(apiServer);
      await storage.stop();
      throw err;
    }
  };

  const env: LifeboatEnv = {
    TABLE_NAME: LOCAL_TABLE,
    BUCKET_NAME: LOCAL_BUCKET,
    LIFEBOAT_CONFIG: JSON.stringify(config),
    LIFEBOAT_DYNAMODB_ENDPOINT: `http://${host}:${storage.dynamoPort}`,
    LIFEBOAT_S3_ENDPOINT: `http://${host}:${storage.s3Port}`,
    AWS_REGION: 'us-east-1',
  };

  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };
  let deliver: ReturnType<typeof createDeliverHandler> | undefined;
  const ctx: Context = createContext(env, {
    config,
    log,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.mailer ? { mailer: options.mailer } : {}),
    ...(options.prober ? { prober: options.prober } : {}),
    notifier: options.notifier ?? createConsoleNotifier(log),
    trigger: {
      // In AWS this is an asynchronous Lambda invoke; here the same handler runs in-process.
      async requestDelivery(messageId) {
        if (options.deliverOnIngest === false || !deliver) return;
        const run = deliver;
        track(
          run({ messageId }).catch((err: Error) =>
            log.error('delivery attempt crashed; the sweeper will retry', { messageId, error: err.message }),
          ),
        );
      },
    },
  });
  const { dynamo: dynamoClient } = createAwsClients(env);
  await abandon(ensureTable(dynamoClient, LOCAL_TABLE));

  const ingest = createIngestHandler(() => ctx);
  deliver = createDeliverHandler(() => ctx);
  const sweep = createSweepHandler(
    () => ctx,
    () => {},
  );
  const probe = createProbeHandler(() => ctx);
  const api = createApiHandler(() => ctx);

  // Locally the hand-over runs in-process as soon as continuity is revoked, batch after batch
  // until the backlog is empty (in AWS the probe function's schedule drives it).
  let handingOver: Promise<void> | null = null;
  let probing: Promise<unknown> | null = null;
  const kickHandover = (): Promise<void> => {
    handingOver ??= track(
      (async () => {
        // One hand-over at a time, as in AWS (the probe function's reserved concurrency of 1): a
        // probe round under way hands over itself while recovering, so this one waits for it.
        await probing;
        for (;;) {
          const result = await runHandover(ctx, 30_000);
          if (result.done || result.released === 0) break;
        }
      })()
        .catch((err: Error) =>
          log.error('hand-over stopped; it resumes on the next probe round', { error: err.message }),
        )
        .finally(() => {
          handingOver = null;
        }),
    );
    return handingOver;
  };
  const adminToken = ensureAdminToken(dataDir);
  apiServer =
    options.api === false
      ? null
      : createLocalApi({
          token: adminToken,
          adminGroup: config.adminGroup,
          ...(options.localEndpoints ? { local: options.localEndpoints } : {}),
          handler: async (event) => {
            const result = await api(event);
            if (result.statusCode === 200 && /\/continuity\/revoke$/.test(event.rawPath)) void kickHandover();
            return result;
          },
        });
  const apiPort = apiServer
    ? await abandon(listen(apiServer, options.ports?.api ?? (options.ports ? 0 : config.local.apiPort), host))
    : null;
  const receiver = createReceiver({
    config,
    blobs: ctx.blobs,
    resolver: createLocalResolver(config.local.dns),
    log,
    ingest,
  });
  const smtpPort = await abandon(listen(receiver, options.ports?.smtp ?? config.local.smtpPort, host));

  const intervalMs = options.sweepIntervalMs ?? config.queue.sweepIntervalSeconds * 1000;
  let sweeping: Promise<unknown> | null = null;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = track(sweep({}))
            .catch((err: Error) => log.error('sweep failed', { error: err.message }))
            .finally(() => {
              sweeping = null;
            });
        }, intervalMs)
      : null;

  const probeMs = options.probeIntervalMs ?? config.continuity.probes.intervalSeconds * 1000;
  const probeTimer =
    probeMs > 0
      ? setInterval(() => {
          if (probing || handingOver) return;
          probing = track(
            probe({}).then((r) => {
              if (r.state === 'recovering') void kickHandover();
            }),
          )
            .catch((err: Error) => log.error('probe round failed', { error: err.message }))
            .finally(() => {
              probing = null;
            });
        }, probeMs)
      : null;

  return {
    config,
    ctx,
    env,
    smtpPort,
    apiPort,
    adminToken,
    dynamodbEndpoint: env.LIFEBOAT_DYNAMODB_ENDPOINT as string,
    s3Endpoint: env.LIFEBOAT_S3_ENDPOINT as string,
    ingest,
    deliver,
    sweep,
    probe,
    api,
    kickHandover,
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (probeTimer) clearInterval(probeTimer);
      await closeServer(receiver);
      if (apiServer) await closeServer(apiServer);
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await storage.stop();
    },
  };
}
