import type { RawPackStore } from '../../lambdas/ports.js';
import type { MemoryBlobs } from './memory-store.js';

/** One call the packer made of the bucket, in order: what a test checks the order of writes and deletes by. */
export type PackCall =
  | { op: 'putIndex' | 'putPack' | 'deleteRaw'; key: string }
  | { op: 'readRaw' | 'getIndex' | 'packSize'; key: string };

/**
 * The packer's bucket over a MemoryBlobs' objects: packs, indexes and originals in the same map, so
 * a replay over the same MemoryBlobs finds what the packer wrote. `calls` records every call.
 */
export class MemoryRawPacks implements RawPackStore {
  calls: PackCall[] = [];
  /** Storage class of each pack as written. */
  classes = new Map<string, string>();
  constructor(
    readonly blobs: MemoryBlobs,
    readonly storageClass: 'GLACIER_IR' | 'STANDARD' = 'GLACIER_IR',
  ) {}
  async readRaw(key: string) {
    this.calls.push({ op: 'readRaw', key });
    const body = this.blobs.objects.get(key);
    if (!body) return undefined;
    return { body, storedAt: this.blobs.storedAt.get(key) as string };
  }
  async getPackIndex(key: string) {
    this.calls.push({ op: 'getIndex', key });
    return this.blobs.objects.get(key);
  }
  async putPackIndex(key: string, body: Buffer) {
    this.calls.push({ op: 'putIndex', key });
    this.blobs.objects.set(key, Buffer.from(body));
  }
  async putPack(key: string, body: Buffer) {
    this.calls.push({ op: 'putPack', key });
    this.blobs.objects.set(key, Buffer.from(body));
    this.classes.set(key, this.storageClass);
  }
  async packSize(key: string) {
    this.calls.push({ op: 'packSize', key });
    return this.blobs.objects.get(key)?.length;
  }
  async deleteRaw(key: string) {
    this.calls.push({ op: 'deleteRaw', key });
    this.blobs.objects.delete(key);
    this.blobs.storedAt.delete(key);
  }
}
