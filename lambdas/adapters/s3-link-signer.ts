import {
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { authoriseMessage, fetchLinkedPart, INLINE_IMAGE_TYPES, type MailboxDeps } from '../core/mailbox.js';
import { LinkError } from '../core/signed-links.js';
import type { LinkSigner, LinkSubject, SignedLink } from '../ports.js';
import { ATTACHMENTS_PREFIX } from '../storage-layout.js';

/** What the signer needs: the bucket, and the mailbox's deps to check the subject again and read parts. */
export interface S3LinkSignerDeps extends Omit<MailboxDeps, 'links'> {
  s3: S3Client;
  bucket: string;
}

/** The key an extracted attachment is kept under until the lifecycle rule expires it. */
export function attachmentKey(messageId: string, part: number): string {
  return `${ATTACHMENTS_PREFIX}${encodeURIComponent(messageId)}/${part}`;
}

/** A file name safe inside a quoted header value: no quotes, controls or separators to inject with. */
export function asciiFilename(name: string): string {
  const safe = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._ ()-]/g, '_')
    .replace(/^[.\s]+/, '')
    .slice(0, 100);
  return safe === '' ? 'download' : safe;
}

/**
 * `Content-Disposition` for a download: the ASCII fallback and the real name as RFC 8187
 * `filename*` (percent-encoded, so nothing in it is read as syntax; control characters, which no
 * real file name has, become spaces).
 */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const encoded = encodeURIComponent(filename.replace(/\p{Cc}+/gu, ' ').slice(0, 200)).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${asciiFilename(filename)}"; filename*=UTF-8''${encoded}`;
}

/**
 * Links as S3 presigned GET URLs, so a download never passes through a Lambda response (6 MB limit)
 * and the API's origin never serves mail content. The raw message is signed where SES stored it.
 * An attachment is first extracted from its message to `attachments/<message id>/<index>` (once:
 * a later link finds it there) and that object is signed; a lifecycle rule deletes the copies after
 * a day. S3 answers with the `Content-Type` and `Content-Disposition` the URL carries: an image type
 * that cannot carry script is shown inline, anything else downloads as `application/octet-stream`,
 * so a hostile HTML attachment never renders, and never on the app's origin either way.
 *
 * The URL holds the function's temporary credentials' signature: it stops working at its expiry
 * or when those credentials expire, whichever comes first.
 */
export function createS3LinkSigner(deps: S3LinkSignerDeps): LinkSigner {
  const ttl = deps.config.webmail.linkTtlSeconds;

  async function extracted(subject: LinkSubject & { part: number }) {
    const key = attachmentKey(subject.messageId, subject.part);
    try {
      const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
      const filename = head.Metadata?.filename;
      if (head.ContentType && filename !== undefined) {
        return { key, contentType: head.ContentType, filename: decodeURIComponent(filename) };
      }
    } catch (err) {
      if (!(err instanceof NotFound) && (err as Error).name !== 'NotFound') throw err;
    }
    const part = await fetchLinkedPart(deps, subject);
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: key,
        Body: part.body,
        ContentType: part.contentType,
        ContentLength: part.body.length,
        // Metadata travels as HTTP headers: ASCII only.
        Metadata: { filename: encodeURIComponent(part.filename) },
      }),
    );
    deps.log.info('attachment extracted for a link', {
      messageId: subject.messageId,
      part: subject.part,
      bytes: part.body.length,
    });
    return { key, contentType: part.contentType, filename: part.filename };
  }

  return {
    async sign(subject): Promise<SignedLink> {
      // The caller checked the user may see the message; check the delivery again, as a local
      // link is checked when used, since this URL is not checked by anything of ours later.
      const { message } = await authoriseMessage(deps, { addresses: [subject.address] }, subject.messageId);
      let key: string;
      let contentType: string;
      let disposition: string;
      if (subject.part === 'raw') {
        key = message.rawKey;
        contentType = 'message/rfc822';
        disposition = contentDisposition('attachment', `${subject.messageId}.eml`);
      } else {
        const part = await extracted({ ...subject, part: subject.part });
        key = part.key;
        const inline = INLINE_IMAGE_TYPES.has(part.contentType);
        contentType = inline ? part.contentType : 'application/octet-stream';
        disposition = contentDisposition(inline ? 'inline' : 'attachment', part.filename);
      }
      const expiresAt = new Date(deps.clock.now().getTime() + ttl * 1000);
      const url = await getSignedUrl(
        deps.s3,
        new GetObjectCommand({
          Bucket: deps.bucket,
          Key: key,
          ResponseContentType: contentType,
          ResponseContentDisposition: disposition,
          ResponseCacheControl: 'private, no-store',
        }),
        { expiresIn: ttl, signingDate: deps.clock.now() },
      );
      return { url, expiresAt: expiresAt.toISOString() };
    },
    verify() {
      throw new LinkError(
        'LINK_INVALID',
        'this deployment signs download links with S3: ask the webmail for a new link',
      );
    },
  };
}
