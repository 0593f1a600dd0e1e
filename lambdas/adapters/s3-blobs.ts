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

/** Pack indexes an instance keeps after reading them (a replay looking for mail packed after it planned). */
const CACHED_PACK_INDEXES = 200;

const isMissing = (err: unknown) =>
  err instanceof NoSuchKey || ['NoSuchKey', 'NotFound'].includes((err as Error).name);

const dayOfKey = (key: string) => key.slice(PACKS_PREFIX.length, PACKS_PREFIX.length + 10);
const dayBefore = (iso: string) => new Date(Date.parse(iso) - 86_400_000).toISOString().slice(0, 10);

/**
 * Raw mail in S3, where SES's S3 action writes it, and, past the history window, in the packs the
 * sweep makes of it (a replay lists both, and reads a packed message by a ranged GET).
 */
export function createS3Blobs(client: S3Client, bucket: string): BlobStore {
  const indexes = new Map<string, PackIndex>();
  return {
    async getRaw(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!out.Body) throw new NotFoundError(`s3://${bucket}/${key}`);
        return Buffer.from(await out.Body.transformToByteArray());
      } catch (err) {
        if (err instanceof NoSuchKey || (err as Error).name === 'NoSuchKey') {
          throw new NotFoundError(`s3://${bucket}/${key}`);
        }
        throw err;
      }
    },
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
      const end = member.offset + member.length - 1;
      const out = await client
        .send(
          new GetObjectCommand({ Bucket: bucket, Key: member.pack, Range: `bytes=${member.offset}-${end}` }),
        )
        .catch((err: unknown) => {
          if (isMissing(err)) throw new NotFoundError(`s3://${bucket}/${member.pack}`);
          throw err;
        });
      if (!out.Body) throw new NotFoundError(`s3://${bucket}/${member.pack}`);
      return unpackMember(member, Buffer.from(await out.Body.transformToByteArray()));
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
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const index = parsePackIndex(key, Buffer.from((await out.Body?.transformToByteArray()) ?? []));
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
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!out.Body) return undefined;
        const body = Buffer.from(await out.Body.transformToByteArray());
        return { body, storedAt: (out.LastModified ?? new Date(0)).toISOString() };
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async getPackIndex(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return out.Body ? Buffer.from(await out.Body.transformToByteArray()) : undefined;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
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
