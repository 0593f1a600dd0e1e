import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import type { Clock, UploadSigner, UploadSubject } from '../../ports.js';
import type { UploadRequest, UploadTicket } from '../../webmail/schemas.js';
import { MAX_ATTACHMENT_TOTAL_BYTES, uploadRequestSchema } from '../../webmail/schemas.js';
import type { MailboxUser } from '../directory.js';
import { ConflictError, NotFoundError } from '../errors.js';
import {
  expiresAfterDays,
  newSendingId,
  SendError,
  type SendingDeps,
  UPLOADS_PREFIX,
  type UploadData,
  type UploadRecord,
} from './records.js';

/**
 * How long a signed upload URL works: a 28 MB file takes about 2.5 minutes on a 1.6 Mbit/s phone
 * connection; a quarter of an hour covers a slow one while a leaked URL soon stops working.
 */
export const UPLOAD_URL_TTL_SECONDS = 900;
/** An upload not sent within a day is dropped (its record here, its file by the storage's lifecycle rule). */
export const UPLOAD_RECORD_DAYS = 1;
/** The local runtime's upload route; a signed token follows it. */
export const UPLOAD_PATH = '/mail/api/upload/';

type UploadDeps = Pick<SendingDeps, 'sending' | 'sendingBlobs' | 'uploads' | 'clock' | 'log'>;

/**
 * A signed upload for one file: the record (pending) first, then the URL. The file's announced
 * size is refused at once above the limit, and the URL takes no more than that limit.
 * @throws SendError ATTACHMENT_TOO_LARGE
 */
export async function requestUpload(
  deps: UploadDeps,
  user: MailboxUser,
  input: UploadRequest,
): Promise<UploadTicket> {
  const body = uploadRequestSchema.parse(input);
  if (body.size > MAX_ATTACHMENT_TOTAL_BYTES) {
    throw new SendError(
      'ATTACHMENT_TOO_LARGE',
      `a message carries at most ${MAX_ATTACHMENT_TOTAL_BYTES / 1_000_000} MB of attachments: SES sends at most 40 MB including encoding, which base64 makes a third larger`,
    );
  }
  const now = deps.clock.now();
  const id = newSendingId(now).replace(/[^A-Za-z0-9_-]/g, '');
  const expiresAt = new Date(now.getTime() + UPLOAD_URL_TTL_SECONDS * 1000).toISOString();
  const record: UploadRecord = {
    kind: 'upload',
    user: user.id,
    id,
    version: 1,
    dueAt: null,
    expiresAt: expiresAfterDays(now, UPLOAD_RECORD_DAYS),
    data: {
      createdAt: now.toISOString(),
      // Only the name: a path from the browser's file picker is never kept.
      filename: body.filename.split(/[\\/]/).pop() || 'attachment',
      contentType: body.contentType,
      declaredSize: body.size,
      size: null,
      state: 'pending',
      draftId: body.draftId ?? null,
      expiresAt,
    },
  };
  await deps.sending.putSending(record, 0);
  const signed = await deps.uploads.sign({
    user: user.id,
    uploadId: id,
    key: `${UPLOADS_PREFIX}${id}`,
    maxBytes: MAX_ATTACHMENT_TOTAL_BYTES,
    size: body.size,
    contentType: body.contentType,
  });
  deps.log.info('webmail upload signed', { user: user.id, uploadId: id, bytes: body.size });
  return {
    id,
    url: signed.url,
    method: 'PUT',
    headers: signed.headers,
    expiresAt: signed.expiresAt,
    maxBytes: MAX_ATTACHMENT_TOTAL_BYTES,
  };
}

/**
 * Takes the bytes of a signed upload (the local runtime's upload route; in AWS they go straight
 * to S3). The URL works once: the upload is claimed (pending to receiving) with a conditional
 * write before a byte is stored, so a second PUT, at once or later, is refused.
 * @param read reads the request body, refusing more than `maxBytes`
 * @throws SendError UPLOAD_USED, ATTACHMENT_TOO_LARGE; NotFoundError
 */
export async function receiveUpload(
  deps: UploadDeps,
  subject: Pick<UploadSubject, 'user' | 'uploadId' | 'maxBytes'>,
  read: (maxBytes: number) => Promise<Buffer>,
): Promise<{ id: string; size: number }> {
  const rec = await deps.sending.getSending<UploadData>('upload', subject.user, subject.uploadId);
  if (!rec) throw new NotFoundError(`upload ${subject.uploadId}`);
  if (rec.data.state !== 'pending')
    throw new SendError('UPLOAD_USED', 'this upload URL was used already: ask for a new one');
  const claimed: UploadRecord = {
    ...rec,
    version: rec.version + 1,
    data: { ...rec.data, state: 'receiving' },
  };
  try {
    await deps.sending.putSending(claimed, rec.version);
  } catch (err) {
    if (err instanceof ConflictError)
      throw new SendError('UPLOAD_USED', 'this upload URL was used already: ask for a new one');
    throw err;
  }
  let bytes: Buffer;
  try {
    bytes = await read(subject.maxBytes);
    await deps.sendingBlobs.putRaw(`${UPLOADS_PREFIX}${subject.uploadId}`, bytes);
  } catch (err) {
    // Nothing was stored: the URL may be tried again while it is valid.
    await deps.sending.putSending(
      { ...claimed, version: claimed.version + 1, data: { ...rec.data, state: 'pending' } },
      claimed.version,
    );
    throw err;
  }
  await deps.sending.putSending(
    {
      ...claimed,
      version: claimed.version + 1,
      data: { ...claimed.data, state: 'uploaded', size: bytes.length },
    },
    claimed.version,
  );
  deps.log.info('webmail upload received', {
    user: subject.user,
    uploadId: subject.uploadId,
    bytes: bytes.length,
  });
  return { id: subject.uploadId, size: bytes.length };
}

/** Tokens start with their format version, so a later format can be told apart and refused. */
const VERSION = 'u1';

const payloadSchema = z.strictObject({
  u: z.string().min(1).max(254),
  i: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  n: z.number().int().positive(),
  e: z.number().int().positive(),
});

/**
 * The local runtime's signed uploads: `<origin>/mail/api/upload/u1.<payload>.<HMAC-SHA256>`,
 * naming the user, the upload and its byte limit, valid UPLOAD_URL_TTL_SECONDS. It stands in for
 * an S3 presigned PUT; the key is the download links' (`<dataDir>/link-key`).
 */
export function createHmacUploadSigner(options: {
  key: Buffer;
  origin: () => string;
  clock: Clock;
}): UploadSigner & {
  verify(token: string): Pick<UploadSubject, 'user' | 'uploadId' | 'maxBytes'>;
} {
  const mac = (text: string) => createHmac('sha256', options.key).update(`upload:${text}`).digest();
  return {
    async sign(subject) {
      const expires = new Date(options.clock.now().getTime() + UPLOAD_URL_TTL_SECONDS * 1000);
      const payload = {
        u: subject.user,
        i: subject.uploadId,
        n: subject.maxBytes,
        e: Math.floor(expires.getTime() / 1000),
      };
      const body = `${VERSION}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return {
        url: `${options.origin()}${UPLOAD_PATH}${body}.${mac(body).toString('base64url')}`,
        headers: { 'content-type': subject.contentType },
        expiresAt: expires.toISOString(),
      };
    },
    verify(token) {
      const parts = token.split('.');
      const invalid = () =>
        new SendError('UPLOAD_INVALID', 'this upload URL was not signed here or was altered');
      if (token.length > 1024 || parts.length !== 3 || parts[0] !== VERSION) throw invalid();
      const body = `${parts[0]}.${parts[1]}`;
      const given = Buffer.from(parts[2] as string, 'base64url');
      const want = mac(body);
      if (given.length !== want.length || !timingSafeEqual(given, want)) throw invalid();
      let payload: z.infer<typeof payloadSchema>;
      try {
        payload = payloadSchema.parse(
          JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')),
        );
      } catch {
        throw invalid();
      }
      if (payload.e * 1000 <= options.clock.now().getTime())
        throw new SendError('UPLOAD_EXPIRED', 'this upload URL has expired: ask for a new one');
      return { user: payload.u, uploadId: payload.i, maxBytes: payload.n };
    },
  };
}
