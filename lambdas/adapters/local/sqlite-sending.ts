import Database from 'better-sqlite3';
import { ConflictError, ValidationError } from '../../core/errors.js';
import type { Page, SendingKind, SendingRecord, SendingStore } from '../../ports.js';

/** How long a write waits for the other connection's lock (the message store's) before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * The sending side's table, in the runtime's SQLite file beside the message store's tables but on
 * a connection of its own: it has no part in the message store's schema versions.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS sending (
  kind TEXT NOT NULL,
  user TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  due_at TEXT,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (kind, user, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sending_by_due ON sending (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sending_by_expiry ON sending (expires_at);
`;

export interface SqliteSendingStore extends SendingStore {
  /**
   * Removes records of these kinds whose time is up (DynamoDB's TTL, done here); returns how many.
   * The admin jobs that share the table keep their own records, so each owner names its kinds.
   */
  purgeExpired(now: Date, kinds: readonly SendingKind[]): number;
  /** The ids of every user's records of a kind: what the sweep of orphaned files keeps. */
  idsOf(kind: SendingKind): Set<string>;
  close(): void;
}

/**
 * Drafts, uploads, the outbound queue and signatures in the runtime's SQLite file (`lifeboat.db`,
 * already private), with the DynamoDB adapter's semantics: conditional writes on `version`,
 * newest-id-first listings with keyset cursors, the due index.
 */
export function openSqliteSendingStore(file: string): SqliteSendingStore {
  const db = new Database(file);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  type Row = { record: string };
  const sql = {
    get: db.prepare<[string, string, string], Row & { version: number }>(
      'SELECT record, version FROM sending WHERE kind = ? AND user = ? AND id = ?',
    ),
    version: db.prepare<[string, string, string], { version: number }>(
      'SELECT version FROM sending WHERE kind = ? AND user = ? AND id = ?',
    ),
    insert: db.prepare(
      `INSERT INTO sending (kind, user, id, version, due_at, expires_at, record) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    ),
    update: db.prepare(
      `UPDATE sending SET version = ?, due_at = ?, expires_at = ?, record = ?
       WHERE kind = ? AND user = ? AND id = ? AND version = ?`,
    ),
    delete: db.prepare('DELETE FROM sending WHERE kind = ? AND user = ? AND id = ? AND version = ?'),
    list: db.prepare<[string, string, string, string, number], Row & { id: string }>(
      `SELECT record, id FROM sending WHERE kind = ? AND user = ? AND id >= ? AND id < ?
       ORDER BY id DESC LIMIT ?`,
    ),
    due: db.prepare<[string, number], Row>(
      'SELECT record FROM sending WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?',
    ),
    purge: db.prepare<[string, number]>('DELETE FROM sending WHERE kind = ? AND expires_at <= ?'),
    ids: db.prepare<[string], { id: string }>('SELECT id FROM sending WHERE kind = ?'),
  };
  const parse = <T>(row: Row) => JSON.parse(row.record) as SendingRecord<T>;
  return {
    async getSending<T>(kind: SendingKind, user: string, id: string) {
      const row = sql.get.get(kind, user, id);
      return row ? parse<T>(row) : undefined;
    },
    async putSending(record, expectedVersion) {
      const json = JSON.stringify(record);
      const { changes } =
        expectedVersion === 0
          ? sql.insert.run(
              record.kind,
              record.user,
              record.id,
              record.version,
              record.dueAt,
              record.expiresAt,
              json,
            )
          : sql.update.run(
              record.version,
              record.dueAt,
              record.expiresAt,
              json,
              record.kind,
              record.user,
              record.id,
              expectedVersion,
            );
      if (changes === 0) throw new ConflictError(`${record.kind} ${record.id}`);
    },
    async deleteSending(kind, user, id, expectedVersion) {
      if (sql.delete.run(kind, user, id, expectedVersion).changes === 0)
        throw new ConflictError(`${kind} ${id}`);
    },
    async listSending<T>(
      kind: SendingKind,
      user: string,
      query: { limit: number; cursor?: string | undefined; sinceId?: string | undefined },
    ): Promise<Page<SendingRecord<T>>> {
      if (query.cursor !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(query.cursor))
        throw new ValidationError('cursor', ['is not a cursor this store returned']);
      // One row more than asked says whether there is a next page, so the last page has no cursor.
      const rows = sql.list.all(kind, user, query.sinceId ?? '', query.cursor ?? '\uffff', query.limit + 1);
      const items = rows.slice(0, query.limit).map((r) => parse<T>(r));
      return { items, cursor: rows.length > query.limit ? items.at(-1)?.id : undefined };
    },
    async listSendingDue(before, limit) {
      return sql.due.all(before, limit).map((r) => parse(r));
    },
    purgeExpired(now, kinds) {
      const seconds = Math.floor(now.getTime() / 1000);
      let n = 0;
      for (const kind of kinds) n += sql.purge.run(kind, seconds).changes;
      return n;
    },
    idsOf(kind) {
      return new Set(sql.ids.all(kind).map((r) => r.id));
    },
    close() {
      db.close();
    },
  };
}
