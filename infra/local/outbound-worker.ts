/**
 * The outbound thread (see outbound-thread.ts): the SMTP sessions to the primaries, and the write
 * of each settled outcome through a SQLite connection of its own, on an event loop that does
 * nothing else. A primary's `250` is read as soon as the thread gets a core, not after whatever
 * the runtime's main thread is doing (SMTP in, files, ingest), and recorded in the same turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from '../../lambdas/adapters/local/sqlite-store.js';
import { passwordSource } from '../../lambdas/adapters/passwords.js';
import { createSmtpMailer } from '../../lambdas/adapters/smtp-mailer.js';
import { settledRecord } from '../../lambdas/core/delivery-state.js';
import { ConflictError } from '../../lambdas/core/errors.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import type { SettledRecord } from '../../lambdas/ports.js';
import type {
  OutboundReply,
  OutboundRequest,
  OutboundResult,
  OutboundWorkerData,
} from './outbound-thread.js';

const data = workerData as OutboundWorkerData;
const port = parentPort;
if (!port) throw new Error('outbound-worker.ts runs in a worker thread');

/**
 * While the main thread's connection holds the write lock, a write here tries again after this
 * long. The main thread's transactions take tens to hundreds of microseconds; SQLite's own busy
 * handler would sleep a whole millisecond, then two, then five, with the `250` unrecorded.
 */
const BUSY_RETRY_MS = 0.02;
/** A write still locked out after this long fails, as the store's busy timeout would fail it. */
const BUSY_LIMIT_MS = 5_000;

// The same database file as the main thread's connection: WAL lets both read while one writes,
// and each write is a BEGIN IMMEDIATE transaction, which waits here in fine steps (written). The
// main connection checkpoints the WAL: a checkpoint's fsync here would hold up every other
// session's reply behind it.
const store = openSqliteStore(data.database, {
  retentionDays: data.retentionDays,
  busyTimeoutMs: 0,
  autoCheckpoint: false,
});
const pause = new Int32Array(new SharedArrayBuffer(4));

const isBusy = (err: unknown) => (err as { code?: string }).code?.startsWith('SQLITE_BUSY') === true;

/** Writes a delivery's next record, waiting in BUSY_RETRY_MS steps while the other connection writes. */
async function written(next: DeliveryRecord, expectedVersion: number): Promise<void> {
  const giveUpAt = performance.now() + BUSY_LIMIT_MS;
  for (;;) {
    try {
      return await store.replaceDelivery(next, expectedVersion);
    } catch (err) {
      if (!isBusy(err) || performance.now() > giveUpAt) throw err;
      // A blocking wait of microseconds (the thread's other sessions wait as long), where a
      // timer, like SQLite's handler, would give the lock holder a whole millisecond.
      Atomics.wait(pause, 0, 0, BUSY_RETRY_MS);
    }
  }
}

const mailer = createSmtpMailer({ hostname: data.hostname, passwords: passwordSource(data.secretsRegion) });

/** A message arrives as a Uint8Array (structured clone drops the Buffer class). */
const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

async function handle(req: OutboundRequest): Promise<OutboundResult> {
  switch (req.kind) {
    case 'ready':
      return undefined;
    case 'close':
      await mailer.close();
      return undefined;
    case 'stop':
      await mailer.close();
      store.close();
      return undefined;
    case 'send': {
      const outcomes = await mailer.send(req.route, req.envelope, bufferOf(req.raw));
      if (!req.claimed) return { outcomes, settled: [] };
      const finished = req.at === undefined ? new Date() : new Date(req.at);
      // Every settled outcome is written now, one conditional write each, before this turn ends:
      // the store's writes are synchronous, so each has committed when its call returns.
      const writes = req.claimed.map(async (d): Promise<SettledRecord | undefined> => {
        const next = settledRecord(d, outcomes, finished);
        if (!next) return undefined;
        try {
          await written(next, d.version);
          return { recipient: d.recipient, next };
        } catch (err) {
          // Anything but a conflict leaves it to the caller, which writes it through its own connection.
          return err instanceof ConflictError ? { recipient: d.recipient, next: null } : undefined;
        }
      });
      const settled = (await Promise.all(writes)).filter((w): w is SettledRecord => w !== undefined);
      return { outcomes, settled };
    }
  }
}

port.on('message', (req: OutboundRequest) => {
  handle(req).then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies OutboundReply),
    (err: unknown) =>
      port.postMessage({
        id: req.id,
        ok: false,
        message: err instanceof Error ? err.message : String(err),
      } satisfies OutboundReply),
  );
});
