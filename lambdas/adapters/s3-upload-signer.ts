import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { UPLOAD_URL_TTL_SECONDS } from '../core/sending/uploads.js';
import type { Clock, UploadSigner } from '../ports.js';
import { UPLOADS_PREFIX } from '../storage-layout.js';

/**
 * The headers an upload URL is signed over, so S3 refuses a PUT without them or with other values:
 * - `content-length`: the size the browser announced (at most the attachment limit), so no larger
 *   file lands; the browser sets it from the file itself;
 * - `content-type`: what the draft will name;
 * - `if-none-match: *`: S3's conditional write, which refuses (412) a PUT to a key that exists, so
 *   the URL works once: a second PUT, by the same browser or anyone the URL leaked to, is refused.
 */
export const UPLOAD_SIGNED_HEADERS = ['content-length', 'content-type', 'if-none-match'] as const;

/**
 * Signed uploads in AWS: an S3 presigned PUT of `uploads/<id>` in the mail bucket (under the mail
 * key, by the bucket's default encryption), valid UPLOAD_URL_TTL_SECONDS. The upload's record is
 * under the user's partition, so only the user who asked can attach it; `uploads/` expires after a
 * day by the bucket's lifecycle rule.
 */
export function createS3UploadSigner(options: { s3: S3Client; bucket: string; clock: Clock }): UploadSigner {
  return {
    async sign(subject) {
      if (!subject.key.startsWith(UPLOADS_PREFIX) || subject.key.includes('..'))
        throw new Error(`an upload's key must be below ${UPLOADS_PREFIX}`);
      if (subject.size > subject.maxBytes || subject.size < 0)
        throw new Error(`upload ${subject.uploadId}: ${subject.size} bytes is over its limit`);
      const signingDate = options.clock.now();
      const url = await getSignedUrl(
        options.s3,
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: subject.key,
          ContentType: subject.contentType,
          ContentLength: subject.size,
          IfNoneMatch: '*',
        }),
        {
          expiresIn: UPLOAD_URL_TTL_SECONDS,
          signingDate,
          signableHeaders: new Set(UPLOAD_SIGNED_HEADERS),
          // Kept as headers, not moved into the query string, so they are part of what the browser sends.
          unhoistableHeaders: new Set(['if-none-match']),
        },
      );
      return {
        url,
        // Content-Length is the browser's to set (a script may not); it must equal the signed size.
        headers: { 'content-type': subject.contentType, 'if-none-match': '*' },
        expiresAt: new Date(signingDate.getTime() + UPLOAD_URL_TTL_SECONDS * 1000).toISOString(),
      };
    },
  };
}
