import type { RouteConfig } from './core/config.js';
import type { ContinuityEvent, OrgState } from './core/continuity.js';
import type { DeliveryRecord, DeliveryState, MessageRecord } from './core/model.js';
import type { IndexBody } from './core/summarise.js';

/** Raw message bytes, keyed as SES's S3 action keys them (`raw/<sesMessageId>`). */
export interface BlobStore {
  getRaw(key: string): Promise<Buffer>;
  putRaw(key: string, body: Buffer): Promise<void>;
  /**
   * The raw messages stored in a time range, one page at a time, in no particular order (S3 lists
   * by key, and SES's keys are not time-ordered): S3's LastModified in AWS, the file's mtime
   * locally. What a replay reads the archive by, records or not. Absent in stores that hold no
   * archive (a test double that never replays).
   */
  listStored?(query: StoredQuery): Promise<Page<StoredRaw>>;
  /**
   * The original bytes of a message kept in a pack (AWS: one ranged GET and a gunzip), checked
   * against its SHA-256. Absent in stores that keep no packs.
   * @throws NotFoundError when the pack is gone
   */
  readPacked?(member: PackedMember): Promise<Buffer>;
  /**
   * Where a message that has left `raw/` is packed: the packs of the days around `storedAt` are
   * looked through (a replay planned before the packer took the message). Absent without packs.
   */
  findPacked?(key: string, storedAt: string): Promise<PackedMember | undefined>;
}

/** One message inside a pack of archived raw mail (see PACKS_PREFIX). */
export interface PackedMember {
  /** The pack's key. */
  pack: string;
  /** Where the message's own gzip member starts in the pack, and its length in bytes. */
  offset: number;
  length: number;
  /** SHA-256 (hex) of the original bytes. */
  sha256: string;
}

/**
 * What the raw-mail packer needs of the bucket (AWS; lambdas/core/raw-packs.ts): the originals read
 * with their stored time and deleted, the packs and their indexes written and checked.
 */
export interface RawPackStore {
  /** The original and when it was stored; undefined when it is no longer under raw/. */
  readRaw(key: string): Promise<{ body: Buffer; storedAt: string } | undefined>;
  /** A pack index's bytes; undefined when there is none. */
  getPackIndex(key: string): Promise<Buffer | undefined>;
  putPackIndex(key: string, body: Buffer): Promise<void>;
  /** Writes a pack in its storage class (Glacier IR, or Standard for a short retention). */
  putPack(key: string, body: Buffer): Promise<void>;
  /** A pack's size in bytes (a HEAD: no retrieval fee); undefined when it does not exist. */
  packSize(key: string): Promise<number | undefined>;
  /** Deletes the current version of an original (S3 keeps it as a noncurrent version for the bucket's days). */
  deleteRaw(key: string): Promise<void>;
}

/** A time range of the raw archive: objects stored at or after `from` and before `to`. */
export interface StoredQuery {
  from: string;
  to: string;
  /** The cursor of the previous page. */
  cursor?: string | undefined;
}

/** One raw message as the archive lists it. */
export interface StoredRaw {
  /** `raw/<id>`. */
  key: string;
  /** When it was stored (ISO): S3's LastModified (to the second), the file's mtime. */
  storedAt: string;
  size: number;
  /** Set when the message is kept in a pack rather than as its own object under raw/. */
  packed?: PackedMember | undefined;
}

/** A hold on delivery: everything (`*`) or one route, for continuity or an admin. */
export interface HoldRecord {
  scope: string;
  reason: string;
  since: string;
  by: string;
  /** Set while a hand-over releases what this hold kept: new mail is still held, released mail goes out. */
  draining?: boolean | undefined;
}

export interface DeliveryKey {
  messageId: string;
  recipient: string;
}

export interface StateQuery {
  state: DeliveryState;
  /** Only items whose index time (due time, or arrival for held/failed) is at or before this. */
  before?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  cursor: string | undefined;
}

/** Deliveries per state, delivered included. */
export type StateCounts = Record<DeliveryState, number>;

/** A place in a mailbox's order: newest `receivedAt` first, then message id (descending). */
export interface MailboxPosition {
  receivedAt: string;
  messageId: string;
}

export interface MailboxQuery {
  /** Only deliveries received at or after this instant (the history window). */
  since?: string | undefined;
  /** Only deliveries strictly after this place in newest-first order (older, or same time and lower id). */
  before?: MailboxPosition | undefined;
  limit: number;
  /** The cursor of the previous page of the same query. */
  cursor?: string | undefined;
}

/** One user's read and flagged marks on one message, kept apart from its deliveries. */
export interface MailboxFlags {
  seen: boolean;
  flagged: boolean;
}

/** What {@link MessageStore.listReceived} returns of a message: enough to count its deliveries. */
export type ReceivedMessage = Pick<MessageRecord, 'id' | 'receivedAt' | 'recipients' | 'sentCopyOf'>;

/** Messages, deliveries and holds: DynamoDB in AWS, SQLite on the single-node runtime. */
export interface MessageStore {
  putMessage(message: MessageRecord): Promise<void>;
  getMessage(id: string): Promise<MessageRecord | undefined>;
  /** Creates the delivery unless one exists for the key; returns whether it wrote. */
  createDelivery(delivery: DeliveryRecord): Promise<boolean>;
  getDelivery(key: DeliveryKey): Promise<DeliveryRecord | undefined>;
  listDeliveries(messageId: string): Promise<DeliveryRecord[]>;
  /**
   * Writes `next` only if the stored record still has `expected.version`.
   * @throws ConflictError when another worker wrote first
   */
  replaceDelivery(next: DeliveryRecord, expectedVersion: number): Promise<void>;
  /**
   * Removes a delivery (an admin's delete) only if the stored record still has `expectedVersion`,
   * and takes it off its state's counter. The message record and the raw mail stay.
   * @throws ConflictError when another worker wrote first or the delivery does not exist
   */
  deleteDelivery(key: DeliveryKey, expectedVersion: number): Promise<void>;
  /** Keeps one attempt's outcome of one delivery, for as long as the delivery's record is kept. */
  recordDeliveryAttempt(attempt: DeliveryAttempt): Promise<void>;
  /** The delivery's latest `limit` recorded attempts, oldest first. */
  listDeliveryAttempts(key: DeliveryKey, limit: number): Promise<DeliveryAttempt[]>;
  /** Deliveries in one state, oldest index time first. */
  queryByState(query: StateQuery): Promise<Page<DeliveryRecord>>;
  /**
   * The cursor that resumes a `queryByState` listing of `d`'s state right after `d`, as if `d` had
   * ended a page: a caller that filters a page can stop mid-page and still resume exactly.
   */
  queueCursorAfter(d: DeliveryRecord): string;
  /**
   * Deliveries per state, from counters the store keeps with every create and transition: one
   * read, whatever the size of the queue. Counts every delivery ever recorded in each state
   * (delivered included) until its record expires or is removed.
   */
  countByState(): Promise<StateCounts>;
  /** Arrival time (`receivedAt`) of the route's oldest deferred delivery, in one indexed read. */
  oldestDeferred(route: string): Promise<string | undefined>;
  /** Messages received on one UTC day (`YYYY-MM-DD`), newest first. */
  listMessagesByDay(day: string, limit?: number, cursor?: string): Promise<Page<MessageRecord>>;
  /**
   * The messages received in [from, to) (ISO instants), oldest first, each as its id, time,
   * envelope recipients and sent-copy mark: every page of the day partitions' time-sorted keys, so
   * a few minutes cost a read of those minutes' records only. A probe round counts the accepted
   * deliveries of the minutes that ended from it.
   */
  listReceived(from: string, to: string): Promise<ReceivedMessage[]>;
  /**
   * The messages with these ids that exist, in one request (DynamoDB BatchGetItem; at most
   * MAX_BATCH_READ ids), in no particular order.
   */
  getMessages(ids: readonly string[]): Promise<MessageRecord[]>;
  /**
   * One envelope recipient's deliveries, whatever their state, newest first (received time,
   * then message id, both descending): the webmail's list, from the byMailbox index.
   */
  queryMailbox(address: string, query: MailboxQuery): Promise<Page<DeliveryRecord>>;
  /**
   * A user's marks on these messages, in one request (at most MAX_BATCH_READ ids); a message
   * never marked is absent from the result.
   */
  getMailboxFlags(user: string, messageIds: readonly string[]): Promise<Record<string, MailboxFlags>>;
  /**
   * Sets the marks given and keeps the other; never touches a delivery, so read state cannot
   * block or change the hand-over.
   * @returns the marks as they now are
   */
  setMailboxFlags(user: string, messageId: string, changes: Partial<MailboxFlags>): Promise<MailboxFlags>;
  putHold(hold: HoldRecord): Promise<void>;
  deleteHold(scope: string): Promise<void>;
  listHolds(): Promise<HoldRecord[]>;
}

export interface Envelope {
  from: string;
  to: string[];
}

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  recipient: string;
  status: RecipientStatus;
  /** The server's reply, or the local reason (`connect ECONNREFUSED 127.0.0.1:25`). */
  response: string;
  /** The host that gave the answer, when one was reached. */
  host: string | null;
}

/** Sends one SMTP transaction per call to a route's hosts, in order. Never throws for SMTP outcomes. */
export interface Mailer {
  send(route: RouteConfig, envelope: Envelope, raw: Buffer): Promise<RecipientOutcome[]>;
  /**
   * Ends the SMTP sessions a pooling mailer keeps open between sends; sends after it open new
   * ones. A mailer that keeps no session has nothing to end.
   */
  close?(): Promise<void>;
}

/**
 * Tells the replay runner a job was started or resumed, so it need not wait for its next look: the
 * single-node runtime's runner. In AWS the replay function looks every minute and nothing is woken.
 */
export interface ReplayWaker {
  wake(jobId: string): Promise<void>;
}

/** Asks for a message's first delivery attempt (Lambda Event invoke in AWS, in-process locally). */
export interface DeliveryTrigger {
  requestDelivery(messageId: string): Promise<void>;
}

/**
 * Asks for a received message to be indexed into its recipients' mailboxes: an SQS FIFO queue
 * grouped by mailbox in AWS (one writer per mailbox), the in-process index queue locally.
 */
export interface IndexRequests {
  /**
   * `body` is the message's index body as ingest parsed it: a request that carries it spares the
   * indexer a read and parse of the raw message (AWS: when it fits in one 64 KB SQS chunk).
   */
  requestIndex(messageId: string, addresses: readonly string[], body?: IndexBody): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Structured logs. Never pass bodies, subjects or whole events: ids, counts and codes only. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const systemClock: Clock = { now: () => new Date() };

/** One SMTP transaction's outcome, the organic probe's raw material. */
export interface AttemptSample {
  route: string;
  at: string;
  /** The primary answered (2xx or 5xx); false for 4xx, timeouts and refused connections. */
  ok: boolean;
  latencyMs: number;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  detail: string;
  eventId: string | null;
  /** What was acted on: `<messageId>/<recipient>` for a delivery; absent on older entries. */
  target?: string | undefined;
  /** Why, as the admin gave it. */
  reason?: string | undefined;
}

/** A time range of the audit log, newest first. */
export interface AuditQuery {
  /** Entries at or after this instant. */
  from?: string | undefined;
  /** Entries strictly before this instant. */
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** One attempt's outcome for one delivery: what the primary answered, kept for the admin. */
export interface DeliveryAttempt {
  messageId: string;
  recipient: string;
  at: string;
  /** The attempt's number, 1 for the first. */
  attempt: number;
  route: string;
  outcome: 'delivered' | 'deferred' | 'failed';
  /** The primary's reply with the host that gave it (`mx1: 451 4.3.0 …`), or the local reason. */
  response: string;
}

export type MetricsResolution = 'minute' | 'hour';

/**
 * Changes to one metrics time bucket, applied atomically by the store: `add` increments named
 * counters (DynamoDB UpdateItem ADD, SQLite UPSERT), `set` overwrites sampled gauges.
 */
export interface MetricsUpdate {
  resolution: MetricsResolution;
  /** The bucket's first instant (ISO, on the minute or the hour). */
  start: string;
  /** Epoch second after which the bucket may be removed. */
  expiresAt: number;
  add?: Record<string, number> | undefined;
  set?: Record<string, number> | undefined;
}

/** One stored metrics bucket: every named value written to it. */
export interface MetricsBucketRecord {
  resolution: MetricsResolution;
  start: string;
  values: Record<string, number>;
}

/** A page or text, kept in the outbox whatever transport carries it. */
export interface NotificationRecord {
  id: string;
  at: string;
  channel: 'sms' | 'email';
  audience: 'admins' | 'staff';
  to: string[];
  subject: string;
  text: string;
  eventId: string | null;
  notice: string;
  /** Why the notifier refused it (SNS sandbox, spend limit, AccessDenied); absent once handed over. */
  error?: string | undefined;
}

export interface ProbeToken {
  token: string;
  route: string;
  sentAt: string;
  returnedAt: string | null;
}

/** The organisation's continuity state, its events, the audit log, the outbox and probe data. */
export interface ContinuityStore {
  getOrg(): Promise<OrgState | undefined>;
  /** @throws ConflictError when the stored version is not `expectedVersion` (0: must not exist). */
  putOrg(next: OrgState, expectedVersion: number): Promise<void>;
  getEvent(id: string): Promise<ContinuityEvent | undefined>;
  putEvent(event: ContinuityEvent): Promise<void>;
  /** Newest first. */
  listEvents(limit: number): Promise<ContinuityEvent[]>;
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(limit: number): Promise<AuditEntry[]>;
  /** One page of the audit log in a time range, newest first; reads no more than the page. */
  queryAudit(query: AuditQuery): Promise<Page<AuditEntry>>;
  /** Applies each update to its bucket (counters added, gauges set), each atomically. */
  addMetrics(updates: readonly MetricsUpdate[]): Promise<void>;
  /** Buckets of one resolution whose start is in [from, to), oldest first. */
  listMetrics(resolution: MetricsResolution, from: string, to: string): Promise<MetricsBucketRecord[]>;
  /** Writes an outbox record; writing one with the same `at` and `id` again replaces it. */
  putNotification(n: NotificationRecord): Promise<void>;
  /** Newest first. */
  listNotifications(limit: number): Promise<NotificationRecord[]>;
  recordAttempt(sample: AttemptSample): Promise<void>;
  listAttempts(route: string, since: string): Promise<AttemptSample[]>;
  putProbeToken(token: ProbeToken): Promise<void>;
  getProbeToken(token: string): Promise<ProbeToken | undefined>;
  /** Probe tokens sent since `since`, oldest first. */
  listProbeTokens(since: string): Promise<ProbeToken[]>;
}

/**
 * Counters the alarms watch: an Embedded Metric Format log line per count in Lambda, which
 * CloudWatch turns into a metric without a PutMetricData call; nothing on the single-node runtime.
 */
export interface Metrics {
  /** Adds `value` to the metric `name` (namespace Lifeboat, no dimensions). */
  count(name: string, value: number): void;
}

/**
 * Sends mail Lifeboat writes itself (a bounce) to any address: SES in AWS. The single-node
 * runtime has none yet, and sends such mail through the route that serves the address.
 */
export interface OutboundMail {
  send(envelope: Envelope, raw: Buffer): Promise<void>;
}

/** What the transport said when it accepted a page or text. */
export interface NotifierReceipt {
  /** The transport's id for the message (SNS's MessageId), when it gives one. */
  messageId?: string | undefined;
}

/** Carries pages and texts: SNS in AWS, the terminal on the local runtime. */
export interface Notifier {
  /** @throws when the transport refuses it (SNS sandbox, spend limit, AccessDenied) */
  send(n: NotificationRecord): Promise<void | NotifierReceipt>;
}

/** The synthetic SMTP check: connect, EHLO, STARTTLS, MAIL FROM, RCPT TO, QUIT — no DATA. */
export interface SmtpProber {
  check(
    route: RouteConfig,
    host: { host: string; port: number },
    recipient: string,
  ): Promise<{ ok: boolean; detail: string; latencyMs: number }>;
}

/** What a short-lived download link gives access to: one part of one message, for one user. */
export interface LinkSubject {
  /** The signed-in user the link was made for. */
  user: string;
  messageId: string;
  /** `raw` for the whole message as received, or an attachment's index in the read view. */
  part: 'raw' | number;
  /** The user's address the message was delivered to: rechecked when the link is used. */
  address: string;
}

export interface SignedLink {
  url: string;
  /** ISO time after which the link is refused. */
  expiresAt: string;
}

/**
 * Makes and checks short-lived links that a browser follows without the bearer token (an
 * `<img src>`, a download), so large parts never pass through a Lambda response (6 MB limit).
 * Locally every link is an HMAC-signed URL of the webmail's files route; in AWS the raw
 * message can be an S3 presigned URL instead, and attachments the same signed route.
 */
export interface LinkSigner {
  sign(subject: LinkSubject): Promise<SignedLink>;
  /**
   * The subject of a token this signer put in a files-route URL.
   * @throws LinkError (LINK_INVALID) for a token it did not sign or that was altered,
   *   (LINK_EXPIRED) for one past its time
   */
  verify(token: string): LinkSubject;
}

/** A member of staff as the sign-in side knows them: the directory entry plus how they can sign in. */
export interface StaffAccount {
  id: string;
  name: string;
  /** The primary address first, then aliases. */
  addresses: string[];
  groups: string[];
  /** Personal mobile (E.164) for the break-glass one-time code, when enrolled. */
  phone?: string | undefined;
  /** Personal email (off the organisation's domains) for staff notices, when the directory knows one. */
  personalEmail?: string | undefined;
  /**
   * Where the account stands: `enrolled` (can sign in without the corporate IdP), `invited`
   * (created, first sign-in pending), `federated-only` (no break-glass yet), `disabled`.
   */
  status: 'enrolled' | 'invited' | 'federated-only' | 'disabled';
}

/**
 * Who may sign in to the webmail and console: the local runtime's directory and credentials, or
 * the Cognito user pool in AWS. The `lifeboat users` command lists, adds and imports through it.
 */
export interface StaffProvisioner {
  list(): Promise<StaffAccount[]>;
  /** Creates the user or updates their name, addresses, groups and phone; never touches a password. */
  upsert(user: {
    id: string;
    name: string;
    addresses: string[];
    groups: string[];
    phone?: string | undefined;
  }): Promise<'created' | 'updated'>;
}

/** The kinds of record the webmail's sending side keeps per user. */
/**
 * The admin console's long-running work and overrides, kept as records of the same versioned
 * store as sending (one table in AWS, one SQLite table locally), under the pseudo-user `JOBS_OWNER`:
 * archive replays, drills, staff notices, the settings overridden from the console, and the
 * raw-mail packer's position (AWS).
 */
export type JobKind = 'replay' | 'drill' | 'notice' | 'settings' | 'raw-packs';

/** The `user` of every admin job record: no mailbox address can be spelled this way. */
export const JOBS_OWNER = '#org';

export type SendingKind = 'draft' | 'upload' | 'outgoing' | 'signature' | JobKind;

/**
 * One record of the sending side: a draft, a signed upload, a message sent (the outbound queue
 * and the Sent view are the same record), a signature. `data` is the core's; stores keep it as
 * JSON and never look inside, so it must stay well under DynamoDB's 400 KB item (bodies live in
 * blobs, not here).
 */
export interface SendingRecord<T = unknown> {
  kind: SendingKind;
  user: string;
  /** Time-ordered within a kind (it starts with the creation time): listing by id lists by age. */
  id: string;
  /** Goes up by one with every write; conditional writes compare it. */
  version: number;
  /** When the outbound worker must look at it (end of the undo window, a retry, a lease); null: never. */
  dueAt: string | null;
  /** Epoch second after which the record may be removed. */
  expiresAt: number;
  data: T;
}

/** Drafts, uploads, the outbound queue with the Sent view, and signatures: DynamoDB in AWS, SQLite locally. */
export interface SendingStore {
  getSending<T>(kind: SendingKind, user: string, id: string): Promise<SendingRecord<T> | undefined>;
  /**
   * Writes the record only if the stored one has `expectedVersion` (0: none may exist).
   * @throws ConflictError when another writer got there first
   */
  putSending(record: SendingRecord, expectedVersion: number): Promise<void>;
  /** @throws ConflictError when the record changed or does not exist */
  deleteSending(kind: SendingKind, user: string, id: string, expectedVersion: number): Promise<void>;
  /** One user's records of a kind, newest id first; with `sinceId`, only ids at or after it. */
  listSending<T>(
    kind: SendingKind,
    user: string,
    query: { limit: number; cursor?: string | undefined; sinceId?: string | undefined },
  ): Promise<Page<SendingRecord<T>>>;
  /** Every user's records due at or before `before`, earliest due first. */
  listSendingDue(before: string, limit: number): Promise<SendingRecord[]>;
}

/** What a relay did with one message for each of its recipients. */
export interface RelayResult {
  outcomes: RecipientOutcome[];
  /** The relay's id for the message when it gives one (SES's MessageId, which its events carry). */
  providerId: string | null;
}

/**
 * Sends mail from the webmail to addresses outside the organisation: the configured relay on the
 * local runtime (`local.relay`, or the demo sink), SES v2 in AWS. Never throws for an answer of
 * the relay: a 5xx is `failed`, a 4xx or no answer `deferred`.
 */
export interface OutboundRelay {
  /**
   * @param ref the sender's user id and the sent message's id, which SES carries back in its
   *   events as message tags; an SMTP relay ignores it
   */
  send(envelope: Envelope, raw: Buffer, ref?: { user: string; id: string }): Promise<RelayResult>;
}

/** What a signed upload lets a browser do: put one file of at most `maxBytes`, for one user. */
export interface UploadSubject {
  user: string;
  uploadId: string;
  /** Where the bytes land in the sending blobs (`uploads/<id>`). */
  key: string;
  maxBytes: number;
  /** Bytes the browser announced: an S3 presigned PUT signs them as Content-Length, so no other size lands. */
  size: number;
  contentType: string;
}

/**
 * Makes the URL a browser uploads an attachment to without the API in the path (a Lambda takes
 * at most 6 MB): an S3 presigned PUT in AWS, an HMAC-signed URL of the runtime's upload route locally.
 */
export interface UploadSigner {
  sign(subject: UploadSubject): Promise<{ url: string; headers: Record<string, string>; expiresAt: string }>;
}
