import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import {
  cancelReplay,
  MAX_REPLAY_DEFERRALS,
  REPLAY_RETRY_SECONDS,
  readRawHeaders,
  replayReport,
  reportCsv,
  resumeReplay,
  runReplay,
  startReplay,
} from '../../lambdas/core/replay.js';
import { createApiHandler, type HttpEvent } from '../../lambdas/handlers/api.js';
import { type Envelope, JOBS_OWNER } from '../../lambdas/ports.js';
import { continuityHarness } from '../support/continuity.js';
import { passVerdicts } from '../support/fixtures.js';
import { MemorySendingStore } from '../support/memory-sending.js';

const ADMINS = 'lifeboat-admins';
// An admin who signed in with a password and an authenticator app (adminMfa.required is on by default).
const ALICE = { email: 'alice@ops.example.org', 'cognito:groups': [ADMINS], amr: ['pwd', 'otp'] };
const STAFF = { email: 'carol@example.com', 'cognito:groups': ['staff'] };

/** The clock's now in the harness, and an instant `minutes` before it. */
const NOW = Date.parse('2026-11-22T10:00:00Z');
const ago = (minutes: number) => new Date(NOW - minutes * 60_000).toISOString();

/** A raw message as the archive holds it: headers only as the sender wrote them. */
function rawMessage(n: number, headers: { to?: string; cc?: string; messageId?: string } = {}): Buffer {
  return Buffer.from(
    [
      'Return-Path: <sender@example.org>',
      'From: Sender <sender@example.org>',
      `To: ${headers.to ?? 'alice@example.com'}`,
      ...(headers.cc ? [`Cc: ${headers.cc}`] : []),
      `Message-ID: ${headers.messageId ?? `<m${n}@Mail.Example.ORG>`}`,
      `Subject: message ${n}`,
      '',
      `body ${n}`,
      '',
    ].join('\r\n'),
  );
}

/** Replays over in-memory stores, a primary that records what it is sent, and an admin API. */
function harness() {
  const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 1 } });
  const jobs = new MemorySendingStore();
  const wire: Array<{ route: string; envelope: Envelope; raw: Buffer }> = [];
  const send = h.primary.send.bind(h.primary);
  h.primary.send = async (route: RouteConfig, envelope: Envelope, raw: Buffer) => {
    wire.push({ route: route.name, envelope, raw });
    return send(route, envelope, raw);
  };
  const ctx: Context & {
    checkpoint?: (step: 'sent' | 'recorded', seq: number) => void;
    cancelCheckMs?: number;
  } = {
    ...h.deps,
    jobs,
    // Every message looks for a cancel, so a test can cancel between two given messages.
    cancelCheckMs: 0,
    trigger: { requestDelivery: async () => {} },
  };
  /** Archives a message `minutes` before now, with a record unless `expired`. */
  async function archive(
    id: string,
    minutes: number,
    options: { raw?: Buffer; recipients?: string[]; expired?: boolean } = {},
  ) {
    const key = `raw/${id}`;
    h.blobs.objects.set(key, options.raw ?? rawMessage(Number(id.replace(/\D/g, '')) || 0));
    h.blobs.storedAt.set(key, ago(minutes));
    if (options.expired) return;
    await ingestMessage(
      {
        messageId: id,
        rawKey: key,
        envelopeFrom: 'sender@example.org',
        recipients: options.recipients ?? ['alice@example.com'],
        receivedAt: ago(minutes),
        verdicts: passVerdicts,
      },
      h.deps,
    );
  }
  const run = (id: string, owner = 'w1') => runReplay(ctx, id, { budgetMs: Number.POSITIVE_INFINITY, owner });
  /** Gateway ids in the order the primary received them. */
  const received = () => wire.map((w) => /\(Lifeboat\) id (\S+)/.exec(w.raw.toString('latin1'))?.[1]);
  const handler = createApiHandler(() => ctx);
  async function call(
    method: string,
    path: string,
    req: { claims?: Record<string, unknown>; body?: unknown; query?: Record<string, string> } = {},
  ) {
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, authorizer: { jwt: { claims: req.claims ?? ALICE } } },
      ...(req.query ? { queryStringParameters: req.query } : {}),
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
    };
    const res = await handler(event);
    const isJson = res.headers['content-type']?.startsWith('application/json');
    return { status: res.statusCode, headers: res.headers, body: isJson ? JSON.parse(res.body) : res.body };
  }
  return { ...h, ctx, jobs, wire, archive, run, received, call };
}

describe('startReplay', () => {
  it('refuses a window reaching into the future, naming both instants', async () => {
    const { ctx } = harness();
    const err = await startReplay(ctx, { from: ago(60), to: ago(-5) }, { actor: 'alice' }).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.problems.join('\n')).toMatch(
      /reaches into the future \(2026-11-22T10:05:00.000Z is after now/,
    );
  });

  it('refuses an unknown route, listing the configured ones', async () => {
    const { ctx } = harness();
    const err = await startReplay(ctx, { from: ago(60), route: 'backup' }, { actor: 'alice' }).catch(
      (e) => e,
    );
    expect(err.problems).toEqual(['route: unknown route "backup"; the configured routes are onprem, cloud']);
  });

  it('refuses a skip list with lines that hold no Message-ID, naming the lines', async () => {
    const { ctx } = harness();
    const err = await startReplay(
      ctx,
      { from: ago(60), skipIds: '<a@x.org>\nnot an id\n\n<b@x.org>\n<c d@x>' },
      { actor: 'alice' },
    ).catch((e) => e);
    expect(err.problems[0]).toMatch(/^skipIds: 2 line\(s\) hold no Message-ID \(line 2, 5\)/);
  });

  it('ends the window now when no end is given, and audits who started it', async () => {
    const { ctx, store } = harness();
    const job = await startReplay(
      ctx,
      { from: ago(60), skipIds: '<A@X.ORG>\nA@x.org\n' },
      { actor: 'alice' },
    );
    expect(job.window).toEqual({ from: ago(60), to: ago(0) });
    expect(job.state).toBe('planning');
    expect(job.skipIds).toBe(1);
    const [entry] = await store.listAudit(1);
    expect(entry).toMatchObject({ actor: 'alice', action: 'replay-start', target: `replay/${job.id}` });
  });
});

describe('readRawHeaders', () => {
  it('reads To, Cc and the top Received for clause, never Bcc', () => {
    const raw = Buffer.from(
      'Received: from mx.example.org by inbound-smtp.eu-west-1.amazonaws.com with SMTP id abc\r\n for bob@example.com;\r\n Sun, 22 Nov 2026 09:00:00 +0000\r\nTo: "A, Person" <Alice@Example.com>, carol@example.net\r\nCc: dave@example.com\r\nBcc: eve@example.com\r\nMessage-ID: <x@Y.org>\r\n\r\nbody',
    );
    const h = readRawHeaders(raw);
    expect(h.recipients.sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
      'carol@example.net',
      'dave@example.com',
    ]);
    expect(h.messageId).toBe('<x@Y.org>');
  });
});

describe('runReplay', () => {
  it('redelivers the window oldest first, each copy marked with the job and the bytes unchanged after it', async () => {
    const t = harness();
    await t.archive('m3', 10);
    await t.archive('m1', 50);
    await t.archive('m2', 30);
    await t.archive('m0', 120); // before the window
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    expect((await t.run(job.id)).outcome).toBe('finished');
    expect(t.received()).toEqual(['m1', 'm2', 'm3']);
    const first = t.wire[0]?.raw.toString('latin1') ?? '';
    expect(first.startsWith(`X-Lifeboat-Replay: ${job.id}\r\nReceived: by `)).toBe(true);
    expect(first.endsWith(rawMessage(1).toString('latin1'))).toBe(true);
    expect(t.wire[0]?.envelope).toEqual({ from: 'sender@example.org', to: ['alice@example.com'] });
    const { job: done, rows } = await replayReport(t.ctx, job.id);
    expect(done.progress).toMatchObject({ total: 3, done: 3, sent: 3, failed: 0, position: ago(10) });
    expect(rows.map((r) => [r.id, r.outcome, r.messageId])).toEqual([
      ['m1', 'sent', '<m1@Mail.Example.ORG>'],
      ['m2', 'sent', '<m2@Mail.Example.ORG>'],
      ['m3', 'sent', '<m3@Mail.Example.ORG>'],
    ]);
  });

  it('skips the Message-IDs listed as present, with or without <> and whatever the case of their domain', async () => {
    const t = harness();
    for (const [i, id] of ['m1', 'm2', 'm3', 'm4'].entries()) await t.archive(id, 50 - i);
    const job = await startReplay(
      t.ctx,
      { from: ago(60), skipIds: 'm2@mail.example.org\r\n<m4@MAIL.EXAMPLE.ORG>\r\n' },
      { actor: 'alice' },
    );
    await t.run(job.id);
    expect(t.received()).toEqual(['m1', 'm3']);
    const { job: done, rows } = await replayReport(t.ctx, job.id);
    expect(done.progress).toMatchObject({ sent: 2, present: 2 });
    expect(rows.filter((r) => r.outcome === 'present').map((r) => r.id)).toEqual(['m2', 'm4']);
  });

  it('sends only to the chosen mailboxes and reports the rest out of scope', async () => {
    const t = harness();
    await t.archive('m1', 50, { recipients: ['alice@example.com', 'bob@example.com'] });
    await t.archive('m2', 40, { recipients: ['bob@example.com'] });
    const job = await startReplay(
      t.ctx,
      { from: ago(60), mailboxes: ['Alice@Example.com'] },
      { actor: 'alice' },
    );
    await t.run(job.id);
    expect(t.wire.map((w) => w.envelope.to)).toEqual([['alice@example.com']]);
    const { rows } = await replayReport(t.ctx, job.id);
    expect(rows.map((r) => r.outcome)).toEqual(['sent', 'out-of-scope']);
  });

  it('replays a message whose record expired to the recipients its headers name on accepted domains; a Bcc recipient only while the record exists', async () => {
    const t = harness();
    const raw = rawMessage(1, { to: 'alice@example.com, someone@elsewhere.org', cc: 'dave@example.net' });
    await t.archive('kept', 50, {
      raw,
      recipients: ['alice@example.com', 'dave@example.net', 'bcc@example.com'],
    });
    await t.archive('gone', 40, { raw, expired: true });
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    await t.run(job.id);
    expect(t.wire.map((w) => w.envelope.to.sort())).toEqual([
      ['alice@example.com', 'bcc@example.com', 'dave@example.net'],
      ['alice@example.com', 'dave@example.net'],
    ]);
    const { rows } = await replayReport(t.ctx, job.id);
    expect(rows.map((r) => r.outcome)).toEqual(['sent', 'sent']);
  });

  it('sends to the route asked for instead of each recipient’s own', async () => {
    const t = harness();
    await t.archive('m1', 50, { recipients: ['ceo@example.com'] });
    const job = await startReplay(t.ctx, { from: ago(60), route: 'cloud' }, { actor: 'alice' });
    await t.run(job.id);
    expect(t.wire.map((w) => w.route)).toEqual(['cloud']);
  });

  it('reports a 5xx per recipient with the primary’s reply, and goes on', async () => {
    const t = harness();
    await t.archive('m1', 50);
    await t.archive('m2', 40);
    t.primary.send = async (_r, envelope, raw) => {
      t.wire.push({ route: 'cloud', envelope, raw });
      const bad = /id m1/.test(raw.toString('latin1'));
      return envelope.to.map((recipient) => ({
        recipient,
        status: bad ? 'failed' : 'delivered',
        response: bad ? '550 5.1.1 User unknown' : '250 2.0.0 Ok',
        host: 'mx1:587',
      }));
    };
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    await t.run(job.id);
    const { job: done, rows } = await replayReport(t.ctx, job.id);
    expect(done.progress).toMatchObject({ sent: 1, failed: 1 });
    expect(rows[0]?.recipients).toEqual([
      {
        address: 'alice@example.com',
        route: 'cloud',
        status: 'failed',
        response: 'mx1:587: 550 5.1.1 User unknown',
      },
    ]);
    expect(reportCsv(rows).split('\r\n')[1]).toContain(
      'failed,alice@example.com,cloud,failed,mx1:587: 550 5.1.1 User unknown',
    );
  });

  it('waits out a 4xx, keeping archive order, and pauses with the reply after repeated deferrals', async () => {
    const t = harness();
    await t.archive('m1', 50);
    await t.archive('m2', 40);
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    t.primary.down = true;
    const first = await t.run(job.id);
    expect(first).toMatchObject({
      outcome: 'waiting',
      retryAt: new Date(NOW + REPLAY_RETRY_SECONDS * 1000).toISOString(),
    });
    // Not before its time.
    expect((await t.run(job.id)).outcome).toBe('waiting');
    for (let i = 1; i < MAX_REPLAY_DEFERRALS; i++) {
      t.clock.advance(REPLAY_RETRY_SECONDS);
      await t.run(job.id);
    }
    const paused = await replayReport(t.ctx, job.id);
    expect(paused.job.state).toBe('paused');
    expect(paused.job.error).toMatch(
      /deferred message 0 5 times in a row; last reply: alice@example.com: mx1:587: 421 4.3.2/,
    );
    expect(t.received().every((id) => id === 'm1')).toBe(true);
    t.primary.down = false;
    t.wire.length = 0;
    await resumeReplay(t.ctx, job.id, 'alice');
    expect((await t.run(job.id)).outcome).toBe('finished');
    expect(t.received()).toEqual(['m1', 'm2']);
  });

  it('resumes after a crash between two messages and delivers each message once', async () => {
    const t = harness();
    for (let i = 0; i < 10; i++) await t.archive(`m${i}`, 59 - i);
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    t.ctx.checkpoint = (step, seq) => {
      if (step === 'recorded' && seq === 6) throw new Error('killed');
    };
    await expect(t.run(job.id, 'dead')).rejects.toThrow('killed');
    t.ctx.checkpoint = undefined;
    // The dead run's lease holds until it runs out; then another run takes the job.
    expect((await t.run(job.id, 'w2')).outcome).toBe('busy');
    t.clock.advance(3600);
    expect((await t.run(job.id, 'w2')).outcome).toBe('finished');
    const ids = t.received();
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    const { job: done, rows } = await replayReport(t.ctx, job.id);
    expect(done.progress).toMatchObject({ total: 10, done: 10, sent: 10 });
    expect(rows).toHaveLength(10);
  });

  it('sends again only the message whose answer the crash left unrecorded (the SMTP window)', async () => {
    const t = harness();
    for (let i = 0; i < 5; i++) await t.archive(`m${i}`, 59 - i);
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    t.ctx.checkpoint = (step, seq) => {
      if (step === 'sent' && seq === 2) throw new Error('killed');
    };
    await expect(t.run(job.id, 'dead')).rejects.toThrow('killed');
    t.ctx.checkpoint = undefined;
    await runReplay(t.ctx, job.id, {
      budgetMs: Number.POSITIVE_INFINITY,
      owner: 'restarted',
      takeOver: true,
    });
    expect(t.received()).toEqual(['m0', 'm1', 'm2', 'm2', 'm3', 'm4']);
  });

  it('stops at the next message when cancelled, and a resume sends the rest once', async () => {
    const t = harness();
    for (let i = 0; i < 6; i++) await t.archive(`m${i}`, 59 - i);
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    t.ctx.checkpoint = (step, seq) => {
      if (step === 'recorded' && seq === 2) void cancelReplay(t.ctx, job.id, 'bob', 'wrong window');
    };
    expect((await t.run(job.id)).outcome).toBe('stopped');
    t.ctx.checkpoint = undefined;
    const stopped = await replayReport(t.ctx, job.id);
    expect(stopped.job.state).toBe('cancelled');
    expect(t.received().length).toBeLessThan(6);
    await resumeReplay(t.ctx, job.id, 'alice');
    expect((await t.run(job.id, 'w2')).outcome).toBe('finished');
    expect(t.received()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    const actions = (await t.store.listAudit(10)).map((a) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining(['replay-start', 'replay-cancel', 'replay-resume', 'replay-finished']),
    );
  });

  it('keeps its parts under the job owner only, so no mailbox lists them', async () => {
    const t = harness();
    await t.archive('m1', 50);
    const job = await startReplay(t.ctx, { from: ago(60), skipIds: '<x@y>' }, { actor: 'alice' });
    await t.run(job.id);
    const users = new Set([...t.jobs.records.values()].map((r) => r.user));
    expect([...users].sort()).toEqual([JOBS_OWNER, `${JOBS_OWNER}:${job.id}`]);
  });
});

describe('replay API', () => {
  const id = '20261122T100000-abcdef';

  it('refuses every replay endpoint to a staff member outside the admin group', async () => {
    const { call } = harness();
    for (const [method, path] of [
      ['POST', '/admin/replays'],
      ['GET', '/admin/replays'],
      ['GET', `/admin/replays/${id}`],
      ['POST', `/admin/replays/${id}/cancel`],
      ['POST', `/admin/replays/${id}/resume`],
      ['GET', `/admin/replays/${id}/report`],
      ['GET', `/admin/replays/${id}/report.csv`],
    ] as const) {
      const res = await call(method, path, {
        claims: STAFF,
        body: method === 'POST' ? { from: ago(60) } : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
  });

  it('starts a replay (201), lists it and shows its progress', async () => {
    const t = harness();
    await t.archive('m1', 50);
    const started = await t.call('POST', '/admin/replays', {
      body: { from: ago(60), mailboxes: ['alice@example.com'] },
    });
    expect(started.status).toBe(201);
    await t.run(started.body.id);
    const listed = await t.call('GET', '/admin/replays');
    expect(listed.body.replays.map((r: { id: string }) => r.id)).toEqual([started.body.id]);
    const one = await t.call('GET', `/admin/replays/${started.body.id}`);
    expect(one.body).toMatchObject({
      state: 'finished',
      mailboxes: ['alice@example.com'],
      progress: { sent: 1, total: 1 },
    });
  });

  it('answers 400 with every problem: a future window, an unknown route, a bad Message-ID and an unknown field', async () => {
    const { call } = harness();
    const res = await call('POST', '/admin/replays', {
      body: { from: ago(60), to: ago(-60), route: 'nowhere', skipIds: 'fine@x\nnot ok' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
    expect(res.body.problems).toEqual([
      expect.stringMatching(/^to: the window reaches into the future/),
      expect.stringMatching(/^route: unknown route "nowhere"/),
      expect.stringMatching(/^skipIds: 1 line\(s\) hold no Message-ID \(line 2\)/),
    ]);
    const odd = await call('POST', '/admin/replays', { body: { from: 'yesterday', mailbox: 'x' } });
    expect(odd.status).toBe(400);
    expect(odd.body.problems.join('\n')).toMatch(/from/);
  });

  it('answers 404 for an unknown replay and 409 for cancelling a finished one', async () => {
    const t = harness();
    expect((await t.call('GET', `/admin/replays/${id}`)).status).toBe(404);
    const started = await t.call('POST', '/admin/replays', { body: { from: ago(60) } });
    await t.run(started.body.id);
    const res = await t.call('POST', `/admin/replays/${started.body.id}/cancel`, { body: {} });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('REPLAY_STATE');
  });

  it('gives the report as CSV with one line per recipient, and as JSON', async () => {
    const t = harness();
    await t.archive('m1', 50, { recipients: ['alice@example.com', 'bob@example.com'] });
    const started = await t.call('POST', '/admin/replays', { body: { from: ago(60) } });
    await t.run(started.body.id);
    const csv = await t.call('GET', `/admin/replays/${started.body.id}/report.csv`);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body.split('\r\n').filter(Boolean)).toHaveLength(3);
    const json = await t.call('GET', `/admin/replays/${started.body.id}/report`);
    expect(json.body.rows[0]).toMatchObject({ id: 'm1', outcome: 'sent' });
  });

  it('lists only an event’s replays when asked for its timeline', async () => {
    const t = harness();
    await t.store.putEvent({
      ...(await import('../../lambdas/core/continuity.js')).blankEvent('ev9', new Date(NOW), 'admin', '*'),
    });
    const mine = await t.call('POST', '/admin/replays', { body: { from: ago(60), eventId: 'ev9' } });
    await t.call('POST', '/admin/replays', { body: { from: ago(30) } });
    const listed = await t.call('GET', '/admin/replays', { query: { eventId: 'ev9' } });
    expect(listed.body.replays.map((r: { id: string }) => r.id)).toEqual([mine.body.id]);
    const audit = await t.store.listAudit(5);
    expect(audit.find((a) => a.action === 'replay-start' && a.eventId === 'ev9')).toBeDefined();
  });
});

describe('the sweep function (AWS)', () => {
  it('carries a replay on in the time its run has left after the retries', async () => {
    const { createSweepHandler } = await import('../../lambdas/handlers/sweep.js');
    const t = harness();
    await t.archive('m1', 50);
    await t.archive('m2', 40);
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    const sweep = createSweepHandler(
      () => t.ctx,
      () => {},
      { replays: true },
    );
    const result = await sweep({}, { getRemainingTimeInMillis: () => 120_000 });
    expect(result.replayed).toBe(2);
    expect(t.received()).toEqual(['m1', 'm2']);
    expect((await replayReport(t.ctx, job.id)).job.state).toBe('finished');
  });

  it('leaves a replay for the next run when less than the margin is left', async () => {
    const { createSweepHandler } = await import('../../lambdas/handlers/sweep.js');
    const t = harness();
    await t.archive('m1', 50);
    await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    const sweep = createSweepHandler(
      () => t.ctx,
      () => {},
      { replays: true },
    );
    const result = await sweep({}, { getRemainingTimeInMillis: () => 30_000 });
    expect(result.replayed).toBe(0);
    expect(t.wire).toEqual([]);
  });
});

describe('what a replay leaves out', () => {
  it('never replays Lifeboat’s own probe mail: a round trip come back, a drill’s probe messages', async () => {
    const t = harness();
    await t.archive('m1', 50);
    await t.archive('drill-abc', 45);
    await t.archive('p1', 40);
    const probe = await t.store.getMessage('p1');
    await t.store.putMessage({ ...(probe as NonNullable<typeof probe>), probeToken: 'tok' });
    const job = await startReplay(t.ctx, { from: ago(60) }, { actor: 'alice' });
    await t.run(job.id);
    expect(t.received()).toEqual(['m1']);
    const { rows } = await replayReport(t.ctx, job.id);
    expect(rows.map((r) => [r.id, r.outcome])).toEqual([
      ['m1', 'sent'],
      ['drill-abc', 'out-of-scope'],
      ['p1', 'out-of-scope'],
    ]);
  });
});

describe('the published shapes (lambdas/console/replay.ts)', () => {
  it('fit every answer of the replay API, so the console can parse what it gets', async () => {
    const { replayJobSchema, replayListSchema, replayReportSchema } = await import(
      '../../lambdas/console/replay.js'
    );
    const t = harness();
    await t.archive('m1', 50, { recipients: ['alice@example.com', 'bob@example.com'] });
    await t.archive('m2', 40, { expired: true });
    const started = await t.call('POST', '/admin/replays', {
      body: { from: ago(60), skipIds: '<m2@mail.example.org>', reason: 'restored from Sunday’s backup' },
    });
    expect(replayJobSchema.safeParse(started.body).error).toBeUndefined();
    await t.run(started.body.id);
    const listed = await t.call('GET', '/admin/replays');
    expect(replayListSchema.safeParse(listed.body).error).toBeUndefined();
    const report = await t.call('GET', `/admin/replays/${started.body.id}/report`);
    expect(replayReportSchema.safeParse(report.body).error).toBeUndefined();
    expect(report.body.rows.map((r: { outcome: string }) => r.outcome)).toEqual(['sent', 'present']);
  });
});

describe('continueReplays', () => {
  it('sends one replay at a time, oldest first: a later one waits while the oldest waits out a 4xx', async () => {
    const { continueReplays } = await import('../../lambdas/core/replay.js');
    const t = harness();
    await t.archive('m1', 50);
    await t.archive('m2', 20);
    const first = await startReplay(t.ctx, { from: ago(60), to: ago(30) }, { actor: 'alice' });
    t.clock.advance(1);
    const second = await startReplay(t.ctx, { from: ago(30) }, { actor: 'alice' });
    t.primary.down = true;
    await continueReplays(t.ctx, { remainingMs: () => 600_000, owner: 'sweep-1' });
    expect(t.received()).toEqual(['m1']);
    expect((await replayReport(t.ctx, second.id)).job.progress.total).toBeNull();
    t.primary.down = false;
    t.clock.advance(REPLAY_RETRY_SECONDS);
    await continueReplays(t.ctx, { remainingMs: () => 600_000, owner: 'sweep-2' });
    expect(t.received()).toEqual(['m1', 'm1', 'm2']);
    expect((await replayReport(t.ctx, first.id)).job.state).toBe('finished');
    expect((await replayReport(t.ctx, second.id)).job.state).toBe('finished');
  });
});
