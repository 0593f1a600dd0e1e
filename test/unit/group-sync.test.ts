import { describe, expect, it } from 'vitest';
import { createGroupSync } from '../../lambdas/adapters/local/group-sync.js';

/** An fsync stand-in the test finishes by hand; counts how many were started. */
function manualSync() {
  const started: Array<{ finish: () => void; fail: (err: Error) => void }> = [];
  const sync = () =>
    new Promise<void>((resolve, reject) => {
      started.push({ finish: resolve, fail: reject });
    });
  return { sync, started };
}

/** Lets every settled promise's callbacks run. */
const flush = () => new Promise((r) => setImmediate(r));

describe('createGroupSync', () => {
  it('answers a lone caller with one fsync of its own', async () => {
    const { sync, started } = manualSync();
    const request = createGroupSync(sync);
    const done = request();
    expect(started).toHaveLength(1);
    started[0]?.finish();
    await expect(done).resolves.toBeUndefined();
  });

  it('never answers a caller with an fsync that started before it asked', async () => {
    const { sync, started } = manualSync();
    const request = createGroupSync(sync);
    request();
    let lateDone = false;
    const late = request().then(() => {
      lateDone = true;
    });
    started[0]?.finish();
    await flush();
    // The first fsync may have missed the late caller's rename: a second one is under way for it.
    expect(lateDone).toBe(false);
    expect(started).toHaveLength(2);
    started[1]?.finish();
    await late;
    expect(lateDone).toBe(true);
  });

  it('shares one fsync among every caller that asked while another was under way', async () => {
    const { sync, started } = manualSync();
    const request = createGroupSync(sync);
    const first = request();
    const waiting = [request(), request(), request()];
    started[0]?.finish();
    await first;
    await flush();
    started[1]?.finish();
    await Promise.all(waiting);
    expect(started).toHaveLength(2);
  });

  it('fails every caller of a failed fsync, and the next caller gets a fresh one', async () => {
    const { sync, started } = manualSync();
    const request = createGroupSync(sync);
    const a = request();
    started[0]?.fail(new Error('EIO'));
    await expect(a).rejects.toThrow('EIO');
    const b = request();
    expect(started).toHaveLength(2);
    started[1]?.finish();
    await expect(b).resolves.toBeUndefined();
  });

  it('fails the callers waiting for the next fsync when that one fails, not the one before', async () => {
    const { sync, started } = manualSync();
    const request = createGroupSync(sync);
    const a = request();
    const b = request();
    started[0]?.finish();
    await expect(a).resolves.toBeUndefined();
    await flush();
    started[1]?.fail(new Error('EIO'));
    await expect(b).rejects.toThrow('EIO');
  });
});
