import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as z from 'zod';
import {
  type Clock,
  JOBS_OWNER,
  type Logger,
  type MessageStore,
  type PackedMember,
  type RawPackStore,
  type SendingStore,
  type StoredRaw,
} from '../ports.js';
import {
  GLACIER_IR_MIN_STORAGE_DAYS,
  packIndexKey,
  packKey,
  RAW_PACK_MARGIN_DAYS,
  RAW_PREFIX,
} from '../storage-layout.js';
import { type LifeboatConfig, recordDays } from './config.js';
import { ConflictError, LifeboatError } from './errors.js';

/**
 * Packing archived raw mail (AWS). SES stores each message as its own S3 object; past the history
 * window only a replay reads it, and a small object costs more in Glacier Instant Retrieval (billed
 * as 128 KB, a transition fee each) than in Standard. So once a UTC day of mail has left the history
 * window, the sweep packs it: each message gzipped as its own member, appended to a pack of at most
 * {@link PACK_TARGET_BYTES}, written with one PUT straight into Glacier IR, with an index beside it.
 * Only once a part's index and pack are written and checked are its originals deleted (DeleteObject:
 * the bucket keeps them as noncurrent versions for its days).
 *
 * The packer lists a day's mail from its message records (kept {@link RAW_PACK_MARGIN_DAYS} past the
 * history window for this), and keeps its place in one job record (kind `raw-packs`): the day, the
 * part, where the part starts in the day's listing, and whether the part is written. A run that stops
 * anywhere resumes there: an index without its pack gets its pack, a pack already there is not written
 * again, a written part's deletes are done again (deleting what is gone is harmless), and a lease
 * keeps two overlapping sweeps off the same part. Mail without a record stays under raw/ and expires
 * by the raw/ lifecycle rule, as does a day the packer did not reach in time.
 */

/** The job record's kind and id (one packer per organisation). */
export const PACK_JOB_KIND = 'raw-packs';
export const PACK_JOB_ID = 'packer';

/**
 * A part is closed once its pack reaches this size (it may pass it by one message, at most SES's
 * 40 MB): the sweep function (960 MB) holds the pack, one original and its gzip at once, with room
 * for the retries and replays it also runs.
 */
export const PACK_TARGET_BYTES = 64 * 1024 * 1024;

/** Most messages in one part: keeps an index (about 200 bytes a message) near 1 MB. */
export const MAX_PACK_MEMBERS = 5_000;

/** Records read per page of a day's listing. */
export const PACK_LIST_PAGE = 100;

/** Originals deleted at once. */
export const PACK_CONCURRENCY = 8;

/** Originals read ahead while a part is built: at most this many of SES's 40 MB beside the pack. */
export const PACK_READ_AHEAD = 4;

/**
 * A day is packed only this long after it has left the history window: mail ingested late (a retry
 * of SES's Lambda action) still gets its record first.
 */
export const PACK_SETTLE_MS = 3_600_000;

/**
 * Time a run leaves before its function's timeout: writing and checking a part of 64 MB and deleting
 * its originals takes seconds; a run stopped by the timeout resumes like any other.
 */
export const PACK_MARGIN_MS = 30_000;

/**
 * Longest a run packs: a day of the worked month's mail (50,000 messages) is about 20 parts of a few
 * seconds each, done in a few runs, and a sweep that packs stays well short of the next minute's.
 */
export const PACK_RUN_MS = 120_000;

/** The packer's lease lasts the run that holds it, at most this long (the sweep's own timeout). */
export const PACK_LEASE_MS = 300_000;

/** gzip level of a member: 6 (zlib's default) gives most of level 9's ratio at a fraction of its time. */
const GZIP_LEVEL = 6;

/** One message as a pack holds it: its own gzip member, which a ranged GET reads and gunzips alone. */
export function packMember(raw: Buffer): Buffer {
  return gzipSync(raw, { level: GZIP_LEVEL });
}

/** Packs need mail that outlives the history window; with no such mail there is nothing to pack. */
export function packingEnabled(config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>): boolean {
  return config.retentionDays > config.historyDays;
}

/**
 * Where packs are written: Glacier IR when they then stay there its 90-day minimum, else Standard
 * (a pack lives `retentionDays − historyDays` days).
 */
export function packStorageClass(
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>,
): 'GLACIER_IR' | 'STANDARD' {
  return config.retentionDays - config.historyDays >= GLACIER_IR_MIN_STORAGE_DAYS ? 'GLACIER_IR' : 'STANDARD';
}

/**
 * Days message records are kept in AWS: the history window, and while raw mail is packed
 * {@link RAW_PACK_MARGIN_DAYS} more, so that the packer finds a day's records once it has left the
 * window (the webmail still lists only `historyDays`).
 */
export function awsRecordDays(config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>): number {
  return packingEnabled(config)
    ? Math.min(recordDays(config) + RAW_PACK_MARGIN_DAYS, config.retentionDays)
    : recordDays(config);
}

/** Where a part starts (or the next begins) in a day's listing: a page cursor and messages to skip in it. */
const positionSchema = z.object({ cursor: z.string().optional(), skip: z.number().int().min(0) });
export type ListPosition = z.infer<typeof positionSchema>;

const memberSchema = z.object({
  key: z.string().startsWith(RAW_PREFIX),
  storedAt: z.string(),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  offset: z.number().int().min(0),
  length: z.number().int().min(1),
});

/** A pack's index, as its sidecar object holds it. */
export const packIndexSchema = z.object({
  v: z.literal(1),
  day: z.string(),
  part: z.number().int().min(0),
  pack: z.string(),
  packBytes: z.number().int().min(0),
  packSha256: z.string(),
  /** Where the next part of the day starts; null: this part ends the day. */
  next: positionSchema.nullable(),
  members: z.array(memberSchema),
});
export type PackIndex = z.infer<typeof packIndexSchema>;

/** A pack index that cannot be read (mapped to a failed run; the packer and readers never guess). */
export class PackIndexError extends LifeboatError {
  constructor(key: string, detail: string) {
    super('PACK_INDEX', `pack index ${key}: ${detail}`);
  }
}

/** Parses a pack index's bytes. @throws PackIndexError */
export function parsePackIndex(key: string, bytes: Buffer): PackIndex {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PackIndexError(key, 'not JSON');
  }
  const parsed = packIndexSchema.safeParse(json);
  if (!parsed.success) throw new PackIndexError(key, parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

/** The members of an index stored in [from, to), as the archive lists them. */
export function storedInIndex(index: PackIndex, from: string, to: string): StoredRaw[] {
  const start = Date.parse(from);
  const end = Date.parse(to);
  return index.members.flatMap((m) => {
    const at = Date.parse(m.storedAt);
    if (at < start || at >= end) return [];
    return [
      {
        key: m.key,
        storedAt: m.storedAt,
        size: m.size,
        packed: { pack: index.pack, offset: m.offset, length: m.length, sha256: m.sha256 },
      },
    ];
  });
}

/** A member that does not gunzip to the bytes it was packed from. */
export class PackMemberError extends LifeboatError {
  constructor(pack: string, offset: number) {
    super('PACK_MEMBER', `the member at ${offset} of ${pack} does not match its index`);
  }
}

/** The original bytes of one member, read from the pack at its offset and length. @throws PackMemberError */
export function unpackMember(member: PackedMember, bytes: Buffer): Buffer {
  let raw: Buffer;
  try {
    raw = gunzipSync(bytes);
  } catch {
    throw new PackMemberError(member.pack, member.offset);
  }
  if (sha256(raw) !== member.sha256) throw new PackMemberError(member.pack, member.offset);
  return raw;
}

/** UTC days around a stored time whose packs may hold it (a message is packed by its received day). */
export function packDaysAround(storedAt: string): string[] {
  const at = Date.parse(storedAt);
  return [dayOf(at - 86_400_000), dayOf(at)];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayStart = (day: string) => Date.parse(`${day}T00:00:00.000Z`);
const nextDay = (day: string) => dayOf(dayStart(day) + DAY_MS);

/** The packer's place, kept in its job record. */
export interface PackJob {
  /** The UTC day being packed. */
  day: string;
  /** The part being built or deleted. */
  part: number;
  /** Where the part starts in the day's listing (null: at its beginning). */
  start: ListPosition | null;
  /** The part's index and pack are written and checked: its originals are being deleted. */
  written: boolean;
  /** The run working on it, until when. */
  lease: { owner: string; until: string } | null;
  /** Totals, for the log and an admin who looks. */
  packedMessages: number;
  packedParts: number;
  skippedDays: string[];
}

export interface PackDeps {
  store: Pick<MessageStore, 'listMessagesByDay'>;
  packs: RawPackStore;
  jobs: SendingStore;
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>;
  clock: Clock;
  log: Logger;
  /**
   * Test seam: called after each step that changes the bucket or the job (a throw here is a crash):
   * `index` and `pack` written, `written` (the job records the part), `deleted` (one original),
   * `advanced` (the job moved past the part).
   */
  step?: ((step: 'index' | 'pack' | 'written' | 'deleted' | 'advanced', detail: string) => void) | undefined;
  /**
   * Test seam: smaller parts and pages.
   * @default { targetBytes: PACK_TARGET_BYTES, maxMembers: MAX_PACK_MEMBERS, listPage: PACK_LIST_PAGE }
   */
  limits?: { targetBytes?: number; maxMembers?: number; listPage?: number } | undefined;
}

export interface PackOptions {
  /** Milliseconds left in the run (a Lambda's remaining time). */
  remainingMs: () => number;
  /** Who holds the lease while this run works. */
  owner: string;
}

export interface PackResult {
  /** `waiting`: nothing is due yet; `stopped`: the budget is spent; `busy`: another run holds the packer. */
  outcome: 'waiting' | 'stopped' | 'busy' | 'disabled';
  /** Parts written and their originals deleted in this run. */
  parts: number;
  messages: number;
}

/** The first day a new packer takes: the newest day that has already left the history window. */
function firstDay(deps: PackDeps): string {
  return dayOf(deps.clock.now().getTime() - (deps.config.historyDays + 1) * DAY_MS - PACK_SETTLE_MS);
}

/** When a day may be packed: the whole day past the history window, and late mail settled. */
function packableAt(deps: PackDeps, day: string): number {
  return dayStart(day) + (1 + deps.config.historyDays) * DAY_MS + PACK_SETTLE_MS;
}

/** After this the day's first records may have expired: the day is left under raw/. */
function packDeadline(deps: PackDeps, day: string): number {
  return dayStart(day) + (awsRecordDays(deps.config) * DAY_MS - PACK_SETTLE_MS);
}

/** Runs `work` on each item with at most `limit` at once, in order of start. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(lanes);
}

/**
 * Packs archived raw mail while the run has time: finishes a part whose originals were being deleted,
 * then builds, writes, checks and deletes the next parts of the oldest day due. Takes the packer's
 * lease first; a run that finds another's live lease leaves the work to it.
 */
export async function packRawMail(deps: PackDeps, options: PackOptions): Promise<PackResult> {
  const result: PackResult = { outcome: 'stopped', parts: 0, messages: 0 };
  if (!packingEnabled(deps.config)) return { ...result, outcome: 'disabled' };
  const started = performance.now();
  const budgetLeft = () =>
    Math.min(options.remainingMs() - PACK_MARGIN_MS, PACK_RUN_MS - (performance.now() - started));
  if (budgetLeft() <= 0) return result;
  const now = () => deps.clock.now().getTime();

  // The lease: one conditional write on the job record.
  const rec = await deps.jobs.getSending<PackJob>(PACK_JOB_KIND, JOBS_OWNER, PACK_JOB_ID);
  const current: PackJob = rec?.data ?? {
    day: firstDay(deps),
    part: 0,
    start: null,
    written: false,
    lease: null,
    packedMessages: 0,
    packedParts: 0,
    skippedDays: [],
  };
  if (current.lease && Date.parse(current.lease.until) > now() && current.lease.owner !== options.owner) {
    return { ...result, outcome: 'busy' };
  }
  // Most runs find nothing due: they stop at the one read, writing nothing (a sweep runs every minute).
  if (rec && !current.written && now() < packableAt(deps, current.day))
    return { ...result, outcome: 'waiting' };
  let version = rec?.version ?? 0;
  let job: PackJob = current;
  const save = async (next: PackJob) => {
    try {
      await deps.jobs.putSending(
        {
          kind: PACK_JOB_KIND,
          user: JOBS_OWNER,
          id: PACK_JOB_ID,
          version: version + 1,
          dueAt: null,
          // The record lives as long as the packer keeps working; a year idle and it starts afresh.
          expiresAt: Math.floor(now() / 1000) + 365 * 86_400,
          data: next,
        },
        version,
      );
    } catch (err) {
      // Another run took the packer (its lease had run out): this one stops where it is.
      if (err instanceof ConflictError) throw new PackerBusy();
      throw err;
    }
    version += 1;
    job = next;
  };
  try {
    const leaseMs = Math.min(PACK_LEASE_MS, Math.max(options.remainingMs(), 0));
    await save({ ...job, lease: { owner: options.owner, until: new Date(now() + leaseMs).toISOString() } });
    while (budgetLeft() > 0) {
      if (job.written) {
        const done = await deleteOriginals(deps, job, budgetLeft);
        if (!done) return result;
        const index = done;
        const advanced: PackJob = index.next
          ? { ...job, part: job.part + 1, start: index.next, written: false }
          : { ...job, day: nextDay(job.day), part: 0, start: null, written: false };
        await save({
          ...advanced,
          packedMessages: job.packedMessages + index.members.length,
          packedParts: job.packedParts + 1,
        });
        deps.step?.('advanced', `${index.day}/${index.part}`);
        result.parts += 1;
        result.messages += index.members.length;
        continue;
      }
      if (now() < packableAt(deps, job.day)) {
        result.outcome = 'waiting';
        return result;
      }
      if (now() >= packDeadline(deps, job.day) && job.part === 0 && job.start === null) {
        // Records may be gone: the day stays under raw/ and expires there.
        deps.log.warn('raw packing skipped a day it reached too late', { day: job.day });
        await save({
          ...job,
          day: nextDay(job.day),
          skippedDays: [...job.skippedDays, job.day].slice(-30),
        });
        continue;
      }
      const built = await writePart(deps, job, budgetLeft);
      if (built === 'stopped') return result;
      if (built === 'empty') {
        await save({ ...job, day: nextDay(job.day), part: 0, start: null, written: false });
        continue;
      }
      await save({ ...job, written: true });
      deps.step?.('written', `${job.day}/${job.part}`);
    }
    return result;
  } catch (err) {
    if (err instanceof PackerBusy) return { ...result, outcome: 'busy' };
    throw err;
  } finally {
    if (job.lease?.owner === options.owner) {
      // Give the lease back for the next run; a failure here only makes the next wait it out.
      await save({ ...job, lease: null }).catch(() => undefined);
    }
  }
}

class PackerBusy extends Error {}

/**
 * Builds the job's part from the day's records, or adopts one an earlier run wrote (its index there,
 * its pack there at the size the index gives), then writes what is missing: the index first, then
 * the pack, each checked. `empty`: the day has no more mail to pack.
 */
async function writePart(
  deps: PackDeps,
  job: PackJob,
  budgetLeft: () => number,
): Promise<'written' | 'empty' | 'stopped'> {
  const indexKey = packIndexKey(job.day, job.part);
  const key = packKey(job.day, job.part);
  const existingBytes = await deps.packs.getPackIndex(indexKey);
  if (existingBytes) {
    const existing = parsePackIndex(indexKey, existingBytes);
    // Written in full by an earlier run that stopped before recording it: nothing is written again.
    if ((await deps.packs.packSize(key)) === existing.packBytes) return 'written';
  }
  const built = await buildPart(deps, job, budgetLeft);
  if (!built) return 'stopped';
  if (built.index.members.length === 0 && built.index.next === null) return 'empty';
  if (built.index.members.length === 0) return 'stopped';
  const indexBytes = Buffer.from(JSON.stringify(built.index));
  if (!existingBytes?.equals(indexBytes)) {
    await deps.packs.putPackIndex(indexKey, indexBytes);
    deps.step?.('index', indexKey);
  }
  if ((await deps.packs.packSize(key)) !== built.pack.length) {
    await deps.packs.putPack(key, built.pack);
    deps.step?.('pack', key);
  }
  // Checked before any original goes: the pack at its size, the index as written.
  const size = await deps.packs.packSize(key);
  const back = await deps.packs.getPackIndex(indexKey);
  if (size !== built.pack.length || !back?.equals(indexBytes)) {
    throw new PackIndexError(indexKey, `written but not read back as written (pack ${size} bytes)`);
  }
  deps.log.info('raw mail packed', {
    pack: key,
    messages: built.index.members.length,
    bytes: built.pack.length,
    originalBytes: built.index.members.reduce((n, m) => n + m.size, 0),
  });
  return 'written';
}

/** Reads the part's messages from the day's listing and packs them; undefined when the budget ran out first. */
async function buildPart(
  deps: PackDeps,
  job: PackJob,
  budgetLeft: () => number,
): Promise<{ index: PackIndex; pack: Buffer } | undefined> {
  const targetBytes = deps.limits?.targetBytes ?? PACK_TARGET_BYTES;
  const maxMembers = deps.limits?.maxMembers ?? MAX_PACK_MEMBERS;
  const listPage = deps.limits?.listPage ?? PACK_LIST_PAGE;
  const members: PackIndex['members'] = [];
  const chunks: Buffer[] = [];
  let bytes = 0;
  let position: ListPosition | null = job.start ?? { skip: 0 };
  const seen = new Set<string>();
  while (position && bytes < targetBytes && members.length < maxMembers) {
    if (budgetLeft() <= 0) return undefined;
    const page = await deps.store.listMessagesByDay(job.day, listPage, position.cursor);
    const items = page.items.slice(position.skip);
    // The originals of this page, read a few at a time, then taken in listing order up to the caps.
    const reads = new Map<string, Promise<{ body: Buffer; storedAt: string } | undefined>>();
    const taken: number[] = [];
    let i = 0;
    for (; i < items.length; i++) {
      const m = items[i];
      if (!m) break;
      if (budgetLeft() <= 0) return undefined;
      if (bytes >= targetBytes || members.length >= maxMembers) break;
      for (let j = i; j < Math.min(items.length, i + PACK_READ_AHEAD); j++) {
        const ahead = items[j]?.rawKey;
        if (ahead?.startsWith(RAW_PREFIX) && !reads.has(ahead)) reads.set(ahead, deps.packs.readRaw(ahead));
      }
      taken.push(i);
      if (!m.rawKey.startsWith(RAW_PREFIX) || seen.has(m.rawKey)) continue;
      seen.add(m.rawKey);
      const original = await reads.get(m.rawKey);
      reads.delete(m.rawKey);
      // Gone already (retention, or a record whose raw object was never stored): nothing to pack.
      if (!original) continue;
      const member = packMember(original.body);
      members.push({
        key: m.rawKey,
        storedAt: original.storedAt,
        size: original.body.length,
        sha256: sha256(original.body),
        offset: bytes,
        length: member.length,
      });
      chunks.push(member);
      bytes += member.length;
    }
    // Reads started ahead of the caps are let go (their promises settle unobserved).
    for (const pending of reads.values()) pending.catch(() => undefined);
    const consumed = taken.length;
    if (position.skip + consumed < page.items.length) {
      position = { ...(position.cursor ? { cursor: position.cursor } : {}), skip: position.skip + consumed };
    } else {
      position = page.cursor ? { cursor: page.cursor, skip: 0 } : null;
    }
  }
  const pack = Buffer.concat(chunks);
  return {
    pack,
    index: {
      v: 1,
      day: job.day,
      part: job.part,
      pack: packKey(job.day, job.part),
      packBytes: pack.length,
      packSha256: sha256(pack),
      next: position,
      members,
    },
  };
}

/**
 * Deletes the originals of a written part, a few at once; the index, in S3 Standard, says which.
 * Undefined when the budget ran out first (the next run deletes them again: a missing original's
 * delete is harmless).
 */
async function deleteOriginals(
  deps: PackDeps,
  job: PackJob,
  budgetLeft: () => number,
): Promise<PackIndex | undefined> {
  const indexKey = packIndexKey(job.day, job.part);
  const bytes = await deps.packs.getPackIndex(indexKey);
  if (!bytes) throw new PackIndexError(indexKey, 'recorded as written but not found: no original is deleted');
  const index = parsePackIndex(indexKey, bytes);
  // Once more before the first delete: the pack is there, at the size its index gives.
  const size = await deps.packs.packSize(index.pack);
  if (size !== index.packBytes) {
    throw new PackIndexError(indexKey, `its pack is ${size ?? 'missing'}, not ${index.packBytes} bytes`);
  }
  let stopped = false;
  await eachLimited(index.members, PACK_CONCURRENCY, async (m) => {
    if (stopped || budgetLeft() <= 0) {
      stopped = true;
      return;
    }
    await deps.packs.deleteRaw(m.key);
    deps.step?.('deleted', m.key);
  });
  return stopped ? undefined : index;
}
