import { SQSClient } from '@aws-sdk/client-sqs';
import { createAwsClients, readEnv } from '../adapters/context.js';
import { createDynamoStore } from '../adapters/dynamo-store.js';
import { createSqsIndexInbox, type IndexInbox } from '../adapters/sqs-index-requests.js';
import { defaultSearchDeps } from '../adapters/webmail-context.js';
import { recordDays } from '../core/config.js';
import { indexBatch, type SearchDeps, shouldDrain } from '../core/search/indexer.js';
import type { ContinuityStore } from '../ports.js';

/**
 * Requests indexed in one round of a drain: up to a thousand messages' index entries in memory
 * (32 K characters of text each at most), and a mailbox's write bounded as the writer bounds it.
 */
export const DRAIN_ROUND_MESSAGES = 1_000;

/**
 * Milliseconds a drain keeps in hand before the function's timeout: it takes no new round once
 * fewer remain, so a round that parses large mail finishes and deletes its requests.
 */
export const DRAIN_RESERVE_MS = 90_000;

export interface IndexerContext {
  deps: SearchDeps;
  inbox: IndexInbox;
  continuity: Pick<ContinuityStore, 'getOrg'>;
}

/** What a scheduled run did, for the log and the tests. */
export interface DrainResult {
  drained: boolean;
  indexed: number;
  failedMailboxes: number;
}

/**
 * The search indexer, run once a minute by a schedule with a reserved concurrency of one: the only
 * writer of every mailbox's index. While the organisation is `normal` it drains the request queue
 * every NORMAL_INDEX_INTERVAL_MINUTES (or once a backlog builds), so a mailbox's index is written
 * once for all its new mail; in any other state every run drains, so mail is searchable within
 * about a minute while staff use the webmail. A mailbox whose write fails keeps its requests on the
 * queue: they come back after the visibility timeout, and after a few tries wait in the
 * dead-letter queue under its alarm (the index can be rebuilt from the raw mail).
 */
export function createIndexerHandler(context: () => IndexerContext) {
  return async (
    _event: unknown,
    lambda?: { getRemainingTimeInMillis?: () => number },
  ): Promise<DrainResult> => {
    const { deps, inbox, continuity } = context();
    const state = (await continuity.getOrg())?.state ?? 'normal';
    const result: DrainResult = { drained: false, indexed: 0, failedMailboxes: 0 };
    if (!(await shouldDrain(state, deps.clock.now(), () => inbox.backlog()))) return result;
    result.drained = true;
    const timeLeft = () => lambda?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    let more = true;
    while (more && timeLeft() > DRAIN_RESERVE_MS) {
      const round = [];
      while (round.length < DRAIN_ROUND_MESSAGES) {
        const received = await inbox.receive();
        if (received.length === 0) {
          more = false;
          break;
        }
        round.push(...received);
      }
      if (round.length === 0) break;
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
    };
  }
  return context;
}

export const handler = createIndexerHandler(defaultIndexerContext);
