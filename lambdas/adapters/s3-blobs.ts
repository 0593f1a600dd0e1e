import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.js';
import type { BlobStore } from '../ports.js';
import { RAW_PREFIX } from '../storage-layout.js';

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
