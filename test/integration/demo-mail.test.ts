import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MAIL_MARKER, seedDemoMail } from '../../infra/local/demo-mail.js';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { parseConfig } from '../../lambdas/core/config.js';
import type { HttpEvent } from '../../lambdas/handlers/http/router.js';
import { freePort } from '../support/lifeboat-process.js';
import { ManualClock } from '../support/memory-store.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir } from '../support/runtime.js';

const NOW = new Date('2026-11-20T12:00:00Z');

describe('seedDemoMail', () => {
  let dir: string;
  let rt: Runtime;
  let primary: TestPrimary;
  const clock = new ManualClock(NOW);

  const target = () => ({
    dataDir: rt.layout.dataDir,
    putRaw: (key: string, body: Buffer) => rt.stores.blobs.putRaw(key, body),
    putReceipt: (event: Parameters<Runtime['stores']['receipts']['put']>[0]) => rt.stores.receipts.put(event),
    ingest: (event: Parameters<Runtime['ingest']>[0]) => rt.ingest(event),
  });

  /** The webmail API as Alice, claims already verified (the authorizer's part). */
  async function asAlice(rawPath: string, query: Record<string, string> = {}) {
    const event: HttpEvent = {
      rawPath,
      requestContext: {
        http: { method: 'GET' },
        authorizer: { jwt: { claims: { sub: 'a1', email: 'alice@example.com' } } },
      },
      queryStringParameters: query,
    };
    const res = await rt.webmail.handler(event);
    expect(res.statusCode).toBe(200);
    return JSON.parse(res.body) as { messages: { subject: string; receivedAt: string; state: string }[] };
  }

  beforeAll(async () => {
    dir = await makeDataDir();
    primary = await TestPrimary.start();
    const config = parseConfig({
      organisation: 'Demo mail tests',
      domains: ['example.com'],
      routes: [
        {
          name: 'primary',
          domains: ['example.com'],
          hosts: [{ host: '127.0.0.1', port: primary.port }],
          tls: 'none',
        },
      ],
      webmail: {
        users: [
          { id: 'alice@example.com', name: 'Alice', addresses: ['alice@example.com', 'sales@example.com'] },
          { id: 'bob@example.com', name: 'Bob', addresses: ['bob@example.com'] },
          { id: 'carol@example.com', name: 'Carol', addresses: ['carol@example.com'] },
        ],
      },
      local: { apiPort: await freePort() },
    });
    rt = await startRuntime({
      config,
      dataDir: path.join(dir, 'data'),
      clock,
      ports: { smtp: 0, api: 0 },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      directoryCheckMs: 0,
      indexBatchMs: 0,
      webDist: path.join(dir, 'no-web'),
    });
  });

  afterAll(async () => {
    await rt?.stop();
    await primary?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('fills the staff mailboxes with yesterday’s mail, delivered to the primary, and finds it by search', async () => {
    expect(await seedDemoMail(target(), { domain: 'example.com', now: NOW, log: rt.ctx.log })).toBe(5);
    await rt.idle();
    await rt.webmail.indexQueue.idle();

    const list = await asAlice('/mail/api/messages');
    expect(list.messages.map((m) => m.subject)).toEqual([
      'Photos from the pontoon',
      'Quote for 40 life jackets',
      'Site visit on Thursday',
      'Q3 figures',
      'Harbour News: the spring regatta',
    ]);
    const hoursAgo = (iso: string) => (NOW.getTime() - Date.parse(iso)) / 3_600_000;
    for (const m of list.messages) {
      expect(hoursAgo(m.receivedAt)).toBeGreaterThanOrEqual(18);
      expect(hoursAgo(m.receivedAt)).toBeLessThanOrEqual(30);
      expect(m.state).toBe('delivered');
    }
    expect(primary.transactions.length).toBeGreaterThanOrEqual(5);

    const found = await asAlice('/mail/api/search', { q: 'from:bob has:attachment' });
    expect(found.messages.map((m) => m.subject)).toEqual(['Photos from the pontoon', 'Q3 figures']);
  });

  it('adds nothing on the next start: the data folder remembers it was done', async () => {
    expect(existsSync(path.join(rt.layout.dataDir, DEMO_MAIL_MARKER))).toBe(true);
    expect(await seedDemoMail(target(), { domain: 'example.com', now: NOW, log: rt.ctx.log })).toBe(0);
    expect((await asAlice('/mail/api/messages')).messages).toHaveLength(5);
  });
});
