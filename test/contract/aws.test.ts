import { afterAll, beforeAll } from 'vitest';
import { createDynamoStore } from '../../lambdas/adapters/dynamo-store.js';
import { createS3Blobs } from '../../lambdas/adapters/s3-blobs.js';
import { type AwsEmulators, startAwsEmulators } from '../support/aws-emulators.js';
import { describeStoreContract } from './store-contract.js';

let emulators: AwsEmulators;
beforeAll(async () => {
  emulators = await startAwsEmulators();
});
afterAll(async () => {
  await emulators?.stop();
});

// A fresh table and bucket per test, on one dynalite and one s3rver for the file.
describeStoreContract(
  'DynamoDB and S3 (AWS adapters on dynalite and s3rver)',
  async () => ({
    store: createDynamoStore(emulators.dynamo, {
      tableName: await emulators.createTable(),
      retentionDays: 30,
    }),
    blobs: createS3Blobs(emulators.s3, await emulators.createBucket()),
    async dispose() {},
  }),
  { delivered: 'flow' },
);
