import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ContinuityEvent, OrgState } from '../../core/continuity.js';
import { ConflictError, LifeboatError, ValidationError } from '../../core/errors.js';
import {
  type DeliveryRecord,
  type DeliveryState,
  deliveryStates,
  type MessageRecord,
} from '../../core/model.js';
import type {
  AttemptSample,
  AuditEntry,
  AuditQuery,
  ContinuityStore,
  DeliveryAttempt,
  DeliveryKey,
  HoldRecord,
  MailboxFlags,
  MailboxQuery,
  MessageStore,
  MetricsBucketRecord,
  MetricsResolution,
  MetricsUpdate,
  NotificationRecord,
  Page,
  ProbeToken,
  StateCounts,
  StateQuery,
} from '../../ports.js';
import { KEYS, MAX_BATCH_READ, mailExpiresAt, RECORD_TTL_SECONDS } from '../../storage-layout.js';

/** The database and its WAL and shared-memory files hold everyone's mail: the user's alone. */
const FILE_MODE = 0o600;

/**
 * How long a write waits for another connection's lock (the CLI reading status while the
 * runtime writes) before SQLITE_BUSY. Writes here take microseconds; a wait of seconds means
 * something is wrong and should surface as an error.
 */
const BUSY_TIMEOUT_MS = 5_000;

/** The schema this code writes; a newer file is refused instead of being misread. */
const SCHEMA_VERSION = 3;

/** A page unless the caller asks for another size (as the DynamoDB adapter). */
const DEFAULT_PAGE = 100;

/**
 * `synchronous` of the WAL: whether each commit waits for an fsync of the log.
 *
 * NORMAL (the default): a commit is written to the WAL before it returns, so a killed process
 * loses nothing; the WAL is fsynced at checkpoints, so a power cut can roll back the last
 * transactions, never corrupt the file. That costs no mail: every raw message is fsynced with its
 * folder before the SMTP 250, and start-up ingests every raw message that has no record. What a
 * power cut can cost is a state change such as `delivered`, so a message may reach the primary
 * once more, as with Postfix, which does not fsync the removal of a delivered queue file either.
 * FULL adds an fsync to every state change (several per message) for those who would rather pay
 * that than risk the duplicate.
 */
export type SqliteSynchronous = 'NORMAL' | 'FULL';

export interface SqliteStoreOptions {
  /** Days a message and its deliveries are kept before `purgeExpired` removes them (`retentionDays`). */
  retentionDays: number;
  /** @default 'NORMAL' (see SqliteSynchronous) */
  synchronous?: SqliteSynchronous;
}

/** What one `purgeExpired` removed. */
export interface PurgeCounts {
  messages: number;
  deliveries: number;
  /** Audit entries, notifications, attempt samples, probe tokens, mailbox marks, delivery attempts and metrics buckets. */
  records: number;
}

/** The single-node message and continuity store. */
export interface SqliteStore extends MessageStore, ContinuityStore {
  /**
   * Removes every record whose time is up at `now` (DynamoDB's TTL, done here on demand): mail
   * older than `retentionDays`, attempt samples and probe tokens after a day, logs after ten
   * years. The per-state counters drop by the deliveries removed.
   */
  purgeExpired(now: Date): Promise<PurgeCounts>;
  close(): void;
}

/** The database file cannot be used by this version. */
export class StoreSchemaError extends LifeboatError {
  constructor(file: string, found: number) {
    super(
      'STORE_SCHEMA',
      `${file} has schema version ${found}, newer than this Lifeboat's ${SCHEMA_VERSION}: run the version that wrote it`,
    );
  }
}

/** Same indexing as the DynamoDB adapter's byState: when a delivery is due, or when it arrived. */
function indexTime(d: DeliveryRecord): string {
  if (d.state === 'queued' || d.state === 'deferred' || d.state === 'delivering') {
    return d.nextAttemptAt ?? d.receivedAt;
  }
  return d.receivedAt;
}

/** byState's sort key; none for a delivered delivery, which leaves the queue index. */
function queueKey(d: DeliveryRecord): string | null {
  return d.state === 'delivered' ? null : `${indexTime(d)}#${d.messageId}#${d.recipient}`;
}

/** byAge's sort key; only while deferred. */
function ageKey(d: DeliveryRecord): string | null {
  return d.state === 'deferred' ? `${d.receivedAt}#${d.messageId}#${d.recipient}` : null;
}

/** Opaque cursors: the last sort key returned (keyset paging, so a page costs its size). */
function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ after: key }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && typeof (parsed as { after?: unknown }).after === 'string') {
      return (parsed as { after: string }).after;
    }
  } catch {
    // Reported below.
  }
  throw new ValidationError('cursor', ['is not a cursor this store returned']);
}

function pageLimit(limit: number | undefined): number {
  const n = limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(n) || n < 1)
    throw new ValidationError('limit', [`must be a positive integer, got ${n}`]);
  return n;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  day TEXT NOT NULL,
  day_key TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_by_day ON messages (day, day_key);
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires_at);

CREATE TABLE IF NOT EXISTS deliveries (
  message_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  route TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  queue_key TEXT,
  age_key TEXT,
  received_at TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (message_id, recipient)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, queue_key) WHERE queue_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_by_age ON deliveries (route, age_key) WHERE age_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_by_expiry ON deliveries (expires_at);

CREATE TABLE IF NOT EXISTS state_counts (
  state TEXT PRIMARY KEY,
  count INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS holds (scope TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS org (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  record TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at, seq);
CREATE INDEX IF NOT EXISTS audit_by_expiry ON audit (expires_at);

CREATE TABLE IF NOT EXISTS notifications (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL,
  UNIQUE (at, id)
);
CREATE INDEX IF NOT EXISTS notifications_by_time ON notifications (at, seq);
CREATE INDEX IF NOT EXISTS notifications_by_expiry ON notifications (expires_at);

CREATE TABLE IF NOT EXISTS attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  route TEXT NOT NULL,
  at TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_route ON attempts (route, at, seq);
CREATE INDEX IF NOT EXISTS attempts_by_expiry ON attempts (expires_at);

CREATE TABLE IF NOT EXISTS probe_tokens (
  token TEXT PRIMARY KEY,
  sent_at TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS probe_tokens_by_time ON probe_tokens (sent_at);
CREATE INDEX IF NOT EXISTS probe_tokens_by_expiry ON probe_tokens (expires_at);
`;

/**
 * What each schema version adds to the one before, run once in order (in the transaction that
 * records the new `user_version`) when a file written by an older version is opened. Version 1
 * is SCHEMA itself; a new version appends an entry here and never edits an earlier one.
 */
const MIGRATIONS: Readonly<Record<number, string>> = {
  // Webmail: a mailbox newest first (the byMailbox index's key, received time then message id),
  // and each user's read and flagged marks, apart from the deliveries.
  2: `
CREATE INDEX IF NOT EXISTS deliveries_by_mailbox ON deliveries (recipient, (received_at || '#' || message_id));

CREATE TABLE IF NOT EXISTS mailbox_flags (
  user TEXT NOT NULL,
  message_id TEXT NOT NULL,
  seen INTEGER NOT NULL,
  flagged INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (user, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mailbox_flags_by_expiry ON mailbox_flags (expires_at);
`,
  // Admin console: each delivery's attempts with the primary's replies, and the metrics time
  // buckets (one row per bucket and value name, so a counter is one UPSERT).
  3: `
CREATE TABLE IF NOT EXISTS delivery_attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  at TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_attempts_by_delivery ON delivery_attempts (message_id, recipient, at, seq);
CREATE INDEX IF NOT EXISTS delivery_attempts_by_expiry ON delivery_attempts (expires_at);

CREATE TABLE IF NOT EXISTS metric_values (
  resolution TEXT NOT NULL,
  start TEXT NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (resolution, start, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metric_values_by_expiry ON metric_values (expires_at);
`,
};

/** Creates the file 0600 unless it exists, and makes it 0600 whatever the umask or an earlier mode. */
function makePrivate(file: string, create: boolean): void {
  if (create) closeSync(openSync(file, 'a', FILE_MODE));
  if (existsSync(file)) chmodSync(file, FILE_MODE);
}

const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * Opens (creating if need be) the single-node store: messages, deliveries, holds and the
 * continuity records in one SQLite file, with the DynamoDB adapter's semantics exactly:
 * conditional writes on `version`, idempotent delivery creation, the same queue order, keyset
 * cursors, per-state counters. Each state change is one transaction that also moves the
 * counters, so the counts are exact. better-sqlite3 is synchronous; the methods are async only
 * to fit the ports (a write takes microseconds, far less than handing it to a thread would).
 *
 * The file and its -wal and -shm companions are 0600. WAL lets the CLI read while the runtime
 * writes; see SqliteSynchronous for the durability choice.
 * @throws StoreSchemaError when the file was written by a newer version
 */
export function openSqliteStore(file: string, options: SqliteStoreOptions): SqliteStore {
  if (!Number.isInteger(options.retentionDays) || options.retentionDays < 1) {
    throw new ValidationError('SQLite store options', [
      `retentionDays must be a positive integer, got ${options.retentionDays}`,
    ]);
  }
  const retentionDays = options.retentionDays;
  makePrivate(file, true);
  const db = new Database(file);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    const found = db.pragma('user_version', { simple: true }) as number;
    if (found > SCHEMA_VERSION) throw new StoreSchemaError(file, found);
    db.transaction(() => {
      db.exec(SCHEMA);
      const seed = db.prepare('INSERT OR IGNORE INTO state_counts (state, count) VALUES (?, 0)');
      for (const state of deliveryStates) seed.run(state);
      for (let version = Math.max(found, 1) + 1; version <= SCHEMA_VERSION; version++) {
        db.exec(MIGRATIONS[version] as string);
      }
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } catch (err) {
    db.close();
    throw err;
  }
  // SQLite gives the WAL and shared-memory files the database's mode; make sure of it.
  makePrivate(`${file}-wal`, false);
  makePrivate(`${file}-shm`, false);

  type Row = { record: string };
  const parse = <T>(row: Row | undefined): T | undefined => (row ? (JSON.parse(row.record) as T) : undefined);
  const parseAll = <T>(rows: Row[]): T[] => rows.map((r) => JSON.parse(r.record) as T);

  const sql = {
    putMessage: db.prepare(
      'INSERT OR REPLACE INTO messages (id, day, day_key, expires_at, record) VALUES (?, ?, ?, ?, ?)',
    ),
    getMessage: db.prepare<[string], Row>('SELECT record FROM messages WHERE id = ?'),
    messagesByDay: db.prepare<[string, number], Row & { day_key: string }>(
      'SELECT record, day_key FROM messages WHERE day = ? ORDER BY day_key DESC LIMIT ?',
    ),
    messagesReceived: db.prepare<[string, string, string, string], Row>(
      'SELECT record FROM messages WHERE day BETWEEN ? AND ? AND day_key >= ? AND day_key < ? ORDER BY day_key',
    ),
    messagesByDayAfter: db.prepare<[string, string, number], Row & { day_key: string }>(
      'SELECT record, day_key FROM messages WHERE day = ? AND day_key < ? ORDER BY day_key DESC LIMIT ?',
    ),
    insertDelivery: db.prepare(
      `INSERT INTO deliveries
         (message_id, recipient, route, state, version, queue_key, age_key, received_at, expires_at, record)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    deliveryVersion: db.prepare<[string, string], { state: DeliveryState; version: number }>(
      'SELECT state, version FROM deliveries WHERE message_id = ? AND recipient = ?',
    ),
    updateDelivery: db.prepare(
      `UPDATE deliveries SET route = ?, state = ?, version = ?, queue_key = ?, age_key = ?,
         received_at = ?, expires_at = ?, record = ?
       WHERE message_id = ? AND recipient = ?`,
    ),
    getDelivery: db.prepare<[string, string], Row>(
      'SELECT record FROM deliveries WHERE message_id = ? AND recipient = ?',
    ),
    listDeliveries: db.prepare<[string], Row>(
      'SELECT record FROM deliveries WHERE message_id = ? ORDER BY recipient',
    ),
    // Upper bound on the key, as the DynamoDB adapter's `gsi1sk < before$` ('$' sorts after '#').
    byState: db.prepare<[string, string, number], Row & { queue_key: string }>(
      'SELECT record, queue_key FROM deliveries WHERE state = ? AND queue_key > ? ORDER BY queue_key LIMIT ?',
    ),
    byStateBefore: db.prepare<[string, string, string, number], Row & { queue_key: string }>(
      `SELECT record, queue_key FROM deliveries WHERE state = ? AND queue_key > ? AND queue_key < ?
       ORDER BY queue_key LIMIT ?`,
    ),
    oldestDeferred: db.prepare<[string], { received_at: string }>(
      `SELECT received_at FROM deliveries WHERE route = ? AND age_key IS NOT NULL
       ORDER BY age_key LIMIT 1`,
    ),
    counts: db.prepare<[], { state: DeliveryState; count: number }>('SELECT state, count FROM state_counts'),
    addCount: db.prepare('UPDATE state_counts SET count = count + ? WHERE state = ?'),
    putHold: db.prepare('INSERT OR REPLACE INTO holds (scope, record) VALUES (?, ?)'),
    deleteHold: db.prepare('DELETE FROM holds WHERE scope = ?'),
    listHolds: db.prepare<[], Row>('SELECT record FROM holds ORDER BY scope'),
    getOrg: db.prepare<[], Row>('SELECT record FROM org WHERE id = 1'),
    insertOrg: db.prepare('INSERT INTO org (id, version, record) VALUES (1, ?, ?) ON CONFLICT DO NOTHING'),
    updateOrg: db.prepare('UPDATE org SET version = ?, record = ? WHERE id = 1 AND version = ?'),
    putEvent: db.prepare('INSERT OR REPLACE INTO events (id, record) VALUES (?, ?)'),
    getEvent: db.prepare<[string], Row>('SELECT record FROM events WHERE id = ?'),
    listEvents: db.prepare<[number], Row>('SELECT record FROM events ORDER BY id DESC LIMIT ?'),
    appendAudit: db.prepare('INSERT INTO audit (at, expires_at, record) VALUES (?, ?, ?)'),
    listAudit: db.prepare<[number], Row>('SELECT record FROM audit ORDER BY at DESC, seq DESC LIMIT ?'),
    // Newest first within [from, to), strictly after the cursor's (at, seq) in that order.
    queryAudit: db.prepare<
      [string, string, string, string, number, number],
      Row & { at: string; seq: number }
    >(
      `SELECT record, at, seq FROM audit
       WHERE at >= ? AND at < ? AND (at < ? OR (at = ? AND seq < ?))
       ORDER BY at DESC, seq DESC LIMIT ?`,
    ),
    deleteDelivery: db.prepare('DELETE FROM deliveries WHERE message_id = ? AND recipient = ?'),
    recordDeliveryAttempt: db.prepare(
      'INSERT INTO delivery_attempts (message_id, recipient, at, expires_at, record) VALUES (?, ?, ?, ?, ?)',
    ),
    listDeliveryAttempts: db.prepare<[string, string, number], Row>(
      `SELECT record FROM delivery_attempts WHERE message_id = ? AND recipient = ?
       ORDER BY at DESC, seq DESC LIMIT ?`,
    ),
    addMetric: db.prepare(
      `INSERT INTO metric_values (resolution, start, name, value, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (resolution, start, name) DO UPDATE SET value = value + excluded.value, expires_at = excluded.expires_at`,
    ),
    setMetric: db.prepare(
      `INSERT INTO metric_values (resolution, start, name, value, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (resolution, start, name) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    listMetrics: db.prepare<[string, string, string], { start: string; name: string; value: number }>(
      `SELECT start, name, value FROM metric_values WHERE resolution = ? AND start >= ? AND start < ?
       ORDER BY start, name`,
    ),
    // Same key as the table's `<at>#<id>`: writing a notification again replaces it.
    putNotification: db.prepare(
      'INSERT OR REPLACE INTO notifications (at, id, expires_at, record) VALUES (?, ?, ?, ?)',
    ),
    listNotifications: db.prepare<[number], Row>(
      'SELECT record FROM notifications ORDER BY at DESC, seq DESC LIMIT ?',
    ),
    recordAttempt: db.prepare('INSERT INTO attempts (route, at, expires_at, record) VALUES (?, ?, ?, ?)'),
    listAttempts: db.prepare<[string, string], Row>(
      'SELECT record FROM attempts WHERE route = ? AND at >= ? ORDER BY at, seq',
    ),
    putProbeToken: db.prepare(
      'INSERT OR REPLACE INTO probe_tokens (token, sent_at, expires_at, record) VALUES (?, ?, ?, ?)',
    ),
    getProbeToken: db.prepare<[string], Row>('SELECT record FROM probe_tokens WHERE token = ?'),
    listProbeTokens: db.prepare<[string], Row>(
      'SELECT record FROM probe_tokens WHERE sent_at >= ? ORDER BY sent_at, token',
    ),
    expiredDeliveriesByState: db.prepare<[number], { state: DeliveryState; n: number }>(
      'SELECT state, count(*) AS n FROM deliveries WHERE expires_at <= ? GROUP BY state',
    ),
    purgeDeliveries: db.prepare('DELETE FROM deliveries WHERE expires_at <= ?'),
    purgeMessages: db.prepare('DELETE FROM messages WHERE expires_at <= ?'),
    // Mailbox order: the expression of the deliveries_by_mailbox index, so SQLite reads the index.
    mailbox: db.prepare<[string, string, string, number], Row & { mailbox_key: string }>(
      `SELECT record, received_at || '#' || message_id AS mailbox_key FROM deliveries
       WHERE recipient = ? AND received_at || '#' || message_id >= ? AND received_at || '#' || message_id < ?
       ORDER BY received_at || '#' || message_id DESC LIMIT ?`,
    ),
    getFlags: db.prepare<[string, string], { message_id: string; seen: number; flagged: number }>(
      `SELECT message_id, seen, flagged FROM mailbox_flags
       WHERE user = ? AND message_id IN (SELECT value FROM json_each(?))`,
    ),
    getOneFlags: db.prepare<[string, string], { seen: number; flagged: number }>(
      'SELECT seen, flagged FROM mailbox_flags WHERE user = ? AND message_id = ?',
    ),
    putFlags: db.prepare(
      'INSERT OR REPLACE INTO mailbox_flags (user, message_id, seen, flagged, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    getMessages: db.prepare<[string], Row>(
      'SELECT record FROM messages WHERE id IN (SELECT value FROM json_each(?))',
    ),
    purgeRecords: [
      'audit',
      'notifications',
      'attempts',
      'probe_tokens',
      'mailbox_flags',
      'delivery_attempts',
      'metric_values',
    ].map((table) => db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`)),
  };

  function deliveryColumns(d: DeliveryRecord) {
    return {
      route: d.route,
      state: d.state,
      version: d.version,
      queueKey: queueKey(d),
      ageKey: ageKey(d),
      receivedAt: d.receivedAt,
      expiresAt: mailExpiresAt(d.receivedAt, retentionDays),
      record: JSON.stringify(d),
    };
  }

  const createDelivery = db.transaction((d: DeliveryRecord): boolean => {
    const c = deliveryColumns(d);
    const { changes } = sql.insertDelivery.run(
      d.messageId,
      d.recipient,
      c.route,
      c.state,
      c.version,
      c.queueKey,
      c.ageKey,
      c.receivedAt,
      c.expiresAt,
      c.record,
    );
    if (changes === 0) return false;
    sql.addCount.run(1, d.state);
    return true;
  });

  const replaceDelivery = db.transaction((next: DeliveryRecord, expectedVersion: number): void => {
    const current = sql.deliveryVersion.get(next.messageId, next.recipient);
    if (!current || current.version !== expectedVersion) {
      throw new ConflictError(`delivery ${next.messageId} for ${next.recipient}`);
    }
    const c = deliveryColumns(next);
    sql.updateDelivery.run(
      c.route,
      c.state,
      c.version,
      c.queueKey,
      c.ageKey,
      c.receivedAt,
      c.expiresAt,
      c.record,
      next.messageId,
      next.recipient,
    );
    if (current.state !== next.state) {
      sql.addCount.run(-1, current.state);
      sql.addCount.run(1, next.state);
    }
  });

  const deleteDelivery = db.transaction((key: DeliveryKey, expectedVersion: number): void => {
    const current = sql.deliveryVersion.get(key.messageId, key.recipient);
    if (!current || current.version !== expectedVersion) {
      throw new ConflictError(`delivery ${key.messageId} for ${key.recipient}`);
    }
    sql.deleteDelivery.run(key.messageId, key.recipient);
    sql.addCount.run(-1, current.state);
  });

  const addMetrics = db.transaction((updates: readonly MetricsUpdate[]): void => {
    for (const u of updates) {
      for (const [name, value] of Object.entries(u.add ?? {}))
        sql.addMetric.run(u.resolution, u.start, name, value, u.expiresAt);
      for (const [name, value] of Object.entries(u.set ?? {}))
        sql.setMetric.run(u.resolution, u.start, name, value, u.expiresAt);
    }
  });

  const putOrg = db.transaction((next: OrgState, expectedVersion: number): void => {
    const version = expectedVersion + 1;
    const record = JSON.stringify({ ...next, version });
    const { changes } =
      expectedVersion === 0
        ? sql.insertOrg.run(version, record)
        : sql.updateOrg.run(version, record, expectedVersion);
    if (changes === 0) throw new ConflictError('the continuity state');
  });

  const setFlags = db.transaction(
    (user: string, messageId: string, changes: Partial<MailboxFlags>, expiresAt: number): MailboxFlags => {
      const current = sql.getOneFlags.get(user, messageId);
      const next = {
        seen: changes.seen ?? current?.seen === 1,
        flagged: changes.flagged ?? current?.flagged === 1,
      };
      sql.putFlags.run(user, messageId, next.seen ? 1 : 0, next.flagged ? 1 : 0, expiresAt);
      return next;
    },
  );

  /** Batch reads take at most MAX_BATCH_READ keys, as DynamoDB's BatchGetItem. */
  function batchIds(ids: readonly string[]): string {
    const distinct = [...new Set(ids)];
    if (distinct.length > MAX_BATCH_READ) {
      throw new ValidationError('batch read', [
        `at most ${MAX_BATCH_READ} keys per request, got ${distinct.length}`,
      ]);
    }
    return JSON.stringify(distinct);
  }

  const purgeExpired = db.transaction((nowSeconds: number): PurgeCounts => {
    for (const { state, n } of sql.expiredDeliveriesByState.all(nowSeconds)) sql.addCount.run(-n, state);
    const deliveries = sql.purgeDeliveries.run(nowSeconds).changes;
    const messages = sql.purgeMessages.run(nowSeconds).changes;
    let records = 0;
    for (const purge of sql.purgeRecords) records += purge.run(nowSeconds).changes;
    return { messages, deliveries, records };
  });

  return {
    async putMessage(message: MessageRecord) {
      sql.putMessage.run(
        message.id,
        message.receivedAt.slice(0, 10),
        `${message.receivedAt}#${message.id}`,
        mailExpiresAt(message.receivedAt, retentionDays),
        JSON.stringify(message),
      );
    },

    async getMessage(id) {
      return parse<MessageRecord>(sql.getMessage.get(id));
    },

    async listMessagesByDay(day, limit, cursor): Promise<Page<MessageRecord>> {
      const n = pageLimit(limit);
      // One row more than asked says whether there is a next page, so the last page has no cursor.
      const rows =
        cursor === undefined
          ? sql.messagesByDay.all(day, n + 1)
          : sql.messagesByDayAfter.all(day, decodeCursor(cursor), n + 1);
      const page = rows.slice(0, n);
      const last = page.at(-1);
      return {
        items: parseAll<MessageRecord>(page),
        cursor: rows.length > n && last ? encodeCursor(last.day_key) : undefined,
      };
    },

    async listReceived(from, to) {
      // `<receivedAt>#<id>` keys: every key from `from` on sorts at or above it, none at `to` below it.
      const rows = sql.messagesReceived.all(from.slice(0, 10), to.slice(0, 10), from, to);
      return parseAll<MessageRecord>(rows).map(({ id, receivedAt, recipients, sentCopyOf }) => ({
        id,
        receivedAt,
        recipients,
        ...(sentCopyOf === undefined ? {} : { sentCopyOf }),
      }));
    },

    async getMessages(ids) {
      return parseAll<MessageRecord>(sql.getMessages.all(batchIds(ids)));
    },

    async queryMailbox(address: string, query: MailboxQuery): Promise<Page<DeliveryRecord>> {
      const n = pageLimit(query.limit);
      // Keys are `<receivedAt>#<messageId>`: '' is below every key, '\uffff' above every one.
      const from = query.since ?? '';
      const cursorKey = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const beforeKey = query.before && KEYS.mailboxSk(query.before.receivedAt, query.before.messageId);
      // The lower of the two upper bounds (string order); neither: above every key.
      const upTo = [cursorKey, beforeKey].filter((k): k is string => k !== undefined).sort()[0] ?? '\uffff';
      const rows = sql.mailbox.all(address, from, upTo, n + 1);
      const page = rows.slice(0, n);
      const last = page.at(-1);
      return {
        items: parseAll<DeliveryRecord>(page),
        cursor: rows.length > n && last ? encodeCursor(last.mailbox_key) : undefined,
      };
    },

    async getMailboxFlags(user, messageIds) {
      const flags: Record<string, MailboxFlags> = {};
      for (const row of sql.getFlags.all(user, batchIds(messageIds))) {
        flags[row.message_id] = { seen: row.seen === 1, flagged: row.flagged === 1 };
      }
      return flags;
    },

    async setMailboxFlags(user, messageId, changes) {
      // Marks outlive no mail: they go with the longest-kept message they could describe.
      const expiresAt = Math.floor(Date.now() / 1000) + retentionDays * 86_400;
      return setFlags.immediate(user, messageId, changes, expiresAt);
    },

    async createDelivery(delivery) {
      return createDelivery.immediate(delivery);
    },

    async getDelivery({ messageId, recipient }: DeliveryKey) {
      return parse<DeliveryRecord>(sql.getDelivery.get(messageId, recipient));
    },

    async listDeliveries(messageId) {
      return parseAll<DeliveryRecord>(sql.listDeliveries.all(messageId));
    },

    async replaceDelivery(next, expectedVersion) {
      replaceDelivery.immediate(next, expectedVersion);
    },

    async deleteDelivery(key, expectedVersion) {
      deleteDelivery.immediate(key, expectedVersion);
    },

    async recordDeliveryAttempt(a: DeliveryAttempt) {
      sql.recordDeliveryAttempt.run(
        a.messageId,
        a.recipient,
        a.at,
        mailExpiresAt(a.at, retentionDays),
        JSON.stringify(a),
      );
    },

    async listDeliveryAttempts({ messageId, recipient }, limit) {
      return parseAll<DeliveryAttempt>(
        sql.listDeliveryAttempts.all(messageId, recipient, pageLimit(limit)),
      ).reverse();
    },

    async queryByState(query: StateQuery): Promise<Page<DeliveryRecord>> {
      const n = pageLimit(query.limit);
      const after = query.cursor === undefined ? '' : decodeCursor(query.cursor);
      const rows = query.before
        ? sql.byStateBefore.all(query.state, after, `${query.before}$`, n + 1)
        : sql.byState.all(query.state, after, n + 1);
      const page = rows.slice(0, n);
      const last = page.at(-1);
      return {
        items: parseAll<DeliveryRecord>(page),
        cursor: rows.length > n && last ? encodeCursor(last.queue_key) : undefined,
      };
    },

    queueCursorAfter(d: DeliveryRecord) {
      return encodeCursor(queueKey(d) ?? '');
    },

    async countByState() {
      const counts = Object.fromEntries(deliveryStates.map((s) => [s, 0])) as StateCounts;
      for (const { state, count } of sql.counts.all()) counts[state] = count;
      return counts;
    },

    async oldestDeferred(route) {
      return sql.oldestDeferred.get(route)?.received_at;
    },

    async putHold(hold: HoldRecord) {
      sql.putHold.run(hold.scope, JSON.stringify(hold));
    },

    async deleteHold(scope) {
      sql.deleteHold.run(scope);
    },

    async listHolds() {
      return parseAll<HoldRecord>(sql.listHolds.all());
    },

    async getOrg() {
      return parse<OrgState>(sql.getOrg.get());
    },

    async putOrg(next: OrgState, expectedVersion: number) {
      putOrg.immediate(next, expectedVersion);
    },

    async getEvent(id) {
      return parse<ContinuityEvent>(sql.getEvent.get(id));
    },

    async putEvent(event: ContinuityEvent) {
      sql.putEvent.run(event.id, JSON.stringify(event));
    },

    async listEvents(limit) {
      return parseAll<ContinuityEvent>(sql.listEvents.all(limit));
    },

    async appendAudit(entry: AuditEntry) {
      sql.appendAudit.run(entry.at, epoch(entry.at) + RECORD_TTL_SECONDS.log, JSON.stringify(entry));
    },

    async listAudit(limit) {
      return parseAll<AuditEntry>(sql.listAudit.all(limit));
    },

    async queryAudit(query: AuditQuery): Promise<Page<AuditEntry>> {
      const n = pageLimit(query.limit);
      // '' is below every time and '\uffff' above every one; seq is the tie-break within an instant.
      let after = { at: '\uffff', seq: Number.MAX_SAFE_INTEGER };
      if (query.cursor !== undefined) {
        const [at, seq] = decodeCursor(query.cursor).split('\u0000');
        if (at === undefined || seq === undefined || !/^\d+$/.test(seq))
          throw new ValidationError('cursor', ['is not a cursor this store returned']);
        after = { at, seq: Number(seq) };
      }
      const rows = sql.queryAudit.all(
        query.from ?? '',
        query.to ?? '\uffff',
        after.at,
        after.at,
        after.seq,
        n + 1,
      );
      const page = rows.slice(0, n);
      const last = page.at(-1);
      return {
        items: parseAll<AuditEntry>(page),
        cursor: rows.length > n && last ? encodeCursor(`${last.at}\u0000${last.seq}`) : undefined,
      };
    },

    async addMetrics(updates) {
      addMetrics.immediate(updates);
    },

    async listMetrics(resolution: MetricsResolution, from: string, to: string) {
      const buckets: MetricsBucketRecord[] = [];
      for (const row of sql.listMetrics.all(resolution, from, to)) {
        let bucket = buckets.at(-1);
        if (bucket?.start !== row.start) {
          bucket = { resolution, start: row.start, values: {} };
          buckets.push(bucket);
        }
        bucket.values[row.name] = row.value;
      }
      return buckets;
    },

    async putNotification(n: NotificationRecord) {
      sql.putNotification.run(n.at, n.id, epoch(n.at) + RECORD_TTL_SECONDS.log, JSON.stringify(n));
    },

    async listNotifications(limit) {
      return parseAll<NotificationRecord>(sql.listNotifications.all(limit));
    },

    async recordAttempt(sample: AttemptSample) {
      sql.recordAttempt.run(
        sample.route,
        sample.at,
        epoch(sample.at) + RECORD_TTL_SECONDS.probe,
        JSON.stringify(sample),
      );
    },

    async listAttempts(route, since) {
      return parseAll<AttemptSample>(sql.listAttempts.all(route, since));
    },

    async putProbeToken(t: ProbeToken) {
      sql.putProbeToken.run(t.token, t.sentAt, epoch(t.sentAt) + RECORD_TTL_SECONDS.probe, JSON.stringify(t));
    },

    async getProbeToken(token) {
      return parse<ProbeToken>(sql.getProbeToken.get(token));
    },

    async listProbeTokens(since) {
      return parseAll<ProbeToken>(sql.listProbeTokens.all(since));
    },

    async purgeExpired(now: Date) {
      return purgeExpired.immediate(Math.floor(now.getTime() / 1000));
    },

    close() {
      db.close();
    },
  };
}
