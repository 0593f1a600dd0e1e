import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';

/** What a client sees first: the greeting line, the connection error's code, silence or a close. */
function firstWords(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve('silence');
    });
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString('latin1').split('\r\n')[0] ?? '');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('close', () => resolve('closed'));
  });
}

describe('TestPrimary', () => {
  let primary: TestPrimary;

  beforeEach(async () => {
    primary = await TestPrimary.start();
  });

  afterEach(() => primary.stop());

  it('greets on a free loopback port', async () => {
    expect(await firstWords(primary.port)).toMatch(/^220 /);
  });

  it('refuses connections while refusing and greets again on the same port after accept()', async () => {
    const port = primary.port;

    await primary.refuse();
    const whileRefusing = await firstWords(port);
    await primary.accept();

    expect(whileRefusing).toBe('ECONNREFUSED');
    expect(primary.port).toBe(port);
    expect(await firstWords(port)).toMatch(/^220 /);
  });

  it('says nothing while stalled at the greeting', async () => {
    await primary.stall('greeting');

    expect(await firstWords(primary.port)).toBe('silence');
  });

  it('ends in the mode asked for last when calls overlap', async () => {
    await Promise.all([
      primary.refuse(),
      primary.accept(),
      primary.refuse(),
      primary.refuse(),
      primary.accept(),
    ]);

    expect(primary.mode.kind).toBe('accept');
    expect(await firstWords(primary.port)).toMatch(/^220 /);
  });

  it('stops quickly, twice over, even with a stalled session open', async () => {
    await primary.stall('greeting');
    const stalled = firstWords(primary.port);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();

    await primary.stop();
    await primary.stop();

    expect(Date.now() - started).toBeLessThan(500);
    expect(await firstWords(primary.port)).toBe('ECONNREFUSED');
    expect(await stalled).toBe('closed');
  });
});
