import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.js';
import type { SendingBlobStore } from '../core/sending/records.js';
import type { BlobStore } from '../ports.js';
import { DRAFTS_PREFIX, RAW_PREFIX } from '../storage-layout.js';

/** Raw mail in S3, where SES's S3 action writes it. */
export function createS3Blobs(client: S3Client, bucket: string): BlobStore {
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
      // S3 lists by key only (SES's keys are random), so each page of raw/ (1,000 keys, one
      // request) is filtered by LastModified; a page may hold none of the range and still go on.
      const out = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: RAW_PREFIX, ContinuationToken: cursor }),
      );
      const start = Date.parse(from);
      const end = Date.parse(to);
      const items = (out.Contents ?? []).flatMap((o) => {
        const at = o.LastModified?.getTime();
        if (!o.Key || at === undefined || at < start || at >= end) return [];
        return [{ key: o.Key, storedAt: new Date(at).toISOString(), size: o.Size ?? 0 }];
      });
      return { items, cursor: out.IsTruncated ? out.NextContinuationToken : undefined };
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
