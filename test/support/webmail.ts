import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { ConfigInput } from '../../lambdas/core/config.js';
import { loadDirectory, type MailboxUser, resolveMailboxUser } from '../../lambdas/core/directory.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type { DeliveryRecord, DeliveryState, Verdicts } from '../../lambdas/core/model.js';
import { createIndexQueue, indexMessage } from '../../lambdas/core/search/indexer.js';
import { createIndexCache } from '../../lambdas/core/search/mailbox-index.js';
import { createHmacLinkSigner } from '../../lambdas/core/signed-links.js';
import type { HttpEvent } from '../../lambdas/handlers/api.js';
import { createWebmailHandler, type WebmailContext } from '../../lambdas/handlers/webmail.js';
import { passVerdicts, testConfig } from './fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from './memory-store.js';

/** Builds a real MIME message, as a mail client would send it. */
export function compose(mail: Mail.Options): Promise<Buffer> {
  return new MailComposer({ date: new Date('2026-11-22T09:00:00Z'), ...mail }).compile().build();
}

/** The staff of the tests: Alice owns an alias, Bob his own address. */
export const STAFF: NonNullable<NonNullable<ConfigInput['webmail']>['users']> = [
  { id: 'alice', name: 'Alice Smith', addresses: ['alice@example.com', 'sales@example.com'] },
  { id: 'bob', name: 'Bob Jones', addresses: ['bob@example.com'] },
];

/** The test key: 32 bytes, as readOrCreateLinkKey makes. */
export const LINK_KEY = Buffer.alloc(32, 7);

export interface ReceiveOptions {
  recipients: string[];
  /** Minutes before the clock's now. @default 0 */
  minutesAgo?: number;
  /** Moves each delivery to this state after ingest (delivered before the outage, held …). */
  state?: DeliveryState;
  verdicts?: Verdicts;
  /** Marks the message as a round-trip probe. */
  probe?: boolean;
  /** Index it for search. @default true */
  index?: boolean;
}

/**
 * A webmail over the in-memory stores: ingest real messages, move their deliveries, index them,
 * and call the handler as API Gateway would.
 */
export async function webmailHarness(configOverrides: Partial<ConfigInput> = {}) {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  const indexBlobs = new MemoryBlobs();
  const clock = new ManualClock();
  const config = testConfig({ webmail: { users: STAFF }, ...configOverrides });
  const directory = await loadDirectory(config, async () => '');
  const links = createHmacLinkSigner({ key: LINK_KEY, ttlSeconds: config.webmail.linkTtlSeconds, clock });
  const cache = createIndexCache();
  const log = silentLogger;
  const ctx: WebmailContext = { config, store, blobs, indexBlobs, clock, log, directory, links, cache };
  const queue = createIndexQueue(ctx, { batchWindowMs: 0 });
  const handler = createWebmailHandler(() => ctx);
  let n = 0;

  /** Receives a message through ingest, as the gateway would. Returns its id. */
  async function receive(raw: Buffer, options: ReceiveOptions): Promise<string> {
    n++;
    const id = `m${String(n).padStart(4, '0')}`;
    const receivedAt = new Date(clock.now().getTime() - (options.minutesAgo ?? 0) * 60_000).toISOString();
    await blobs.putRaw(`raw/${id}`, raw);
    await ingestMessage(
      {
        messageId: id,
        rawKey: `raw/${id}`,
        envelopeFrom: 'sender@example.org',
        recipients: options.recipients,
        receivedAt,
        verdicts: options.verdicts ?? passVerdicts,
      },
      { blobs, store, config, clock, log },
    );
    if (options.probe) {
      const m = await store.getMessage(id);
      await store.putMessage({ ...(m as NonNullable<typeof m>), probeToken: 'a'.repeat(24) });
    }
    if (options.state) {
      for (const d of await store.listDeliveries(id)) await setState(d, options.state);
    }
    if (options.index !== false) await indexMessage({ ...ctx, queue }, id);
    return id;
  }

  async function setState(d: DeliveryRecord, state: DeliveryState): Promise<void> {
    await store.replaceDelivery(
      { ...d, state, version: d.version + 1, deliveredAt: state === 'delivered' ? d.receivedAt : null },
      d.version,
    );
  }

  /** The signed-in user the claims give, as the handler resolves them. */
  function userOf(claims: Record<string, unknown>): MailboxUser {
    return resolveMailboxUser(directory, claims, { domains: config.domains });
  }

  interface Request {
    /** Verified claims; null for none. @default Alice's */
    claims?: Record<string, unknown> | null;
    query?: Record<string, string>;
    body?: unknown;
  }

  async function call(method: string, path: string, req: Request = {}) {
    const claims = req.claims === undefined ? { 'cognito:username': 'alice' } : req.claims;
    const event: HttpEvent = {
      rawPath: path,
      requestContext: { http: { method }, ...(claims ? { authorizer: { jwt: { claims } } } : {}) },
      ...(req.query ? { queryStringParameters: req.query } : {}),
      ...(req.body === undefined
        ? {}
        : { body: typeof req.body === 'string' ? req.body : JSON.stringify(req.body) }),
    };
    const res = await handler(event);
    const bytes = res.isBase64Encoded ? Buffer.from(res.body, 'base64') : Buffer.from(res.body);
    const isJson = res.headers['content-type'] === 'application/json';
    return {
      status: res.statusCode,
      headers: res.headers,
      bytes,
      body: (isJson ? JSON.parse(res.body) : undefined) as Record<string, unknown> & { [k: string]: unknown },
    };
  }

  return {
    store,
    blobs,
    indexBlobs,
    clock,
    config,
    directory,
    links,
    cache,
    ctx,
    queue,
    receive,
    setState,
    userOf,
    call,
  };
}
