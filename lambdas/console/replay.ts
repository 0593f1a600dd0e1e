/**
 * The archive replay's shapes: the request that starts a replay, a replay job as the admin API
 * returns it, and one row of its report. The API validates with them and the console imports
 * them, so a renamed field fails the type check instead of an admin at night. This module imports
 * zod only, so it bundles for the browser.
 *
 * A replay redelivers raw mail from the archive (`raw/`) into a primary restored from a backup:
 * a time window, all mailboxes or a list, the Message-IDs the primary already holds skipped,
 * oldest first, paced like the hand-over, each copy marked with {@link REPLAY_HEADER}.
 */
import * as z from 'zod';

/** The header each replayed copy carries (`X-Lifeboat-Replay: <job id>`), so the primary can tell it apart. */
export const REPLAY_HEADER = 'X-Lifeboat-Replay';

/**
 * Messages one replay may cover (raw objects in its window). Its report is one row per message
 * and is downloaded as one answer, which Lambda caps at 6 MB; 25,000 rows of about 200 bytes stay
 * under it, and at the hand-over's default 10 messages a second that is about 40 minutes of
 * sending. A longer window is replayed as several jobs, one after the other.
 */
export const MAX_REPLAY_MESSAGES = 25_000;

/**
 * Message-IDs in one skip list. The list travels in one API request (Lambda takes at most 6 MB of
 * body) and is kept with the job; 100,000 ids of 50 bytes are 5 MB. The primary's ids need only
 * cover the replay's window (`lifeboat replay present-ids --since` narrows an export to it).
 */
export const MAX_SKIP_IDS = 100_000;

/** Characters of the skip list as pasted or uploaded: Lambda's 6 MB request, less the JSON around it. */
export const MAX_SKIP_TEXT_CHARS = 5_500_000;

/** Longest Message-ID accepted: RFC 5322 §2.1.1's 998-character line, less `Message-ID: `. */
export const MAX_MESSAGE_ID_CHARS = 986;

/** Mailboxes one replay may name; beyond that, replay all mailboxes. */
export const MAX_REPLAY_MAILBOXES = 1000;

/** Longest reason kept with a job and in the audit log. */
export const MAX_REPLAY_REASON_CHARS = 500;

/**
 * Where a job stands: `planning` (listing the archive in its window), `running` (sending, or
 * waiting out a primary's 4xx), `paused` (stopped by the primary's repeated 4xx or an error; resume
 * when it is fixed), `cancelled` (by an admin; can be resumed), `finished`.
 */
export const replayStates = ['planning', 'running', 'paused', 'cancelled', 'finished'] as const;
export type ReplayState = (typeof replayStates)[number];

/**
 * A message's outcome in the report: `sent` (every recipient's copy accepted), `present` (its
 * Message-ID was in the skip list), `out-of-scope` (no recipient on an accepted domain among the
 * chosen mailboxes), `failed` (a 5xx for a recipient, no route, or the raw message unreadable).
 */
export const replayOutcomes = ['sent', 'present', 'out-of-scope', 'failed'] as const;
export type ReplayOutcome = (typeof replayOutcomes)[number];

const isoTime = z.iso.datetime({ offset: true });
const address = z
  .string()
  .trim()
  .min(3)
  .max(320)
  .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'must be an email address')
  .transform((a) => a.toLowerCase());

/**
 * The body of `POST /admin/replays`. `to` defaults to now; a window reaching past now is refused
 * (the server checks it against its clock). `mailboxes` absent or empty replays every mailbox.
 * `route` sends everything to one configured route instead of each recipient's own.
 */
export const replayRequestSchema = z
  .strictObject({
    from: isoTime,
    to: isoTime.optional(),
    mailboxes: z
      .array(address)
      .max(MAX_REPLAY_MAILBOXES, `at most ${MAX_REPLAY_MAILBOXES} mailboxes; replay all of them instead`)
      .optional(),
    route: z.string().min(1).max(63).optional(),
    /** The Message-IDs already on the primary, one per line, with or without `<>`, as pasted or uploaded. */
    skipIds: z
      .string()
      .max(MAX_SKIP_TEXT_CHARS, `the skip list may hold at most ${MAX_SKIP_TEXT_CHARS} characters`)
      .optional(),
    /** The continuity event this replay belongs to: it appears on that event's timeline. */
    eventId: z
      .string()
      .regex(/^[\w-]{1,64}$/, 'must be an event id')
      .optional(),
    reason: z.string().trim().min(1).max(MAX_REPLAY_REASON_CHARS).optional(),
  })
  .refine((b) => b.to === undefined || Date.parse(b.from) < Date.parse(b.to), {
    message: 'from must be before to',
    path: ['from'],
  });
export type ReplayRequest = z.input<typeof replayRequestSchema>;

/** A replay job as the admin API returns it. */
export const replayJobSchema = z.object({
  id: z.string(),
  state: z.enum(replayStates),
  createdAt: isoTime,
  createdBy: z.string(),
  updatedAt: isoTime,
  window: z.object({ from: isoTime, to: isoTime }),
  /** The chosen mailboxes, or null for all. */
  mailboxes: z.array(z.string()).nullable(),
  /** The route everything goes to, or null for each recipient's own. */
  route: z.string().nullable(),
  eventId: z.string().nullable(),
  reason: z.string().nullable(),
  /** Distinct Message-IDs in the skip list. */
  skipIds: z.number().int().nonnegative(),
  progress: z.object({
    /** Raw messages in the window; null while the archive is being listed. */
    total: z.number().int().nonnegative().nullable(),
    /** Messages with an outcome so far (all four kinds). */
    done: z.number().int().nonnegative(),
    sent: z.number().int().nonnegative(),
    present: z.number().int().nonnegative(),
    outOfScope: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    /** Receipt time of the last message with an outcome: how far through the window the job is. */
    position: isoTime.nullable(),
    /** Messages a second over the current run, while it runs; null otherwise. */
    ratePerSecond: z.number().nonnegative().nullable(),
  }),
  /** When the current run will try again after the primary's 4xx (running), or null. */
  retryAt: isoTime.nullable(),
  /** Why the job paused (the primary's last reply, an error), or null. */
  error: z.string().nullable(),
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
});
export type ReplayJob = z.infer<typeof replayJobSchema>;

/** One recipient's copy of a replayed message. */
export const replayRecipientSchema = z.object({
  address: z.string(),
  route: z.string().nullable(),
  status: z.enum(['delivered', 'failed']),
  /** The primary's reply with its host, or the local reason. */
  response: z.string(),
});

/** One message of a job's report, in archive order. */
export const replayReportRowSchema = z.object({
  /** Place in the job's archive order, from 0. */
  seq: z.number().int().nonnegative(),
  receivedAt: isoTime,
  /** The gateway's id of the message (its raw object is `raw/<id>`). */
  id: z.string(),
  /** The message's own Message-ID, when it has one. */
  messageId: z.string().nullable(),
  outcome: z.enum(replayOutcomes),
  /** Why it was skipped or failed, in words. */
  detail: z.string(),
  recipients: z.array(replayRecipientSchema),
  at: isoTime,
});
export type ReplayReportRow = z.infer<typeof replayReportRowSchema>;

/** `GET /admin/replays`: newest first. */
export const replayListSchema = z.object({ replays: z.array(replayJobSchema) });
export type ReplayList = z.infer<typeof replayListSchema>;

/** `GET /admin/replays/<id>/report`: the job and every row so far, in archive order. */
export const replayReportSchema = z.object({ job: replayJobSchema, rows: z.array(replayReportRowSchema) });
export type ReplayReport = z.infer<typeof replayReportSchema>;

/**
 * A Message-ID as mail software compares it: without `<>` and surrounding space, the part after
 * the last `@` in lower case (a domain, RFC 5321 §2.4), the part before it as written. Null for a
 * line that holds none.
 */
export function normaliseMessageId(line: string): string | null {
  let id = line.trim();
  if (id.startsWith('<')) id = id.slice(1);
  if (id.endsWith('>')) id = id.slice(0, -1);
  id = id.trim();
  if (id === '' || /\s/.test(id)) return null;
  const at = id.lastIndexOf('@');
  return at < 0 ? id : `${id.slice(0, at)}@${id.slice(at + 1).toLowerCase()}`;
}

/**
 * The distinct Message-IDs of a pasted or uploaded list (one per line, with or without `<>`;
 * blank lines and `#` comments ignored), and the lines that are not one.
 */
export function parseSkipList(text: string): { ids: string[]; invalid: number[] } {
  const ids = new Set<string>();
  const invalid: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const id = t.length > MAX_MESSAGE_ID_CHARS + 2 ? null : normaliseMessageId(t);
    if (id === null) invalid.push(i + 1);
    else ids.add(id);
  });
  return { ids: [...ids], invalid };
}

/** Each replay error code and the HTTP status the admin API answers it with. */
export const REPLAY_ERROR_STATUS = {
  /** Cancelling a finished replay, resuming a running one. */
  REPLAY_STATE: 409,
  /** A runtime without the job store or the archive listing a replay needs. */
  REPLAY_UNAVAILABLE: 501,
} as const;
