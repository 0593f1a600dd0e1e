import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { purgeRawArchive } from '../../infra/local/raw-retention.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00Z');

describe('purgeRawArchive', () => {
  let dir: string;
  let rawDir: string;
  let receiptsDir: string;

  /** A file as the stores leave it, last written `daysAgo` before NOW. */
  function file(folder: string, name: string, daysAgo: number): void {
    const f = path.join(folder, name);
    writeFileSync(f, 'x');
    const at = (NOW - daysAgo * DAY) / 1000;
    utimesSync(f, at, at);
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-retention-'));
    rawDir = path.join(dir, 'raw');
    receiptsDir = path.join(dir, 'receipts');
    mkdirSync(rawDir);
    mkdirSync(receiptsDir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const purge = () => purgeRawArchive({ rawDir, receiptsDir, cutoff: new Date(NOW - 30 * DAY) });

  it('removes raw messages written before the cutoff with their receipts, and keeps younger ones', async () => {
    file(rawDir, 'old', 31);
    file(receiptsDir, 'old', 31);
    file(rawDir, 'young', 29);
    file(receiptsDir, 'young', 29);

    expect(await purge()).toEqual({ messages: 1, receipts: 1 });
    expect(readdirSync(rawDir)).toEqual(['young']);
    expect(readdirSync(receiptsDir)).toEqual(['young']);
  });

  it('removes an old raw message that never got a receipt, and a receipt left without its message', async () => {
    file(rawDir, 'never-acknowledged', 40);
    file(receiptsDir, 'orphan.staged.boot-1', 40);

    expect(await purge()).toEqual({ messages: 1, receipts: 1 });
    expect(readdirSync(rawDir)).toEqual([]);
    expect(readdirSync(receiptsDir)).toEqual([]);
  });

  it('leaves temp files to start-up, however old', async () => {
    file(rawDir, '.msg.abc.tmp', 90);

    expect(await purge()).toEqual({ messages: 0, receipts: 0 });
    expect(readdirSync(rawDir)).toEqual(['.msg.abc.tmp']);
  });

  it('does nothing when the folders do not exist yet', async () => {
    rmSync(rawDir, { recursive: true });
    rmSync(receiptsDir, { recursive: true });

    expect(await purge()).toEqual({ messages: 0, receipts: 0 });
  });
});
