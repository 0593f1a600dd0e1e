import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3UploadSigner } from '../../lambdas/adapters/s3-upload-signer.js';
import { UPLOAD_URL_TTL_SECONDS } from '../../lambdas/core/sending/uploads.js';

const s3 = new S3Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
});
const now = new Date('2025-03-01T10:00:00.000Z');
const signer = createS3UploadSigner({ s3, bucket: 'mail-bucket', clock: { now: () => now } });
const subject = {
  user: 'ana',
  uploadId: 'u20250301T100000000Z0a1b2c',
  key: 'uploads/u20250301T100000000Z0a1b2c',
  maxBytes: 28_000_000,
  size: 4242,
  contentType: 'application/pdf',
};

describe('createS3UploadSigner', () => {
  it('signs a PUT of the upload key over its size, its type and create-only', async () => {
    const signed = await signer.sign(subject);
    const url = new URL(signed.url);
    expect(url.hostname).toBe('mail-bucket.s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe(`/${subject.key}`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'host', 'if-none-match']),
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(UPLOAD_URL_TTL_SECONDS));
    expect(signed.expiresAt).toBe(new Date(now.getTime() + UPLOAD_URL_TTL_SECONDS * 1000).toISOString());
    // The browser sends these itself; content-length is set by the browser from the file.
    expect(signed.headers).toEqual({ 'content-type': 'application/pdf', 'if-none-match': '*' });
  });

  it('never signs a key outside uploads/ or a size over the limit', async () => {
    await expect(signer.sign({ ...subject, key: 'raw/someone-elses-mail' })).rejects.toThrow(/uploads\//);
    await expect(signer.sign({ ...subject, key: 'uploads/../raw/x' })).rejects.toThrow(/uploads\//);
    await expect(signer.sign({ ...subject, size: subject.maxBytes + 1 })).rejects.toThrow(/over its limit/);
  });
});
