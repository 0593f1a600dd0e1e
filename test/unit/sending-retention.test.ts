import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { purgeSendingFiles, type SendingFolders } from '../../infra/local/sending-retention.js';
import { openSqliteSendingStore } from '../../lambdas/adapters/local/sqlite-sending.js';
import type { SendingKind, SendingRecord } from '../../lambdas/ports.js';

const NOW = Date.parse('2026-06-15T12:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('purgeSendingFiles', () => {
  let root: string;
  let folders: SendingFolders;
  const live: Record<string, Set<string>> = {};

  /** A file in `folder`, last written `ago` ms before NOW. */
  async function file(folder: keyof SendingFolders, name: string, ago: number): Promise<void> {
    const f = path.join(folders[folder], name);
    await writeFile(f, 'x');
    const at = new Date(NOW - ago);
    await utimes(f, at, at);
  }
  const left = async (folder: keyof SendingFolders) => (await readdir(folders[folder])).sort();
  const purge = () =>
    purgeSendingFiles({ folders, ids: (kind: SendingKind) => live[kind] ?? new Set(), now: new Date(NOW) });

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-sending-retention-'));
    folders = {
      drafts: path.join(root, 'drafts'),
      uploads: path.join(root, 'uploads'),
      outgoing: path.join(root, 'outgoing'),
    };
    for (const dir of Object.values(folders)) await mkdir(dir);
    for (const k of Object.keys(live)) delete live[k];
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('removes an upload older than a day, even one a draft still names, and keeps a newer one', async () => {
    live.upload = new Set(['old', 'new']);
    await file('uploads', 'old', DAY + MINUTE);
    await file('uploads', 'new', 23 * HOUR);
    expect(await purge()).toEqual({ drafts: 0, uploads: 1, outgoing: 0, temp: 0 });
    expect(await left('uploads')).toEqual(['new']);
  });

  it('removes a draft body whose draft is gone, and keeps one whose draft is there however old', async () => {
    live.draft = new Set(['kept']);
    await file('drafts', 'kept', 40 * DAY);
    await file('drafts', 'gone', 2 * HOUR);
    expect(await purge()).toEqual({ drafts: 1, uploads: 0, outgoing: 0, temp: 0 });
    expect(await left('drafts')).toEqual(['kept']);
  });

  it('keeps a message as sent while its record lives, and removes it once the record has gone', async () => {
    live.outgoing = new Set(['retrying']);
    await file('outgoing', 'retrying', 3 * DAY);
    await file('outgoing', 'past-history', 31 * DAY);
    expect(await purge()).toEqual({ drafts: 0, uploads: 0, outgoing: 1, temp: 0 });
    expect(await left('outgoing')).toEqual(['retrying']);
  });

  it('leaves a file without a record for an hour, as its record may be being written', async () => {
    await file('drafts', 'being-created', 10 * MINUTE);
    await file('outgoing', 'being-sent', 10 * MINUTE);
    expect(await purge()).toEqual({ drafts: 0, uploads: 0, outgoing: 0, temp: 0 });
    expect(await left('drafts')).toEqual(['being-created']);
  });

  it('removes temp files a crash left a day ago, not one being written', async () => {
    await file('drafts', '.abc.123.tmp', DAY + MINUTE);
    await file('outgoing', '.def.456.tmp', MINUTE);
    expect(await purge()).toEqual({ drafts: 0, uploads: 0, outgoing: 0, temp: 1 });
    expect(await left('drafts')).toEqual([]);
    expect(await left('outgoing')).toEqual(['.def.456.tmp']);
  });

  it('does nothing where sending never wrote a folder', async () => {
    await rm(folders.uploads, { recursive: true });
    expect(await purge()).toEqual({ drafts: 0, uploads: 0, outgoing: 0, temp: 0 });
  });
});

describe('SqliteSendingStore.purgeExpired', () => {
  it('removes the named kinds’ records whose time is up, and leaves other kinds sharing the table', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-sending-purge-'));
    const store = openSqliteSendingStore(path.join(root, 'lifeboat.db'));
    try {
      const record = (kind: SendingKind, id: string, expiresAt: number): SendingRecord => ({
        kind,
        user: 'alice',
        id,
        version: 1,
        dueAt: null,
        expiresAt,
        data: {},
      });
      const now = Math.floor(NOW / 1000);
      await store.putSending(record('draft', 'expired', now - 1), 0);
      await store.putSending(record('draft', 'live', now + 60), 0);
      await store.putSending(record('notice', 'job', now - 1), 0);
      expect(store.purgeExpired(new Date(NOW), ['draft', 'upload'])).toBe(1);
      expect([...store.idsOf('draft')]).toEqual(['live']);
      expect([...store.idsOf('notice')]).toEqual(['job']);
    } finally {
      store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
