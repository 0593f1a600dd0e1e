import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, LifeboatProcess, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { routeTo, TEST_DOMAIN } from '../support/runtime.js';

/** The demo's fixed ports (config defaults): SMTP in, admin API, demo primary. */
const DEMO_PORTS = { smtp: 2525, api: 8787, demoPrimary: 2526, demoSink: 2527 };

describe('the listening sockets of npm start', () => {
  let dir: string;
  let lifeboat: LifeboatProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-listeners-'));
  });

  afterEach(async () => {
    await lifeboat?.stop();
    lifeboat = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('are the SMTP listener and the admin API, and no storage port', async () => {
    const primary = await TestPrimary.start();
    try {
      const ports = { smtp: await freePort(), api: await freePort() };
      const configFile = await writeConfigFile(dir, {
        domains: [TEST_DOMAIN],
        routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
        local: { dataDir: path.join(dir, 'data'), smtpPort: ports.smtp, apiPort: ports.api },
      });

      lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });

      expect(lifeboat.listeners()).toEqual({
        tcp: [ports.smtp, ports.api].sort((a, b) => a - b),
        udp: [],
        unix: [],
      });
    } finally {
      await primary.stop();
    }
  });

  it('add only the demo primary and the demo relay in demo mode', async () => {
    lifeboat = await LifeboatProcess.start({ cwd: dir });

    expect(lifeboat.listeners()).toEqual({
      tcp: [DEMO_PORTS.smtp, DEMO_PORTS.demoPrimary, DEMO_PORTS.demoSink, DEMO_PORTS.api],
      udp: [],
      unix: [],
    });
  });

  it('are named in the banner, which names no storage API', async () => {
    lifeboat = await LifeboatProcess.start({ cwd: dir });

    expect(lifeboat.output).toContain(`SMTP in       127.0.0.1:${DEMO_PORTS.smtp}`);
    expect(lifeboat.output).toContain(`admin API     http://127.0.0.1:${DEMO_PORTS.api}/admin/status`);
    expect(lifeboat.output).toMatch(/data +\S+\.lifeboat-data +\(private to you: records in SQLite/);
    expect(lifeboat.output).not.toMatch(/DynamoDB|S3 API/);
  });
});
