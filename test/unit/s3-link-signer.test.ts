import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  attachmentKey,
  contentDisposition,
  createS3LinkSigner,
} from '../../lambdas/adapters/s3-link-signer.js';
import { compose, webmailHarness } from '../support/webmail.js';

const s3mock = mockClient(S3Client);
const BUCKET = 'lifeboat-mail';

async function setup() {
  const h = await webmailHarness();
  const s3 = new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  const signer = createS3LinkSigner({ ...h.ctx, s3, bucket: BUCKET });
  const raw = await compose({
    from: 'bob@example.org',
    to: 'alice@example.com',
    subject: 'Invoice',
    text: 'Attached.',
    attachments: [
      {
        filename: 'invoice"\r\nX-Injected: 1.html',
        content: '<script>alert(1)</script>',
        contentType: 'text/html',
      },
      { filename: 'logo.png', content: Buffer.from('89504e47', 'hex'), contentType: 'image/png' },
    ],
  });
  const id = await h.receive(raw, { recipients: ['alice@example.com'] });
  return { h, signer, id };
}

const params = (url: string) => new URL(url).searchParams;

beforeEach(() => {
  s3mock.reset();
  s3mock.on(HeadObjectCommand).rejects(new NotFound({ message: 'not found', $metadata: {} }));
  s3mock.on(PutObjectCommand).resolves({});
});

describe('createS3LinkSigner', () => {
  it('presigns the raw message where SES stored it, as a download that lives linkTtlSeconds', async () => {
    const { h, signer, id } = await setup();
    const link = await signer.sign({
      user: 'alice',
      messageId: id,
      part: 'raw',
      address: 'alice@example.com',
    });
    const url = new URL(link.url);
    expect(`${url.hostname}${url.pathname}`).toMatch(new RegExp(`${BUCKET}.*/raw/${id}$`));
    expect(params(link.url).get('X-Amz-Expires')).toBe(String(h.config.webmail.linkTtlSeconds));
    expect(params(link.url).get('response-content-type')).toBe('message/rfc822');
    expect(params(link.url).get('response-content-disposition')).toMatch(/^attachment; filename="/);
    expect(Date.parse(link.expiresAt) - h.clock.now().getTime()).toBe(h.config.webmail.linkTtlSeconds * 1000);
    expect(s3mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('extracts an attachment once to attachments/ and serves HTML as an inert download', async () => {
    const { signer, id } = await setup();
    const link = await signer.sign({ user: 'alice', messageId: id, part: 0, address: 'alice@example.com' });
    const put = s3mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Key).toBe(attachmentKey(id, 0));
    expect(Buffer.from(put?.Body as Buffer).toString()).toBe('<script>alert(1)</script>');
    expect(link.url).toContain(encodeURIComponent(attachmentKey(id, 0)).replace(/%2F/g, '/'));
    expect(params(link.url).get('response-content-type')).toBe('application/octet-stream');
    const disposition = params(link.url).get('response-content-disposition') ?? '';
    expect(disposition).toMatch(/^attachment; /);
    expect(disposition).not.toMatch(/[\r\n]/);
  });

  it('shows an image inline with its own type', async () => {
    const { signer, id } = await setup();
    const link = await signer.sign({ user: 'alice', messageId: id, part: 1, address: 'alice@example.com' });
    expect(params(link.url).get('response-content-type')).toBe('image/png');
    expect(params(link.url).get('response-content-disposition')).toMatch(/^inline; filename="logo.png"/);
  });

  it('signs an attachment already extracted without reading the message again', async () => {
    const { signer, id } = await setup();
    s3mock
      .on(HeadObjectCommand)
      .resolves({ ContentType: 'image/png', Metadata: { filename: encodeURIComponent('logo.png') } });
    await signer.sign({ user: 'alice', messageId: id, part: 1, address: 'alice@example.com' });
    expect(s3mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('refuses a message not delivered to the address the link names, as if it did not exist', async () => {
    const { signer, id } = await setup();
    await expect(
      signer.sign({ user: 'bob', messageId: id, part: 'raw', address: 'bob@example.com' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      signer.sign({ user: 'alice', messageId: id, part: 7, address: 'alice@example.com' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('verifies no files-route token: S3 checks its own links', async () => {
    const { signer } = await setup();
    expect(() => signer.verify('v1.abc.def')).toThrow(expect.objectContaining({ code: 'LINK_INVALID' }));
  });
});

describe('contentDisposition', () => {
  it('keeps quotes and line breaks out of the header and the real name in filename*', () => {
    const value = contentDisposition('attachment', 'a"b\r\nc.pdf');
    expect(value).toBe(`attachment; filename="a_b__c.pdf"; filename*=UTF-8''a%22b%20c.pdf`);
  });
});
