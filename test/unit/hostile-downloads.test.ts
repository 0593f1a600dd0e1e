import { readFileSync } from 'node:fs';
import { validateHeaderValue } from 'node:http';
import { describe, expect, it } from 'vitest';
import { linkResponseSchema, messageDetailSchema } from '../../lambdas/webmail/schemas.js';
import { webmailHarness } from '../support/webmail.js';

const HOSTILE = new URL('../fixtures/hostile/header-injection.eml', import.meta.url);

/** Alice's mailbox with the message whose subject, sender and file names try to inject headers and markup. */
async function hostile() {
  const h = await webmailHarness();
  const id = await h.receive(readFileSync(HOSTILE), { recipients: ['alice@example.com'] });
  const detail = messageDetailSchema.parse((await h.call('GET', `/mail/api/messages/${id}`)).body);
  const download = async (part: number) => {
    const link = linkResponseSchema.parse(
      (await h.call('GET', `/mail/api/messages/${id}/links`, { query: { part: String(part) } })).body,
    );
    return h.call('GET', link.url);
  };
  return { h, id, detail, download };
}

describe('GET /mail/api/messages/{id} with injected headers', () => {
  it('returns the decoded subject and names as data, and every header value on one line', async () => {
    const { detail } = await hostile();
    // What the sender encoded is what the app gets, as text to show as text; nothing is re-parsed.
    expect(detail.subject).toBe(
      "Invoice\r\nBcc: everyone@example.com\r\n<script>alert('subject')</script><img src=x onerror=alert(1)>",
    );
    expect(detail.from).toContain("<img src=x onerror=alert('from')>");
    expect(detail.html).toBeNull();
    for (const h of detail.headers) expect(h.value, h.name).not.toMatch(/[\r\n]/);
    expect(detail.headers.filter((h) => /^(?:bcc|x-injected)$/i.test(h.name))).toEqual([]);
    expect(detail.attachments.map((a) => a.filename)).toEqual([
      '../../../etc/passwd',
      'evil"\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>.html',
      "<img src=x onerror=alert('file')>.html",
      'report.pdf"; x="y',
    ]);
  });
});

describe('serveLinkedFile with hostile file names', () => {
  it('sends every part as a download whose headers a client parses as one safe value each', async () => {
    const { detail, download } = await hostile();
    for (const a of detail.attachments) {
      const res = await download(a.index);
      expect(res.status, a.filename ?? '').toBe(200);
      for (const [name, value] of Object.entries(res.headers)) {
        // Node refuses to send a header value with CR, LF or other controls: none may be here.
        expect(() => validateHeaderValue(name, String(value)), name).not.toThrow();
      }
      const disposition = res.headers['content-disposition'] as string;
      const m = /^attachment; filename="([^"]*)"; filename\*=UTF-8''([^"\s;]+)$/.exec(disposition);
      expect(m, disposition).not.toBeNull();
      const [, ascii = '', encoded = ''] = m ?? [];
      // The plain name has no separator, quote or markup a browser or shell could act on.
      expect(ascii).toMatch(/^[A-Za-z0-9._ ()-]+$/);
      expect(ascii.startsWith('.')).toBe(false);
      // The RFC 8187 name decodes to the real one with its controls blanked, never to more headers.
      expect(decodeURIComponent(encoded)).toBe((a.filename ?? '').replace(/\p{Cc}+/gu, ' '));
      expect(res.headers).toMatchObject({
        'content-type': 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      });
    }
  });

  it('keeps a path in a file name out of the plain name', async () => {
    const { download } = await hostile();
    const disposition = (await download(0)).headers['content-disposition'] as string;
    expect(disposition).toMatch(/^attachment; filename="_\.\._\.\._etc_passwd"; /);
  });
});
