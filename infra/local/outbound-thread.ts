import { type TransferListItem, Worker } from 'node:worker_threads';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import type { Clock, Envelope, Mailer, RecipientOutcome, SettledRecord } from '../../lambdas/ports.js';

/** What the outbound thread starts with. */
export interface OutboundWorkerData {
  /** The runtime's SQLite file: the thread opens a connection of its own to it. */
  database: string;
  retentionDays: number;
  /** Name sent in EHLO. */
  hostname: string;
  /** Region for Secrets Manager when a route's password names a secret. */
  secretsRegion: string;
}

/** What the main thread asks of the outbound thread. */
export type OutboundCall =
  | { kind: 'ready' }
  | { kind: 'close' }
  | { kind: 'stop' }
  | {
      kind: 'send';
      route: RouteConfig;
      envelope: Envelope;
      raw: Uint8Array;
      /** Claimed deliveries whose settled outcomes the thread writes itself; none for a plain send. */
      claimed?: readonly DeliveryRecord[];
      /** The time their records take (a runtime on a test's clock); else the system clock's at the reply. */
      at?: string;
    };

/** One request to the outbound thread: a call and the id its reply carries. */
export type OutboundRequest = OutboundCall & { id: number };

/** What a send answers; the other calls answer nothing. */
export type OutboundResult = { outcomes: RecipientOutcome[]; settled: SettledRecord[] } | undefined;

export type OutboundReply =
  | { id: number; ok: true; value: OutboundResult }
  | { id: number; ok: false; message: string };

/** The outbound thread ended (a crash, or the runtime stopping) before it answered. */
export class OutboundThreadError extends LifeboatError {
  constructor(detail: string) {
    super('OUTBOUND_THREAD_ENDED', `outbound thread ended before answering: ${detail}`);
  }
}

/** The mailer of the single-node runtime, whose SMTP sessions live on a thread of their own. */
export interface OutboundThread extends Mailer {
  sendSettling: NonNullable<Mailer['sendSettling']>;
  /** Ends the idle sessions (see SmtpMailer.close); the thread stays up for the next send. */
  close(): Promise<void>;
  /** Resolves once the thread has loaded and opened its connection (starting it if need be). */
  warm(): Promise<void>;
  /** Ends the sessions, closes the thread's database connection and ends the thread. */
  stop(): Promise<void>;
}

/** Loads a TypeScript worker module through tsx, as the mail workers do. */
const TS_WORKER = new URL('./ts-worker.mjs', import.meta.url);
const ENTRY = new URL('./outbound-worker.ts', import.meta.url);

interface Pending {
  resolve(value: OutboundReply & { ok: true }): void;
  reject(err: Error): void;
}

/**
 * Runs outbound SMTP (deliveries, the hand-over, the webmail's relay) on a worker thread with its
 * own SQLite connection to the runtime's database, and has it write every delivered or failed
 * outcome in the turn that reads the primary's reply (Mailer.sendSettling). The main thread keeps
 * the claims, the deferrals, the statistics and everything else; the outbound thread's event loop
 * has nothing to do but these sockets, so a `250` waits for no other work before it is recorded.
 *
 * Given a clock (a test's), the records take its time at the send; else the system clock's when
 * the reply is read.
 *
 * The thread starts on first need and is started again by the next send if it dies; what it was
 * sending then fails with OutboundThreadError, which deliver records as a deferral. An idle thread
 * does not keep the process alive.
 */
export function createOutboundThread(data: OutboundWorkerData, clock?: Clock): OutboundThread {
  let worker: Worker | undefined;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let stopped = false;

  const start = (): Worker => {
    const w = new Worker(TS_WORKER, { argv: [ENTRY.href], workerData: data });
    w.unref();
    let reason = 'exited';
    w.on('message', (reply: OutboundReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if (reply.ok) p.resolve(reply);
      else p.reject(new Error(reply.message));
    });
    w.on('error', (err) => {
      reason = err.message;
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      const lost = [...pending.values()];
      pending.clear();
      for (const p of lost) p.reject(new OutboundThreadError(`${reason} (exit code ${code})`));
    });
    return w;
  };

  const ask = (
    call: OutboundCall,
    transfer: readonly TransferListItem[] = [],
  ): Promise<OutboundReply & { ok: true }> => {
    if (stopped) return Promise.reject(new OutboundThreadError('the runtime is stopping'));
    worker ??= start();
    const w = worker;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      // A thread with a request keeps the process alive until it answers; an idle one never does.
      w.ref();
      w.postMessage({ ...call, id } satisfies OutboundRequest, transfer);
    });
  };

  /** The bytes in a buffer of their own, handed over to the thread rather than copied again. */
  const detached = (raw: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(raw);

  const sendOn = async (
    route: RouteConfig,
    envelope: Envelope,
    raw: Buffer,
    claimed?: readonly DeliveryRecord[],
  ): Promise<{ outcomes: RecipientOutcome[]; settled: SettledRecord[] }> => {
    const bytes = detached(raw);
    const reply = await ask(
      {
        kind: 'send',
        route,
        envelope,
        raw: bytes,
        ...(claimed ? { claimed } : {}),
        ...(clock ? { at: clock.now().toISOString() } : {}),
      },
      [bytes.buffer],
    );
    return reply.value ?? { outcomes: [], settled: [] };
  };

  return {
    async send(route, envelope, raw) {
      return (await sendOn(route, envelope, raw)).outcomes;
    },
    sendSettling: (route, envelope, raw, claimed) => sendOn(route, envelope, raw, claimed),
    async close() {
      if (!worker || stopped) return;
      await ask({ kind: 'close' });
    },
    async warm() {
      await ask({ kind: 'ready' });
    },
    async stop() {
      if (stopped) return;
      const w = worker;
      if (w) {
        await ask({ kind: 'stop' }).catch(() => {});
        await w.terminate();
      }
      stopped = true;
    },
  };
}
