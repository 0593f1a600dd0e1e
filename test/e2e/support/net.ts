import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Asks the kernel for a TCP port that is free on `host` right now.
 *
 * The port is released before it is returned, so another process could take it in between;
 * on a test machine that race is rare enough, and a daemon that loses it fails loudly at bind.
 *
 * @param host - address to probe. @default '127.0.0.1'
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not read the port the kernel chose on ${host}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** What a single TCP connect attempt saw. */
export type ConnectOutcome = 'accepted' | 'refused' | 'timeout' | 'error';

/**
 * Tries one TCP connect to `host:port` and says what happened, so a test can tell a primary
 * that is down (refused) from one that is up.
 *
 * @param timeoutMs - how long to wait for the handshake. @default 2000
 */
export async function probePort(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 2_000,
): Promise<ConnectOutcome> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const finish = (outcome: ConnectOutcome): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () => finish('timeout'));
    socket.once('connect', () => finish('accepted'));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish(error.code === 'ECONNREFUSED' ? 'refused' : 'error'),
    );
  });
}

/**
 * Polls `check` until it returns a value other than `undefined` or `false`, or fails after
 * `timeoutMs` with an error that says what was awaited and what the last check returned.
 *
 * @param what - words for the error message, e.g. "2 messages in the Maildir".
 * @param intervalMs - pause between checks. @default 100
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, what, intervalMs = 100 }: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    last = value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last check: ${String(last)})`);
    }
    await sleep(intervalMs);
  }
}
