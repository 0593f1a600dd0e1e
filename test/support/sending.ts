import type { ConfigInput } from '../../lambdas/core/config.js';
import { createIntake } from '../../lambdas/core/sending/intake.js';
import type { SendingDeps } from '../../lambdas/core/sending/records.js';
import { createHmacUploadSigner } from '../../lambdas/core/sending/uploads.js';
import { FakeRelay, MemorySendingStore } from './memory-sending.js';
import { MemoryBlobs } from './memory-store.js';
import { LINK_KEY, webmailHarness } from './webmail.js';

/**
 * The webmail harness with sending: the sending store and blobs in memory, the local runtime's
 * signed uploads, a relay that answers as told, and intake into the same in-memory stores.
 * Delivery requests are counted, not carried out.
 */
export async function sendingHarness(configOverrides: Partial<ConfigInput> = {}) {
  const h = await webmailHarness(configOverrides);
  const sending = new MemorySendingStore();
  const sendingBlobs = new MemoryBlobs();
  const relay = new FakeRelay();
  const deliveryRequests: string[] = [];
  const trigger = {
    async requestDelivery(id: string) {
      deliveryRequests.push(id);
    },
  };
  const uploads = createHmacUploadSigner({
    key: LINK_KEY,
    origin: () => 'http://127.0.0.1:8787',
    clock: h.clock,
  });
  const deps: SendingDeps = {
    config: h.config,
    store: h.store,
    blobs: h.blobs,
    sending,
    sendingBlobs,
    uploads,
    relay,
    intake: createIntake({
      config: h.config,
      store: h.store,
      blobs: h.blobs,
      clock: h.clock,
      log: h.ctx.log,
      trigger,
    }),
    trigger,
    continuity: h.store,
    clock: h.clock,
    log: h.ctx.log,
  };
  h.ctx.sending = deps;
  h.ctx.continuity = h.store;
  return { ...h, sending, sendingBlobs, relay, uploads, deps, deliveryRequests };
}
