import { randomBytes, randomUUID } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import {
  MAX_REPLAY_MESSAGES,
  MAX_SKIP_IDS,
  normaliseMessageId,
  parseSkipList,
  REPLAY_HEADER,
  type ReplayJob,
  type ReplayReportRow,
  type ReplayRequest,
  type ReplayState,
  replayRequestSchema,
} from '../console/replay.js';
import {
  type BlobStore,
  type Clock,
  type ContinuityStore,
  JOBS_OWNER,
  type Logger,
  type Mailer,
  type MessageStore,
  type PackedMember,
  type RecipientOutcome,
  type SendingRecord,
  type SendingStore,
} from '../ports.js';
import { RAW_PREFIX } from '../storage-layout.js';
import type { LifeboatConfig, RouteConfig } from './config.js';
import { formatIssues } from './config.js';
import { leaseSecondsFor } from './deliver.js';
import { DRILL_PROBE_PREFIX } from './drill.js';
import { ConflictError, LifeboatError, NotFoundError, ValidationError } from './errors.js';
import { isAcceptedRecipient, normaliseAddress, resolveRoute } from './routing.js';
import { withTraceHeader } from './trace.js';

/**
 * Replay of the raw archive into a primary restored from a backup: the mail the backup lacks,
 * read from `raw/` (the source of truth, kept for `retentionDays` whether or not its records
 * still exist), redelivered oldest first, paced like the hand-over, each copy marked
 * `X-Lifeboat-Replay: <job id>`, skipping the Message-IDs the primary already holds.
 *
 * A job is a record of the admin job store (kind `replay`, user JOBS_OWNER). Its parts live under
 * the pseudo-user `#org:<job id>`: the plan (the window's raw objects in archive order, in
 * chunks), the skip list (in chunks) and one report row per message. A message's row is written
 * the moment the primary has answered, before the next message is sent: that row is the
 * checkpoint. A run that stops anywhere resumes at the first message without a final row, so
 * a message goes twice only if the run stopped between the primary's 250 and its row (the
 * unavoidable window every MTA has, and the hand-over too). The job record itself (counts,
 * position) is written every {@link CHECKPOINT_MESSAGES} messages or {@link CHECKPOINT_MS}: it
 * drives the progress an admin sees and costs a write of its own, and nothing depends on it being
 * newer, because a run reads the rows past the job's position before it sends anything.
 */

export const REPLAY_KIND = 'replay';

/** A job's record lasts this long: the report is the restore's evidence for the quarter's review. */
export const REPLAY_KEEP_DAYS = 90;

/** Messages between two writes of the job record (its counts and position); the rows are per message. */
export const CHECKPOINT_MESSAGES = 20;
/** Longest time between two writes of the job record while it sends: what a progress bar lags by. */
export const CHECKPOINT_MS = 2000;

/**
 * Longest a run goes on sending after an admin's cancel: it reads the job again this often (one
 * small read; per message it would cap a run in AWS at DynamoDB's read latency).
 */
export const CANCEL_CHECK_MS = 500;

/**
 * Plan entries per chunk record: 1,000 of about 80 bytes (250 with a packed message's place), well
 * under DynamoDB's 400 KB item.
 */
export const PLAN_CHUNK = 1000;
/** Characters of Message-IDs per skip-list chunk record: well under DynamoDB's 400 KB item. */
export const SKIP_CHUNK_CHARS = 150_000;

/** Seconds a run waits before trying a message again after the primary's 4xx or no answer. */
export const REPLAY_RETRY_SECONDS = 60;
/**
 * A message deferred this many times in a row pauses the job with the primary's last reply: a
 * restored primary may restart a few times, but one that answers 4xx for minutes needs the admin
 * (who resumes the job when it is back), and the job keeps archive order rather than skipping on.
 */
export const MAX_REPLAY_DEFERRALS = 5;

/** Longest reply kept per recipient in a row: enough for an enhanced status code and its text. */
const MAX_RESPONSE_CHARS = 300;

/**
 * Headers a message's recipients are read from when its record has expired: To and Cc, their
 * Resent- forms, Delivered-To and X-Original-To, and the `for` clause of the topmost Received
 * header (the receiving server's own: SES names the recipient there). Bcc recipients are in
 * none of them and cannot be recovered.
 */
export const RECIPIENT_HEADERS = ['to', 'cc', 'resent-to', 'resent-cc', 'delivered-to', 'x-original-to'];

/** The stored form of a job; the API's {@link ReplayJob} is computed from it. */
export interface StoredReplay {
  id: string;
  state: ReplayState;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  window: { from: string; to: string };
  mailboxes: string[] | null;
  route: string | null;
  eventId: string | null;
  reason: string | null;
  skipIds: number;
  skipChunks: number;
  /** Raw objects in the window, once planned. */
  total: number | null;
  planChunks: number;
  /** Every message before this place in the plan has a final row. */
  next: number;
  counts: { sent: number; present: number; outOfScope: number; failed: number };
  position: string | null;
  /** The run working on the job, until when (renewed at each checkpoint). */
  lease: { owner: string; until: string } | null;
  run: { startedAt: string; doneAtStart: number } | null;
  retryAt: string | null;
  deferrals: number;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

interface PlanEntry {
  /** Message id (key without `raw/`). */
  k: string;
  /** Stored at. */
  t: string;
  /** Where it is packed, when it had left raw/ as the plan was made. */
  p?: PackedMember | undefined;
}

/** A report row as kept: final once every recipient has an answer that is not a 4xx. */
type StoredRow = ReplayReportRow & { final: boolean };

export interface ReplayDeps {
  jobs?: SendingStore | undefined;
  blobs: BlobStore;
  store: MessageStore;
  continuity: ContinuityStore;
  mailer: Mailer;
  config: LifeboatConfig;
  clock: Clock;
  log: Logger;
  /** Test seam: called after the primary answered a message (`sent`) and after its row (`recorded`). */
  checkpoint?: ((step: 'sent' | 'recorded', seq: number) => void) | undefined;
  /** Test seam: milliseconds between two looks for a cancel. @default CANCEL_CHECK_MS */
  cancelCheckMs?: number | undefined;
}

/** A replay that cannot be started, cancelled or resumed as asked (mapped to 409). */
export class ReplayStateError extends LifeboatError {
  constructor(message: string) {
    super('REPLAY_STATE', message);
  }
}

/** The runtime has no job store or no archive listing (mapped to 501). */
export class ReplayUnavailableError extends LifeboatError {
  constructor(message: string) {
    super('REPLAY_UNAVAILABLE', message);
  }
}

const partsOwner = (jobId: string) => `${JOBS_OWNER}:${jobId}`;
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const planId = (i: number) => `a${pad(i, 5)}`;
const skipId = (i: number) => `b${pad(i, 5)}`;
const rowId = (seq: number) => `r${pad(seq, 7)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function jobsOf(deps: Pick<ReplayDeps, 'jobs'>): SendingStore {
  if (!deps.jobs)
    throw new ReplayUnavailableError('this function has no admin job store: replays run elsewhere');
  return deps.jobs;
}

function expiry(now: Date): number {
  return Math.floor(now.getTime() / 1000) + REPLAY_KEEP_DAYS * 86_400;
}

/** A time-ordered job id: listing by id lists by age. */
export function newReplayId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
}

/** The job as the admin API shows it. */
export function viewOf(job: StoredReplay, now: Date): ReplayJob {
  const running = job.state === 'running' && job.run !== null;
  const seconds = running && job.run ? (now.getTime() - Date.parse(job.run.startedAt)) / 1000 : 0;
  return {
    id: job.id,
    state: job.state,
    createdAt: job.createdAt,
    createdBy: job.createdBy,
    updatedAt: job.updatedAt,
    window: job.window,
    mailboxes: job.mailboxes,
    route: job.route,
    eventId: job.eventId,
    reason: job.reason,
    skipIds: job.skipIds,
    progress: {
      total: job.total,
      done: job.next,
      ...job.counts,
      position: job.position,
      ratePerSecond:
        running && job.run && seconds > 0
          ? Math.round(((job.next - job.run.doneAtStart) / seconds) * 100) / 100
          : null,
    },
    retryAt: job.retryAt,
    error: job.error,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

async function audit(
  deps: Pick<ReplayDeps, 'continuity' | 'clock'>,
  job: StoredReplay,
  actor: string,
  action: string,
  detail: string,
  reason?: string | null,
) {
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action,
    detail,
    eventId: job.eventId,
    target: `replay/${job.id}`,
    ...(reason ? { reason } : {}),
  });
}

async function load(deps: Pick<ReplayDeps, 'jobs'>, id: string): Promise<SendingRecord<StoredReplay>> {
  const rec = await jobsOf(deps).getSending<StoredReplay>(REPLAY_KIND, JOBS_OWNER, id);
  if (!rec) throw new NotFoundError(`replay ${id}`);
  return rec;
}

/**
 * Changes a job with a conditional write, reading it again and reapplying the change when another
 * writer (an admin's cancel, a run's checkpoint) got there first.
 */
async function update(
  deps: Pick<ReplayDeps, 'jobs' | 'clock'>,
  id: string,
  change: (job: StoredReplay) => StoredReplay,
): Promise<StoredReplay> {
  for (let tries = 0; ; tries++) {
    const rec = await load(deps, id);
    const next = { ...change(rec.data), updatedAt: deps.clock.now().toISOString() };
    try {
      await jobsOf(deps).putSending({ ...rec, version: rec.version + 1, data: next }, rec.version);
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError) || tries >= 10) throw err;
    }
  }
}

/** Writes a part of a job (plan or skip chunk, report row), replacing what is there. */
async function putPart(
  deps: Pick<ReplayDeps, 'jobs' | 'clock'>,
  jobId: string,
  id: string,
  data: unknown,
  /** The stored version when the caller knows it (0: none yet), saving a read. */
  known?: number,
) {
  const jobs = jobsOf(deps);
  const user = partsOwner(jobId);
  const current =
    known === undefined
      ? await jobs.getSending(REPLAY_KIND, user, id)
      : known
        ? { version: known }
        : undefined;
  await jobs.putSending(
    {
      kind: REPLAY_KIND,
      user,
      id,
      version: (current?.version ?? 0) + 1,
      dueAt: null,
      expiresAt: expiry(deps.clock.now()),
      data,
    },
    current?.version ?? 0,
  );
}

export interface StartOptions {
  actor: string;
}

/**
 * Creates a replay job from the API's request: checks the window against now (`to` defaults to
 * now; a window reaching into the future is refused: that mail has not arrived), the route
 * against the configuration and the skip list's lines, keeps the skip list with the job, and
 * audits who asked. The job is then planned and sent by the runtime's replay runner.
 * @throws ValidationError naming every problem
 */
export async function startReplay(
  deps: Pick<ReplayDeps, 'jobs' | 'continuity' | 'config' | 'clock' | 'log'>,
  request: ReplayRequest,
  options: StartOptions,
): Promise<ReplayJob> {
  const parsed = replayRequestSchema.safeParse(request);
  if (!parsed.success) throw new ValidationError('replay request', formatIssues(parsed.error.issues));
  const body = parsed.data;
  const now = deps.clock.now();
  const problems: string[] = [];
  const from = new Date(body.from);
  const to = body.to ? new Date(body.to) : now;
  if (to.getTime() > now.getTime()) {
    problems.push(
      `to: the window reaches into the future (${to.toISOString()} is after now, ${now.toISOString()})`,
    );
  }
  if (from.getTime() >= to.getTime()) problems.push('from: must be before to (to defaults to now)');
  if (from.getTime() < now.getTime() - deps.config.retentionDays * 86_400_000) {
    problems.push(
      `from: raw mail is kept ${deps.config.retentionDays} days (retentionDays); nothing older is in the archive`,
    );
  }
  const routes = deps.config.routes.map((r) => r.name);
  if (body.route !== undefined && !routes.includes(body.route)) {
    problems.push(
      `route: unknown route ${JSON.stringify(body.route)}; the configured routes are ${routes.join(', ')}`,
    );
  }
  const skip = parseSkipList(body.skipIds ?? '');
  if (skip.invalid.length) {
    const lines = skip.invalid.slice(0, 10).join(', ');
    problems.push(
      `skipIds: ${skip.invalid.length} line(s) hold no Message-ID (line ${lines}${skip.invalid.length > 10 ? ', …' : ''}): one id per line, with or without <>`,
    );
  }
  if (skip.ids.length > MAX_SKIP_IDS) {
    problems.push(
      `skipIds: ${skip.ids.length} ids, more than the ${MAX_SKIP_IDS} one replay takes; list only the window's`,
    );
  }
  if (body.eventId !== undefined && !(await deps.continuity.getEvent(body.eventId))) {
    problems.push(`eventId: no event ${body.eventId}`);
  }
  if (problems.length) throw new ValidationError('replay request', problems);

  const id = newReplayId(now);
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let chars = 0;
  for (const mid of skip.ids) {
    if (chars + mid.length > SKIP_CHUNK_CHARS && chunk.length) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(mid);
    chars += mid.length + 3;
  }
  if (chunk.length) chunks.push(chunk);
  // The skip list first: a job record is never seen without its parts.
  for (const [i, ids] of chunks.entries()) await putPart(deps, id, skipId(i), { ids });

  const job: StoredReplay = {
    id,
    state: 'planning',
    createdAt: now.toISOString(),
    createdBy: options.actor,
    updatedAt: now.toISOString(),
    window: { from: from.toISOString(), to: to.toISOString() },
    mailboxes: body.mailboxes?.length ? [...new Set(body.mailboxes)].sort() : null,
    route: body.route ?? null,
    eventId: body.eventId ?? null,
    reason: body.reason ?? null,
    skipIds: skip.ids.length,
    skipChunks: chunks.length,
    total: null,
    planChunks: 0,
    next: 0,
    counts: { sent: 0, present: 0, outOfScope: 0, failed: 0 },
    position: null,
    lease: null,
    run: null,
    retryAt: null,
    deferrals: 0,
    error: null,
    startedAt: null,
    finishedAt: null,
  };
  await jobsOf(deps).putSending(
    { kind: REPLAY_KIND, user: JOBS_OWNER, id, version: 1, dueAt: null, expiresAt: expiry(now), data: job },
    0,
  );
  const scope = job.mailboxes ? `${job.mailboxes.length} mailbox(es)` : 'all mailboxes';
  await audit(
    deps,
    job,
    options.actor,
    'replay-start',
    `replay ${id} started: ${job.window.from} to ${job.window.to}, ${scope}, route ${job.route ?? "each recipient's own"}, ${job.skipIds} Message-IDs to skip`,
    job.reason,
  );
  deps.log.info('replay started', { replayId: id, skipIds: job.skipIds });
  return viewOf(job, now);
}

/** One job as the API shows it. */
export async function getReplay(deps: Pick<ReplayDeps, 'jobs' | 'clock'>, id: string): Promise<ReplayJob> {
  return viewOf((await load(deps, id)).data, deps.clock.now());
}

/** Jobs newest first; with `eventId`, only that event's (its timeline's). */
export async function listReplays(
  deps: Pick<ReplayDeps, 'jobs' | 'clock'>,
  query: { limit: number; eventId?: string | undefined },
): Promise<ReplayJob[]> {
  const page = await jobsOf(deps).listSending<StoredReplay>(REPLAY_KIND, JOBS_OWNER, { limit: query.limit });
  const now = deps.clock.now();
  return page.items
    .map((r) => r.data)
    .filter((j) => query.eventId === undefined || j.eventId === query.eventId)
    .map((j) => viewOf(j, now));
}

/**
 * Jobs a runner should work on (being planned or sent), oldest first. Runners take only the
 * oldest: one replay sends at a time, so two started together do not double the pace the primary
 * sees; a later one waits its turn.
 */
export async function activeReplays(deps: Pick<ReplayDeps, 'jobs'>): Promise<StoredReplay[]> {
  const page = await jobsOf(deps).listSending<StoredReplay>(REPLAY_KIND, JOBS_OWNER, { limit: 100 });
  return page.items
    .map((r) => r.data)
    .filter((j) => j.state === 'planning' || j.state === 'running')
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Stops a job: nothing more is sent once the message in flight has its answer. Its report keeps
 * what was done; it can be resumed.
 * @throws ReplayStateError for a job already finished or cancelled
 */
export async function cancelReplay(
  deps: Pick<ReplayDeps, 'jobs' | 'continuity' | 'clock'>,
  id: string,
  actor: string,
  reason?: string | undefined,
): Promise<ReplayJob> {
  const job = await update(deps, id, (j) => {
    if (j.state === 'finished' || j.state === 'cancelled') {
      throw new ReplayStateError(`replay ${id} is ${j.state}: nothing to cancel`);
    }
    return { ...j, state: 'cancelled', run: null, retryAt: null };
  });
  await audit(
    deps,
    job,
    actor,
    'replay-cancel',
    `replay ${id} cancelled after ${job.next} of ${job.total ?? '?'} messages`,
    reason,
  );
  return viewOf(job, deps.clock.now());
}

/**
 * Sets a cancelled or paused job going again from its first message without an outcome.
 * @throws ReplayStateError for a job that is running or finished
 */
export async function resumeReplay(
  deps: Pick<ReplayDeps, 'jobs' | 'continuity' | 'clock'>,
  id: string,
  actor: string,
): Promise<ReplayJob> {
  const job = await update(deps, id, (j) => {
    if (j.state !== 'cancelled' && j.state !== 'paused') {
      throw new ReplayStateError(
        `replay ${id} is ${j.state}: only a cancelled or paused replay can be resumed`,
      );
    }
    return {
      ...j,
      state: j.total === null ? 'planning' : 'running',
      error: null,
      deferrals: 0,
      retryAt: null,
      // A cancelled run's lease is its own; the next run starts afresh.
      lease: null,
      finishedAt: null,
    };
  });
  await audit(
    deps,
    job,
    actor,
    'replay-resume',
    `replay ${id} resumed at message ${job.next} of ${job.total ?? '?'}`,
  );
  return viewOf(job, deps.clock.now());
}

/** Every report row so far, in archive order (final or not). */
async function readRows(deps: Pick<ReplayDeps, 'jobs'>, id: string, sinceSeq = 0): Promise<StoredRow[]> {
  const rows: StoredRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await jobsOf(deps).listSending<StoredRow>(REPLAY_KIND, partsOwner(id), {
      limit: 1000,
      cursor,
      sinceId: rowId(sinceSeq),
    });
    for (const r of page.items) if (r.id.startsWith('r')) rows.push(r.data);
    cursor = page.cursor;
  } while (cursor);
  return rows.sort((a, b) => a.seq - b.seq);
}

/** The job and its report rows, in archive order. */
export async function replayReport(
  deps: Pick<ReplayDeps, 'jobs' | 'clock'>,
  id: string,
): Promise<{ job: ReplayJob; rows: ReplayReportRow[] }> {
  const job = await load(deps, id);
  const rows = (await readRows(deps, id)).map(({ final: _f, ...row }) => row);
  return { job: viewOf(job.data, deps.clock.now()), rows };
}

const csvCell = (v: string | number) => {
  const s = String(v);
  // A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection): quoted with a '.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** The report as CSV (RFC 4180): one line per recipient of each message, one for a message without. */
export function reportCsv(rows: readonly ReplayReportRow[]): string {
  const lines = [
    [
      'seq',
      'received_at',
      'id',
      'message_id',
      'outcome',
      'recipient',
      'route',
      'status',
      'response',
      'detail',
      'at',
    ],
  ];
  for (const r of rows) {
    const base = [String(r.seq), r.receivedAt, r.id, r.messageId ?? '', r.outcome];
    if (r.recipients.length === 0) lines.push([...base, '', '', '', '', r.detail, r.at]);
    for (const p of r.recipients)
      lines.push([...base, p.address, p.route ?? '', p.status, p.response, r.detail, r.at]);
  }
  return `${lines.map((l) => l.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

/** What the header block of a raw message says about it. */
export interface RawHeaders {
  messageId: string | null;
  recipients: string[];
  returnPath: string | null;
}

/** Reads the header block only (up to the first empty line), unfolded; the body is never parsed. */
export function readRawHeaders(raw: Buffer): RawHeaders {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const text = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  const fields: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length) {
      (fields[fields.length - 1] as { value: string }).value += ` ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      if (colon > 0)
        fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
    }
  }
  const recipients = new Set<string>();
  for (const f of fields) {
    if (!RECIPIENT_HEADERS.includes(f.name)) continue;
    for (const a of addressparser(f.value, { flatten: true })) {
      if (a.address?.includes('@')) recipients.add(normaliseAddress(a.address));
    }
  }
  const received = fields.find((f) => f.name === 'received');
  for (const m of received?.value.matchAll(/\bfor\s+<?([^\s<>;@]+@[^\s<>;]+?)>?\s*(;|$)/gi) ?? []) {
    recipients.add(normaliseAddress(m[1] as string));
  }
  const mid = fields.find((f) => f.name === 'message-id')?.value;
  const rp = fields.find((f) => f.name === 'return-path')?.value;
  const rpAddress = rp ? (rp.match(/<([^>]*)>/)?.[1] ?? rp).trim() : null;
  return {
    messageId: mid ? (mid.match(/<[^>]+>/)?.[0] ?? mid) : null,
    recipients: [...recipients],
    returnPath: rpAddress,
  };
}

/** Builds the plan: the window's raw objects in archive order (stored time, then id). */
async function plan(
  deps: ReplayDeps,
  job: StoredReplay,
): Promise<{ total: number; chunks: number } | { error: string }> {
  const list = deps.blobs.listStored?.bind(deps.blobs);
  if (!list) throw new ReplayUnavailableError('this blob store cannot list the archive by time');
  // A message is listed twice while the packer is between writing its pack and deleting its
  // original: the original is kept (a plain GET, no Glacier fee), its stored time the same.
  const byKey = new Map<string, PlanEntry>();
  let cursor: string | undefined;
  do {
    const page = await list({ from: job.window.from, to: job.window.to, cursor });
    for (const o of page.items) {
      if (!o.key.startsWith(RAW_PREFIX)) continue;
      const k = o.key.slice(RAW_PREFIX.length);
      if (o.packed && byKey.has(k)) continue;
      byKey.set(k, { k, t: o.storedAt, ...(o.packed ? { p: o.packed } : {}) });
    }
    if (byKey.size > MAX_REPLAY_MESSAGES) {
      return {
        error: `the window holds more than ${MAX_REPLAY_MESSAGES} messages, the most one replay covers (its report is one download); replay it as several shorter windows`,
      };
    }
    cursor = page.cursor;
  } while (cursor);
  const found = [...byKey.values()];
  found.sort((a, b) => a.t.localeCompare(b.t) || a.k.localeCompare(b.k));
  let chunks = 0;
  for (let i = 0; i < found.length; i += PLAN_CHUNK) {
    await putPart(deps, job.id, planId(chunks++), { entries: found.slice(i, i + PLAN_CHUNK) });
  }
  return { total: found.length, chunks };
}

export interface RunOptions {
  /** Milliseconds this run may take (a Lambda's remaining time, less a margin); Infinity locally. */
  budgetMs: number;
  /** Who holds the lease while this run works. */
  owner: string;
  /**
   * Take the job even under another owner's live lease: the single-node runtime at start-up, whose
   * previous process (the only other runner) is gone.
   */
  takeOver?: boolean | undefined;
  /** Ends the run at the next message, as a spent budget does (the runtime stopping). */
  signal?: AbortSignal | undefined;
}

export interface RunResult {
  /** `busy`: another run holds it; `waiting`: a 4xx retry is due later; `stopped`: budget spent or cancelled. */
  outcome: 'finished' | 'paused' | 'busy' | 'waiting' | 'stopped' | 'idle';
  /** Messages given an outcome in this run. */
  handled: number;
  /** When to run again (a 4xx retry), if waiting. */
  retryAt?: string | undefined;
}

/**
 * Works on one job: plans it if it is new, then sends its messages oldest first, paced at
 * `continuity.handover.ratePerSecond` with `handover.concurrency` in flight (the hand-over's
 * settings: a primary restored from a backup is as easily flooded), until it is finished,
 * cancelled, waiting out a 4xx, or the budget is spent. Takes a lease on the job so two runs never
 * send it at once; a stopped run's lease runs out after the routes' lease time.
 */
export async function runReplay(deps: ReplayDeps, id: string, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const now = () => deps.clock.now();
  const leaseMs =
    Math.max(
      ...deps.config.routes.map((r) => leaseSecondsFor(deps.config, r.name)),
      deps.config.queue.leaseSeconds,
    ) * 1000;
  const rec = await load(deps, id);
  let job = rec.data;
  if (job.state !== 'planning' && job.state !== 'running') return { outcome: 'idle', handled: 0 };
  if (job.retryAt && job.retryAt > now().toISOString())
    return { outcome: 'waiting', handled: 0, retryAt: job.retryAt };
  const leaseLive = job.lease && job.lease.until > now().toISOString() && job.lease.owner !== options.owner;
  if (leaseLive && !options.takeOver) return { outcome: 'busy', handled: 0 };
  // The lease: one conditional write; a run that loses the race leaves the job to the winner.
  try {
    job = {
      ...job,
      lease: { owner: options.owner, until: new Date(now().getTime() + leaseMs).toISOString() },
      run: job.state === 'running' ? { startedAt: now().toISOString(), doneAtStart: job.next } : job.run,
      retryAt: null,
      startedAt: job.startedAt ?? now().toISOString(),
      updatedAt: now().toISOString(),
    };
    await jobsOf(deps).putSending({ ...rec, version: rec.version + 1, data: job }, rec.version);
  } catch (err) {
    if (err instanceof ConflictError) return { outcome: 'busy', handled: 0 };
    throw err;
  }

  /** Writes the job's progress, keeping an admin's cancel that came meanwhile. */
  let cancelled = false;
  const save = async (change: (j: StoredReplay) => Partial<StoredReplay>) => {
    job = await update(deps, id, (fresh) => {
      const mine =
        (fresh.state === 'running' || fresh.state === 'planning') && fresh.lease?.owner === options.owner;
      if (mine) return { ...fresh, ...change(fresh) };
      // Cancelled, or resumed and taken by another run meanwhile: this run stops, and adds what it
      // did only where it got further (the rows are the truth; the counts are theirs up to `next`).
      cancelled = true;
      const { next: n, counts: c, position: p } = { ...progress(), ...change(fresh) };
      return n !== undefined && n > fresh.next
        ? { ...fresh, next: n, counts: c ?? fresh.counts, position: p ?? fresh.position }
        : fresh;
    });
  };
  const renew = () => ({
    lease: { owner: options.owner, until: new Date(now().getTime() + leaseMs).toISOString() },
  });

  if (job.state === 'planning') {
    const planned = await plan(deps, job);
    if ('error' in planned) {
      await save(() => ({ state: 'paused', error: planned.error, lease: null, run: null }));
      await audit(deps, job, 'lifeboat', 'replay-paused', `replay ${id} paused: ${planned.error}`);
      return { outcome: 'paused', handled: 0 };
    }
    await save(() => ({
      state: 'running',
      total: planned.total,
      planChunks: planned.chunks,
      run: { startedAt: now().toISOString(), doneAtStart: 0 },
      ...renew(),
    }));
    deps.log.info('replay planned', { replayId: id, total: planned.total });
    if (cancelled) return { outcome: 'stopped', handled: 0 };
  }

  const skip = new Set<string>();
  for (let i = 0; i < job.skipChunks; i++) {
    const part = await jobsOf(deps).getSending<{ ids: string[] }>(REPLAY_KIND, partsOwner(id), skipId(i));
    for (const mid of part?.data.ids ?? []) skip.add(mid);
  }
  const planCache = new Map<number, PlanEntry[]>();
  const entryAt = async (seq: number): Promise<PlanEntry> => {
    const c = Math.floor(seq / PLAN_CHUNK);
    let entries = planCache.get(c);
    if (!entries) {
      const part = await jobsOf(deps).getSending<{ entries: PlanEntry[] }>(
        REPLAY_KIND,
        partsOwner(id),
        planId(c),
      );
      if (!part) throw new NotFoundError(`replay ${id} plan part ${c}`);
      entries = part.data.entries;
      // Messages in flight may straddle two chunks: keep the two newest.
      if (planCache.size >= 2) planCache.delete(planCache.keys().next().value as number);
      planCache.set(c, entries);
    }
    return entries[seq % PLAN_CHUNK] as PlanEntry;
  };
  // Rows past the job's position: written by a run that stopped before its next checkpoint.
  const rows = new Map<number, StoredRow>();
  for (const r of await readRows(deps, id, job.next)) rows.set(r.seq, r);

  const total = job.total ?? 0;
  const { ratePerSecond, concurrency } = deps.config.continuity.handover;
  let next = job.next;
  const counts = { ...job.counts };
  let position = job.position;
  let handled = 0;
  let sends = 0;
  let sinceSave = 0;
  let lastSave = performance.now();
  let deferral: { reply: string } | undefined;

  const progress = () => ({ next, counts: { ...counts }, position });
  const advance = () => {
    for (let r = rows.get(next); r?.final; r = rows.get(next)) {
      counts[r.outcome === 'out-of-scope' ? 'outOfScope' : r.outcome]++;
      position = r.receivedAt;
      rows.delete(next);
      next++;
      handled++;
      sinceSave++;
    }
  };
  advance();

  // Messages in flight, up to the hand-over's concurrency: the next starts as soon as a slot is
  // free, so one slow transaction holds up its own slot only.
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  const cancelCheckMs = deps.cancelCheckMs ?? CANCEL_CHECK_MS;
  let s = next;
  try {
    while (!cancelled && !deferral && !failure) {
      s = Math.max(s, next);
      while (s < total && rows.get(s)?.final) s++;
      if (s >= total || elapsed() >= options.budgetMs || options.signal?.aborted) break;
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (deferral || failure) break;
      if (performance.now() - checkedAt >= cancelCheckMs) {
        // An admin's cancel (or another run that took the job) is seen before the next message goes.
        checkedAt = performance.now();
        const current = (await load(deps, id)).data;
        if (current.state !== 'running' || current.lease?.owner !== options.owner) {
          cancelled = true;
          break;
        }
      }
      const seq = s++;
      const before = rows.get(seq);
      const sending = (async () => {
        // Pace: the n-th message this run sends may not start before n / rate seconds; a skipped
        // one costs the primary nothing and waits for nothing.
        const pace = async () => {
          const wait = (sends++ / ratePerSecond) * 1000 - elapsed();
          if (wait > 0) await sleep(wait);
        };
        const row = await replayOne(deps, job, seq, await entryAt(seq), skip, before, pace);
        deps.checkpoint?.('sent', seq);
        await putPart(deps, id, rowId(seq), row, before ? undefined : 0);
        deps.checkpoint?.('recorded', seq);
        rows.set(seq, row);
        if (!row.final) deferral ??= { reply: row.detail };
        advance();
      })().catch((error: unknown) => {
        failure ??= { error };
      });
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending));
      if (sinceSave >= CHECKPOINT_MESSAGES || performance.now() - lastSave >= CHECKPOINT_MS) {
        await save(() => ({ ...progress(), ...renew() }));
        sinceSave = 0;
        lastSave = performance.now();
      }
    }
  } finally {
    // Every message started has its row before the run goes on or ends, however one of them
    // failed: a message in flight is never left unrecorded behind a run that has stopped.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }
  if (failure) throw failure.error;

  if (cancelled) {
    await save(progress);
    return { outcome: 'stopped', handled };
  }
  if (deferral) {
    // Deferrals in a row of the message in hand: a run that got further starts the count again.
    const deferrals = (handled > 0 ? 0 : job.deferrals) + 1;
    if (deferrals >= MAX_REPLAY_DEFERRALS) {
      const error = `the primary deferred message ${next} ${deferrals} times in a row; last reply: ${deferral.reply}. Resume the replay once it accepts mail again`;
      await save(() => ({ ...progress(), state: 'paused', error, deferrals, lease: null, run: null }));
      if (!cancelled) await audit(deps, job, 'lifeboat', 'replay-paused', `replay ${id} paused: ${error}`);
      return { outcome: 'paused', handled };
    }
    const retryAt = new Date(now().getTime() + REPLAY_RETRY_SECONDS * 1000).toISOString();
    await save(() => ({
      ...progress(),
      deferrals,
      retryAt,
      lease: null,
      error: `waiting to retry: ${deferral?.reply}`,
    }));
    return { outcome: 'waiting', handled, retryAt };
  }
  if (next >= total) {
    const at = now().toISOString();
    await save(() => ({
      ...progress(),
      state: 'finished',
      finishedAt: at,
      lease: null,
      run: null,
      deferrals: 0,
      error: null,
    }));
    if (cancelled) return { outcome: 'stopped', handled };
    await audit(
      deps,
      job,
      'lifeboat',
      'replay-finished',
      `replay ${id} finished: ${counts.sent} sent, ${counts.present} present on the primary, ${counts.outOfScope} out of scope, ${counts.failed} failed, of ${total}`,
    );
    deps.log.info('replay finished', { replayId: id, total, ...counts });
    return { outcome: 'finished', handled };
  }
  // The budget is spent: the lease is given back for the next run.
  await save(() => ({ ...progress(), lease: null, deferrals: handled > 0 ? 0 : job.deferrals }));
  return { outcome: 'stopped', handled };
}

/** The bytes a replayed copy carries: the replay mark, the trace header, then the archived bytes unchanged. */
export function replayBytes(
  raw: Buffer,
  jobId: string,
  trace: Parameters<typeof withTraceHeader>[1],
): Buffer {
  return Buffer.concat([Buffer.from(`${REPLAY_HEADER}: ${jobId}\r\n`, 'utf8'), withTraceHeader(raw, trace)]);
}

const clip = (s: string) => (s.length > MAX_RESPONSE_CHARS ? `${s.slice(0, MAX_RESPONSE_CHARS - 1)}…` : s);

/**
 * One message of the plan: its recipients (the record's envelope while it exists, else the raw
 * headers'), in scope, not present on the primary, sent one transaction per route. `before` is a
 * row an earlier attempt left (some recipients delivered, others deferred): only the rest go.
 */
async function replayOne(
  deps: ReplayDeps,
  job: StoredReplay,
  seq: number,
  entry: PlanEntry,
  skip: ReadonlySet<string>,
  before: StoredRow | undefined,
  pace: () => Promise<void>,
): Promise<StoredRow> {
  const at = () => deps.clock.now().toISOString();
  const base = { seq, receivedAt: entry.t, id: entry.k, messageId: null as string | null };
  const raw = await readArchived(deps, entry);
  if (!raw) {
    return {
      ...base,
      outcome: 'failed',
      detail: 'the raw message is no longer in the archive (removed after retentionDays)',
      recipients: [],
      at: at(),
      final: true,
    };
  }
  const headers = readRawHeaders(raw);
  const record = await deps.store.getMessage(entry.k);
  const messageId = record?.messageIdHeader ?? headers.messageId;
  base.messageId = messageId;
  // Lifeboat's own probe mail (a round trip come back, a drill's probe messages) is no one's mail.
  const probeReturn = deps.config.continuity.probes.roundTrip?.returnAddress.toLowerCase();
  if (record?.probeToken || entry.k.startsWith(DRILL_PROBE_PREFIX)) {
    return {
      ...base,
      outcome: 'out-of-scope',
      detail: 'a probe message of Lifeboat’s own',
      recipients: [],
      at: at(),
      final: true,
    };
  }
  const candidates = record ? record.recipients.map(normaliseAddress) : headers.recipients;
  const chosen = job.mailboxes ? new Set(job.mailboxes) : null;
  const recipients = [...new Set(candidates)].filter(
    (r) => r !== probeReturn && isAcceptedRecipient(deps.config, r) && (!chosen || chosen.has(r)),
  );
  if (recipients.length === 0) {
    return {
      ...base,
      outcome: 'out-of-scope',
      detail: record
        ? 'no envelope recipient among the chosen mailboxes'
        : 'no recipient on an accepted domain among the chosen mailboxes in its headers (the record has expired)',
      recipients: [],
      at: at(),
      final: true,
    };
  }
  const normalised = messageId ? normaliseMessageId(messageId) : null;
  if (normalised && skip.has(normalised)) {
    return {
      ...base,
      outcome: 'present',
      detail: 'its Message-ID is on the primary',
      recipients: [],
      at: at(),
      final: true,
    };
  }
  const done = (before?.recipients ?? []).filter((p) => p.status === 'delivered');
  const doneSet = new Set(done.map((p) => p.address));
  const results: ReplayReportRow['recipients'] = [...done];
  const byRoute = new Map<string, { route: RouteConfig | undefined; to: string[] }>();
  for (const r of recipients) {
    if (doneSet.has(r)) continue;
    const route = job.route
      ? deps.config.routes.find((x) => x.name === job.route)
      : resolveRoute(deps.config, r);
    const name = route?.name ?? job.route ?? '';
    const group = byRoute.get(name) ?? { route, to: [] };
    group.to.push(r);
    byRoute.set(name, group);
  }
  const envelopeFrom = record?.envelopeFrom ?? headers.returnPath ?? '';
  let deferred: string | undefined;
  if ([...byRoute.values()].some((g) => g.route)) await pace();
  for (const [name, { route, to }] of byRoute) {
    if (!route) {
      for (const r of to) {
        results.push({
          address: r,
          route: null,
          status: 'failed',
          response: name ? `route ${name} is no longer configured` : 'no route serves this recipient',
        });
      }
      continue;
    }
    const bytes = replayBytes(raw, job.id, {
      hostname: deps.config.hostname,
      messageId: entry.k,
      recipients: to,
      now: deps.clock.now(),
    });
    let outcomes: RecipientOutcome[];
    try {
      outcomes = await deps.mailer.send(route, { from: envelopeFrom, to }, bytes);
    } catch (err) {
      outcomes = to.map((r) => ({
        recipient: r,
        status: 'deferred',
        response: `local error: ${(err as Error).message}`,
        host: null,
      }));
    }
    for (const r of to) {
      const o = outcomes.find((x) => x.recipient === r) ?? {
        status: 'deferred',
        response: 'no answer for this recipient',
        host: null,
      };
      const response = clip(o.host ? `${o.host}: ${o.response}` : o.response);
      if (o.status === 'deferred') {
        deferred ??= `${r}: ${response}`;
        continue;
      }
      results.push({ address: r, route: route.name, status: o.status, response });
    }
  }
  if (deferred) {
    // Not final: the recipients the primary took are kept, the rest are tried again.
    return { ...base, outcome: 'failed', detail: deferred, recipients: results, at: at(), final: false };
  }
  const failed = results.filter((p) => p.status === 'failed');
  return {
    ...base,
    outcome: failed.length ? 'failed' : 'sent',
    detail: failed.length
      ? `${failed.length} of ${results.length} recipient(s) refused: ${failed.map((p) => `${p.address}: ${p.response}`).join('; ')}`.slice(
          0,
          1000,
        )
      : `accepted for ${results.length} recipient(s)`,
    recipients: results,
    at: at(),
    final: true,
  };
}

/**
 * A planned message's bytes: from its pack or raw/, as the plan found it; an original the packer took
 * after the plan was made is looked for in the packs of its days. Undefined: no longer archived.
 */
async function readArchived(deps: ReplayDeps, entry: PlanEntry): Promise<Buffer | undefined> {
  const key = `${RAW_PREFIX}${entry.k}`;
  const packed = async (member: PackedMember | undefined) => {
    if (!member || !deps.blobs.readPacked) return undefined;
    try {
      return await deps.blobs.readPacked(member);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  };
  if (entry.p) return packed(entry.p);
  try {
    return await deps.blobs.getRaw(key);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  return packed(await deps.blobs.findPacked?.(key, entry.t));
}

/** A fresh runner id: which process or invocation holds a job's lease. */
export function newRunnerId(): string {
  return randomUUID();
}

/**
 * Time a function's replay run leaves before its own timeout: a healthy primary answers a
 * transaction in well under a second, so a minute covers a slow one. A stalled transaction cut off
 * by the timeout is a crash like any other: that message may go twice (the SMTP window), and the
 * job waits for its lease to run out before the next run takes it.
 */
export const REPLAY_MARGIN_MS = 60_000;

/**
 * Gives the replays under way the rest of a scheduled function's run (AWS: the sweep, every
 * minute, after its retries): each job in turn, while more than {@link REPLAY_MARGIN_MS} remains.
 * A job another run holds is left to it.
 * @returns the messages given an outcome
 */
export async function continueReplays(
  deps: ReplayDeps,
  options: { remainingMs: () => number; owner: string },
): Promise<number> {
  if (!deps.jobs || !deps.blobs.listStored) return 0;
  let handled = 0;
  for (const job of await activeReplays(deps)) {
    const budgetMs = options.remainingMs() - REPLAY_MARGIN_MS;
    if (budgetMs <= 0) break;
    const result = await runReplay(deps, job.id, { budgetMs, owner: options.owner });
    handled += result.handled;
    // The oldest goes first and alone: held by another run, waiting out a 4xx, or not done in the
    // budget, the later ones wait behind it.
    if (result.outcome === 'busy' || result.outcome === 'waiting') break;
  }
  return handled;
}
