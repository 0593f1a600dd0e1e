import { rm } from 'node:fs/promises';
import nodemailer from 'nodemailer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import type { ContinuityEvent } from '../../lambdas/core/continuity.js';
import type { ContinuityStatus } from '../../lambdas/core/continuity-service.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, testConfig } from '../support/runtime.js';

// The local runtime as `npm start` runs it: its own probe timer and the real clock. In AWS the
// probe function runs one at a time (reserved concurrency 1), so only one hand-over ever runs;
// the local runtime must keep to that while the probe timer and a revoke both start hand-overs.

const HELD = 40;
const PROBE_EVERY_MS = 25;

describe('local runtime: probe timer during a hand-over', () => {
  let primary: TestPrimary;
  let runtime: Runtime;
  let dataDir: string;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    dataDir = await makeDataDir();
    runtime = await startRuntime({
      config: testConfig(primary, {
        continuity: { autoInvokeAfterMinutes: null, handover: { ratePerSecond: 1000, concurrency: 2 } },
      }),
      dataDir,
      ports: { smtp: 0, api: 0 },
      sweepIntervalMs: 0,
      probeIntervalMs: PROBE_EVERY_MS,
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function call<T>(method: string, path: string): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${runtime.apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${runtime.adminToken}` },
    });
    return (await res.json()) as T;
  }

  async function sendHeldMail(): Promise<void> {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: runtime.smtpPort,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: 1,
      maxMessages: Number.POSITIVE_INFINITY,
    });
    try {
      for (let n = 0; n < HELD; n++) {
        await transport.sendMail({
          envelope: { from: 'sender@sender.example', to: ['alice@example.com'] },
          raw: `Message-ID: <timer-${n}@sender.example>\r\nSubject: ${n}\r\n\r\nbody ${n}\r\n`,
        });
      }
    } finally {
      transport.close();
    }
  }

  async function until(state: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((await call<ContinuityStatus>('GET', '/admin/status')).state !== state) {
      if (Date.now() > end) throw new Error(`still not ${state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Regression: the probe timer ran the hand-over inline while the one the revoke started was
  // still going; each counted only its own releases, so the closed event said 20 of 40.
  it('counts every delivery once in the closed event', { timeout: 60_000 }, async () => {
    await call('POST', '/admin/continuity/invoke');
    await sendHeldMail();
    // Ingest follows each 250 in the background: all 40 are held only once it has run.
    while (runtime.ingestQueue.counts().ingesting > 0) await new Promise((r) => setTimeout(r, 10));

    await call('POST', '/admin/continuity/revoke');
    await until('normal', 30_000);
    await runtime.idle();

    const [event] = (await call<{ events: ContinuityEvent[] }>('GET', '/admin/events?limit=1')).events;
    expect(primary.transactions).toHaveLength(HELD);
    expect(event?.handover).toMatchObject({ total: HELD, released: HELD });
  });
});
