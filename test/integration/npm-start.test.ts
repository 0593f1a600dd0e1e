import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { repoRoot, TEST_DOMAIN } from '../support/runtime.js';

/** Longest the test waits for `npm start` to be up, and then for its ports to be free again. */
const READY_WITHIN_MS = 40_000;
const FREED_WITHIN_MS = 10_000;

/** Whether something accepts connections on a loopback port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, withinMs: number, check: () => Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await check()); waited += 100) {
    if (waited >= withinMs) throw new Error(`${what} within ${withinMs} ms`);
    await delay(100);
  }
}

describe('npm start', () => {
  let dir: string | undefined;
  let npm: ChildProcessWithoutNullStreams | undefined;

  afterEach(async () => {
    // Whatever is left of the process group (npm, its shell, the runtime), also when the test failed.
    if (npm?.pid) {
      try {
        process.kill(-npm.pid, 'SIGKILL');
      } catch {
        // Nothing is left of it.
      }
    }
    npm = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stops the runtime and frees its ports when npm itself is sent SIGTERM (kill <pid>)', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-npm-start-'));
    const ports = { smtp: await freePort(), api: await freePort() };
    const configFile = await writeConfigFile(dir, {
      domains: [TEST_DOMAIN],
      routes: [{ name: 'primary', domains: [TEST_DOMAIN], hosts: [{ host: '127.0.0.1', port: 9 }] }],
      local: { dataDir: path.join(dir, 'data'), smtpPort: ports.smtp, apiPort: ports.api },
    });
    // A group of its own, so that what is left of it can be cleaned up after a failure.
    const child = spawn('npm', ['start'], {
      cwd: repoRoot,
      env: { ...process.env, LIFEBOAT_CONFIG_FILE: configFile },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    npm = child;
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    await waitFor(`npm start is not ready:\n${output}`, READY_WITHIN_MS, async () =>
      /^Try it: /m.test(output),
    );
    expect(await answers(ports.smtp)).toBe(true);
    expect(await answers(ports.api)).toBe(true);

    // Only npm's own pid, as `kill <pid>` from another terminal or a service manager would.
    process.kill(child.pid as number, 'SIGTERM');

    await waitFor('the SMTP port is still taken', FREED_WITHIN_MS, async () => !(await answers(ports.smtp)));
    await waitFor(
      'the admin API port is still taken',
      FREED_WITHIN_MS,
      async () => !(await answers(ports.api)),
    );
    expect(output).toContain('stopping: finishing deliveries in flight');
  }, 60_000);
});
