import type { BlobStore, Clock, Logger, MessageStore } from '../../ports.js';
import { MAX_BATCH_READ } from '../../storage-layout.js';
import { type LifeboatConfig, MAX_MESSAGE_BYTES } from '../config.js';
import type { OrgStateName } from '../continuity.js';
import { NotFoundError } from '../errors.js';
import { historyStart } from '../mailbox.js';
import type { MessageRecord } from '../model.js';
import { type IndexBody, indexBodyOf, parseForReading, unparsedIndexBody } from '../summarise.js';
import {
  applyDocs,
  createIndexBuilder,
  type IndexCache,
  type IndexDoc,
  indexDocOf,
  loadIndex,
  type MailboxIndex,
} from './mailbox-index.js';

/** What the search index's writer and readers need. */
export interface SearchDeps {
  store: MessageStore;
  /** Raw mail, read to index a message's body and attachment names. */
  blobs: BlobStore;
  /** Where each mailbox's index blob lives (`index/<address>.json`). */
  indexBlobs: BlobStore;
  clock: Clock;
  log: Logger;
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays' | 'webmail'>;
  /** Indexes kept loaded (segments still current are reused; the manifest is read on every use). */
  cache?: IndexCache | undefined;
  /** Messages per index segment. @default SEGMENT_MESSAGES (tests use a few) */
  segmentMessages?: number | undefined;
  /**
   * Parses a raw message for its index entry; the single-node runtime gives its worker pool's,
   * so the parse runs off its main thread. @default indexBody, in this thread
   */
  indexBody?: ((raw: Buffer) => Promise<IndexBody>) | undefined;
}

export type { IndexBody };

/**
 * The text and attachment names of a raw message, for the index: the same as ingest's readMessage
 * gives, so an entry is the same whether its body came with the request or from the raw message.
 * A message that cannot be parsed is indexed from its record (headers and snippet) instead of not at all.
 */
export async function indexBody(raw: Buffer): Promise<IndexBody> {
  try {
    return indexBodyOf(await parseForReading(raw));
  } catch {
    return unparsedIndexBody();
  }
}

/**
 * The index entry of a message, from its record and its body: the body parsed at ingest when the
 * request carried it, else the raw message read and parsed again.
 */
export async function docFor(
  deps: Pick<SearchDeps, 'blobs' | 'indexBody'>,
  message: MessageRecord,
  body?: IndexBody,
): Promise<IndexDoc> {
  if (body) return indexDocOf(message, body);
  const raw = await deps.blobs.getRaw(message.rawKey);
  return indexDocOf(message, await (deps.indexBody ?? indexBody)(raw));
}

/**
 * The mailbox's index as its blobs now stand: the manifest is read, segments still current are
 * taken from the cache, the rest are read when a search or write needs them.
 */
export async function currentIndex(deps: SearchDeps, address: string): Promise<MailboxIndex> {
  const index = await loadIndex(deps.indexBlobs, address, deps.cache?.get(address));
  deps.cache?.set(index);
  return index;
}

/** Writes messages into one mailbox's index: the segments they fall in and the manifest, once for the batch. */
async function writeDocs(deps: SearchDeps, address: string, docs: readonly IndexDoc[]): Promise<void> {
  const index = await currentIndex(deps, address);
  try {
    const outcome = await applyDocs(deps.indexBlobs, index, docs, historyStart(deps), deps.segmentMessages);
    deps.log.info('mailbox indexed', { messages: docs.length, ...outcome });
  } catch (err) {
    // Part of the write may be on disk: drop the cached copy so the next use reads the blobs.
    deps.cache?.delete(address);
    throw err;
  }
}

/**
 * Rebuilds one mailbox's index from the raw messages of every delivery to it within the history
 * window: the repair for a lost or damaged blob, and how an index format change is rolled out.
 * Segments are written as they fill, newest first, so memory holds one segment's messages.
 * @returns how many messages it indexed
 */
async function rebuild(deps: SearchDeps, address: string): Promise<number> {
  const since = historyStart(deps);
  const previous = await loadIndex(deps.indexBlobs, address);
  const builder = createIndexBuilder(deps.indexBlobs, address, previous.manifest, deps.segmentMessages);
  let cursor: string | undefined;
  try {
    do {
      const page = await deps.store.queryMailbox(address, { since, limit: MAX_BATCH_READ, cursor });
      const ids = [...new Set(page.items.map((d) => d.messageId))];
      const byId = new Map((ids.length ? await deps.store.getMessages(ids) : []).map((m) => [m.id, m]));
      const docs: IndexDoc[] = [];
      // In the page's order (newest first), which the builder relies on.
      for (const id of ids) {
        const message = byId.get(id);
        if (!message || message.probeToken) continue;
        docs.push(await docFor(deps, message));
      }
      await builder.add(docs);
      cursor = page.cursor;
    } while (cursor !== undefined);
    const index = await builder.finish();
    deps.cache?.set(index);
    const documents = index.manifest.segments.reduce((n, s) => n + s.count, 0);
    deps.log.info('mailbox index rebuilt', { documents, segments: index.manifest.segments.length });
    return documents;
  } catch (err) {
    deps.cache?.delete(address);
    throw err;
  }
}

/**
 * One writer per mailbox, in this process: index updates for a mailbox run one at a time, in
 * arrival order, and those that queue up while one runs are written together (one blob read
 * and write for the batch). In AWS the same role falls to the indexer, which runs one at a time,
 * drains an SQS queue and calls the same writer once per mailbox for each drain (indexBatch).
 */
export interface IndexQueue {
  /** Adds these messages to the mailbox's index; resolves once the blob is written. */
  add(address: string, docs: readonly IndexDoc[]): Promise<void>;
  /** Rebuilds the mailbox's index, after whatever is queued for it before. */
  rebuild(address: string): Promise<number>;
  /** Resolves when no mailbox has work queued or running. */
  idle(): Promise<void>;
}

type Job =
  | { kind: 'docs'; docs: readonly IndexDoc[]; resolve: () => void; reject: (err: unknown) => void }
  | { kind: 'rebuild'; resolve: (n: number) => void; reject: (err: unknown) => void };

/**
 * Milliseconds the writer waits after the first update of a batch for others on their way:
 * every write rewrites the newest segment and the manifest, so a burst of mail written one
 * message at a time would rewrite that segment once a message. A quarter of a second delays a
 * new message's searchability by no more than that.
 */
export const DEFAULT_BATCH_WINDOW_MS = 250;
/** Most messages written in one batch, so one write's memory and time stay bounded. */
export const MAX_BATCH_MESSAGES = 1000;

export interface IndexQueueOptions {
  /** @default DEFAULT_BATCH_WINDOW_MS; 0 writes each batch as soon as the writer is free */
  batchWindowMs?: number | undefined;
}

export function createIndexQueue(deps: SearchDeps, options: IndexQueueOptions = {}): IndexQueue {
  const windowMs = options.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS;
  const queues = new Map<string, Job[]>();
  const running = new Map<string, Promise<void>>();

  async function drain(address: string): Promise<void> {
    const jobs = queues.get(address) as Job[];
    while (jobs.length) {
      const first = jobs[0] as Job;
      if (first.kind === 'rebuild') {
        jobs.shift();
        await rebuild(deps, address).then(first.resolve, first.reject);
        continue;
      }
      if (windowMs > 0) await new Promise((resolve) => setTimeout(resolve, windowMs));
      // Every update queued by now, up to the next rebuild, in one write.
      const end = jobs.findIndex((j) => j.kind === 'rebuild');
      const batch: Extract<Job, { kind: 'docs' }>[] = [];
      let messages = 0;
      for (const job of jobs.slice(0, end < 0 ? jobs.length : end) as Extract<Job, { kind: 'docs' }>[]) {
        if (batch.length > 0 && messages + job.docs.length > MAX_BATCH_MESSAGES) break;
        batch.push(job);
        messages += job.docs.length;
      }
      jobs.splice(0, batch.length);
      await writeDocs(
        deps,
        address,
        batch.flatMap((j) => j.docs),
      ).then(
        () => {
          for (const j of batch) j.resolve();
        },
        (err) => {
          deps.log.error('mailbox index not written', {
            messages: batch.length,
            error: (err as Error).message,
          });
          for (const j of batch) j.reject(err);
        },
      );
    }
    queues.delete(address);
    running.delete(address);
  }

  function enqueue(address: string, job: Job): void {
    let jobs = queues.get(address);
    if (!jobs) {
      jobs = [];
      queues.set(address, jobs);
    }
    jobs.push(job);
    if (!running.has(address)) running.set(address, drain(address));
  }

  return {
    add(address, docs) {
      return new Promise<void>((resolve, reject) =>
        enqueue(address, { kind: 'docs', docs, resolve, reject }),
      );
    },
    rebuild(address) {
      return new Promise<number>((resolve, reject) => enqueue(address, { kind: 'rebuild', resolve, reject }));
    },
    async idle() {
      while (running.size) await Promise.all([...running.values()]);
    },
  };
}

/**
 * Indexes a received message into the mailbox of each of its envelope recipients (or only
 * `addresses`), through the one writer per mailbox. Round-trip probe messages are nobody's
 * mail and are not indexed. Quarantined mail is indexed like the rest: every search checks each
 * hit's delivery, so it is never shown while quarantined, and a release needs no re-index.
 * `body` is the one ingest parsed with the summary; without it the raw message is read and parsed.
 * @returns the mailboxes it was written to
 * @throws NotFoundError when the message has no record
 */
export async function indexMessage(
  deps: SearchDeps & { queue: IndexQueue },
  messageId: string,
  addresses?: readonly string[],
  body?: IndexBody,
): Promise<string[]> {
  const message = await deps.store.getMessage(messageId);
  if (!message) throw new NotFoundError(`message ${messageId}`);
  if (message.probeToken) return [];
  const doc = await docFor(deps, message, body);
  const targets = (addresses ?? message.recipients).filter((a) => message.recipients.includes(a));
  await Promise.all(targets.map((address) => deps.queue.add(address, [doc])));
  return targets;
}

/** Rebuilds a mailbox's index from the raw messages (see IndexQueue.rebuild). */
export function rebuildIndex(deps: { queue: IndexQueue }, address: string): Promise<number> {
  return deps.queue.rebuild(address);
}

/**
 * Minutes between the indexer's drains of the request queue while the organisation is `normal`
 * and no drill runs: staff then read and search their mail in the primary, and a drain writes a
 * mailbox's index once for all the mail it received since the last one (one segment and one
 * manifest write), so the longer the interval, the fewer S3 PUTs a message: at 100 messages a
 * mailbox a day, 0.02 writes a message at 12 hours against 0.12 at 2. What waits is indexed as soon
 * as the organisation leaves `normal` (alerting, continuity, recovering) or a drill starts: from
 * then every run drains, once a minute, and takes the whole backlog at once, at most DRAIN_BACKLOG
 * requests, a run's work (about two minutes, see DRAIN_RUN_REQUESTS), so search is complete
 * within a few minutes of the first page or a drill's start, before anyone invokes continuity.
 */
export const NORMAL_INDEX_INTERVAL_MINUTES = 720;

/**
 * Requests waiting at which a drain runs whatever the minute: the most a catch-up ever has to
 * index (about two minutes of a run), and the most a drain in normal times batches. Half a day of
 * mail at the worked month's 50,000 messages a day; a busier organisation drains more often than
 * NORMAL_INDEX_INTERVAL_MINUTES, each mailbox still written once per drain.
 */
export const DRAIN_BACKLOG = 25_000;

/**
 * Whether a scheduled run drains the queue: every run outside `normal` and while a drill runs (its
 * staff search here before its outage is even detected); otherwise the run on each
 * NORMAL_INDEX_INTERVAL_MINUTES boundary of the UTC clock, or any run once DRAIN_BACKLOG requests wait.
 */
export async function shouldDrain(
  state: OrgStateName,
  now: Date,
  backlog: () => Promise<number>,
  drillRunning: () => Promise<boolean> = async () => false,
): Promise<boolean> {
  if (state !== 'normal') return true;
  if (await drillRunning()) return true;
  const minute = Math.floor(now.getTime() / 60_000);
  if (minute % NORMAL_INDEX_INTERVAL_MINUTES === 0) return true;
  return (await backlog()) >= DRAIN_BACKLOG;
}

/**
 * Messages parsed at once by a drain: enough S3 reads in flight (tens of milliseconds each) to
 * keep a vCPU parsing (a millisecond or two a message); memory holds that many raw messages.
 */
export const PARSE_CONCURRENCY = 16;

/**
 * Raw bytes parsed at once at most, whatever PARSE_CONCURRENCY: a parse holds about seven times
 * its message (ingest's measured peak, 354 MiB, is 72 for the code and 282 for SES's largest
 * message, 40 MB), so four of the largest take about 1.1 GB of the indexer's 1,769 MB. A message
 * waits until it fits; one larger than this parses alone.
 */
export const PARSE_BYTES_IN_FLIGHT = 4 * MAX_MESSAGE_BYTES;

/** The outcome of indexing a drained batch: the mailboxes written and those whose write failed. */
export interface BatchOutcome {
  written: string[];
  failed: string[];
}

/**
 * Indexes a batch of requests (a message for a mailbox each), one index write per mailbox for all
 * its messages: the records read in batches; a message whose request carries its body (parsed at
 * ingest) is indexed from it, any other has its raw message read and parsed once however many of
 * the batch's mailboxes it went to. A request whose message has no record any more (expired) or
 * is a round-trip probe is done. A mailbox whose write fails is reported, the others stand.
 * PARSE_CONCURRENCY messages are parsed at once, at most PARSE_BYTES_IN_FLIGHT of them.
 */
export async function indexBatch(
  deps: SearchDeps,
  requests: readonly { messageId: string; address: string; body?: IndexBody | undefined }[],
): Promise<BatchOutcome> {
  const ids = [...new Set(requests.map((r) => r.messageId))];
  const bodies = new Map<string, IndexBody>();
  for (const r of requests) if (r.body) bodies.set(r.messageId, r.body);
  const records = new Map<string, MessageRecord>();
  for (let i = 0; i < ids.length; i += MAX_BATCH_READ) {
    for (const m of await deps.store.getMessages(ids.slice(i, i + MAX_BATCH_READ))) records.set(m.id, m);
  }
  const docs = new Map<string, IndexDoc>();
  const todo: string[] = [];
  for (const id of ids) {
    const m = records.get(id);
    if (m === undefined || m.probeToken) continue;
    const body = bodies.get(id);
    if (body) docs.set(id, indexDocOf(m, body));
    else todo.push(id);
  }
  let next = 0;
  let bytesInFlight = 0;
  let waiting: (() => void)[] = [];
  const worker = async () => {
    while (next < todo.length) {
      const message = records.get(todo[next++] as string) as MessageRecord;
      const bytes = Math.min(message.size, PARSE_BYTES_IN_FLIGHT);
      while (bytesInFlight > 0 && bytesInFlight + bytes > PARSE_BYTES_IN_FLIGHT) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      bytesInFlight += bytes;
      try {
        docs.set(message.id, await docFor(deps, message));
      } finally {
        bytesInFlight -= bytes;
        const wake = waiting;
        waiting = [];
        for (const resolve of wake) resolve();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARSE_CONCURRENCY, todo.length) }, worker));

  const byMailbox = new Map<string, IndexDoc[]>();
  for (const r of requests) {
    const doc = docs.get(r.messageId);
    const message = records.get(r.messageId);
    if (!doc || !message?.recipients.includes(r.address)) continue;
    const list = byMailbox.get(r.address) ?? [];
    if (!list.some((d) => d.id === doc.id)) list.push(doc);
    byMailbox.set(r.address, list);
  }
  const queue = createIndexQueue(deps, { batchWindowMs: 0 });
  const outcome: BatchOutcome = { written: [], failed: [] };
  await Promise.all(
    [...byMailbox].map(([address, list]) =>
      queue.add(address, list).then(
        () => outcome.written.push(address),
        () => outcome.failed.push(address),
      ),
    ),
  );
  return outcome;
}
