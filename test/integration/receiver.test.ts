import net from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RETRY_AFTER_MS } from '../../infra/local/recovery.js';
import { MAX_MESSAGE_BYTES } from '../../lambdas/core/config.js';
import type { Logger } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import { readFixture, routeTo, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

const SITE_VISIT = '<site-visit-20261120@sender.example>';

interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line with its fields. */
function recordingLog(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, message, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

interface SmtpFailure {
  responseCode?: number;
  response?: string;
  command?: string;
}

/** One SMTP transaction with nodemailer's connection, so the envelope (SIZE=) is under the test's control. */
async function transact(
  port: number,
  envelope: { from: string; to: string[]; size?: number },
  body: Buffer | string,
): Promise<string> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, name: 'mta.sender.example' });
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => resolve());
    });
    return await new Promise<string>((resolve, reject) =>
      conn.send(envelope, body, (err, info) => (err ? reject(err) : resolve(info.response))),
    );
  } finally {
    conn.close();
  }
}

/** Speaks SMTP line by line: returns the greeting, then each command's full (multi-line) reply. */
async function dialogue(port: number, commands: string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  const replies: string[] = [];
  let buffer = '';
  let current = '';
  let waiting: (() => void) | null = null;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let eol = buffer.indexOf('\r\n');
    while (eol !== -1) {
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      current += `${line}\r\n`;
      // The last line of a reply has a space after the code (RFC 5321 §4.2.1).
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        replies.push(current);
        current = '';
        waiting?.();
      }
      eol = buffer.indexOf('\r\n');
    }
  });
  const next = (count: number) =>
    new Promise<void>((resolve, reject) => {
      if (replies.length >= count) return resolve();
      const timer = setTimeout(() => reject(new Error(`no reply after ${replies.at(-1)}`)), 5000);
      waiting = () => {
        if (replies.length >= count) {
          clearTimeout(timer);
          waiting = null;
          resolve();
        }
      };
    });
  try {
    await next(1);
    for (const command of commands) {
      socket.write(`${command}\r\n`);
      await next(replies.length + 1);
    }
    return replies;
  } finally {
    socket.destroy();
  }
}

describe('the SMTP receiver (SES stand-in)', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let fixture: Buffer;
  let log: ReturnType<typeof recordingLog>;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    log = recordingLog();
    rt = await startTestRuntime({
      // A second accepted domain, so "the first accepted domain" means something.
      config: testConfig(primary, {
        domains: ['example.com', 'example.org'],
        routes: [routeTo('primary', [primary], { domains: ['example.com', 'example.org'] })],
      }),
      api: true,
      log,
    });
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  async function nothingRecorded() {
    const day = rt.clock.now().toISOString().slice(0, 10);
    expect((await rt.ctx.store.listMessagesByDay(day)).items).toEqual([]);
    expect(Object.values(await rt.ctx.store.countByState()).every((n) => n === 0)).toBe(true);
    expect(primary.sessions).toHaveLength(0);
  }

  it('refuses a recipient outside the accepted domains with 550 at RCPT (no open relay)', async () => {
    const refused = rt.send({ to: ['victim@elsewhere.example'], raw: fixture });

    await expect(refused).rejects.toMatchObject({
      command: 'RCPT TO',
      responseCode: 550,
      response: expect.stringContaining('relay access denied'),
    });
    await nothingRecorded();
  });

  it('accepts the accepted-domain recipients of a mixed envelope and records only them', async () => {
    const sent = await rt.sendAndSettle({
      to: ['alice@example.com', 'victim@elsewhere.example'],
      raw: fixture,
    });

    expect(sent.rejected).toEqual(['victim@elsewhere.example']);
    expect((await rt.message(sent.id))?.recipients).toEqual(['alice@example.com']);
    expect(primary.transactions.map((t) => t.to)).toEqual([['alice@example.com']]);
  });

  it('takes at most 50 recipients per message, as SES does, and asks for the rest later with 452', async () => {
    const to = Array.from({ length: 51 }, (_, i) => `user${i + 1}@example.com`);

    const sent = await rt.sendAndSettle({ to, raw: fixture });

    expect(sent.rejected).toEqual(['user51@example.com']);
    expect((await rt.message(sent.id))?.recipients).toHaveLength(50);
    expect(primary.transactions.map((t) => t.to.length)).toEqual([50]);
  });

  it('advertises the 40 MB limit in EHLO and refuses a larger declared SIZE with 552 at MAIL FROM', async () => {
    // A raw dialogue: nodemailer itself would stop short of MAIL FROM once it saw the SIZE limit.
    const replies = await dialogue(rt.smtpPort, [
      'EHLO mta.sender.example',
      `MAIL FROM:<sender@sender.example> SIZE=${MAX_MESSAGE_BYTES + 1}`,
      'QUIT',
    ]);

    expect(replies[1]).toMatch(new RegExp(`^250[- ]SIZE ${MAX_MESSAGE_BYTES}\\r$`, 'm'));
    expect(replies[2]).toMatch(/^552 /);
    await nothingRecorded();
  });

  it('refuses an undeclared body over 40 MB with 552 after DATA', async () => {
    const line = `${'x'.repeat(998)}\r\n`;
    const big = Buffer.from(
      `Subject: too big\r\n\r\n${line.repeat(Math.ceil((MAX_MESSAGE_BYTES + 1) / line.length))}`,
    );

    const refused = transact(rt.smtpPort, { from: 'sender@sender.example', to: ['alice@example.com'] }, big);

    await expect(refused).rejects.toMatchObject({ responseCode: 552 } satisfies SmtpFailure);
    await nothingRecorded();
  });

  it('answers 451 and records nothing when the raw message cannot be written', async () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    // The receiver holds this object: its writes now fail as on a full disk.
    Object.assign(rt.ctx.blobs, {
      async putRaw() {
        throw full;
      },
    });

    const refused = rt.send({ to: ['alice@example.com'], raw: fixture });

    await expect(refused).rejects.toMatchObject({
      responseCode: 451,
      response: expect.stringContaining('try again later'),
    } satisfies SmtpFailure);
    await nothingRecorded();
  });

  // Regression: a store error after some deliveries were written answered 451 at once; those
  // deliveries were still sent, and the sender's retry (a new message) sent them a second time.
  it('finishes ingest on a retry after a passing store error, so each recipient gets one copy', async () => {
    const store = rt.ctx.store;
    let writes = 0;
    rt.ctx.store = {
      ...store,
      async createDelivery(d) {
        if (++writes === 2) throw new Error('ProvisionedThroughputExceededException');
        return store.createDelivery(d);
      },
    };

    const sent = await rt.sendAndSettle({ to: ['alice@example.com', 'bob@example.com'], raw: fixture });
    await rt.sweepAfter(3600);

    expect((await rt.deliveries(sent.id)).map((d) => d.state)).toEqual(['delivered', 'delivered']);
    expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    expect(primary.copiesFor(SITE_VISIT, 'bob@example.com')).toBe(1);
  });

  describe('a message whose ingest fails after it is durable', () => {
    function ingestKeepsFailing(): () => void {
      const store = rt.ctx.store;
      rt.ctx.store = {
        ...store,
        async putMessage() {
          throw new Error('SQLITE_IOERR: disk I/O error');
        },
      };
      return () => {
        rt.ctx.store = store;
      };
    }

    it('is acknowledged with 250: it is on disk, and its sender must not send it again', async () => {
      ingestKeepsFailing();

      const sent = await rt.send({ to: ['alice@example.com'], raw: fixture });
      await rt.idle();

      expect(sent.response).toMatch(/^250 /);
      expect(await rt.message(sent.id)).toBeUndefined();
      expect(rt.ingestQueue.counts()).toEqual({ ingesting: 0, awaitingRetry: 1 });
    });

    it('is named in the log, by id only', async () => {
      ingestKeepsFailing();

      const sent = await rt.send({ to: ['alice@example.com'], raw: fixture });
      await rt.idle();

      const failure = log.lines.find((l) => l.level === 'error' && l.fields.messageId === sent.id);
      expect(failure?.message).toMatch(/ingest failed/);
      expect(JSON.stringify(log.lines)).not.toMatch(/alice|Site visit/);
    });

    it('is counted in GET /admin/status until a retry records it', async () => {
      const recover = ingestKeepsFailing();
      const status = async () => {
        const res = await fetch(`http://127.0.0.1:${rt.apiPort}/admin/status`, {
          headers: { authorization: `Bearer ${rt.adminToken}` },
        });
        return ((await res.json()) as { unrecorded: unknown }).unrecorded;
      };

      await rt.send({ to: ['alice@example.com'], raw: fixture });
      await rt.idle();
      const before = await status();
      recover();
      rt.clock.advance(RETRY_AFTER_MS / 1000);
      await rt.ingestQueue.retry();

      expect(before).toEqual({ ingesting: 0, awaitingRetry: 1 });
      expect(await status()).toEqual({ ingesting: 0, awaitingRetry: 0 });
    });

    it('is recorded and delivered once by a retry round once the store works again', async () => {
      const recover = ingestKeepsFailing();
      const sent = await rt.send({ to: ['alice@example.com', 'bob@example.com'], raw: fixture });
      await rt.idle();
      recover();

      const tooSoon = await rt.ingestQueue.retry();
      rt.clock.advance(RETRY_AFTER_MS / 1000);
      const due = await rt.ingestQueue.retry();
      await rt.idle();

      expect(tooSoon).toEqual({ retried: 0, recorded: 0 });
      expect(due).toEqual({ retried: 1, recorded: 1 });
      expect((await rt.deliveries(sent.id)).map((d) => d.state)).toEqual(['delivered', 'delivered']);
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
      expect(primary.copiesFor(SITE_VISIT, 'bob@example.com')).toBe(1);
    });
  });

  describe('a failed ingest while the runtime runs', () => {
    /** How often the sweep timer runs here: often, so the test waits little. */
    const SWEEP_EVERY_MS = 20;
    let timed: TestRuntime | undefined;

    afterEach(async () => {
      await timed?.stop();
    });

    it('is ingested again by the sweep timer, not only at the next start, and delivered once', async () => {
      timed = await startTestRuntime({ config: testConfig(primary), sweepIntervalMs: SWEEP_EVERY_MS });
      const store = timed.ctx.store;
      timed.ctx.store = {
        ...store,
        async putMessage() {
          throw new Error('SQLITE_IOERR: disk I/O error');
        },
      };
      const sent = await timed.send({ to: ['alice@example.com'], raw: fixture });
      await vi.waitFor(() => expect(timed?.ingestQueue.counts().awaitingRetry).toBe(1));

      timed.ctx.store = store;
      timed.clock.advance(RETRY_AFTER_MS / 1000);

      await vi.waitFor(async () =>
        expect(await timed?.delivery(sent.id, 'alice@example.com')).toMatchObject({ state: 'delivered' }),
      );
      expect(timed.ingestQueue.counts()).toEqual({ ingesting: 0, awaitingRetry: 0 });
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    });
  });

  describe('the domainless Postmaster (RFC 5321 §4.5.1)', () => {
    it('is accepted at RCPT in any case', async () => {
      const replies = await dialogue(rt.smtpPort, [
        'EHLO mta.sender.example',
        'MAIL FROM:<sender@sender.example>',
        'RCPT TO:<Postmaster>',
        'RCPT TO:<POSTMASTER>',
        'RCPT TO:<postmaster>',
        'QUIT',
      ]);

      expect(replies.slice(3, 6).map((r) => r.slice(0, 4))).toEqual(['250 ', '250 ', '250 ']);
    });

    it('is delivered to the postmaster of the first accepted domain', async () => {
      const replies = await dialogue(rt.smtpPort, [
        'EHLO mta.sender.example',
        'MAIL FROM:<sender@sender.example>',
        'RCPT TO:<Postmaster>',
        'DATA',
        // CRLF line ends and dot-stuffing (RFC 5321 §4.5.2), then the final dot.
        `${fixture.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.`,
        'QUIT',
      ]);
      const id = /queued as (\S+)/.exec(replies[5] ?? '')?.[1] ?? '';
      await rt.idle();

      expect(replies[5]).toMatch(/^250 /);
      expect((await rt.message(id))?.recipients).toEqual(['postmaster@example.com']);
      expect(primary.transactions.map((t) => t.to)).toEqual([['postmaster@example.com']]);
    });
  });

  describe('refusals in the log', () => {
    it('logs a relay refusal and a declared-size refusal with the session id and the reply code only', async () => {
      await dialogue(rt.smtpPort, [
        'EHLO mta.sender.example',
        `MAIL FROM:<sender@sender.example> SIZE=${MAX_MESSAGE_BYTES + 1}`,
        'MAIL FROM:<sender@sender.example>',
        'RCPT TO:<victim@elsewhere.example>',
        'QUIT',
      ]);

      const refusals = log.lines.filter((l) => /refused/.test(l.message));
      expect(refusals.map((l) => l.fields.code)).toEqual([552, 550]);
      const sessions = new Set(refusals.map((l) => l.fields.session));
      expect(sessions.size).toBe(1);
      expect([...sessions][0]).toEqual(expect.stringMatching(/^\w+$/));
      expect(JSON.stringify(refusals)).not.toMatch(/victim|elsewhere|sender\.example/);
    });

    it('tells the sessions of two refusals apart', async () => {
      const refusal = [
        'EHLO mta.sender.example',
        'MAIL FROM:<a@sender.example>',
        'RCPT TO:<b@elsewhere.example>',
      ];
      await dialogue(rt.smtpPort, refusal);
      await dialogue(rt.smtpPort, refusal);

      const sessions = log.lines.filter((l) => l.fields.code === 550).map((l) => l.fields.session);
      expect(sessions).toHaveLength(2);
      expect(sessions[0]).not.toBe(sessions[1]);
    });

    it('logs a refusal after DATA of an undeclared body over 40 MB', async () => {
      const line = `${'x'.repeat(998)}\r\n`;
      const big = Buffer.from(
        `Subject: too big\r\n\r\n${line.repeat(Math.ceil((MAX_MESSAGE_BYTES + 1) / line.length))}`,
      );

      await transact(rt.smtpPort, { from: 'sender@sender.example', to: ['alice@example.com'] }, big).catch(
        () => {},
      );

      const refusal = log.lines.find((l) => l.fields.code === 552);
      expect(refusal?.fields).toEqual({ session: expect.stringMatching(/^\w+$/), code: 552 });
    });
  });
});
