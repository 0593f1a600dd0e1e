import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, describe, expect, it } from 'vitest';
import { createMailWorkers, MAIL_WORKER_NICE, type MailWorkers } from '../../infra/local/mail-workers.js';
import { createReceiver } from '../../infra/local/receiver.js';
import { createLocalResolver } from '../../infra/local/resolver.js';
import { computeVerdicts } from '../../infra/local/verdicts.js';
import { PoolBusyError } from '../../infra/local/worker-pool.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { type LifeboatConfig, parseConfig } from '../../lambdas/core/config.js';
import { indexBody } from '../../lambdas/core/search/indexer.js';
import { readMessage } from '../../lambdas/core/summarise.js';
import { MemoryBlobs } from '../support/memory-store.js';
import { readFixture } from '../support/runtime.js';

const config: LifeboatConfig = parseConfig(
  {
    hostname: 'lifeboat.example.com',
    domains: ['example.com'],
    routes: [{ name: 'primary', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 2525 }] }],
    local: { dns: { 'sender.example': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] } } },
  },
  'test config',
);

let workers: MailWorkers | undefined;
afterEach(async () => {
  await workers?.close();
  workers = undefined;
});

describe('createMailWorkers', () => {
  it('gives the same verdicts, summary and index text as the in-process functions', async () => {
    workers = createMailWorkers({ config, size: 1 });
    for (const fixture of ['plain.eml', 'eicar.eml', 'report-with-attachment.eml']) {
      const raw = await readFixture(fixture);
      const request = {
        raw,
        ip: '127.0.0.1',
        helo: 'mta.sender.example',
        sender: 'a@sender.example',
        mta: 'lb',
      };
      const resolver = createLocalResolver(config.local.dns);
      expect(await workers.verdicts(request)).toEqual(await computeVerdicts({ ...request, resolver }));
      expect(await workers.summarise(raw)).toEqual(await readMessage(raw));
      expect(await workers.indexBody(raw)).toEqual(await indexBody(raw));
    }
  });
});

/** One SMTP transaction; resolves with the reply to the message, or rejects with the refusal. */
async function send(port: number, raw: Buffer): Promise<string> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, name: 'mta.sender.example' });
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => resolve());
    });
    return await new Promise<string>((resolve, reject) =>
      conn.send({ from: 'a@sender.example', to: ['alice@example.com'] }, raw, (err, info) =>
        err ? reject(err) : resolve(info.response),
      ),
    );
  } finally {
    conn.close();
  }
}

/** The nice value of each thread of this process, from Linux's /proc (field 19 of a task's stat). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('MailWorkers.warm', () => {
  it('starts every worker before the first message', async () => {
    workers = createMailWorkers({ config, size: 2 });
    expect(workers.stats().workers).toBe(0);

    await workers.warm();

    expect(workers.stats()).toMatchObject({ workers: 2, running: 0, crashed: 0 });
  });
});

describe('createMailWorkers priority', () => {
  it('runs its workers below the main thread, so the main thread gets a contended core first', async () => {
    const before = threadNiceValues();
    workers = createMailWorkers({ config, size: 2 });
    await workers.warm();

    const mainThread = readFileSync('/proc/self/stat', 'utf8');
    const mainNice = Number(mainThread.slice(mainThread.lastIndexOf(')') + 2).split(' ')[16]);
    const lowered = threadNiceValues().filter((n) => n === mainNice + MAIL_WORKER_NICE);
    expect(before.filter((n) => n === mainNice + MAIL_WORKER_NICE)).toHaveLength(0);
    expect(lowered).toHaveLength(2);
  });
});

describe('createReceiver with a busy worker pool', () => {
  it('answers 451 and stores nothing, so the sender retries later', async () => {
    const blobs = new MemoryBlobs();
    const submitted: unknown[] = [];
    const receiver = createReceiver({
      config,
      blobs,
      resolver: createLocalResolver(config.local.dns),
      verdicts: () => Promise.reject(new PoolBusyError(64)),
      log: silentLogger,
      ingests: { submit: (event) => void submitted.push(event) },
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (receiver.server.address() as AddressInfo).port;
      const refusal = await send(port, await readFixture('plain.eml')).catch(
        (err: { responseCode?: number; response?: string }) => err,
      );
      expect(refusal).toMatchObject({ responseCode: 451 });
      expect(String((refusal as { response?: string }).response)).toContain('4.3.2');
      expect(submitted).toHaveLength(0);
      expect(blobs.objects.size).toBe(0);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
