/**
 * The storage layout, declared once: the S3 key prefix of raw mail, the DynamoDB table's key
 * attributes, its indexes and the key prefixes of each record type. The DynamoDB adapter, the
 * CDK store construct, the local stores and the tests all read these names from here, so a
 * renamed index or prefix cannot drift between what the stack creates and what the code queries.
 */

/** SES's S3 action writes each message to `raw/<sesMessageId>`; handlers read only below this prefix. */
export const RAW_PREFIX = 'raw/';

/**
 * Raw mail past the history window, packed (AWS only): one UTC day of received mail in numbered
 * parts, `packs/<day>/<part>.pack` (each message its own gzip member, so one member is read by a
 * ranged GET and gunzipped alone; the whole pack is also one valid multi-member gzip file) and
 * its index `packs/<day>/<part>.json` (each member's key, stored time, size, SHA-256, offset and
 * length), a small object in S3 Standard so that listing and locating mail pays no Glacier fee.
 * Keys sort by day, so a time window of the archive is a range of keys.
 */
export const PACKS_PREFIX = 'packs/';

/** The key of one part of a day's packed mail (`part` from 0). */
export function packKey(day: string, part: number): string {
  return `${PACKS_PREFIX}${day}/${String(part).padStart(4, '0')}.pack`;
}

/** The key of the index of one part of a day's packed mail. */
export function packIndexKey(day: string, part: number): string {
  return `${PACKS_PREFIX}${day}/${String(part).padStart(4, '0')}.json`;
}

/**
 * Days message records are kept past `historyDays` when raw mail is packed (AWS): the packer lists
 * a day's mail from its records once the whole day has left the history window, so nothing that
 * reads mail by its record (the webmail, deliver, the queue views) ever meets a packed message, and
 * it has these days, less the day itself, to catch up after a stop. A day it could not reach by then
 * stays under raw/ (the raw/ lifecycle rule expires it as before).
 */
export const RAW_PACK_MARGIN_DAYS = 3;

/**
 * S3 Glacier Instant Retrieval bills an object for at least 90 days and at least 128 KB, charges per
 * GB read, and serves a GET at once (S3 User Guide, storage classes compared). Packs go there when
 * they then stay at least this long, and S3 Standard otherwise.
 */
export const GLACIER_IR_MIN_STORAGE_DAYS = 90;

/**
 * Search indexes, a few blobs per mailbox: `index/<address>.json` and its segments, the address
 * percent-encoded so that no character of it can name another folder or file.
 */
export const INDEX_PREFIX = 'index/';

/**
 * Attachments extracted from their message so a presigned S3 URL can serve them (AWS only): one
 * object per part, `attachments/<message id>/<index>`, deleted by a lifecycle rule after a day.
 */
export const ATTACHMENTS_PREFIX = 'attachments/';

/**
 * The webmail's sending blobs, in the mail bucket in AWS (a folder each on the single-node runtime):
 * draft bodies, files a browser put through a signed upload, and messages as composed for sending.
 * `uploads/` expires a day after (an S3 lifecycle rule): an upload not sent by then is dropped,
 * and the message that used one holds its own copy under `outgoing/`.
 */
export const DRAFTS_PREFIX = 'drafts/';
export const UPLOADS_PREFIX = 'uploads/';
export const OUTGOING_PREFIX = 'outgoing/';

/** The blob key of one mailbox's search index: its manifest, which lists its segments. */
export function indexKey(address: string): string {
  return `${INDEX_PREFIX}${indexName(address)}.json`;
}

/**
 * The blob key of one segment of a mailbox's index: `index/<address>+<segment>.seg`. The `+`
 * cannot occur in an encoded address, so no address's segment is another's manifest or segment;
 * the key names one file in the local index folder, as the manifest's does.
 */
export function indexSegmentKey(address: string, segment: string): string {
  return `${INDEX_PREFIX}${indexName(address)}+${encodeURIComponent(segment)}.seg`;
}

function indexName(address: string): string {
  // A leading dot would read as a hidden or relative name on disk; '/' is already encoded.
  return encodeURIComponent(address).replace(/^\./, '%2E');
}

/** DynamoDB's BatchGetItem reads at most 100 keys per request; every store's batch reads share the cap. */
export const MAX_BATCH_READ = 100;

/** The table's primary key attributes and its TTL attribute (epoch seconds). */
export const TABLE_KEYS = { pk: 'pk', sk: 'sk', ttl: 'expiresAt' } as const;

/** One global secondary index: its name and key attributes (both strings). */
export interface IndexLayout {
  readonly name: string;
  readonly pk: string;
  readonly sk: string;
  /** What the index copies of each item: all of it, or only the table's and the index's keys. */
  readonly projection: 'ALL' | 'KEYS_ONLY';
}

/**
 * The table's global secondary indexes.
 * - `byState`: the queue. Every delivery that is not delivered, by state and due (or arrival)
 *   time, which the sweeper, the hand-over and the admin queue read; also messages by day.
 * - `byMailbox`: a mailbox, newest first (`MBX#<address>`, received time): the webmail's list.
 *   Keys only: a delivery's mailbox keys never change, so its entry is written once, when the
 *   delivery is created, not again on every state change; the adapter reads the deliveries a page
 *   lists from the table.
 * - `byAge`: sparse; only deferred deliveries, by route and arrival time, so the organic probe
 *   reads each route's oldest deferred delivery in one query instead of walking the queue.
 */
export const INDEXES = {
  byState: { name: 'byState', pk: 'gsi1pk', sk: 'gsi1sk', projection: 'ALL' },
  byMailbox: { name: 'byMailbox', pk: 'gsi2pk', sk: 'gsi2sk', projection: 'KEYS_ONLY' },
  byAge: { name: 'byAge', pk: 'gsi3pk', sk: 'gsi3sk', projection: 'ALL' },
} as const satisfies Record<string, IndexLayout>;

/** Key prefixes and fixed keys of each record type in the single table. */
export const KEYS = {
  /** `MSG#<id>`: the message (sk `MSG`) and its deliveries (sk `RCPT#<recipient>`). */
  messagePk: (id: string) => `MSG#${id}`,
  messageSk: 'MSG',
  deliverySkPrefix: 'RCPT#',
  deliverySk: (recipient: string) => `RCPT#${recipient}`,
  /** One delivery's recorded attempts, under its message: `TRY#<recipient>#<at>#<unique>`. */
  deliveryAttemptPrefix: (recipient: string) => `TRY#${recipient}#`,
  /** byState partition of the deliveries in one state. */
  statePk: (state: string) => `Q#${state}`,
  /** byState partition of the messages received on one UTC day. */
  dayPk: (day: string) => `DAY#${day}`,
  /** byMailbox partition of one envelope recipient. */
  mailboxPk: (address: string) => `MBX#${address}`,
  /** byMailbox sort key: received time, then message id, so a page ends at a unique place. */
  mailboxSk: (receivedAt: string, messageId: string) => `${receivedAt}#${messageId}`,
  /** `USER#<id>`: one webmail user's records; sk `FLAGS#<messageId>` their marks on one message. */
  userPk: (id: string) => `USER#${id}`,
  flagsSk: (messageId: string) => `FLAGS#${messageId}`,
  /**
   * One user's sending record of a kind (draft, upload, outgoing, signature), under the user's
   * partition: `SEND#<kind>#<id>`. Ids start with their creation time, so a kind lists by age.
   */
  sendingSk: (kind: string, id: string) => `SEND#${kind}#${id}`,
  sendingSkPrefix: (kind: string) => `SEND#${kind}#`,
  /**
   * byState partition of the sending records the outbound worker must look at (the end of an undo
   * window, a retry, a claim's end), sorted by due time; sparse: a record with no due time has no entry.
   */
  sendingDuePk: 'SENDDUE',
  sendingDueSk: (dueAt: string, kind: string, user: string, id: string) => `${dueAt}#${kind}#${user}#${id}`,
  /** byAge partition of one route's deferred deliveries. */
  agePk: (route: string) => `AGE#${route}`,
  holdPk: 'HOLD',
  org: { pk: 'ORG', sk: 'STATE' },
  /** Per-state delivery counters, kept with every transition (DynamoDB: but queued and delivering, counted from byState). */
  counters: { pk: 'COUNT', sk: 'STATE' },
  eventPk: 'EVENT',
  auditPk: 'AUDIT',
  notifyPk: 'NOTIFY',
  probePk: 'PROBE',
  attemptPk: (route: string) => `ATTEMPT#${route}`,
  /** Metrics time buckets of one resolution; sk the bucket's start. */
  metricPk: (resolution: string) => `METRIC#${resolution}`,
} as const;

/**
 * How long records other than mail are kept, in seconds (DynamoDB's TTL attribute; the local
 * store's purge). Messages and deliveries live as long as their raw mail (`retentionDays`).
 */
export const RECORD_TTL_SECONDS = {
  /** Attempt samples and probe tokens feed a window of minutes; a day is plenty. */
  probe: 86_400,
  /** Audit entries and notifications outlive any event: ten years unless the table is purged. */
  log: 10 * 365 * 86_400,
  /** Per-minute metrics buckets: two days, enough to chart the last hours and compare with yesterday. */
  minuteMetrics: 2 * 86_400,
} as const;

/** Epoch second at which a message or delivery received at `receivedAt` expires. */
export function mailExpiresAt(receivedAt: string, retentionDays: number): number {
  return Math.floor(Date.parse(receivedAt) / 1000) + retentionDays * 86_400;
}
