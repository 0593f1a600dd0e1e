import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, StoreSchemaError } from '../../lambdas/adapters/local/sqlite-store.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { delivery, messageRecord } from '../support/fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-sqlite-'));
  file = path.join(dir, 'lifeboat.db');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (f: string) => statSync(f).mode & 0o777;

describe('openSqliteStore', () => {
  it('creates the database and its WAL and shared-memory files 0600, even with umask 0', async () => {
    const previous = process.umask(0);
    try {
      const store = openSqliteStore(file, { retentionDays: 30 });
      await store.createDelivery(delivery());
      expect(readdirSync(dir).sort()).toEqual(['lifeboat.db', 'lifeboat.db-shm', 'lifeboat.db-wal']);
      for (const f of readdirSync(dir)) expect(mode(path.join(dir, f)), f).toBe(0o600);
      store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('makes an existing world-readable database 0600', () => {
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    openSqliteStore(file, { retentionDays: 30 }).close();
    expect(mode(file)).toBe(0o600);
  });

  it('keeps the database in WAL mode', () => {
    openSqliteStore(file, { retentionDays: 30 }).close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('keeps records and exact counters across close and reopen', async () => {
    const first = openSqliteStore(file, { retentionDays: 30 });
    await first.createDelivery(delivery({ recipient: 'a@example.com' }));
    await first.createDelivery(delivery({ recipient: 'b@example.com' }));
    await first.replaceDelivery(delivery({ recipient: 'b@example.com', state: 'delivered', version: 2 }), 1);
    first.close();
    const again = openSqliteStore(file, { retentionDays: 30 });
    expect(await again.getDelivery({ messageId: 'm1', recipient: 'b@example.com' })).toMatchObject({
      state: 'delivered',
      version: 2,
    });
    expect(await again.countByState()).toMatchObject({ queued: 1, delivered: 1 });
    again.close();
  });

  it('upgrades a version 1 database in place: records kept, the mailbox index and marks added', async () => {
    const first = openSqliteStore(file, { retentionDays: 30 });
    await first.createDelivery(delivery({ messageId: 'kept', state: 'held' }));
    first.close();
    // What version 1 wrote: no mailbox index, no marks table.
    const v1 = new Database(file);
    v1.exec('DROP INDEX deliveries_by_mailbox; DROP TABLE mailbox_flags;');
    v1.pragma('user_version = 1');
    v1.close();

    const upgraded = openSqliteStore(file, { retentionDays: 30 });
    const page = await upgraded.queryMailbox('alice@example.com', { limit: 10 });
    expect(page.items.map((d) => d.messageId)).toEqual(['kept']);
    expect(await upgraded.setMailboxFlags('alice', 'kept', { seen: true })).toEqual({
      seen: true,
      flagged: false,
    });
    expect(await upgraded.countByState()).toMatchObject({ held: 1 });
    upgraded.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    db.close();
  });

  it('upgrades a version 2 database in place: delivery attempts and metrics buckets added', async () => {
    const first = openSqliteStore(file, { retentionDays: 30 });
    await first.createDelivery(delivery({ messageId: 'kept', state: 'deferred' }));
    first.close();
    const v2 = new Database(file);
    v2.exec('DROP TABLE delivery_attempts; DROP TABLE metric_values;');
    v2.pragma('user_version = 2');
    v2.close();

    const upgraded = openSqliteStore(file, { retentionDays: 30 });
    await upgraded.recordDeliveryAttempt({
      messageId: 'kept',
      recipient: 'alice@example.com',
      at: '2026-11-22T10:05:00.000Z',
      attempt: 1,
      route: 'cloud',
      outcome: 'deferred',
      response: '451 later',
    });
    await upgraded.addMetrics([
      {
        resolution: 'minute',
        start: '2026-11-22T10:05:00.000Z',
        expiresAt: 2_000_000_000,
        add: { deferred: 1 },
      },
    ]);
    expect(
      await upgraded.listDeliveryAttempts({ messageId: 'kept', recipient: 'alice@example.com' }, 5),
    ).toHaveLength(1);
    expect(await upgraded.countByState()).toMatchObject({ deferred: 1 });
    upgraded.close();
  });

  it('reads a mailbox page from its index, not by scanning the deliveries', () => {
    openSqliteStore(file, { retentionDays: 30 }).close();
    const db = new Database(file, { readonly: true });
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT record FROM deliveries
         WHERE recipient = ? AND received_at || '#' || message_id >= ? AND received_at || '#' || message_id < ?
         ORDER BY received_at || '#' || message_id DESC LIMIT ?`,
      )
      .all('a@example.com', '', '\uffff', 10) as { detail: string }[];
    db.close();
    const details = plan.map((p) => p.detail).join('\n');
    expect(details).toMatch(/USING INDEX deliveries_by_mailbox/);
    expect(details).not.toMatch(/TEMP B-TREE/);
  });

  it('refuses a database written by a newer version', () => {
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openSqliteStore(file, { retentionDays: 30 })).toThrow(StoreSchemaError);
  });

  it('refuses a retention that is not a positive number of days', () => {
    expect(() => openSqliteStore(file, { retentionDays: 0 })).toThrow(ValidationError);
  });

  it('refuses a cursor it did not return', async () => {
    const store = openSqliteStore(file, { retentionDays: 30 });
    await expect(store.queryByState({ state: 'queued', cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(
      ValidationError,
    );
    store.close();
  });

  it('loses no committed write when the process is killed', async () => {
    // A child process writes, reports, then dies by SIGKILL with the database open.
    const child = `
      import { openSqliteStore } from ${JSON.stringify(path.resolve('lambdas/adapters/local/sqlite-store.ts'))};
      const store = openSqliteStore(process.argv[2], { retentionDays: 30 });
      const d = { messageId: 'm1', recipient: 'a@example.com', route: 'cloud', state: 'queued', attempts: 0,
        receivedAt: '2026-11-22T10:00:00.000Z', updatedAt: '2026-11-22T10:00:00.000Z',
        nextAttemptAt: '2026-11-22T10:00:00.000Z', lastError: null, lastResponse: null, deliveredAt: null,
        reason: null, version: 1, leaseId: null };
      await store.createDelivery(d);
      await store.replaceDelivery({ ...d, state: 'delivered', version: 2 }, 1);
      process.kill(process.pid, 'SIGKILL');
    `;
    const script = path.join(dir, 'child.mts');
    writeFileSync(script, child);
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const run = promisify(execFile)(process.execPath, ['--import', tsx, script, file]);
    await expect(run).rejects.toMatchObject({ signal: 'SIGKILL' });
    const store = openSqliteStore(file, { retentionDays: 30 });
    expect(await store.getDelivery({ messageId: 'm1', recipient: 'a@example.com' })).toMatchObject({
      state: 'delivered',
    });
    expect(await store.countByState()).toMatchObject({ queued: 0, delivered: 1 });
    store.close();
  });
});

describe('purgeExpired', () => {
  const day = 86_400_000;
  const received = '2026-11-01T00:00:00.000Z';
  const at = (days: number) => new Date(Date.parse(received) + days * day);

  it('removes mail older than retentionDays, keeps newer mail and lowers the counters', async () => {
    const store = openSqliteStore(file, { retentionDays: 30 });
    const old = delivery({ messageId: 'old', receivedAt: received, state: 'delivered' });
    const fresh = delivery({ messageId: 'new', receivedAt: at(10).toISOString(), state: 'deferred' });
    for (const d of [old, fresh]) {
      await store.createDelivery(d);
      await store.putMessage(messageRecord({ id: d.messageId, receivedAt: d.receivedAt }));
    }
    expect(await store.purgeExpired(at(29))).toEqual({ messages: 0, deliveries: 0, records: 0 });
    expect(await store.purgeExpired(at(30))).toEqual({ messages: 1, deliveries: 1, records: 0 });
    expect(await store.getMessage('old')).toBeUndefined();
    expect(await store.getDelivery({ messageId: 'old', recipient: old.recipient })).toBeUndefined();
    expect(await store.getMessage('new')).toBeDefined();
    expect(await store.countByState()).toMatchObject({ delivered: 0, deferred: 1 });
    expect(await store.oldestDeferred('cloud')).toBe(fresh.receivedAt);
    store.close();
  });

  it('removes attempt samples and probe tokens after a day and keeps the audit log', async () => {
    const store = openSqliteStore(file, { retentionDays: 30 });
    await store.recordAttempt({ route: 'cloud', at: received, ok: true, latencyMs: 5 });
    await store.putProbeToken({ token: 't1', route: 'cloud', sentAt: received, returnedAt: null });
    await store.appendAudit({ at: received, actor: 'a', action: 'hold', detail: 'd', eventId: null });
    expect(await store.purgeExpired(at(1))).toEqual({ messages: 0, deliveries: 0, records: 2 });
    expect(await store.listAttempts('cloud', received)).toEqual([]);
    expect(await store.getProbeToken('t1')).toBeUndefined();
    expect(await store.listAudit(10)).toHaveLength(1);
    store.close();
  });
});
