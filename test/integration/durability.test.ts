import { renameSync } from 'node:fs';
import * as realFs from 'node:fs/promises';
import path from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncRename } from '../../infra/local/receipts.js';
import type { BlobFs } from '../../lambdas/adapters/local/file-blobs.js';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

/**
 * How long each folder fsync takes in these tests. Long enough that a 250 sent before the fsync
 * finished would reach the client first: the ordering below then fails instead of passing by luck.
 */
const SLOW_DIR_SYNC_MS = 50;

/** One completed call of the fs layer, or the client receiving the gateway's reply. */
interface Step {
  op: 'open' | 'fsync' | 'rename' | 'reply';
  /** The file or folder (`rename`: the target), or the reply text. */
  path: string;
  /** `rename`: the temp file renamed. */
  from?: string;
}

/**
 * node:fs/promises, recording each call as it completes, in one list with the SMTP client's
 * replies: the order in which things became true in this process.
 */
function recordingFs(steps: Step[]): BlobFs & SyncRename {
  return {
    mkdir: (dir, options) => realFs.mkdir(dir, options),
    async open(file, flags, mode) {
      const handle = await realFs.open(file, flags, mode);
      const isDir = (await handle.stat()).isDirectory();
      steps.push({ op: 'open', path: file });
      return {
        writeFile: (data) => handle.writeFile(data),
        async sync() {
          if (isDir) await new Promise((r) => setTimeout(r, SLOW_DIR_SYNC_MS));
          await handle.sync();
          steps.push({ op: 'fsync', path: file });
        },
        close: () => handle.close(),
      };
    },
    async rename(from, to) {
      await realFs.rename(from, to);
      steps.push({ op: 'rename', path: to, from });
    },
    renameSync(from, to) {
      renameSync(from, to);
      steps.push({ op: 'rename', path: to, from });
    },
    readFile: (file) => realFs.readFile(file),
    readdir: (dir, options) => realFs.readdir(dir, options),
    unlink: (file) => realFs.unlink(file),
  };
}

/** Sends one message with nodemailer's SMTP connection; the reply is recorded when it arrives. */
async function sendRecording(port: number, raw: Buffer, steps: Step[]): Promise<string> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, name: 'mta.sender.example' });
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => resolve());
    });
    const response = await new Promise<string>((resolve, reject) =>
      conn.send({ from: 'sender@sender.example', to: ['alice@example.com'] }, raw, (err, info) =>
        err ? reject(err) : resolve(info.response),
      ),
    );
    steps.push({ op: 'reply', path: response });
    return response;
  } finally {
    conn.close();
  }
}

/**
 * Where, in `steps`, the file `target` became durable: its temp file's fsync, the rename onto
 * `target`, and the fsync of its folder after that rename.
 */
function durabilityOf(steps: Step[], target: string) {
  const rename = steps.findIndex((s) => s.op === 'rename' && s.path === target);
  const temp = steps[rename]?.from;
  const fileSync = steps.findIndex((s) => s.op === 'fsync' && s.path === temp);
  const folderSync = steps.findIndex(
    (s, i) => i > rename && s.op === 'fsync' && s.path === path.dirname(target),
  );
  return { fileSync, rename, folderSync };
}

describe('the SMTP 250 on the single-node runtime', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  let steps: Step[];

  beforeEach(async () => {
    primary = await TestPrimary.start();
    steps = [];
    rt = await startTestRuntime({
      config: testConfig(primary),
      fs: recordingFs(steps),
      deliverOnIngest: false,
    });
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  it('is sent only after the raw file and its folder are fsynced', async () => {
    const response = await sendRecording(rt.smtpPort, await readFixture('plain.eml'), steps);
    const id = /queued as (\S+)/.exec(response)?.[1] ?? '';
    const reply = steps.findIndex((s) => s.op === 'reply');

    const raw = durabilityOf(steps, path.join(rt.layout.rawDir, id));

    expect(raw.fileSync).toBeGreaterThanOrEqual(0);
    expect(raw.rename).toBeGreaterThan(raw.fileSync);
    expect(raw.folderSync).toBeGreaterThan(raw.rename);
    expect(reply).toBeGreaterThan(raw.folderSync);
  });

  it('is sent only after the receipt (envelope and verdicts) and its folder are fsynced', async () => {
    const response = await sendRecording(rt.smtpPort, await readFixture('plain.eml'), steps);
    const id = /queued as (\S+)/.exec(response)?.[1] ?? '';
    const reply = steps.findIndex((s) => s.op === 'reply');

    // Durable under its staged name (the boot's), then renamed to its own just before the 250.
    const acknowledged = steps.findIndex(
      (s) => s.op === 'rename' && s.path === path.join(rt.layout.receiptsDir, id),
    );
    const staged = steps[acknowledged]?.from ?? '';
    const receipt = durabilityOf(steps, staged);

    expect(path.basename(staged)).toBe(`${id}.staged.${rt.stores.receipts.bootId}`);
    expect(receipt.fileSync).toBeGreaterThanOrEqual(0);
    expect(receipt.rename).toBeGreaterThan(receipt.fileSync);
    expect(receipt.folderSync).toBeGreaterThan(receipt.rename);
    expect(acknowledged).toBeGreaterThan(receipt.folderSync);
    expect(reply).toBeGreaterThan(acknowledged);
  });

  it('does not wait for ingest: the message is recorded after it', async () => {
    // Ingest's first write waits until the test lets it go: a 250 that waited for ingest never comes.
    const store = rt.ctx.store;
    let letIngestGo = () => {};
    const ingestHeld = new Promise<void>((resolve) => {
      letIngestGo = resolve;
    });
    rt.ctx.store = {
      ...store,
      async putMessage(m) {
        await ingestHeld;
        return store.putMessage(m);
      },
    };

    const response = await sendRecording(rt.smtpPort, await readFixture('plain.eml'), steps);
    const id = /queued as (\S+)/.exec(response)?.[1] ?? '';
    const recordedAtReply = await rt.message(id);
    letIngestGo();
    await rt.idle();

    expect(response).toMatch(/^250 /);
    expect(recordedAtReply).toBeUndefined();
    expect((await rt.message(id))?.recipients).toEqual(['alice@example.com']);
  });

  it('leaves the raw file and the receipt private to the user', async () => {
    const response = await sendRecording(rt.smtpPort, await readFixture('plain.eml'), steps);
    const id = /queued as (\S+)/.exec(response)?.[1] ?? '';

    for (const file of [path.join(rt.layout.rawDir, id), path.join(rt.layout.receiptsDir, id)]) {
      expect(((await realFs.stat(file)).mode & 0o777).toString(8)).toBe('600');
    }
  });
});
