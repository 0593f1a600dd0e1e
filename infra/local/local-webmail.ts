import { access } from 'node:fs/promises';
import path from 'node:path';
import { createFileBlobs } from '../../lambdas/adapters/local/file-blobs.js';
import { readOrCreateLinkKey } from '../../lambdas/adapters/local/link-key.js';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { LifeboatError, NotFoundError, ValidationError } from '../../lambdas/core/errors.js';
import type { IngestResult } from '../../lambdas/core/ingest.js';
import {
  createIndexQueue,
  type IndexQueue,
  indexMessage,
  type SearchDeps,
} from '../../lambdas/core/search/indexer.js';
import { createIndexCache } from '../../lambdas/core/search/mailbox-index.js';
import { createHmacLinkSigner } from '../../lambdas/core/signed-links.js';
import { errorResponse, type HttpEvent, type HttpResult } from '../../lambdas/handlers/api.js';
import { decodePathSegment, json } from '../../lambdas/handlers/http/router.js';
import { createWebmailHandler, type WebmailContext } from '../../lambdas/handlers/webmail.js';
import type {
  BlobStore,
  Clock,
  ContinuityStore,
  Logger,
  MessageStore,
  Notifier,
} from '../../lambdas/ports.js';
import { INDEX_PREFIX, indexKey } from '../../lambdas/storage-layout.js';
import { appSecurityHeaders } from '../../lambdas/webmail/headers.js';
import { type LocalDirectory, openLocalDirectory } from './local-directory.js';
import { type BreakGlass, createBreakGlass } from './oidc-break-glass.js';
import { type CredentialStore, createCredentialStore, readOrCreateDemoPassword } from './oidc-credentials.js';
import { readOrCreateOidcKeys } from './oidc-keys.js';
import { createLocalOidc, type LocalOidc } from './oidc-provider.js';
import { createTotpStore, otpauthUri, type TotpStore } from './oidc-totp.js';
import { createJwtAuthorizer } from './oidc-verify.js';
import { createWebServer, localAppConfig, WEB_CLIENT_ID } from './web-server.js';

/** The webmail's files in a data folder: the search indexes and the download-link key. */
export function webmailLayout(dataDir: string) {
  return { indexDir: path.join(dataDir, 'index'), linkKey: path.join(dataDir, 'link-key') };
}

export interface LocalWebmailOptions {
  config: LifeboatConfig;
  dataDir: string;
  /** Where a relative `webmail.directoryFile` is read from. @default the working folder */
  configDir?: string | undefined;
  store: MessageStore;
  continuity: ContinuityStore;
  blobs: BlobStore;
  notifier: Notifier;
  clock: Clock;
  log: Logger;
  /** Demo mode: the directory's users without a password get the demo password. */
  demo?: boolean | undefined;
  /** The built web app. @default dist/web */
  webDist?: string | undefined;
  /** Milliseconds between checks of the directory files. @default DIRECTORY_CHECK_MS */
  directoryCheckMs?: number | undefined;
  /** Milliseconds the index writer gathers updates for one write. @default DEFAULT_BATCH_WINDOW_MS */
  indexBatchMs?: number | undefined;
  /** Keeps a background job's promise until it settles (the runtime waits for them at stop). */
  track: <T>(p: Promise<T>) => Promise<T>;
  /** How a message is parsed for its index entry (the runtime's worker threads). @default indexBody */
  indexBody?: SearchDeps['indexBody'];
  /** Drafts, uploads and sending (infra/local/local-sending.ts); without it those endpoints answer 404. */
  sending?: WebmailContext['sending'];
  /** The admin job records, where a drill's first webmail sign-in is recorded. */
  drills?: WebmailContext['drills'];
}

/** The staff side of the local runtime: sign-in, the webmail API, search indexing, the web app. */
export interface LocalWebmail {
  directory: LocalDirectory;
  credentials: CredentialStore;
  breakGlass: BreakGlass;
  indexQueue: IndexQueue;
  /** The webmail handler, as API Gateway would call it (claims already verified). */
  handler: (event: HttpEvent) => Promise<HttpResult>;
  /** The web app's files. */
  web: ReturnType<typeof createWebServer>;
  /** The demo password, in demo mode. */
  demoPassword: string | null;
  /** Authenticator (TOTP) secrets of the built-in sign-in. */
  totp: TotpStore;
  /** In demo mode, the admins' authenticator secrets (enrolled at the first demo start), for the banner. */
  demoAuthenticators: Array<{ id: string; secret: string; uri: string }>;
  /** Indexes the new deliveries of ingested messages to directory users, in the background. */
  indexIngested(results: readonly IngestResult[]): void;
  /**
   * The local-only endpoint `POST /local/users/<id>/password` `{ "password" }` (what `lifeboat users
   * passwd` calls): sets a directory user's password, audited as `password-set`. Undefined for
   * another path.
   */
  localEndpoint(path: string, method: string, body: string, actor: string): Promise<HttpResult | undefined>;
  /** Rebuilds the index of every directory address that has none; resolves with how many. */
  rebuildMissing(): Promise<number>;
  /** Starts the OpenID provider once the origin (the bound port) is known. */
  bind(origin: string): Promise<{ oidc: LocalOidc; authorize: ReturnType<typeof createJwtAuthorizer> }>;
  stop(): void;
}

/**
 * Opens the webmail of the single-node runtime over its stores: the same handler as the AWS
 * webmail function, the staff directory (config plus `lifeboat users`), search indexes in
 * `<dataDir>/index/` written by one in-process writer per mailbox, download links signed with
 * `<dataDir>/link-key`, and the built-in OpenID provider with its passwords and texted codes.
 */
export async function openLocalWebmail(options: LocalWebmailOptions): Promise<LocalWebmail> {
  const { config, dataDir, log, clock } = options;
  const layout = webmailLayout(dataDir);
  const credentials = createCredentialStore(dataDir);
  const directory = await openLocalDirectory({
    config,
    configDir: options.configDir ?? process.cwd(),
    dataDir,
    credentials,
    log,
    ...(options.directoryCheckMs !== undefined ? { checkMs: options.directoryCheckMs } : {}),
  });
  let demoPassword: string | null = null;
  if (options.demo) {
    demoPassword = await readOrCreateDemoPassword(dataDir);
    const have = await credentials.ids();
    for (const u of directory.current().users) if (!have.has(u.id)) await credentials.set(u.id, demoPassword);
  }
  const totp = createTotpStore(dataDir, clock);
  // Admins must sign in with a second factor (adminMfa): in demo mode the admins get an
  // authenticator secret at the first start, printed in the banner, so the console is usable.
  const demoAuthenticators: LocalWebmail['demoAuthenticators'] = [];
  if (options.demo) {
    for (const u of directory.current().users) {
      if (!u.groups.includes(config.adminGroup)) continue;
      const secret = (await totp.secret(u.id)) ?? (await totp.enrol(u.id)).secret;
      demoAuthenticators.push({
        id: u.id,
        secret,
        uri: otpauthUri(secret, u.id, `Lifeboat ${config.organisation}`),
      });
    }
  }
  const indexBlobs = createFileBlobs(layout.indexDir, { prefix: INDEX_PREFIX });
  const links = createHmacLinkSigner({
    key: await readOrCreateLinkKey(layout.linkKey),
    ttlSeconds: config.webmail.linkTtlSeconds,
    clock,
  });
  const cache = createIndexCache();
  const context = (): WebmailContext => ({
    config,
    store: options.store,
    blobs: options.blobs,
    indexBlobs,
    clock,
    log,
    directory: directory.current(),
    links,
    cache,
    continuity: options.continuity,
    sending: options.sending,
    drills: options.drills,
  });
  const searchDeps: SearchDeps = { ...context(), indexBody: options.indexBody };
  const indexQueue = createIndexQueue(
    { ...searchDeps, cache },
    options.indexBatchMs !== undefined ? { batchWindowMs: options.indexBatchMs } : {},
  );
  const breakGlass = createBreakGlass({
    clock,
    log,
    notifier: options.notifier,
    continuity: options.continuity,
    organisation: config.organisation,
  });
  const handler = createWebmailHandler(context);
  const headers = appSecurityHeaders();
  let origin = '';
  const web = createWebServer({
    ...(options.webDist ? { distDir: options.webDist } : {}),
    appConfig: () => localAppConfig(origin),
    headers,
  });

  const hasIndex = async (address: string) =>
    access(path.join(layout.indexDir, indexKey(address).slice(INDEX_PREFIX.length))).then(
      () => true,
      () => false,
    );

  return {
    directory,
    credentials,
    breakGlass,
    indexQueue,
    async handler(event) {
      const r = await handler(event);
      // The API's JSON carries the pages' headers too; a download keeps its own stricter ones.
      return { ...r, headers: { ...headers, ...r.headers } };
    },
    web,
    demoPassword,
    totp,
    demoAuthenticators,
    indexIngested(results) {
      const staffDirectory = directory.current();
      for (const r of results) {
        // Only mailboxes someone can search: an address that gains a user later has its index
        // built from its mail by the next sweep (rebuildMissing), as one whose index was lost.
        const mailboxes = r.created.filter((address) => staffDirectory.byAddress(address));
        if (mailboxes.length === 0) continue;
        options
          .track(indexMessage({ ...searchDeps, queue: indexQueue }, r.messageId, mailboxes, r.index))
          .catch((err: Error) =>
            log.error('message not indexed; a rebuild of its mailbox will add it', {
              messageId: r.messageId,
              error: err.message,
            }),
          );
      }
    },
    async localEndpoint(p, method, body, actor) {
      const t = /^\/local\/users\/([^/]{1,128})\/totp$/.exec(p);
      if (t) {
        try {
          if (method !== 'POST')
            throw new LifeboatError('METHOD_NOT_ALLOWED', `${method} is not allowed here`);
          const id = decodePathSegment(t[1] as string, 'user id');
          const user = (await directory.refresh()).byId(id);
          if (!user) throw new NotFoundError(`user ${id}`);
          const { secret } = await totp.enrol(user.id);
          await options.continuity.appendAudit({
            at: clock.now().toISOString(),
            actor,
            action: 'totp-enrol',
            detail: user.id,
            eventId: null,
          });
          return json(200, {
            id: user.id,
            secret,
            uri: otpauthUri(secret, user.id, `Lifeboat ${config.organisation}`),
          });
        } catch (err) {
          return errorResponse(err, log);
        }
      }
      const m = /^\/local\/users\/([^/]{1,128})\/password$/.exec(p);
      if (!m) return undefined;
      try {
        if (method !== 'POST') throw new LifeboatError('METHOD_NOT_ALLOWED', `${method} is not allowed here`);
        const id = decodePathSegment(m[1] as string, 'user id');
        const user = (await directory.refresh()).byId(id);
        if (!user) throw new NotFoundError(`user ${id}`);
        let password: unknown;
        try {
          password = (JSON.parse(body || '{}') as { password?: unknown }).password;
        } catch {
          throw new ValidationError('request body', ['(root): not valid JSON']);
        }
        if (typeof password !== 'string')
          throw new ValidationError('request body', ['password: must be a string']);
        await credentials.set(user.id, password);
        await options.continuity.appendAudit({
          at: clock.now().toISOString(),
          actor,
          action: 'password-set',
          detail: user.id,
          eventId: null,
        });
        return json(200, { id: user.id, password: 'set' });
      } catch (err) {
        return errorResponse(err, log);
      }
    },
    async rebuildMissing() {
      let rebuilt = 0;
      for (const user of (await directory.refresh()).users) {
        for (const address of user.addresses) {
          if (await hasIndex(address)) continue;
          await indexQueue.rebuild(address);
          rebuilt++;
        }
      }
      if (rebuilt) log.info(`search indexes rebuilt for ${rebuilt} mailboxes`, { rebuilt });
      return rebuilt;
    },
    async bind(at) {
      origin = at;
      const oidc = createLocalOidc({
        origin: at,
        organisation: config.organisation,
        keys: await readOrCreateOidcKeys(dataDir),
        directory: () => directory.current(),
        credentials,
        breakGlass,
        totp,
        clock,
        log,
      });
      const authorize = createJwtAuthorizer({
        issuer: oidc.issuer,
        audience: WEB_CLIENT_ID,
        jwks: oidc.jwks,
        clock,
      });
      return { oidc, authorize };
    },
    stop() {
      directory.stop();
    },
  };
}
