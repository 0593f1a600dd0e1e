import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../lambdas/ports.js';
import { TestPrimary } from '../support/primary.js';
import {
  makeDataDir,
  readFixture,
  startTestRuntime,
  type TestRuntime,
  testConfig,
} from '../support/runtime.js';

/** Permission bits of a file or folder, as `ls -l` would show them in octal. */
async function modeOf(file: string): Promise<string> {
  return ((await stat(file)).mode & 0o777).toString(8);
}

describe('the data folder of the single-node runtime', () => {
  let primary: TestPrimary;
  let parent: string;
  let dataDir: string;
  let rt: TestRuntime | undefined;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    parent = await makeDataDir();
    dataDir = path.join(parent, 'data');
  });

  afterEach(async () => {
    await rt?.stop();
    rt = undefined;
    await primary.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it('is created private to the user, and so is everything in it', async () => {
    rt = await startTestRuntime({ config: testConfig(primary), dataDir });
    const sent = await rt.sendAndSettle({ to: ['alice@example.com'], raw: await readFixture('plain.eml') });

    expect(await modeOf(dataDir)).toBe('700');
    for (const folder of ['raw', 'receipts']) expect(await modeOf(path.join(dataDir, folder))).toBe('700');
    const files = (await readdir(dataDir)).filter((f) => f.startsWith('lifeboat.db') || f === 'admin-token');
    expect(files).toEqual(expect.arrayContaining(['lifeboat.db', 'admin-token']));
    for (const file of files) expect(await modeOf(path.join(dataDir, file))).toBe('600');
    expect(await modeOf(path.join(dataDir, 'raw', sent.id))).toBe('600');
  });

  it('is made private when it was open to other users, and the log says so', async () => {
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    await writeFile(path.join(dataDir, 'admin-token'), 'an-old-token\n', { mode: 0o644 });
    await chmod(path.join(dataDir, 'admin-token'), 0o644);
    const warnings: string[] = [];
    const log: Logger = {
      info() {},
      warn: (m, f) => void warnings.push(`${m} ${JSON.stringify(f)}`),
      error() {},
    };

    rt = await startTestRuntime({ config: testConfig(primary), dataDir, log });

    expect(await modeOf(dataDir)).toBe('700');
    expect(await modeOf(path.join(dataDir, 'admin-token'))).toBe('600');
    expect(warnings).toEqual([
      expect.stringMatching(/^data folder was open to other users; made it private .*"was":"0755"/),
      expect.stringMatching(
        /^data file was open to other users; made it private .*admin-token.*"was":"0644"/,
      ),
    ]);
  });
});
