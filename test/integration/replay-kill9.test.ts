import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../infra/local/cli.js';
import { REPLAY_HEADER } from '../../lambdas/console/replay.js';
import { freePort, LifeboatProcess, senderMessage, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { routeTo, sendRaw, TEST_DOMAIN } from '../support/runtime.js';

const MESSAGES = 60;
/** Messages in flight at once, as the hand-over's setting: what a kill may leave unrecorded. */
const CONCURRENCY = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 of npm start during a replay', () => {
  let dir: string;
  let primary: TestPrimary | undefined;
  const started: LifeboatProcess[] = [];

  afterAll(async () => {
    for (const p of started) await p.stop();
    await primary?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finishes the replay after a restart, every message replayed, none twice but those in flight at the kill', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-replay-kill9-'));
    primary = await TestPrimary.start();
    const ports = { smtp: await freePort(), api: await freePort() };
    const configFile = await writeConfigFile(dir, {
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
      continuity: { handover: { ratePerSecond: 20, concurrency: CONCURRENCY } },
      local: { dataDir: path.join(dir, 'data'), smtpPort: ports.smtp, apiPort: ports.api },
    });
    const cli = async (...args: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli(args, {
        out: (t) => {
          out += t;
        },
        err: (t) => {
          err += t;
        },
        env: { LIFEBOAT_CONFIG_FILE: configFile },
        cwd: dir,
      });
      return { code, out, err };
    };
    const p = primary;
    const replayed = () =>
      p.transactions.filter(
        (t) => t.raw.subarray(0, REPLAY_HEADER.length).toString('latin1') === REPLAY_HEADER,
      );
    const until = async (what: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; !what(); await sleep(50)) {
        if (Date.now() > end) throw new Error('timed out');
      }
    };

    let lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
    started.push(lifeboat);
    const from = new Date(Date.now() - 60_000).toISOString();
    const sent = Array.from({ length: MESSAGES }, (_, n) => senderMessage('replay', TEST_DOMAIN, 0, n));
    for (const m of sent) await sendRaw(ports.smtp, { to: [m.recipient], raw: m.raw });
    await until(() => p.transactions.length >= MESSAGES, 30_000);

    const start = await cli('replay', 'start', '--from', from, '--json');
    expect(start.err).toBe('');
    const { id } = JSON.parse(start.out) as { id: string };
    // Killed a third of the way through, as a power cut would.
    await until(() => replayed().length >= MESSAGES / 3, 30_000);
    await lifeboat.kill9();
    const beforeRestart = replayed().length;
    expect(beforeRestart).toBeLessThan(MESSAGES);

    lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
    started.push(lifeboat);
    await until(() => new Set(replayed().map((t) => t.messageId)).size >= MESSAGES, 60_000);
    let job = { state: '', progress: { done: 0 } };
    for (const end = Date.now() + 15_000; job.state !== 'finished' && Date.now() < end; await sleep(100)) {
      job = JSON.parse((await cli('replay', 'status', id, '--json')).out) as typeof job;
    }

    const copies = new Map<string, number>();
    for (const t of replayed()) copies.set(t.messageId ?? '?', (copies.get(t.messageId ?? '?') ?? 0) + 1);
    expect([...copies.keys()].sort()).toEqual(sent.map((m) => m.messageId).sort());
    const twice = [...copies.values()].filter((n) => n > 1).length;
    // Only a message whose 250 came back while its row was not yet written goes again.
    expect(twice).toBeLessThanOrEqual(CONCURRENCY);
    expect(job).toMatchObject({ state: 'finished', progress: { done: MESSAGES } });
  }, 180_000);
});
