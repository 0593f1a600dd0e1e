import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.js';
import type { BlobStore } from '../ports.js';

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
  };
}
