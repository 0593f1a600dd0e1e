import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { type ConfigInput, parseConfig } from '../../lambdas/core/config.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import { runLifeboat } from '../support/cli.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, readFixture, routeTo, sendRaw, TEST_DOMAIN } from '../support/runtime.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const OPS = 'ops@example.org';

describe('the lifeboat command', () => {
  let dir: string;
  let primary: TestPrimary;
  let runtime: Runtime;
  let configFile: string;
  let input: ConfigInput;

  /** Runs `lifeboat <args>` as `npx lifeboat` would, with this test's config. */
  const lifeboat = (...args: string[]) => runLifeboat(args, { configFile, cwd: dir });

  /** Receives a message for `to`, recorded and queued, nothing attempted yet. */
  async function receive(to: string[]): Promise<string> {
    const { id } = await sendRaw(runtime.smtpPort, { to, raw: await readFixture('plain.eml') });
    await runtime.idle();
    return id;
  }

  /** Puts a delivery in a state, as the deliver path or a policy would have. */
  async function setState(messageId: string, recipient: string, change: Partial<DeliveryRecord>) {
    const d = await runtime.ctx.store.getDelivery({ messageId, recipient });
    if (!d) throw new Error(`no delivery ${messageId} ${recipient}`);
    await runtime.ctx.store.replaceDelivery({ ...d, ...change, version: d.version + 1 }, d.version);
  }

  const audit = async () => (await runtime.ctx.continuity.listAudit(50)).map((e) => ({ ...e }));

  beforeEach(async () => {
    dir = await makeDataDir();
    primary = await TestPrimary.start();
    const apiPort = await freePort();
    input = {
      organisation: 'CLI tests',
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
      local: { dataDir: path.join(dir, 'data'), apiPort, smtpPort: await freePort() },
    };
    configFile = await writeConfigFile(dir, input);
    runtime = await startRuntime({
      config: parseConfig(input, 'test config'),
      ports: { smtp: 0, api: apiPort },
      sweepIntervalMs: 0,
      probeIntervalMs: 0,
      deliverOnIngest: false,
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('retry', () => {
    it('releases a virus-quarantined delivery and writes who did it to the audit log', async () => {
      const id = await receive([ALICE]);
      await setState(id, ALICE, { state: 'quarantined', reason: 'policy:virus', nextAttemptAt: null });

      const run = await lifeboat('retry', id, ALICE, '--as', OPS);

      expect(run).toMatchObject({ code: 0, out: `${ALICE}: quarantined -> queued\n`, err: '' });
      expect(await audit()).toContainEqual(
        expect.objectContaining({
          actor: OPS,
          action: 'retry',
          detail: `delivery ${id} to ${ALICE} requeued from quarantined (policy:virus) (now queued)`,
        }),
      );
    });

    it('refuses a delivered message with the admin API’s reason and exit status 1, auditing nothing', async () => {
      const id = await receive([ALICE]);
      await setState(id, ALICE, { state: 'delivered', nextAttemptAt: null });
      const token = runtime.adminToken;
      const api = await fetch(
        `http://127.0.0.1:${runtime.apiPort}/admin/messages/${id}/recipients/${encodeURIComponent(ALICE)}/retry`,
        { method: 'POST', headers: { authorization: `Bearer ${token}` } },
      );
      const apiAnswer = (await api.json()) as { message: string };

      const run = await lifeboat('retry', id, ALICE);

      expect(api.status).toBe(409);
      expect(run.code).toBe(1);
      expect(run.out).toBe('');
      expect(run.err).toBe(`lifeboat: ${ALICE}: ${apiAnswer.message}\n`);
      expect(apiAnswer.message).toBe('a delivery cannot go from delivered to queued');
      expect((await audit()).filter((e) => e.action === 'retry')).toEqual([]);
    });

    it('without a recipient retries what can be retried and says what it left', async () => {
      const id = await receive([ALICE, BOB]);
      await setState(id, ALICE, { state: 'delivered', nextAttemptAt: null });
      await setState(id, BOB, { state: 'failed', nextAttemptAt: null, lastError: '550 5.1.1 unknown user' });

      const run = await lifeboat('retry', id);

      expect(run).toMatchObject({ code: 0, out: `${BOB}: failed -> queued\n${ALICE}: left delivered\n` });
      expect((await audit()).filter((e) => e.action === 'retry')).toHaveLength(1);
    });

    it('fails when nothing of the message can be retried, naming each state', async () => {
      const id = await receive([ALICE]);
      await setState(id, ALICE, { state: 'delivered', nextAttemptAt: null });

      const run = await lifeboat('retry', id);

      expect(run.code).toBe(1);
      expect(run.err).toBe(
        `lifeboat: nothing to retry: ${ALICE} is delivered (retry takes failed, held or quarantined deliveries)\n`,
      );
    });

    it('says when there is no such message', async () => {
      const run = await lifeboat('retry', 'no-such-message');

      expect(run).toMatchObject({ code: 1, err: 'lifeboat: message no-such-message not found\n' });
    });
  });

  describe('flush', () => {
    it('attempts what is due, says what came of it in words, and audits it', async () => {
      const id = await receive([ALICE]);
      await setState(id, ALICE, {
        state: 'deferred',
        attempts: 1,
        nextAttemptAt: '2020-01-01T00:00:00.000Z',
      });

      const run = await lifeboat('flush', '--as', OPS);

      expect(run).toMatchObject({
        code: 0,
        out: 'attempted 1 messages: 1 delivered, 0 deferred, 0 failed, 0 held\n',
      });
      expect((await runtime.ctx.store.getDelivery({ messageId: id, recipient: ALICE }))?.state).toBe(
        'delivered',
      );
      expect(await audit()).toContainEqual(
        expect.objectContaining({
          actor: OPS,
          action: 'flush',
          detail: expect.stringMatching(/^queue flushed: 1 messages attempted \(1 delivered/),
        }),
      );
    });

    it('prints JSON for scripts with --json', async () => {
      const run = await lifeboat('flush', '--json');

      expect(run.code).toBe(0);
      expect(JSON.parse(run.out)).toMatchObject({ messages: 0, delivered: 0 });
    });
  });

  describe('show', () => {
    it('prints the message and each recipient’s delivery as text', async () => {
      const id = await receive([ALICE, BOB]);
      await setState(id, BOB, { state: 'quarantined', reason: 'policy:virus', nextAttemptAt: null });

      const run = await lifeboat('show', id);

      expect(run.code).toBe(0);
      expect(run.out).toMatch(new RegExp(`^message +${id}\n`));
      expect(run.out).toMatch(/^subject +\S/m);
      expect(run.out).toMatch(/^verdicts +spam PASS/m);
      expect(run.out).toMatch(new RegExp(`^${ALICE} +primary +queued +0 `, 'm'));
      expect(run.out).toMatch(new RegExp(`^${BOB} +primary +quarantined \\(policy:virus\\)`, 'm'));
      expect(run.out).not.toMatch(/^\s*[{[]/m);
    });

    it('prints the records as JSON with --json', async () => {
      const id = await receive([ALICE]);

      const run = await lifeboat('show', id, '--json');

      const shown = JSON.parse(run.out) as { message: { id: string }; deliveries: Array<{ state: string }> };
      expect(shown.message.id).toBe(id);
      expect(shown.deliveries.map((d) => d.state)).toEqual(['queued']);
    });
  });

  describe('messages', () => {
    it.each(['2024-13-45', '2023-02-29', '2024-1-5', 'yesterday'])(
      'refuses --day %s with a usage error (exit status 2)',
      async (day) => {
        const run = await lifeboat('messages', '--day', day);

        expect(run.code).toBe(2);
        expect(run.err).toContain(`--day takes a date as YYYY-MM-DD, not ${day}`);
        expect(run.out).toBe('');
      },
    );

    it('lists a real day', async () => {
      const id = await receive([ALICE]);

      const run = await lifeboat('messages', '--day', new Date().toISOString().slice(0, 10));

      expect(run.code).toBe(0);
      expect(run.out).toContain(id);
    });
  });

  describe('the admin API commands', () => {
    it('print the runtime’s status in words', async () => {
      const run = await lifeboat('status');

      expect(run.code).toBe(0);
      expect(run.out).toMatch(/^continuity: NORMAL since /);
    });

    it('print how many acknowledged messages wait to be recorded after a failed ingest', async () => {
      runtime.ctx.store = {
        ...runtime.ctx.store,
        async putMessage() {
          throw new Error('SQLITE_IOERR: disk I/O error');
        },
      };
      await receive([ALICE]);

      const run = await lifeboat('status');

      expect(run.out).toMatch(/^unrecorded: 1 acknowledged messages whose ingest failed/m);
    });

    it('say the runtime is not running, and how to start it, when nothing answers', async () => {
      await runtime.stop();
      const port = input.local?.apiPort as number;

      const run = await lifeboat('status');

      expect(run).toEqual({
        code: 1,
        out: '',
        err: `lifeboat: Lifeboat is not running (nothing answers on 127.0.0.1:${port}): start it with \`npm start\`\n`,
      });
    });
  });
});
