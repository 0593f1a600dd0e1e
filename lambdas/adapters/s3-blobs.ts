import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.js';
import {
  type PackIndex,
  packDaysAround,
  parsePackIndex,
  storedInIndex,
  unpackMember,
} from '../core/raw-packs.js';
import type { SendingBlobStore } from '../core/sending/records.js';
import type { BlobStore, RawPackStore, StoredRaw } from '../ports.js';
import { DRAFTS_PREFIX, PACKS_PREFIX, RAW_PREFIX } from '../storage-layout.js';

/** Pack indexes read per page of a listing: each is one GET of about 200 bytes a message. */
const PACK_INDEXES_PER_PAGE = 20;

/**
 * Pack indexes an instance keeps after reading them (a replay looking for mail packed after it
 * planned): two days of the worked month's parts, about 20 MB parsed.
 */
const CACHED_PACK_INDEXES = 50;

/**
 * A pack up to this size is read whole, once, and kept while a replay reads its members (they come in
 * archive order, a pack's members together): in Glacier IR each GET costs $0.01 per 1,000, so a GET
 * per message would cost 25 times a GET of Standard, where one GET per pack costs nothing to speak
 * of and the per-GB retrieval fee is the same. A larger pack is read a member at a time (ranged GET).
 */
export const WHOLE_PACK_BYTES = 128 * 1024 * 1024;

const isMissing = (err: unknown) =>
  err instanceof NoSuchKey || ['NoSuchKey', 'NotFound'].includes((err as Error).name);

/**
 * One GET of an object (or of a byte range of it), its body read whole, with its LastModified;
 * undefined when there is no such key.
 */
async function getObject(
  client: S3Client,
  bucket: string,
  key: string,
  range?: string,
): Promise<{ body: Buffer; lastModified: Date | undefined } | undefined> {
  try {
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }),
    );
    if (!out.Body) return undefined;
    return { body: Buffer.from(await out.Body.transformToByteArray()), lastModified: out.LastModified };
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

const dayOfKey = (key: string) => key.slice(PACKS_PREFIX.length, PACKS_PREFIX.length + 10);
const dayBefore = (iso: string) => new Date(Date.parse(iso) - 86_400_000).toISOString().slice(0, 10);

/**
 * Raw mail in S3, where SES's S3 action writes it, and, past the history window, in the packs the
 * sweep makes of it (a replay lists both, and reads a packed message by a ranged GET).
 */
export function createS3Blobs(
  client: S3Client,
  bucket: string,
  options: { wholePackBytes?: number } = {},
): BlobStore {
  const indexes = new Map<string, PackIndex>();
  const wholePackBytes = options.wholePackBytes ?? WHOLE_PACK_BYTES;
  /** The pack read last, whole: the next members a replay asks for are most likely in it. */
  let lastPack: { key: string; bytes: Promise<Buffer> } | undefined;
  const getBytes = async (key: string, range?: string) => {
    const got = await getObject(client, bucket, key, range);
    if (!got) throw new NotFoundError(`s3://${bucket}/${key}`);
    return got.body;
  };
  return {
    getRaw: (key) => getBytes(key),
    async putRaw(key, body) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'message/rfc822',
          ContentLength: body.length,
        }),
      );
    },
    async listStored({ from, to, cursor }) {
      // Two parts, one cursor: raw/ first (`r:<token>`), then the packs of the window's days
      // (`p:<last index key read>`).
      if (!cursor?.startsWith('p:')) {
        // S3 lists by key only (SES's keys are random), so each page of raw/ (1,000 keys, one
        // request) is filtered by LastModified; a page may hold none of the range and still go on.
        const token = cursor?.startsWith('r:') ? cursor.slice(2) : cursor;
        const out = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: RAW_PREFIX, ContinuationToken: token }),
        );
        const start = Date.parse(from);
        const end = Date.parse(to);
        const items = (out.Contents ?? []).flatMap((o) => {
          const at = o.LastModified?.getTime();
          if (!o.Key || at === undefined || at < start || at >= end) return [];
          return [{ key: o.Key, storedAt: new Date(at).toISOString(), size: o.Size ?? 0 }];
        });
        const next = out.IsTruncated && out.NextContinuationToken ? `r:${out.NextContinuationToken}` : 'p:';
        return { items, cursor: next };
      }
      // Packs hold a day of mail by its received day; a message is stored seconds after it is
      // received, so the day before `from` may hold some of the window too.
      const after = cursor.slice(2) || `${PACKS_PREFIX}${dayBefore(from)}`;
      const lastDay = to.slice(0, 10);
      const out = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: PACKS_PREFIX,
          StartAfter: after,
          MaxKeys: PACK_INDEXES_PER_PAGE * 2,
        }),
      );
      const items: StoredRaw[] = [];
      let last = after;
      let ended = !out.IsTruncated;
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        if (dayOfKey(o.Key) > lastDay) {
          ended = true;
          break;
        }
        last = o.Key;
        if (o.Key.endsWith('.json')) items.push(...storedInIndex(await readIndex(o.Key), from, to));
      }
      return { items, cursor: ended ? undefined : `p:${last}` };
    },
    async readPacked(member) {
      const end = member.offset + member.length;
      const size = [...indexes.values()].find((i) => i.pack === member.pack)?.packBytes ?? end;
      if (size > wholePackBytes) {
        return unpackMember(member, await getBytes(member.pack, `bytes=${member.offset}-${end - 1}`));
      }
      if (lastPack?.key !== member.pack) {
        const bytes = getBytes(member.pack);
        lastPack = { key: member.pack, bytes };
        bytes.catch(() => {
          if (lastPack?.bytes === bytes) lastPack = undefined;
        });
      }
      return unpackMember(member, (await lastPack.bytes).subarray(member.offset, end));
    },
    async findPacked(key, storedAt) {
      for (const day of packDaysAround(storedAt)) {
        let token: string | undefined;
        do {
          const out = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: `${PACKS_PREFIX}${day}/`,
              ContinuationToken: token,
            }),
          );
          for (const o of out.Contents ?? []) {
            if (!o.Key?.endsWith('.json')) continue;
            const index = await readIndex(o.Key);
            const m = index.members.find((x) => x.key === key);
            if (m) return { pack: index.pack, offset: m.offset, length: m.length, sha256: m.sha256 };
          }
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
      }
      return undefined;
    },
  };

  async function readIndex(key: string): Promise<PackIndex> {
    const cached = indexes.get(key);
    if (cached) return cached;
    const index = parsePackIndex(key, await getBytes(key));
    if (indexes.size >= CACHED_PACK_INDEXES) indexes.delete(indexes.keys().next().value as string);
    indexes.set(key, index);
    return index;
  }
}

/**
 * The raw-mail packer's view of the mail bucket (lambdas/core/raw-packs.ts): originals read with
 * their stored time and deleted (DeleteObject, never a version: the bucket keeps the deleted
 * original as a noncurrent version for its days), packs put in `storageClass` with their MD5 (S3
 * refuses a pack that arrives other than as sent), indexes in Standard.
 */
export function createS3RawPacks(
  client: S3Client,
  bucket: string,
  storageClass: 'GLACIER_IR' | 'STANDARD',
): RawPackStore {
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
  return {
    async readRaw(key) {
      const got = await getObject(client, bucket, key);
      return got && { body: got.body, storedAt: (got.lastModified ?? new Date(0)).toISOString() };
    },
    async getPackIndex(key) {
      return (await getObject(client, bucket, key))?.body;
    },
    async putPackIndex(key, body) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ContentLength: body.length,
          ContentMD5: md5(body),
        }),
      );
    },
    async putPack(key, body) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'application/gzip',
          ContentLength: body.length,
          ContentMD5: md5(body),
          StorageClass: storageClass,
        }),
      );
    },
    async packSize(key) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return out.ContentLength;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async deleteRaw(key) {
      if (!key.startsWith(RAW_PREFIX)) throw new Error(`only raw mail is deleted here, not ${key}`);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}

/**
 * The webmail's sending blobs in the mail bucket (drafts/, uploads/, outgoing/): the raw-mail reads
 * and writes, and a draft's body deleted at once when the draft is deleted or sent, as the local
 * runtime does, rather than left for the drafts/ lifecycle rule (the history window). The functions
 * may delete below drafts/ only (the stack's grant); any other key is refused here before S3 is asked.
 * The bucket is versioned: the deleted body stays a day as a noncurrent version, then the lifecycle
 * rule removes it.
 */
export function createS3SendingBlobs(client: S3Client, bucket: string): SendingBlobStore {
  return {
    ...createS3Blobs(client, bucket),
    async deleteRaw(key) {
      if (!key.startsWith(DRAFTS_PREFIX)) throw new Error(`only draft bodies are deleted here, not ${key}`);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}
