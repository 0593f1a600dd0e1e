import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFileBlobs } from '../../lambdas/adapters/local/file-blobs.js';
import { openSqliteStore } from '../../lambdas/adapters/local/sqlite-store.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('SQLite and raw files (single-node runtime)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-contract-'));
  const store = openSqliteStore(path.join(dir, 'lifeboat.db'), { retentionDays: 30 });
  return {
    store,
    blobs: createFileBlobs(path.join(dir, 'raw')),
    async dispose() {
      store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
