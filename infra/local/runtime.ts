import type { AddressInfo, Server } from 'node:net';
import type { SMTPServer } from 'smtp-server';
import type { Context } from '../../lambdas/adapters/context.js';
import type { BlobFs } from '../../lambdas/adapters/local/file-blobs.js';
import { readOrCreateLinkKey } from '../../lambdas/adapters/local/link-key.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { createConsoleNotifier } from '../../lambdas/adapters/notifiers.js';
import {
  defaultConsoleUrl,
  defaultWebmailUrl,
  type LifeboatConfig,
  localOrigin,
  recordDays,
} from '../../lambdas/core/config.js';
import { runHandover } from '../../lambdas/core/continuity-service.js';
import type { DeliveryState } from '../../lambdas/core/model.js';
import { forEachInState } from '../../lambdas/core/queue-ops.js';
import { reclaimInterrupted } from '../../lambdas/core/reclaim.js';
import { oncePerInterval } from '../../lambdas/core/route-checks.js';
import { mapWithConcurrency } from '../../lambdas/core/sweep.js';
import { createApiHandler } from '../../lambdas/handlers/api.js';
import { createDeliverHandler } from '../../lambdas/handlers/deliver.js';
import { createIngestHandler } from '../../lambdas/handlers/ingest.js';
import { createProbeHandler } from '../../lambdas/handlers/probe.js';
import { createSweepHandler } from '../../lambdas/handlers/sweep.js';
import type {
  Clock,
  Logger,
  Mailer,
  MessageStore,
  Notifier,
  OutboundRelay,
  SmtpProber,
} from '../../lambdas/ports.js';
import { type DataLayout, prepareDataDir } from './data-dir.js';
import { createLocalApi, ensureAdminToken, LOCAL_TOKEN_CLAIM } from './http-api.js';
import { createLocalContext, type LocalStores, openLocalStores } from './local-context.js';
import { createLocalReplays, type LocalReplays } from './local-replays.js';
import { type LocalSending, openLocalSending } from './local-sending.js';
import { type LocalWebmail, openLocalWebmail, webmailLayout } from './local-webmail.js';
import { createMailWorkers, type MailWorkers } from './mail-workers.js';
import { purgeRawArchive } from './raw-retention.js';
import { createReceiver } from './receiver.js';
import { loadReceiverTls, type ReceiverTls, TLS_CHECK_INTERVAL_MS } from './receiver-tls.js';

import { createIngestQueue, type IngestQueue, type RecoveryResult, recoverUnrecorded } from './recovery.js';
import { createLocalResolver } from './resolver.js';

/** How often expired records are removed: as often as anyone could tell the difference. */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** Messages attempted at once at start-up, as in one sweep. */
const STARTUP_DELIVERY_CONCURRENCY = 8;

export interface RuntimeOptions {
  config: LifeboatConfig;
  /** Overrides `config.local.dataDir`. */
  dataDir?: string;
  /** Port overrides; 0 picks a free port (tests). Given any, the admin API picks a free port too unless named. */
  ports?: Partial<{ smtp: number; api: number }>;
  log?: Logger;
  clock?: Clock;
  mailer?: Mailer;
  notifier?: Notifier;
  prober?: SmtpProber;
  /** The file calls of the raw and receipt folders (tests record them). @default node:fs/promises */
  fs?: BlobFs;
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
  /** Demo mode: the staff directory's users sign in with the demo password (kept in the data folder). */
  demo?: boolean;
  /** Where webmail mail to outside addresses goes. @default local.relay; in demo mode the demo sink */
  relay?: OutboundRelay;
  /** Folder a relative `webmail.directoryFile` is read from (the config file's). @default the working folder */
  configDir?: string;
  /** The built web app. @default dist/web */
  webDist?: string;
  /** Milliseconds between checks of the staff directory files; 0 turns the timer off. @default 2000 */
  directoryCheckMs?: number;
  /** Milliseconds the search indexer gathers updates of a mailbox for one write. @default 250 */
  indexBatchMs?: number;
  /**
   * Worker threads for the verdicts and the parse of each message. @default defaultPoolSize()
   * (one fewer than the cores Node may use, at least one)
   */
  mailWorkers?: number;
  /**
   * What checks and parses each message, in place of the worker threads `mailWorkers` sizes (the
   * pipeline benchmark's relay-only run). @default createMailWorkers
   */
  mailWork?: MailWorkers;
}

/** What start-up found a crash had left unfinished, and finished. */
export interface StartupRecovery extends RecoveryResult {
  /** Deliveries a dead process had claimed, due again at once. */
  reclaimed: number;
}

export interface Runtime {
  config: LifeboatConfig;
  ctx: Context;
  /** Where everything is stored (the data folder and its parts). */
  layout: DataLayout;
  stores: LocalStores;
  /** What start-up recovered before the SMTP listener opened. */
  recovery: StartupRecovery;
  smtpPort: number;
  /** The certificate the SMTP receiver offers in STARTTLS, as loaded at start. */
  tls: Pick<ReceiverTls, 'source' | 'certFile' | 'validTo'>;
  /** The admin API's port, or null when it is off. */
  apiPort: number | null;
  /** Bearer token of the local admin API. */
  adminToken: string;
  ingest: ReturnType<typeof createIngestHandler>;
  /** Ingest of acknowledged messages, after their 250, and its retries. */
  ingestQueue: IngestQueue;
  /** The worker threads that check and parse each message. */
  mailWorkers: MailWorkers;
  deliver: ReturnType<typeof createDeliverHandler>;
  sweep: ReturnType<typeof createSweepHandler>;
  probe: ReturnType<typeof createProbeHandler>;
  api: ReturnType<typeof createApiHandler>;
  /** The staff side: directory, sign-in, the webmail API and its search indexes, the web app. */
  webmail: LocalWebmail;
  /** Sending from the webmail: the outbound worker and the hourly purge of what sending leaves. */
  sending: LocalSending;
  /** Where a browser reaches the HTTP server (`http://127.0.0.1:8787`), or null when it is off. */
  origin: string | null;
  /** Replays of the raw archive into a restored primary, run in this process. */
  replays: LocalReplays;
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
 * Starts Lifeboat on one machine: records in SQLite and raw messages in files under the data
 * folder (no storage server, no storage port), the SMTP receiver standing in for SES, and the
 * same ingest, deliver, sweep and probe handlers that run in Lambda, in this process.
 *
 * Before the SMTP listener opens, start-up finishes what a crash left: it ingests every raw
 * message that was stored but never recorded, and makes the deliveries the dead process had
 * claimed due again at once (one machine, one runtime: nobody else holds them); then it sweeps.
 * @throws LegacyDataError when the data folder holds the previous version's stores
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const config = options.config;
  const host = config.local.listen;
  const log = options.log ?? silentLogger;
  const layout = await prepareDataDir(options.dataDir ?? config.local.dataDir, log);
  const stores = openLocalStores(layout, config, options.fs);
  const mailWorkers =
    options.mailWork ??
    createMailWorkers({
      config,
      ...(options.mailWorkers !== undefined ? { size: options.mailWorkers } : {}),
    });

  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };
  let deliver: ReturnType<typeof createDeliverHandler> | undefined;
  const ctx: Context = createLocalContext(config, stores, {
    log,
    clock: options.clock,
    mailer: options.mailer,
    prober: options.prober,
    notifier: options.notifier ?? createConsoleNotifier(log),
    summarise: mailWorkers.summarise,
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
  const ingestMessages = createIngestHandler(() => ctx);
  // Each new delivery goes into its mailbox's search index right after ingest (in AWS a queue
  // grouped by mailbox feeds the indexer function the same way).
  const ingest: typeof ingestMessages = async (event) => {
    const results = await ingestMessages(event);
    webmail?.indexIngested(results);
    return results;
  };
  const ingestQueue = createIngestQueue({ ingest, receipts: stores.receipts, clock: ctx.clock, log, track });
  // One long-lived process: the mailer's sessions stay open for the next delivery (as long as
  // the mailer's idle limit allows) and are ended at stop(), not after every handler run.
  const keepSessions = { endSessionsAfterRun: false };
  deliver = createDeliverHandler(() => ctx, keepSessions);
  const sweep = createSweepHandler(
    () => ctx,
    () => {},
    keepSessions,
  );
  // A probe run does the rounds of its interval (a failed check's confirmation included), as in
  // Lambda; stop() ends its waits between rounds.
  const probeRuns = new AbortController();
  const probe = createProbeHandler(() => ctx, {
    ...keepSessions,
    windowMs: options.probeIntervalMs ?? config.continuity.probes.intervalSeconds * 1000,
    signal: probeRuns.signal,
  });
  let webmail: LocalWebmail | undefined;
  const api = createApiHandler(() => ctx, {
    staff: () => webmail?.directory,
    machineToken: (claims) => claims[LOCAL_TOKEN_CLAIM] === true,
  });

  // Start-up that fails after this point (a port taken) must not leave the database open.
  let apiServer: Server | null = null;
  const abandon = async <T>(step: Promise<T>): Promise<T> => {
    try {
      return await step;
    } catch (err) {
      if (apiServer?.listening) await closeServer(apiServer);
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await ctx.mailer.close?.();
      await mailWorkers.close();
      stores.store.close();
      stores.jobs.close();
      throw err;
    }
  };

  // Sending from the webmail: mail to colleagues is taken in as inbound mail (and indexed at
  // once), the rest leaves through the relay after the undo window.
  let origin: string | null = null;
  const sending = openLocalSending({
    config,
    dataDir: layout.dataDir,
    database: layout.database,
    store: stores.store,
    continuity: stores.store,
    blobs: stores.blobs,
    mailer: ctx.mailer,
    trigger: ctx.trigger,
    clock: ctx.clock,
    log,
    linkKey: await abandon(readOrCreateLinkKey(webmailLayout(layout.dataDir).linkKey)),
    origin: () => origin ?? '',
    demo: options.demo === true,
    relay: options.relay,
    onIngested: (result) => webmail?.indexIngested([result]),
    summarise: mailWorkers.summarise,
    track,
  });
  webmail = await abandon(
    openLocalWebmail({
      sending: sending.deps,
      drills: stores.jobs,
      config,
      dataDir: layout.dataDir,
      configDir: options.configDir,
      store: stores.store,
      continuity: stores.store,
      blobs: stores.blobs,
      notifier: ctx.notifier,
      clock: ctx.clock,
      log,
      demo: options.demo,
      webDist: options.webDist,
      directoryCheckMs: options.directoryCheckMs,
      indexBatchMs: options.indexBatchMs,
      track,
      indexBody: mailWorkers.indexBody,
    }),
  );
  const staff = webmail;
  let signIn: Awaited<ReturnType<LocalWebmail['bind']>> | undefined;

  // Reclaimed first: every delivery left `delivering` now is the dead process's. Once recovered
  // messages are ingested, their first attempts are this process's own claims.
  const interrupted = await abandon(messageIdsIn(stores.store, 'delivering'));
  const { reclaimed } = await abandon(
    reclaimInterrupted({ store: stores.store, clock: ctx.clock, log, config }),
  );
  log.info(`reclaimed ${reclaimed} interrupted deliveries`, { reclaimed });
  // What the dead process had claimed or queued, read before recovery ingests anything (recovered
  // messages ask for their own first attempt, as the receiver's do).
  const stranded = [...new Set([...interrupted, ...(await abandon(messageIdsIn(stores.store, 'queued')))])];
  const recovered = await abandon(
    recoverUnrecorded({
      blobs: stores.blobs,
      receipts: stores.receipts,
      store: stores.store,
      ingest,
      clock: ctx.clock,
      recordDays: recordDays(config),
      log,
    }),
  );
  ingestQueue.adopt(recovered.failedIds);
  log.info(`recovered ${recovered.recovered} unrecorded messages`, {
    recovered: recovered.recovered,
    ...(recovered.failed ? { failed: recovered.failed } : {}),
    ...(recovered.unacknowledged ? { unacknowledged: recovered.unacknowledged } : {}),
    ...(recovered.expired ? { expired: recovered.expired } : {}),
  });

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
  const adminToken = ensureAdminToken(layout.dataDir);
  apiServer =
    options.api === false
      ? null
      : createLocalApi({
          token: adminToken,
          adminGroup: config.adminGroup,
          // Passwords of the built-in sign-in (lifeboat users passwd), then the caller's own.
          local: async (p, method, body, actor) =>
            (await staff.localEndpoint(p, method, body, actor)) ??
            options.localEndpoints?.(p, method, body, actor),
          webmail: staff.handler,
          upload: (req, res, token) => sending.upload(req, res, token),
          web: staff.web,
          oidc: () => signIn?.oidc.handle,
          authorize: async (authorization) => signIn?.authorize(authorization),
          handler: async (event) => {
            const result = await api(event);
            // Revoking, or cancelling a drill that holds its scope, starts the hand-over at once.
            if (
              result.statusCode === 200 &&
              /\/(continuity\/revoke|drills\/[^/]+\/cancel)$/.test(event.rawPath)
            )
              void kickHandover();
            // Acknowledged messages not recorded yet: the local stand-in for SES's retries.
            if (result.statusCode === 200 && event.rawPath === '/admin/status')
              return {
                ...result,
                body: JSON.stringify({ ...JSON.parse(result.body), unrecorded: ingestQueue.counts() }),
              };
            return result;
          },
        });
  const apiPort = apiServer
    ? await abandon(listen(apiServer, options.ports?.api ?? (options.ports ? 0 : config.local.apiPort), host))
    : null;
  origin = apiPort === null ? null : localOrigin(config.local, apiPort);
  if (origin !== null) {
    signIn = await abandon(staff.bind(origin));
    // On another port than the config's (a test's free port), the staff link follows the server.
    if (config.continuity.staff.webmailUrl === defaultWebmailUrl(config.local)) {
      const staffConfig = { ...config.continuity.staff, webmailUrl: `${origin}/mail/` };
      ctx.config = { ...ctx.config, continuity: { ...ctx.config.continuity, staff: staffConfig } };
    }
    // And the admins' page links to the console on it.
    if (config.continuity.paging.consoleUrl === defaultConsoleUrl(config.local)) {
      const paging = { ...config.continuity.paging, consoleUrl: `${origin}/console` };
      ctx.config = { ...ctx.config, continuity: { ...ctx.config.continuity, paging } };
    }
  }
  // Mailboxes without an index (a first start, a deleted index) are rebuilt from their mail.
  track(staff.rebuildMissing()).catch((err: Error) =>
    log.error('search index rebuild failed; the next sweep tries again', { error: err.message }),
  );
  // The mail workers load their parsers now, before the first message: after a crash, the
  // first deliveries then have the main thread's core to themselves (see MAIL_WORKER_NICE).
  await mailWorkers
    .warm()
    .catch((err: Error) =>
      log.warn('mail workers did not start; they start again with the first message', { error: err.message }),
    );
  const tlsDeps = { config, layout, clock: ctx.clock, log };
  const receiverTls = await abandon(loadReceiverTls(tlsDeps));
  const receiver = createReceiver({
    config,
    blobs: stores.blobs,
    receipts: stores.receipts,
    resolver: createLocalResolver(config.local.dns),
    verdicts: mailWorkers.verdicts,
    log,
    ingests: ingestQueue,
  });
  // In place of smtp-server's built-in certificate, which expired in February 2025.
  receiver.updateSecureContext({ key: receiverTls.key, cert: receiverTls.cert });
  const smtpPort = await abandon(listen(receiver, options.ports?.smtp ?? config.local.smtpPort, host));
  let offeredCert = receiverTls.cert;
  // A runtime left running for months renews its certificate, or takes the configured files'
  // renewal, without a restart.
  const tlsTimer = setInterval(() => {
    loadReceiverTls(tlsDeps)
      .then((next) => {
        if (next.cert === offeredCert) return;
        receiver.updateSecureContext({ key: next.key, cert: next.cert });
        offeredCert = next.cert;
      })
      .catch((err: Error) => log.error('STARTTLS certificate not renewed', { error: err.message }));
  }, TLS_CHECK_INTERVAL_MS).unref();

  let sweeping: Promise<unknown> | null = null;
  let purgedAt = 0;
  const sweepNow = () => {
    if (sweeping) return;
    sweeping = track(
      (async () => {
        await ingestQueue.retry();
        await sweep({});
        // Sent mail whose undo window ended while nothing ran, retries due, a stopped worker's claims.
        await sending.run();
        // A user added since (lifeboat users): their mail becomes searchable.
        await staff.rebuildMissing();
        // DynamoDB's TTL, done here: records past the history window go, at most once an hour.
        const now = ctx.clock.now();
        if (now.getTime() - purgedAt < PURGE_INTERVAL_MS) return;
        purgedAt = now.getTime();
        const purged = await stores.store.purgeExpired(now);
        if (purged.messages + purged.deliveries + purged.records > 0)
          log.info('expired records removed', { ...purged });
        // S3's lifecycle rule, done here: raw mail past retentionDays goes with its receipt.
        const archive = await purgeRawArchive({
          rawDir: layout.rawDir,
          receiptsDir: layout.receiptsDir,
          cutoff: new Date(now.getTime() - config.retentionDays * 86_400_000),
        });
        if (archive.messages + archive.receipts > 0)
          log.info('raw mail past retentionDays removed', { ...archive });
        // The same for sending: drafts, uploads and messages as sent past their time, and their files.
        const sent = await sending.purge(now);
        if (Object.values(sent).some((n) => n > 0))
          log.info('sending records and files removed', { ...sent });
      })(),
    )
      .catch((err: Error) => log.error('sweep failed', { error: err.message }))
      .finally(() => {
        sweeping = null;
      });
  };
  // What the dead process had queued or claimed goes out now, not after the sweeper's grace for
  // first attempts; so do retries that fell due while nothing ran.
  if (stranded.length > 0 && options.deliverOnIngest !== false) {
    track(
      mapWithConcurrency(stranded, STARTUP_DELIVERY_CONCURRENCY, (messageId) =>
        deliver({ messageId }).catch((err: Error) =>
          log.error('delivery attempt crashed; the sweeper will retry', { messageId, error: err.message }),
        ),
      ),
    );
  }
  if (options.sweepIntervalMs !== 0) sweepNow();
  else void sending.run();
  if ((await stores.store.getOrg())?.state === 'recovering') void kickHandover();
  // Replays run in this process; one a stopped process left under way goes on from its last row.
  const replays = createLocalReplays(ctx, { log, track });
  ctx.replays = replays;
  void replays.resumeAll().catch((err: Error) => log.error('replays not resumed', { error: err.message }));

  const intervalMs = options.sweepIntervalMs ?? config.queue.sweepIntervalSeconds * 1000;
  const timer = intervalMs > 0 ? setInterval(sweepNow, intervalMs) : null;

  const probeMs = options.probeIntervalMs ?? config.continuity.probes.intervalSeconds * 1000;
  const startProbe = (event: { check?: string }) => {
    probing = track(
      probe(event).then((r) => {
        if (r.state === 'recovering') void kickHandover();
      }),
    )
      .catch((err: Error) => log.error('probe round failed', { error: err.message }))
      .finally(() => {
        probing = null;
      });
  };
  const probeTimer =
    probeMs > 0
      ? setInterval(() => {
          if (probing || handingOver) return;
          startProbe({});
        }, probeMs)
      : null;
  // A delivery that could not reach a route asks for its check now rather than at the next
  // interval (in AWS an asynchronous invoke of the probe): after the probe run under way, if any,
  // as in AWS one run at a time; deliver does not wait for it.
  if (probeMs > 0) {
    ctx.checks = oncePerInterval(
      {
        async requestCheck(route) {
          track(
            (async () => {
              while (probing) await probing;
              if (handingOver || stopping) return;
              startProbe({ check: route });
            })(),
          );
        },
      },
      ctx.clock,
      probeMs,
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    config,
    ctx,
    layout,
    stores,
    recovery: { ...recovered, reclaimed },
    smtpPort,
    tls: { source: receiverTls.source, certFile: receiverTls.certFile, validTo: receiverTls.validTo },
    apiPort,
    adminToken,
    ingest,
    ingestQueue,
    mailWorkers,
    deliver,
    sweep,
    probe,
    api,
    webmail: staff,
    sending,
    origin,
    kickHandover,
    replays,
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    stop() {
      stopping ??= (async () => {
        if (timer) clearInterval(timer);
        if (probeTimer) clearInterval(probeTimer);
        clearInterval(tlsTimer);
        probeRuns.abort();
        await replays.stop();
        await closeServer(receiver);
        if (apiServer) await closeServer(apiServer);
        staff.stop();
        while (pending.size > 0) await Promise.allSettled([...pending]);
        sending.stop();
        await ctx.mailer.close?.();
        await mailWorkers.close();
        stores.store.close();
        stores.jobs.close();
        stores.jobs.close();
      })();
      return stopping;
    },
  };
}

/** Messages with a delivery in `state`, each once. */
async function messageIdsIn(store: MessageStore, state: DeliveryState): Promise<string[]> {
  const ids = new Set<string>();
  await forEachInState(store, state, async (d) => {
    ids.add(d.messageId);
  });
  return [...ids];
}
