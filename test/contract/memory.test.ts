import { MemoryBlobs, MemoryStore } from '../support/memory-store.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('in-memory (unit tests)', async () => ({
  store: new MemoryStore(),
  blobs: new MemoryBlobs(),
  async dispose() {},
}));
