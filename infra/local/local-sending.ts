import type http from 'node:http';
import path from 'node:path';
import { createFileBlobs, type FileBlobStore } from '../../lambdas/adapters/local/file-blobs.js';
import {
  openSqliteSendingStore,
  type SqliteSendingStore,
} from '../../lambdas/adapters/local/sqlite-sending.js';
import { createSmtpRelay } from '../../lambdas/adapters/smtp-relay.js';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import type { IngestResult } from '../../lambdas/core/ingest.js';
import { createIntake } from '../../lambdas/core/sending/intake.js';
import { dispatchDue } from '../../lambdas/core/sending/outbound.js';
import {
  DRAFTS_PREFIX,
  OUTGOING_PREFIX,
  SendError,
  type SendingBlobStore,
  type SendingDeps,
  UPLOADS_PREFIX,
} from '../../lambdas/core/sending/records.js';
import { createHmacUploadSigner, receiveUpload } from '../../lambdas/core/sending/uploads.js';
import type { MessageReading } from '../../lambdas/core/summarise.js';
import { errorResponse } from '../../lambdas/handlers/http/errors.js';
import { json } from '../../lambdas/handlers/http/router.js';
import type {
  BlobStore,
  Clock,
  ContinuityStore,
  DeliveryTrigger,
  Logger,
  Mailer,
  MessageStore,
  OutboundRelay,
} from '../../lambdas/ports.js';
import { purgeSendingFiles, type SendingRetentionResult } from './sending-retention.js';

/** The sending side's folders in a data folder: draft bodies, uploaded files, the messages as sent. */
export function sendingLayout(dataDir: string) {
  const root = path.join(dataDir, 'sending');
  return {
    root,
    drafts: path.join(root, 'drafts'),
    uploads: path.join(root, 'uploads'),
    outgoing: path.join(root, 'outgoing'),
    demoSink: path.join(dataDir, 'demo-sink'),
  };
}

/** One blob store over several folders, each holding one key prefix. */
function byPrefix(stores: Record<string, FileBlobStore>): SendingBlobStore {
  const pick = (key: string) => {
    const prefix = Object.keys(stores).find((p) => key.startsWith(p));
    if (!prefix) throw new SendError('VALIDATION_FAILED', `no folder holds ${key}`);
    return stores[prefix] as FileBlobStore;
  };
  return {
    getRaw: (key) => pick(key).getRaw(key),
    putRaw: (key, body) => pick(key).putRaw(key, body),
    deleteRaw: (key) => pick(key).deleteRaw(key),
  };
}

/** The kinds of record the sending side owns (the admin jobs in the same table keep their own). */
const SENDING_KINDS = ['draft', 'upload', 'outgoing', 'signature'] as const;

export interface LocalSendingOptions {
  config: LifeboatConfig;
  dataDir: string;
  /** The runtime's SQLite file: the sending table goes beside the message store's. */
  database: string;
  store: MessageStore;
  continuity: Pick<ContinuityStore, 'appendAudit' | 'getOrg'>;
  blobs: BlobStore;
  mailer: Mailer;
  trigger: DeliveryTrigger;
  clock: Clock;
  log: Logger;
  /** The key that signs download links signs uploads too. */
  linkKey: Buffer;
  /** Where a browser reaches the HTTP server, once it is bound. */
  origin: () => string;
  /** Demo mode: outside mail goes to the demo sink. */
  demo: boolean;
  /** Replaces the relay the config names (tests). */
  relay?: OutboundRelay | undefined;
  /** Told of each message taken in for a colleague (the runtime indexes it). */
  onIngested: (result: IngestResult) => void;
  summarise?: ((raw: Buffer) => Promise<MessageReading>) | undefined;
  track: <T>(p: Promise<T>) => Promise<T>;
}

export interface LocalSending {
  deps: SendingDeps;
  store: SqliteSendingStore;
  /** The upload route (`PUT /mail/api/upload/<token>`): the stand-in for S3's presigned PUT. */
  upload(req: http.IncomingMessage, res: http.ServerResponse, token: string): void;
  /** Runs the outbound worker now (the sweeps call it too, for what a stopped process left). */
  run(): Promise<void>;
  /**
   * DynamoDB's TTL and S3's lifecycle rules for the sending side, done here (the hourly purge):
   * records past their time, then the files they leave (purgeSendingFiles).
   */
  purge(now: Date): Promise<{ records: number } & SendingRetentionResult>;
  stop(): void;
}

/**
 * Sending from the webmail on the single-node runtime: the sending records in SQLite, draft
 * bodies, uploads and sent messages under `<dataDir>/sending/`, uploads signed with the link key,
 * mail to outside addresses through `local.relay` (in demo mode, the demo sink), and the outbound
 * worker woken by a timer at the end of each undo window.
 */
export function openLocalSending(o: LocalSendingOptions): LocalSending {
  const layout = sendingLayout(o.dataDir);
  const store = openSqliteSendingStore(o.database);
  const sendingBlobs = byPrefix({
    [DRAFTS_PREFIX]: createFileBlobs(layout.drafts, { prefix: DRAFTS_PREFIX }),
    [UPLOADS_PREFIX]: createFileBlobs(layout.uploads, { prefix: UPLOADS_PREFIX }),
    [OUTGOING_PREFIX]: createFileBlobs(layout.outgoing, { prefix: OUTGOING_PREFIX }),
  });
  const relayConfig =
    o.config.local.relay ??
    (o.demo
      ? {
          host: o.config.local.listen,
          port: o.config.local.demoSinkPort,
          tls: 'none' as const,
          verifyCertificate: false,
        }
      : undefined);
  const relay = o.relay ?? (relayConfig ? createSmtpRelay(o.mailer, relayConfig) : undefined);
  const uploads = createHmacUploadSigner({ key: o.linkKey, origin: o.origin, clock: o.clock });
  // One timer per waiting message: a single timer kept for the earliest one was spent by a
  // message that was undone, and the next message then waited for a sweep instead of its window.
  const timers = new Set<NodeJS.Timeout>();
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const deps: SendingDeps = {
    config: o.config,
    store: o.store,
    blobs: o.blobs,
    sending: store,
    sendingBlobs,
    uploads,
    relay,
    intake: createIntake({
      config: o.config,
      store: o.store,
      blobs: o.blobs,
      clock: o.clock,
      log: o.log,
      trigger: o.trigger,
      onIngested: o.onIngested,
      summarise: o.summarise,
    }),
    trigger: o.trigger,
    continuity: o.continuity,
    clock: o.clock,
    log: o.log,
    wake(dueAt) {
      if (stopped) return;
      const at = Date.parse(dueAt);
      // A duration from the store's clock; a little late is fine, early finds nothing due.
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          void run();
        },
        Math.max(0, at - o.clock.now().getTime()) + 50,
      );
      timer.unref();
      timers.add(timer);
    },
  };
  function run(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = o
      .track(
        (async () => {
          do {
            again = false;
            while ((await dispatchDue(deps)) > 0 && !stopped) {}
          } while (again && !stopped);
        })(),
      )
      .catch((err: Error) =>
        o.log.error('outbound worker stopped; the next sweep goes on', { error: err.message }),
      )
      .finally(() => {
        running = null;
      });
    return running;
  }
  return {
    deps,
    store,
    run,
    async purge(now) {
      const records = store.purgeExpired(now, SENDING_KINDS);
      const files = await purgeSendingFiles({
        folders: layout,
        ids: (kind) => store.idsOf(kind),
        now,
      });
      return { records, ...files };
    },
    upload(req, res, token) {
      const reply = (r: { statusCode: number; headers: Record<string, string>; body: string }) => {
        res.writeHead(r.statusCode, r.headers);
        res.end(r.body);
      };
      void (async () => {
        if (req.method !== 'PUT') {
          reply(json(405, { error: 'METHOD_NOT_ALLOWED', message: 'upload with PUT' }));
          return;
        }
        const subject = uploads.verify(token);
        const result = await receiveUpload(deps, subject, (max) => readLimited(req, max));
        reply(json(200, result));
      })().catch((err) => {
        req.resume();
        reply(errorResponse(err, o.log));
      });
    },
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      store.close();
    },
  };
}

/** The request body, refused past `max` bytes (413 ATTACHMENT_TOO_LARGE) without reading the rest. */
function readLimited(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(
          new SendError(
            'ATTACHMENT_TOO_LARGE',
            `an upload may carry at most ${max / 1_000_000} MB: SES sends at most 40 MB a message including encoding`,
          ),
        );
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
