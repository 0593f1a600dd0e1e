import { describe, expect, it } from 'vitest';
import {
  errorResponseSchema,
  flagsResponseSchema,
  linkResponseSchema,
  meResponseSchema,
  messageDetailSchema,
  messagePageSchema,
} from '../../lambdas/webmail/schemas.js';
import { compose, webmailHarness } from '../support/webmail.js';

const BOB = { 'cognito:username': 'bob' };
const STRANGER = { sub: 'u-9', email: 'stranger@example.com' };
const VIRUS = { spam: 'PASS', virus: 'FAIL', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' } as const;

/** Alice's mailbox: a report with a PDF from before the outage, mail held during it, Bob's own mail. */
async function api() {
  const h = await webmailHarness();
  const report = await h.receive(
    await compose({
      from: 'Bob Partner <bob@partner.example>',
      to: 'alice@example.com',
      subject: 'Q3 shipping report',
      text: 'Volumes are up 4% on Q2.',
      attachments: [{ filename: 'q3-shipping.pdf', content: Buffer.from('%PDF-1.4 report') }],
    }),
    { recipients: ['alice@example.com'], minutesAgo: 2 * 24 * 60, state: 'delivered' },
  );
  await h.store.putHold({ scope: '*', reason: 'continuity', since: h.clock.now().toISOString(), by: 'ops' });
  const held = await h.receive(
    await compose({
      from: 'carol@example.org',
      to: 'sales@example.com',
      subject: 'Order 1187',
      text: 'Please confirm.',
    }),
    { recipients: ['sales@example.com'], minutesAgo: 30 },
  );
  const bobs = await h.receive(
    await compose({
      from: 'hr@example.org',
      to: 'bob@example.com',
      subject: 'Salary review',
      text: 'Confidential.',
    }),
    { recipients: ['bob@example.com'], minutesAgo: 10 },
  );
  return { ...h, ids: { report, held, bobs } };
}

/** The token at the end of a signed link's URL. */
const tokenOf = (url: string) => url.slice(url.lastIndexOf('/') + 1);

describe('webmail API: who may call it', () => {
  it('answers 401 without verified claims, and when the claims name no user', async () => {
    const { call } = await api();
    const none = await call('GET', '/mail/api/messages', { claims: null });
    expect(none.status).toBe(401);
    expect(errorResponseSchema.parse(none.body)).toMatchObject({
      error: 'UNAUTHENTICATED',
      message: expect.stringMatching(/sign in/),
    });
    expect((await call('GET', '/mail/api/me', { claims: { 'cognito:groups': ['staff'] } })).status).toBe(401);
  });

  it('answers 403 with a clear message to a signed-in user who owns no address', async () => {
    const { call } = await api();
    for (const path of ['/mail/api/me', '/mail/api/messages', '/mail/api/search']) {
      const res = await call('GET', path, { claims: STRANGER, query: { q: 'x' } });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: 'FORBIDDEN',
        message:
          'webmail: stranger@example.com has no mailbox here; ask an administrator to add your addresses to the staff directory',
      });
    }
  });

  it('answers 404 for an unknown endpoint and 405 for a known one’s other methods', async () => {
    const { call, ids } = await api();
    expect((await call('GET', '/mail/api/nothing')).status).toBe(404);
    expect((await call('DELETE', `/mail/api/messages/${ids.report}`)).status).toBe(405);
    expect((await call('GET', `/mail/api/messages/${ids.report}/flags`)).status).toBe(405);
  });
});

describe('GET /mail/api/me', () => {
  it('names the user, their addresses (primary first) and the history window', async () => {
    const { call } = await api();
    const res = await call('GET', '/mail/api/me');
    expect(res.status).toBe(200);
    expect(meResponseSchema.parse(res.body)).toEqual({
      id: 'alice',
      name: 'Alice Smith',
      addresses: ['alice@example.com', 'sales@example.com'],
      historyDays: 30,
    });
  });
});

describe('GET /mail/api/messages', () => {
  it('lists mail from before the outage and mail held during it, never another user’s', async () => {
    const { call, ids } = await api();
    const res = await call('GET', '/mail/api/messages');
    expect(res.status).toBe(200);
    const page = messagePageSchema.parse(res.body);
    expect(page.messages.map((m) => [m.id, m.subject, m.state])).toEqual([
      [ids.held, 'Order 1187', 'held'],
      [ids.report, 'Q3 shipping report', 'delivered'],
    ]);
    expect(page.cursor).toBeNull();
  });

  it('never lists quarantined or probe messages', async () => {
    const h = await api();
    await h.receive(await compose({ from: 'x@example.org', to: 'alice@example.com', subject: 'Malware' }), {
      recipients: ['alice@example.com'],
      verdicts: VIRUS,
    });
    await h.receive(await compose({ from: 'x@example.org', to: 'alice@example.com', subject: 'Probe' }), {
      recipients: ['alice@example.com'],
      probe: true,
    });
    const subjects = messagePageSchema
      .parse((await h.call('GET', '/mail/api/messages')).body)
      .messages.map((m) => m.subject);
    expect(subjects).toEqual(['Order 1187', 'Q3 shipping report']);
  });

  it('pages with limit and the cursor it returns', async () => {
    const { call, ids } = await api();
    const first = messagePageSchema.parse(
      (await call('GET', '/mail/api/messages', { query: { limit: '1' } })).body,
    );
    expect(first.messages.map((m) => m.id)).toEqual([ids.held]);
    const second = messagePageSchema.parse(
      (await call('GET', '/mail/api/messages', { query: { limit: '1', cursor: first.cursor as string } }))
        .body,
    );
    expect(second.messages.map((m) => m.id)).toEqual([ids.report]);
  });

  it('answers 400 naming a bad limit, a foreign cursor and an unknown parameter', async () => {
    const { call } = await api();
    const res = await call('GET', '/mail/api/messages', { query: { limit: '0', sort: 'asc' } });
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual(
      ['limit: Too small: expected number to be >=1', 'sort: Unrecognized key: "sort"'].map((p) =>
        expect.stringContaining(p.split(':')[0] as string),
      ),
    );
    expect((await call('GET', '/mail/api/messages', { query: { cursor: 'forged' } })).status).toBe(400);
  });
});

describe('GET /mail/api/messages/{id}', () => {
  it('returns the message to a recipient, with its attachments listed', async () => {
    const { call, ids } = await api();
    const res = await call('GET', `/mail/api/messages/${ids.report}`);
    expect(res.status).toBe(200);
    const detail = messageDetailSchema.parse(res.body);
    expect(detail).toMatchObject({
      id: ids.report,
      subject: 'Q3 shipping report',
      text: 'Volumes are up 4% on Q2.',
    });
    expect(detail.attachments.map((a) => [a.index, a.filename])).toEqual([[0, 'q3-shipping.pdf']]);
  });

  it('answers 404 for another user’s message exactly as for one that does not exist', async () => {
    const { call, ids } = await api();
    const other = await call('GET', `/mail/api/messages/${ids.bobs}`);
    const missing = await call('GET', '/mail/api/messages/m9999');
    expect(other.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(other.body).toEqual({ error: 'NOT_FOUND', message: `message ${ids.bobs} not found` });
    expect(missing.body).toEqual({ error: 'NOT_FOUND', message: 'message m9999 not found' });
    expect((await call('GET', `/mail/api/messages/${ids.bobs}`, { claims: BOB })).status).toBe(200);
  });
});

describe('POST /mail/api/messages/{id}/flags', () => {
  it('marks a message read and flagged for this user only, as the list then shows', async () => {
    const { call, ids } = await api();
    const res = await call('POST', `/mail/api/messages/${ids.held}/flags`, {
      body: { seen: true, flagged: true },
    });
    expect(res.status).toBe(200);
    expect(flagsResponseSchema.parse(res.body)).toEqual({ id: ids.held, seen: true, flagged: true });
    const unread = await call('POST', `/mail/api/messages/${ids.held}/flags`, { body: { seen: false } });
    expect(unread.body).toEqual({ id: ids.held, seen: false, flagged: true });
    const listed = messagePageSchema.parse((await call('GET', '/mail/api/messages')).body).messages[0];
    expect(listed).toMatchObject({ id: ids.held, seen: false, flagged: true, state: 'held' });
  });

  it('answers 400 for an empty, unknown or malformed body, and 404 for another user’s message', async () => {
    const { call, ids } = await api();
    const path = `/mail/api/messages/${ids.held}/flags`;
    expect((await call('POST', path, { body: {} })).body).toMatchObject({
      error: 'VALIDATION_FAILED',
      problems: ['(root): give seen, flagged or both'],
    });
    expect((await call('POST', path, { body: { seen: 'yes' } })).status).toBe(400);
    expect((await call('POST', path, { body: { seen: true, deleted: true } })).status).toBe(400);
    expect((await call('POST', path, { body: '{not json' })).status).toBe(400);
    expect(
      (await call('POST', `/mail/api/messages/${ids.bobs}/flags`, { body: { seen: true } })).status,
    ).toBe(404);
  });
});

describe('GET /mail/api/messages/{id}/links and /mail/api/files/{token}', () => {
  it('gives a short-lived link that downloads the attachment without the bearer token', async () => {
    const { call, ids, clock } = await api();
    const res = await call('GET', `/mail/api/messages/${ids.report}/links`, { query: { part: '0' } });
    expect(res.status).toBe(200);
    const link = linkResponseSchema.parse(res.body);
    expect(link.expiresAt).toBe(new Date(clock.now().getTime() + 300_000).toISOString());
    expect(link.url).toMatch(/^\/mail\/api\/files\/v1\./);
    const file = await call('GET', link.url, { claims: null });
    expect(file.status).toBe(200);
    expect(file.bytes.toString()).toBe('%PDF-1.4 report');
    expect(file.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="q3-shipping.pdf"; filename*=UTF-8''q3-shipping.pdf`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'cache-control': 'private, no-store',
    });
  });

  it('downloads the raw message, bytes exact', async () => {
    const { call, ids, blobs } = await api();
    const link = linkResponseSchema.parse(
      (await call('GET', `/mail/api/messages/${ids.held}/links`, { query: { part: 'raw' } })).body,
    );
    const file = await call('GET', link.url);
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe('message/rfc822');
    expect(file.bytes.equals(await blobs.getRaw(`raw/${ids.held}`))).toBe(true);
  });

  it('answers 404 for a link to another user’s message or to an attachment it does not have, 400 for a bad part', async () => {
    const { call, ids } = await api();
    const path = (id: string) => `/mail/api/messages/${id}/links`;
    expect((await call('GET', path(ids.bobs), { query: { part: 'raw' } })).status).toBe(404);
    expect((await call('GET', path(ids.report), { query: { part: '1' } })).status).toBe(404);
    expect((await call('GET', path(ids.report), { query: { part: 'all' } })).status).toBe(400);
    expect((await call('GET', path(ids.report))).status).toBe(400);
  });

  it('answers 410 for an expired link and 403 for a tampered or guessed one', async () => {
    const { call, ids, clock } = await api();
    const link = linkResponseSchema.parse(
      (await call('GET', `/mail/api/messages/${ids.report}/links`, { query: { part: '0' } })).body,
    );
    const [v, payload, sig] = tokenOf(link.url).split('.') as [string, string, string];
    const forged = JSON.parse(Buffer.from(payload, 'base64url').toString());
    forged.m = ids.bobs;
    forged.a = 'bob@example.com';
    const tampered = `${v}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`;
    const refused = await call('GET', `/mail/api/files/${tampered}`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'LINK_INVALID' });
    expect((await call('GET', '/mail/api/files/v1.eyJ1IjoiYWxpY2UifQ.AAAA')).status).toBe(403);
    clock.advance(300);
    const expired = await call('GET', link.url);
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ error: 'LINK_EXPIRED', message: expect.stringMatching(/expired/) });
  });

  it('answers 403 when someone signed in as another user follows the link, 405 to anything but GET', async () => {
    const { call, ids } = await api();
    const link = linkResponseSchema.parse(
      (await call('GET', `/mail/api/messages/${ids.report}/links`, { query: { part: '0' } })).body,
    );
    const res = await call('GET', link.url, { claims: BOB });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      error: 'FORBIDDEN',
      message: 'this download link was made for another user',
    });
    expect((await call('POST', link.url)).status).toBe(405);
  });

  it('sends a hostile file name as inert text in the header, and an image inline only if it cannot carry script', async () => {
    const h = await api();
    const id = await h.receive(
      await compose({
        from: 'x@example.org',
        to: 'alice@example.com',
        subject: 'Files',
        attachments: [
          {
            filename: 'evil".html\r\nSet-Cookie: a=b',
            content: '<script>alert(1)</script>',
            contentType: 'text/html',
          },
          { filename: 'pic.png', content: Buffer.from('89504e47', 'hex'), contentType: 'image/png' },
          { filename: 'pic.svg', content: '<svg onload="alert(1)"/>', contentType: 'image/svg+xml' },
        ],
      }),
      { recipients: ['alice@example.com'] },
    );
    const fetchPart = async (part: string) => {
      const link = linkResponseSchema.parse(
        (await h.call('GET', `/mail/api/messages/${id}/links`, { query: { part } })).body,
      );
      return h.call('GET', link.url);
    };
    const html = await fetchPart('0');
    expect(html.headers['content-type']).toBe('application/octet-stream');
    const disposition = html.headers['content-disposition'] as string;
    expect(disposition).not.toMatch(/[\r\n]/);
    expect(disposition).toMatch(/^attachment; filename="[^"]*"; filename\*=UTF-8''[^"\s;]+$/);
    expect(disposition).toContain(`filename*=UTF-8''evil%22.html%20Set-Cookie%3A%20a%3Db`);
    expect((await fetchPart('1')).headers).toMatchObject({
      'content-type': 'image/png',
      'content-disposition': expect.stringMatching(/^inline;/),
    });
    expect((await fetchPart('2')).headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-disposition': expect.stringMatching(/^attachment;/),
    });
  });
});

describe('GET /mail/api/search', () => {
  it('finds the user’s mail with operators', async () => {
    const { call, ids } = await api();
    const res = await call('GET', '/mail/api/search', { query: { q: 'from:bob has:attachment' } });
    expect(res.status).toBe(200);
    expect(messagePageSchema.parse(res.body).messages.map((m) => m.id)).toEqual([ids.report]);
    const held = messagePageSchema.parse(
      (await call('GET', '/mail/api/search', { query: { q: 'order' } })).body,
    );
    expect(held.messages.map((m) => [m.id, m.state])).toEqual([[ids.held, 'held']]);
  });

  it('returns nothing for a query that matches only another user’s mail', async () => {
    const { call, ids } = await api();
    const res = await call('GET', '/mail/api/search', { query: { q: 'salary confidential' } });
    expect(res.body).toEqual({ messages: [], cursor: null });
    const bob = await call('GET', '/mail/api/search', { query: { q: 'salary confidential' }, claims: BOB });
    expect(messagePageSchema.parse(bob.body).messages.map((m) => m.id)).toEqual([ids.bobs]);
  });

  it('answers 400 naming what is wrong with the query', async () => {
    const { call } = await api();
    const res = await call('GET', '/mail/api/search', { query: { q: 'before:2026-13-01' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: 'VALIDATION_FAILED',
      problems: ['before:2026-13-01 is not a date; write it as YYYY-MM-DD'],
    });
    expect((await call('GET', '/mail/api/search', { query: { q: '   ' } })).status).toBe(400);
    expect((await call('GET', '/mail/api/search')).status).toBe(400);
  });
});
