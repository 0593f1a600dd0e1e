import './quiet.js';
import path from 'node:path';
import { LifeboatError } from '../../lambdas/core/errors.js';
import { consoleLogger } from './console-logger.js';
import { seedDemoMail } from './demo-mail.js';
import { createDemoPrimary } from './demo-primary.js';
import { createDemoSink } from './demo-sink.js';
import { loadLocalConfig } from './load-config.js';
import { startRuntime } from './runtime.js';

/**
 * How often a runtime started by `npm start` checks that the script shell npm started it from is
 * still there: the longest it keeps its ports after `kill <npm's pid>`.
 */
const LAUNCHER_CHECK_MS = 500;

/**
 * Stops the runtime once the shell `npm start` ran it from has gone. npm passes a SIGTERM on to
 * that shell, but a POSIX sh such as dash (Debian's and Ubuntu's /bin/sh) neither replaces itself
 * with node nor passes the signal on: it dies and leaves this process, orphaned, holding the
 * ports. An orphan's parent changes, so that is what is watched. Ctrl-C reaches every process of
 * the terminal's job and needs none of this.
 */
function stopWhenLauncherGoes(stop: () => Promise<void>): void {
  if (process.env.npm_lifecycle_event !== 'start') return;
  const launcher = process.ppid;
  setInterval(() => {
    if (process.ppid !== launcher) void stop();
  }, LAUNCHER_CHECK_MS).unref();
}

async function main(): Promise<void> {
  const log = consoleLogger();
  const { config, file } = loadLocalConfig();
  const dataDir = path.resolve(config.local.dataDir);
  let demo: ReturnType<typeof createDemoPrimary> | undefined;
  const demoDir = path.join(dataDir, 'demo-primary');
  const onDemoMessage = (saved: string, rcpts: string[]) =>
    log.info('DEMO primary stored a message', {
      file: path.relative(process.cwd(), saved),
      recipients: rcpts.length,
    });
  if (file === null) {
    demo = createDemoPrimary(demoDir, onDemoMessage);
    await new Promise<void>((resolve, reject) => {
      demo?.once('error', reject);
      demo?.listen(config.local.demoPrimaryPort, config.local.listen, () => resolve());
    });
  }
  // Demo mode's relay: mail the webmail sends to outside addresses lands in a folder to look into.
  const sinkDir = path.join(dataDir, 'demo-sink');
  const sink =
    file === null && !config.local.relay
      ? createDemoSink(sinkDir, (saved, rcpts) =>
          log.info('DEMO sink took a message sent from the webmail', {
            file: path.relative(process.cwd(), saved),
            recipients: rcpts.length,
          }),
        )
      : undefined;
  if (sink) {
    await new Promise<void>((resolve, reject) => {
      sink.once('error', reject);
      sink.listen(config.local.demoSinkPort, config.local.listen, () => resolve());
    });
  }
  let demoUp = demo !== undefined;
  const runtime = await startRuntime({
    config,
    dataDir,
    log,
    demo: file === null,
    configDir: file === null ? process.cwd() : path.dirname(file),
    // `npx lifeboat primary down|up` switches the demo primary off and on to rehearse an outage.
    localEndpoints: async (p, method, body) => {
      if (p !== '/local/demo-primary' || !demo) return undefined;
      if (method === 'POST') {
        const want = (JSON.parse(body || '{}') as { up?: boolean }).up === true;
        if (want && !demoUp) {
          demo = createDemoPrimary(demoDir, onDemoMessage);
          await new Promise<void>((resolve) =>
            demo?.listen(config.local.demoPrimaryPort, config.local.listen, () => resolve()),
          );
          log.warn('DEMO primary is UP again');
        } else if (!want && demoUp) {
          await new Promise<void>((resolve) => demo?.close(() => resolve()));
          log.warn('DEMO primary is DOWN (connections refused) until `npx lifeboat primary up`');
        }
        demoUp = want;
      }
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ up: demoUp }),
      };
    },
  });
  if (demo) {
    await seedDemoMail(
      {
        dataDir: runtime.layout.dataDir,
        putRaw: (key, body) => runtime.stores.blobs.putRaw(key, body),
        putReceipt: (event) => runtime.stores.receipts.put(event),
        ingest: (event) => runtime.ingest(event),
      },
      { domain: config.domains[0] ?? 'example.com', now: runtime.ctx.clock.now(), log },
    );
  }
  const lines = [
    '',
    `Lifeboat is running (${config.organisation})`,
    `  config        ${file ?? 'none: DEMO mode, mail for example.com goes to a demo primary that writes files'}`,
    `  SMTP in       ${config.local.listen}:${runtime.smtpPort}   (stands in for SES receiving)`,
    `  STARTTLS      ${
      runtime.tls.source === 'config'
        ? `certificate ${runtime.tls.certFile} (local.tls)`
        : `self-signed certificate for ${config.hostname}, made in the data folder (local.tls to use your own)`
    }, valid until ${runtime.tls.validTo.toISOString().slice(0, 10)}`,
    `  webmail       ${runtime.origin}/mail/   (staff sign in here; the texts to staff link to it)`,
    ...(runtime.webmail.demoPassword
      ? [
          `  demo users    ${runtime.webmail.directory
            .current()
            .users.map((u) => u.addresses[0])
            .join(
              ', ',
            )}   password ${runtime.webmail.demoPassword}   (or "Text me a code", then npx lifeboat outbox)`,
        ]
      : []),
    ...runtime.webmail.demoAuthenticators.map(
      (a) =>
        `  demo admin    ${a.id}: password above, then the code of an authenticator app given the secret ${a.secret} (${a.uri})`,
    ),
    `  admin API     ${runtime.origin}/admin/status   (token in ${runtime.layout.adminToken})`,
    `  data          ${dataDir}   (private to you: records in SQLite, lifeboat.db; raw messages as files, raw/)`,
    ...(demo
      ? [
          `  demo primary  ${config.local.listen}:${config.local.demoPrimaryPort} -> ${path.join(dataDir, 'demo-primary')}`,
        ]
      : []),
    ...(sink
      ? [
          `  demo relay    ${config.local.listen}:${config.local.demoSinkPort} -> ${sinkDir}   (mail the webmail sends outside ${config.domains[0]}; to nobody@… it bounces)`,
        ]
      : config.local.relay
        ? [
            `  relay         ${config.local.relay.host}:${config.local.relay.port}   (mail the webmail sends outside your domains)`,
          ]
        : [`  relay         none: the webmail sends only to ${config.domains.join(', ')} (set local.relay)`]),
    '',
    `Try it:   npx lifeboat send --to alice@${config.domains[0]}   then   npx lifeboat queue`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping: finishing deliveries in flight');
    await runtime.stop();
    if (demo) await new Promise<void>((r) => demo?.close(() => r()));
    if (sink) await new Promise<void>((r) => sink.close(() => r()));
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // The terminal closing: stop as cleanly as on Ctrl-C rather than die mid-write.
  process.on('SIGHUP', stop);
  stopWhenLauncherGoes(stop);
}

main().catch((err: unknown) => {
  if (err instanceof LifeboatError) {
    process.stderr.write(`lifeboat: ${err.message}\n`);
  } else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(
      `lifeboat: ${(err as Error).message}: is Lifeboat already running? Change the port in local.* of the config.\n`,
    );
  } else {
    process.stderr.write(`lifeboat: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
