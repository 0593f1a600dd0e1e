import type { LifeboatConfig } from '../../lambdas/core/config.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import type { IndexBody } from '../../lambdas/core/search/indexer.js';
import { type MessageReading, unparsedIndexBody, unparsedSummary } from '../../lambdas/core/summarise.js';
import { computeTestSignatures, type VerdictInput } from './verdicts.js';
import {
  createWorkerPool,
  defaultPoolSize,
  type PoolStats,
  WorkerCrashedError,
  type WorkerPool,
} from './worker-pool.js';

/**
 * Messages waiting for a worker, per worker, before the receiver answers 451 and the sender
 * retries later: each holds its raw message (up to 40 MB) in memory, and the SMTP sessions that
 * sent them wait for their reply meanwhile.
 */
export const MAIL_TASKS_QUEUED_PER_WORKER = 16;

/**
 * How much lower than the main thread the mail workers run (a nice value, added to the
 * process's). When the cores are short, the main thread goes first: it reads the primary's 250
 * and records `delivered` in the same callback, and every millisecond it waits for a core is a
 * millisecond in which a crash costs a second copy (see the README's duplicate window). The
 * checks and parses of new mail wait instead; their queue fills and the receiver answers 451, so
 * senders slow down while what is in flight finishes. 5 gives the main thread three times the
 * worker's share of a contended core (CFS weights 1024 and 335), not all of it.
 */
export const MAIL_WORKER_NICE = 5;

/** What the receiver's verdicts need, the resolver apart (the worker builds its own from the config). */
export type VerdictRequest = Omit<VerdictInput, 'resolver'>;

/** One task of the mail pool. */
export type MailTask =
  | { kind: 'verdicts'; input: VerdictRequest }
  | { kind: 'read'; raw: Uint8Array }
  | { kind: 'index'; raw: Uint8Array };

/** What every mail worker starts with: the table its DNS answers come from (`local.dns`). */
export interface MailWorkerData {
  dns: LifeboatConfig['local']['dns'];
}

/**
 * The CPU-heavy steps of taking a message in (SPF, DKIM and DMARC, the one MIME parse for the
 * record and the search index; a parse for the index alone when one is rebuilt), run on worker threads so the main thread keeps to SMTP, files and SQLite, which is
 * what lets the single-node runtime use more than one core. The same functions run in-process in
 * Lambda, where SES computes the verdicts and each invocation has its own CPU.
 */
export interface MailWorkers {
  /**
   * The verdicts of a message. A worker that dies on it yields PROCESSING_FAILED verdicts, as a
   * failed check does in-process: the message is still taken. Rejects with PoolBusyError when the
   * queue is full (the receiver answers 451).
   */
  verdicts(input: VerdictRequest): Promise<Verdicts>;
  /**
   * The record's summary of a message and its search index body, from one parse (readMessage). A
   * worker that dies on it yields those of an unparsed message, so a message that crashes the
   * parser is still recorded and relayed, and indexed from its record.
   */
  summarise(raw: Buffer): Promise<MessageReading>;
  /**
   * A message's text and attachment names for its search index, when it is indexed from its raw
   * message (a rebuild). A worker that dies on it yields none, as an unparseable message does:
   * the message is indexed from its record.
   */
  indexBody(raw: Buffer): Promise<IndexBody>;
  /**
   * Starts every worker now and resolves once each has loaded its parsers, so the first messages
   * after a start do not share the cores with loading them (and wait for no worker to load).
   */
  warm(): Promise<void>;
  stats(): PoolStats;
  /** Finishes the tasks given so far, then ends the workers. */
  close(): Promise<void>;
}

export interface MailWorkersOptions {
  config: LifeboatConfig;
  /** @default defaultPoolSize() */
  size?: number;
  /** @default MAIL_TASKS_QUEUED_PER_WORKER × size */
  maxQueued?: number;
}

/** What warm() parses: a message of a line, enough to load the parser and its decoders. */
const WARM_MESSAGE = new Uint8Array(
  Buffer.from('From: a@example.org\r\nSubject: warm-up\r\nContent-Type: text/plain\r\n\r\nwarm-up\r\n'),
);

const crashedVerdicts = (spam: Verdicts['spam'], virus: Verdicts['virus']): Verdicts => ({
  spam,
  virus,
  spf: 'PROCESSING_FAILED',
  dkim: 'PROCESSING_FAILED',
  dmarc: 'PROCESSING_FAILED',
});

/** Starts the mail pool (its workers start with the first message). */
export function createMailWorkers(options: MailWorkersOptions): MailWorkers {
  const size = options.size ?? defaultPoolSize();
  const pool: WorkerPool<MailTask, Verdicts | MessageReading | IndexBody> = createWorkerPool({
    entry: new URL('./mail-worker.ts', import.meta.url),
    size,
    maxQueued: options.maxQueued ?? MAIL_TASKS_QUEUED_PER_WORKER * size,
    workerData: { dns: options.config.local.dns } satisfies MailWorkerData,
  });
  return {
    async verdicts(input) {
      try {
        return (await pool.run({ kind: 'verdicts', input })) as Verdicts;
      } catch (err) {
        if (!(err instanceof WorkerCrashedError)) throw err;
        // The test signatures need no parser: they stay right when the checks could not run.
        const { spam, virus } = computeTestSignatures(input.raw);
        return crashedVerdicts(spam, virus);
      }
    },
    async summarise(raw) {
      try {
        return (await pool.run({ kind: 'read', raw })) as MessageReading;
      } catch (err) {
        if (err instanceof WorkerCrashedError) {
          return { summary: unparsedSummary(err.message), index: unparsedIndexBody() };
        }
        throw err;
      }
    },
    async indexBody(raw) {
      try {
        return (await pool.run({ kind: 'index', raw })) as IndexBody;
      } catch (err) {
        if (err instanceof WorkerCrashedError) return unparsedIndexBody();
        throw err;
      }
    },
    async warm() {
      // One task per worker at once: the pool starts a worker for each task no idle one can take.
      await Promise.all(Array.from({ length: size }, () => pool.run({ kind: 'read', raw: WARM_MESSAGE })));
    },
    stats: () => pool.stats(),
    close: () => pool.close(),
  };
}
