import { SQSClient } from '@aws-sdk/client-sqs';
import { createAwsClients, readEnv } from '../adapters/context.js';
import { createDynamoSendingStore } from '../adapters/dynamo-sending.js';
import { createDynamoStore } from '../adapters/dynamo-store.js';
import {
  createSqsIndexInbox,
  type IndexInbox,
  type ReceivedIndexRequest,
} from '../adapters/sqs-index-requests.js';
import { defaultSearchDeps } from '../adapters/webmail-context.js';
import { recordDays } from '../core/config.js';
import { activeDrill } from '../core/drill.js';
import { DRAIN_BACKLOG, indexBatch, type SearchDeps, shouldDrain } from '../core/search/indexer.js';
import type { ContinuityStore, SendingStore } from '../ports.js';

/**
 * Messages indexed in one round of a drain: up to a thousand messages' index entries in memory
 * (32 K characters of text each at most). A round takes whole mailboxes, so a drain writes each
 * mailbox once however many rounds it takes (a mailbox with more mail is a round of its own, its
 * write bounded as the writer bounds it).
 */
export const DRAIN_ROUND_MESSAGES = 1_000;

/**
 * Requests a run receives at most before it indexes them: a request in memory is a few hundred
 * bytes besides the body it may carry (those bounded by DRAIN_RUN_BODY_BYTES), and SQS keeps at
 * most 120,000 in flight on a standard queue. Twice DRAIN_BACKLOG, so a drain takes the whole
 * backlog and writes each mailbox once.
 */
export const DRAIN_RUN_REQUESTS = 2 * DRAIN_BACKLOG;

/**
 * Bytes of carried index bodies (up to MAX_INDEX_REQUEST_BYTES a request) a run receives at most
 * before it indexes them, counted at two bytes a character, as V8 holds text at worst: a seventh
 * of the indexer's 1,769 MB, beside PARSE_BYTES_IN_FLIGHT's parses of the messages that came
 * without one. DRAIN_RUN_REQUESTS requests of 2.5 K characters each fit; past it the run indexes
 * what it holds and receives again, each mailbox then written once per round of receives.
 */
export const DRAIN_RUN_BODY_BYTES = 256 * 1024 * 1024;

/** The memory a received request's carried body takes at most (see DRAIN_RUN_BODY_BYTES). */
function bodyBytes(r: ReceivedIndexRequest): number {
  if (!r.body) return 0;
  return 2 * ((r.body.text?.length ?? 0) + r.body.attachmentNames.reduce((n, a) => n + a.length, 0));
}

/**
 * Receive calls a drain keeps in flight: SQS hands ten requests a call, so a backlog of
 * DRAIN_BACKLOG takes 2,500 calls, tens of milliseconds each: one at a time, over a minute of a
 * catch-up spent waiting; ten at once, a few seconds.
 */
export const DRAIN_RECEIVERS = 10;

/**
 * Milliseconds a drain keeps in hand before the function's timeout: it takes no new round once
 * fewer remain, so a round that parses large mail finishes and deletes its requests.
 */
export const DRAIN_RESERVE_MS = 90_000;

export interface IndexerContext {
  deps: SearchDeps;
  inbox: IndexInbox;
  continuity: Pick<ContinuityStore, 'getOrg'>;
  /** The admin job records: a running drill drains every run, as an outage does. */
  drills?: SendingStore | undefined;
}

/** What a scheduled run did, for the log and the tests. */
export interface DrainResult {
  drained: boolean;
  indexed: number;
  failedMailboxes: number;
}

/**
 * Receives up to `limit` requests (and DRAIN_RUN_BODY_BYTES of bodies) with DRAIN_RECEIVERS calls
 * in flight, until the queue answers empty; `full` when a limit stopped it first.
 */
async function receiveAll(
  inbox: IndexInbox,
  limit: number,
): Promise<{ received: ReceivedIndexRequest[]; full: boolean }> {
  const received: ReceivedIndexRequest[] = [];
  let bytes = 0;
  let empty = false;
  const full = () => received.length >= limit || bytes >= DRAIN_RUN_BODY_BYTES;
  const receiver = async () => {
    while (!empty && !full()) {
      const batch = await inbox.receive();
      if (batch.length === 0) empty = true;
      received.push(...batch);
      for (const r of batch) bytes += bodyBytes(r);
    }
  };
  await Promise.all(Array.from({ length: DRAIN_RECEIVERS }, receiver));
  return { received, full: full() };
}

/** Rounds of whole mailboxes, each of about DRAIN_ROUND_MESSAGES requests (a larger mailbox alone). */
export function roundsByMailbox<R extends { address: string }>(
  requests: readonly R[],
  roundMessages: number,
): R[][] {
  const byMailbox = new Map<string, R[]>();
  for (const r of requests) {
    const list = byMailbox.get(r.address);
    if (list) list.push(r);
    else byMailbox.set(r.address, [r]);
  }
  const rounds: R[][] = [];
  let round: R[] = [];
  for (const list of byMailbox.values()) {
    if (round.length > 0 && round.length + list.length > roundMessages) {
      rounds.push(round);
      round = [];
    }
    round.push(...list);
  }
  if (round.length > 0) rounds.push(round);
  return rounds;
}

/**
 * The search indexer, run once a minute by a schedule with a reserved concurrency of one: the only
 * writer of every mailbox's index. While the organisation is `normal` and no drill runs, it drains
 * the request queue every NORMAL_INDEX_INTERVAL_MINUTES (or once DRAIN_BACKLOG requests wait);
 * otherwise every run drains, so mail is searchable within about a minute while staff use the
 * webmail. A drain receives the whole backlog first and indexes it by mailbox, each mailbox written
 * once; what a run has no time left for goes back on the queue at once for the next minute's run.
 * A mailbox whose write fails keeps its requests on the queue: they come back after the visibility
 * timeout, and after a few tries wait in the dead-letter queue under its alarm (the index can be
 * rebuilt from the raw mail).
 */
export function createIndexerHandler(
  context: () => IndexerContext,
  options: { roundMessages?: number | undefined } = {},
) {
  const roundMessages = options.roundMessages ?? DRAIN_ROUND_MESSAGES;
  return async (
    _event: unknown,
    lambda?: { getRemainingTimeInMillis?: () => number },
  ): Promise<DrainResult> => {
    const { deps, inbox, continuity, drills } = context();
    const state = (await continuity.getOrg())?.state ?? 'normal';
    const result: DrainResult = { drained: false, indexed: 0, failedMailboxes: 0 };
    const drillRunning = async () => (drills ? (await activeDrill(drills)) !== null : false);
    if (!(await shouldDrain(state, deps.clock.now(), () => inbox.backlog(), drillRunning))) return result;
    result.drained = true;
    const timeLeft = () => lambda?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    let more = true;
    while (more && timeLeft() > DRAIN_RESERVE_MS) {
      const { received, full } = await receiveAll(inbox, DRAIN_RUN_REQUESTS);
      more = full;
      const rounds = roundsByMailbox(received, roundMessages);
      for (const [i, round] of rounds.entries()) {
        if (timeLeft() <= DRAIN_RESERVE_MS) {
          // Back on the queue now rather than after the visibility timeout: the next run takes them.
          const left = rounds.slice(i).flat();
          await inbox.release(left.map((r) => r.receipt)).catch((err: Error) => {
            deps.log.warn('index requests not handed back; they return after the visibility timeout', {
              requests: left.length,
              error: err.message,
            });
          });
          more = false;
          break;
        }
        const outcome = await indexBatch(deps, round);
        const failed = new Set(outcome.failed);
        const done = round.filter((r) => !failed.has(r.address));
        result.indexed += done.length;
        result.failedMailboxes += failed.size;
        try {
          await inbox.delete(done.map((r) => r.receipt));
        } catch (err) {
          deps.log.warn('index requests not deleted; they will be indexed again', {
            error: (err as Error).message,
          });
        }
      }
    }
    deps.log.info('index drain', { state, ...result });
    return result;
  };
}

let context: IndexerContext | undefined;

/** The indexer's context of this Lambda instance: the search deps and the queue INDEX_QUEUE_URL names. */
function defaultIndexerContext(): IndexerContext {
  if (!context) {
    const deps = defaultSearchDeps();
    const env = readEnv();
    const url = process.env.INDEX_QUEUE_URL;
    if (!url) throw new Error('INDEX_QUEUE_URL is not set: the indexer has no queue to drain');
    const { dynamo } = createAwsClients(env);
    context = {
      deps,
      inbox: createSqsIndexInbox(new SQSClient({ region: process.env.AWS_REGION }), url),
      continuity: createDynamoStore(dynamo, {
        tableName: env.TABLE_NAME,
        retentionDays: recordDays(deps.config),
      }),
      // The admin job records share the table: a running drill is read from there.
      drills: createDynamoSendingStore(dynamo, { tableName: env.TABLE_NAME }),
    };
  }
  return context;
}

export const handler = createIndexerHandler(defaultIndexerContext);
