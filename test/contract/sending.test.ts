import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createDynamoSendingStore } from '../../lambdas/adapters/dynamo-sending.js';
import { openSqliteSendingStore } from '../../lambdas/adapters/local/sqlite-sending.js';
import { type AwsEmulators, startAwsEmulators } from '../support/aws-emulators.js';
import { MemorySendingStore } from '../support/memory-sending.js';
import { describeSendingContract } from './sending-contract.js';

let emulators: AwsEmulators;
beforeAll(async () => {
  emulators = await startAwsEmulators();
});
afterAll(async () => {
  await emulators?.stop();
});

describeSendingContract('memory', async () => ({ store: new MemorySendingStore(), async dispose() {} }));

describeSendingContract('SQLite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-sending-'));
  const store = openSqliteSendingStore(path.join(dir, 'lifeboat.db'));
  return {
    store,
    async dispose() {
      store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// A fresh table per test on one dynalite for the file; the table has every index of the layout.
describeSendingContract('DynamoDB (dynalite)', async () => ({
  store: createDynamoSendingStore(emulators.dynamo, { tableName: await emulators.createTable() }),
  async dispose() {},
}));
