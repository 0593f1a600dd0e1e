import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import {
  awsRecordDays,
  PACK_JOB_ID,
  PACK_JOB_KIND,
  PACK_LEASE_MS,
  type PackDeps,
  type PackJob,
  packRawMail,
  packStorageClass,
  parsePackIndex,
} from '../../lambdas/core/raw-packs.js';
import { replayReport, runReplay, startReplay } from '../../lambdas/core/replay.js';
import { createSweepHandler } from '../../lambdas/handlers/sweep.js';
import { JOBS_OWNER } from '../../lambdas/ports.js';
import { PACKS_PREFIX, packIndexKey, packKey } from '../../lambdas/storage-layout.js';
import { continuityHarness } from '../support/continuity.js';
import { passVerdicts } from '../support/fixtures.js';
import { MemoryRawPacks } from '../support/memory-packs.js';
import { MemorySendingStore } from '../support/memory-sending.js';

/**
 * The harness clock reads 2026-11-22T10:00Z; with historyDays 30, 2026-10-22 is the newest day wholly
 * past the history window (and its records, kept three days more, still there).
 */
const DAY = '2026-10-22';
const at = (hour: number, minute = 0) =>
  `${DAY}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00.000Z`;
const plusSecond = (iso: string) => new Date(Date.parse(iso) + 1000).toISOString();

function rawMessage(n: number, size = 0): Buffer {
  return Buffer.from(
    [
      'Return-Path: <sender@example.org>',
      'From: Sender <sender@example.org>',
      'To: alice@example.com',
      `Message-ID: <m${n}@mail.example.org>`,
      `Subject: message ${n}`,
      '',
      `body ${n} ${'x'.repeat(size)}`,
      '',
    ].join('\r\n'),
  );
}

function harness(options: { maxMembers?: number } = {}) {
  const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
  const jobs = new MemorySendingStore();
  const packs = new MemoryRawPacks(h.blobs);
  const packDeps: PackDeps = {
    store: h.store,
    packs,
    jobs,
    config: h.config,
    clock: h.clock,
    log: silentLogger,
    limits: { maxMembers: options.maxMembers ?? 1000, listPage: 3 },
  };
  const originals = new Map<string, Buffer>();
  /** Stores a message as SES would (stored a second after it was received) and ingests it unless `noRecord`. */
  async function archive(n: number, receivedAt: string, opts: { noRecord?: boolean; size?: number } = {}) {
    const key = `raw/m${n}`;
    const raw = rawMessage(n, opts.size);
    originals.set(key, raw);
    h.blobs.objects.set(key, raw);
    h.blobs.storedAt.set(key, plusSecond(receivedAt));
    if (opts.noRecord) return;
    await ingestMessage(
      {
        messageId: `m${n}`,
        rawKey: key,
        envelopeFrom: 'sender@example.org',
        recipients: ['alice@example.com'],
        receivedAt,
        verdicts: passVerdicts,
      },
      h.deps,
    );
  }
  const pack = (owner = 'w1', more: Partial<PackDeps> = {}) =>
    packRawMail({ ...packDeps, ...more }, { remainingMs: () => 250_000, owner });
  const indexes = () =>
    [...h.blobs.objects]
      .filter(([k]) => k.startsWith(PACKS_PREFIX) && k.endsWith('.json'))
      .map(([k, b]) => parsePackIndex(k, b));
  /** Every packed member's original bytes, by key, read back out of the packs. */
  function unpacked(): Map<string, Buffer[]> {
    const out = new Map<string, Buffer[]>();
    for (const index of indexes()) {
      const bytes = h.blobs.objects.get(index.pack);
      if (!bytes) continue;
      for (const m of index.members) {
        const raw = gunzipSync(bytes.subarray(m.offset, m.offset + m.length));
        out.set(m.key, [...(out.get(m.key) ?? []), raw]);
      }
    }
    return out;
  }
  const job = async () => (await jobs.getSending<PackJob>(PACK_JOB_KIND, JOBS_OWNER, PACK_JOB_ID))?.data;
  /** What the primary received, bytes and all (a replay's copies). */
  const wire: Buffer[] = [];
  const send = h.primary.send.bind(h.primary);
  h.primary.send = async (route, envelope, raw) => {
    wire.push(raw);
    return send(route, envelope, raw);
  };
  /** The replay's context: the continuity deps with the job store. */
  const replayCtx = {
    ...h.deps,
    jobs,
    trigger: { requestDelivery: async () => {} },
    cancelCheckMs: 0,
  } as unknown as Context;
  return { ...h, jobs, packs, packDeps, archive, pack, indexes, unpacked, originals, job, wire, replayCtx };
}

describe('packRawMail', () => {
  it('packs a day past the history window into Glacier IR, one gzip member a message, then deletes the originals', async () => {
    const t = harness();
    for (let n = 1; n <= 5; n++) await t.archive(n, at(n * 3));
    const result = await t.pack();
    expect(result).toMatchObject({ parts: 1, messages: 5 });
    const [index] = t.indexes();
    expect(index?.pack).toBe(packKey(DAY, 0));
    expect(t.packs.classes.get(packKey(DAY, 0))).toBe('GLACIER_IR');
    expect(index?.members.map((m) => [m.key, m.storedAt]).sort()).toEqual(
      [1, 2, 3, 4, 5].map((n) => [`raw/m${n}`, plusSecond(at(n * 3))]),
    );
    // Each member gunzips alone to the original, and the whole pack is one multi-member gzip file.
    for (const [key, copies] of t.unpacked()) expect(copies).toEqual([t.originals.get(key)]);
    const whole = gunzipSync(t.blobs.objects.get(packKey(DAY, 0)) as Buffer);
    expect(whole.length).toBe([...t.originals.values()].reduce((a, b) => a + b.length, 0));
    expect([...t.blobs.objects.keys()].filter((k) => k.startsWith('raw/'))).toEqual([]);
    // Written and checked before the first original went, never the reverse.
    const ops = t.packs.calls.map((c) => c.op);
    const firstDelete = ops.indexOf('deleteRaw');
    expect(ops.indexOf('putIndex')).toBeLessThan(firstDelete);
    expect(ops.indexOf('putPack')).toBeLessThan(firstDelete);
    expect(ops.lastIndexOf('packSize', firstDelete)).toBeGreaterThan(ops.indexOf('putPack'));
    expect((await t.job())?.day).toBe('2026-10-23');
  });

  it('waits while the next day is still in the history window, writing nothing', async () => {
    const t = harness();
    await t.archive(1, at(2));
    expect(await t.pack()).toMatchObject({ outcome: 'waiting', parts: 1 });
    const calls = t.packs.calls.length;
    // 2026-10-23 leaves the window at 2026-11-23T01:00Z (the day, 30 days, an hour for late mail).
    await t.archive(2, '2026-10-23T05:00:00.000Z');
    expect((await t.pack()).outcome).toBe('waiting');
    expect(t.packs.calls.slice(calls).filter((c) => c.op.startsWith('put') || c.op === 'deleteRaw')).toEqual(
      [],
    );
    expect(t.blobs.objects.has('raw/m2')).toBe(true);
    t.clock.current = new Date('2026-11-23T01:00:01Z');
    await t.pack('w2');
    expect(t.blobs.objects.has('raw/m2')).toBe(false);
    expect(t.unpacked().get('raw/m2')).toEqual([t.originals.get('raw/m2')]);
  });

  it('splits a day into parts and leaves mail without a record under raw/', async () => {
    const t = harness({ maxMembers: 2 });
    for (let n = 1; n <= 5; n++) await t.archive(n, at(n));
    await t.archive(9, at(9), { noRecord: true });
    expect(await t.pack()).toMatchObject({ parts: 3, messages: 5 });
    expect(t.indexes().map((i) => [i.part, i.members.length])).toEqual([
      [0, 2],
      [1, 2],
      [2, 1],
    ]);
    expect(t.indexes().at(-1)?.next).toBeNull();
    expect([...t.unpacked().keys()].sort()).toEqual([1, 2, 3, 4, 5].map((n) => `raw/m${n}`));
    expect([...t.blobs.objects.keys()].filter((k) => k.startsWith('raw/'))).toEqual(['raw/m9']);
  });

  const steps = ['index', 'pack', 'written', 'deleted', 'advanced'] as const;
  for (const step of steps) {
    it(`loses nothing and writes no second pack after a crash at "${step}"`, async () => {
      const t = harness({ maxMembers: 2 });
      for (let n = 1; n <= 5; n++) await t.archive(n, at(n));
      let crashed = false;
      const crash: PackDeps['step'] = (s) => {
        if (s === step && !crashed) {
          crashed = true;
          throw new Error(`crash at ${s}`);
        }
      };
      await expect(t.pack('w1', { step: crash })).rejects.toThrow(`crash at ${step}`);
      // Every message is still somewhere: under raw/ or in a pack that is written.
      const gone = [...t.originals.keys()].filter((k) => !t.blobs.objects.has(k));
      for (const k of gone) expect(t.unpacked().get(k)).toEqual([t.originals.get(k)]);
      // The crashed run's lease runs out; another run finishes the day.
      t.clock.advance(PACK_LEASE_MS / 1000 + 1);
      await t.pack('w2');
      expect([...t.blobs.objects.keys()].filter((k) => k.startsWith('raw/'))).toEqual([]);
      const unpacked = t.unpacked();
      for (const [k, raw] of t.originals) expect(unpacked.get(k)).toEqual([raw]);
      const puts = t.packs.calls.filter((c) => c.op === 'putPack').map((c) => c.key);
      expect(puts).toEqual([...new Set(puts)]);
      expect(puts).toEqual([packKey(DAY, 0), packKey(DAY, 1), packKey(DAY, 2)]);
      // No original was deleted before the pack holding it was written.
      for (const [i, c] of t.packs.calls.entries()) {
        if (c.op !== 'deleteRaw') continue;
        const holder = t.indexes().find((x) => x.members.some((m) => m.key === c.key));
        const written = t.packs.calls.findIndex((p) => p.op === 'putPack' && p.key === holder?.pack);
        expect(written).toBeGreaterThanOrEqual(0);
        expect(written).toBeLessThan(i);
      }
      expect((await t.job())?.packedMessages).toBe(5);
    });
  }

  it('leaves the packer to a run that holds its lease', async () => {
    const t = harness();
    await t.archive(1, at(1));
    await t.jobs.putSending(
      {
        kind: PACK_JOB_KIND,
        user: JOBS_OWNER,
        id: PACK_JOB_ID,
        version: 1,
        dueAt: null,
        expiresAt: 0,
        data: {
          day: DAY,
          part: 0,
          start: null,
          written: false,
          lease: { owner: 'other', until: '2026-11-22T10:03:00.000Z' },
          packedMessages: 0,
          packedParts: 0,
          skippedDays: [],
        } satisfies PackJob,
      },
      0,
    );
    expect((await t.pack()).outcome).toBe('busy');
    expect(t.packs.calls).toEqual([]);
  });

  it('skips a day reached after its records may have expired, leaving its mail under raw/', async () => {
    const t = harness();
    await t.archive(2, '2026-10-23T01:00:00.000Z');
    await t.pack(); // packs 2026-10-22, empty so far, and waits for 2026-10-23
    await t.archive(1, at(1));
    const seeded = await t.jobs.getSending<PackJob>(PACK_JOB_KIND, JOBS_OWNER, PACK_JOB_ID);
    if (!seeded) throw new Error('no job');
    // The packer stopped for two days at 2026-10-22 (say its function was failing)...
    await t.jobs.putSending(
      { ...seeded, version: seeded.version + 1, data: { ...seeded.data, day: DAY } },
      seeded.version,
    );
    // ...and records are kept 33 days: 2026-10-22's first ones go at 2026-11-24T00:00Z.
    t.clock.current = new Date('2026-11-24T09:00:00Z');
    await t.pack();
    expect(t.blobs.objects.has('raw/m1')).toBe(true);
    expect(t.unpacked().has('raw/m2')).toBe(true);
    expect((await t.job())?.skippedDays).toEqual([DAY]);
  });

  it('stops taking work when the run has no time left, and resumes in the next', async () => {
    const t = harness({ maxMembers: 1 });
    for (let n = 1; n <= 3; n++) await t.archive(n, at(n));
    expect(await packRawMail(t.packDeps, { remainingMs: () => 10_000, owner: 'w1' })).toMatchObject({
      outcome: 'stopped',
      parts: 0,
    });
    expect(t.packs.calls).toEqual([]);
    expect(await t.pack('w2')).toMatchObject({ parts: 3 });
  });
});

describe('packStorageClass', () => {
  it('writes packs to Glacier IR only when they stay there its 90 days', () => {
    expect(packStorageClass({ historyDays: 30, retentionDays: 365 })).toBe('GLACIER_IR');
    expect(packStorageClass({ historyDays: 30, retentionDays: 119 })).toBe('STANDARD');
    expect(packStorageClass({ historyDays: 30, retentionDays: 120 })).toBe('GLACIER_IR');
  });

  it('keeps records three days past the history window while mail outlives it', () => {
    expect(awsRecordDays({ historyDays: 30, retentionDays: 365 })).toBe(33);
    expect(awsRecordDays({ historyDays: 30, retentionDays: 31 })).toBe(31);
    expect(awsRecordDays({ historyDays: 30, retentionDays: 30 })).toBe(30);
  });
});

describe('replay of packed mail', () => {
  /** A replay from the day before the packed one to now, run to its end: its report rows without their times. */
  async function replayRows(t: ReturnType<typeof harness>) {
    const job = await startReplay(t.replayCtx, { from: '2026-10-21T00:00:00.000Z' }, { actor: 'alice' });
    await runReplay(t.replayCtx, job.id, { budgetMs: Number.POSITIVE_INFINITY, owner: 'r' });
    return (await replayReport(t.replayCtx, job.id)).rows.map(({ at: _at, ...row }) => row);
  }

  it('reports the same whether the mail is under raw/, packed, or both mid-way', async () => {
    const build = async () => {
      const t = harness({ maxMembers: 2 });
      for (let n = 1; n <= 5; n++) await t.archive(n, at(n * 2));
      await t.archive(7, at(20), { noRecord: true });
      await t.archive(8, '2026-10-23T04:00:00.000Z');
      return t;
    };
    const before = await build();
    const unpackedRows = await replayRows(before);
    expect(unpackedRows.map((r) => [r.id, r.outcome])).toEqual([
      ['m1', 'sent'],
      ['m2', 'sent'],
      ['m3', 'sent'],
      ['m4', 'sent'],
      ['m5', 'sent'],
      ['m7', 'sent'],
      ['m8', 'sent'],
    ]);

    // Packed in full (m7 has no record, m8's day is not due: both stay under raw/).
    const packed = await build();
    await packed.pack();
    expect(packed.indexes().flatMap((i) => i.members)).toHaveLength(5);
    expect(packed.blobs.objects.has('raw/m1')).toBe(false);
    expect(await replayRows(packed)).toEqual(unpackedRows);
    expect(packed.blobs.packReads).toHaveLength(5);
    // The archived bytes reach the primary unchanged after the replay's two header lines.
    expect(packed.wire).toHaveLength(7);
    for (const raw of packed.wire) {
      const n = Number(/id m(\d)/.exec(raw.toString('latin1'))?.[1]);
      expect(raw.subarray(raw.length - rawMessage(n).length)).toEqual(rawMessage(n));
    }

    // Stopped between a part's pack and its deletes: listed twice, replayed once, from raw/.
    const midway = await build();
    await expect(
      midway.pack('w1', {
        step: (s) => {
          if (s === 'deleted') throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    expect(await replayRows(midway)).toEqual(unpackedRows);
  });

  it('finds mail the packer took after the replay was planned', async () => {
    const t = harness();
    for (let n = 1; n <= 3; n++) await t.archive(n, at(n));
    const job = await startReplay(t.replayCtx, { from: '2026-10-21T00:00:00.000Z' }, { actor: 'alice' });
    // Planned with the originals under raw/, sent after the packer deleted them.
    await runReplay(t.replayCtx, job.id, { budgetMs: 0, owner: 'r' });
    await t.pack();
    expect([...t.blobs.objects.keys()].filter((k) => k.startsWith('raw/'))).toEqual([]);
    await runReplay(t.replayCtx, job.id, { budgetMs: Number.POSITIVE_INFINITY, owner: 'r' });
    const { rows } = await replayReport(t.replayCtx, job.id);
    expect(rows.map((r) => [r.id, r.outcome])).toEqual([
      ['m1', 'sent'],
      ['m2', 'sent'],
      ['m3', 'sent'],
    ]);
  });
});

describe('createSweepHandler with packs', () => {
  const lambda = { getRemainingTimeInMillis: () => 250_000 };
  const sweepCtx = (t: ReturnType<typeof harness>) => ({ ...t.replayCtx, packs: t.packs }) as Context;

  it('packs the day due after the retries, and only when asked to', async () => {
    const t = harness();
    await t.archive(1, at(1));
    const lines: string[] = [];
    const notAsked = await createSweepHandler(
      () => sweepCtx(t),
      (l) => lines.push(l),
      { replays: true },
    )({}, lambda);
    expect(notAsked.packed).toBeUndefined();
    expect(t.packs.calls).toEqual([]);
    const asked = await createSweepHandler(
      () => sweepCtx(t),
      (l) => lines.push(l),
      { replays: true, packs: true },
    )({}, lambda);
    expect(asked.packed).toMatchObject({ parts: 1, messages: 1 });
    expect(t.blobs.objects.has('raw/m1')).toBe(false);
    expect(lines).toHaveLength(2);
  });

  it('still publishes the queue metrics when packing fails, then fails the run', async () => {
    const t = harness();
    await t.archive(1, at(1));
    t.packs.putPack = async () => {
      throw new Error('AccessDenied');
    };
    const lines: string[] = [];
    await expect(
      createSweepHandler(
        () => sweepCtx(t),
        (l) => lines.push(l),
        { packs: true },
      )({}, lambda),
    ).rejects.toThrow('AccessDenied');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toHaveProperty('DeferredDeliveries');
    expect(t.blobs.objects.has('raw/m1')).toBe(true);
  });
});

describe('pack keys', () => {
  it('names a day and part so that keys sort by day', () => {
    expect(packKey('2026-10-22', 3)).toBe('packs/2026-10-22/0003.pack');
    expect(packIndexKey('2026-10-22', 3)).toBe('packs/2026-10-22/0003.json');
  });
});
