import type {
  BlobStore,
  ContinuityStore,
  DeliveryAttempt,
  DeliveryKey,
  DeliveryTrigger,
  Mailer,
  OutboundMail,
} from '../ports.js';
import type { LifeboatConfig } from './config.js';
import { canTransition, holdDelivery, requeueDelivery } from './delivery-state.js';
import { buildDsn } from './dsn.js';
import { ConflictError, LifeboatError, NotFoundError, ValidationError } from './errors.js';
import { holdReasonFor } from './holds.js';
import type { DeliveryRecord, DeliveryState, MessageRecord } from './model.js';
import {
  holdRecipient,
  listQueue,
  type QueueDeps,
  releaseDelivery,
  transitionWithRetry,
} from './queue-ops.js';
import { resolveRoute } from './routing.js';

/**
 * The admin's actions on queued mail, one delivery or a selection at a time: the same functions
 * behind the admin API and `lifeboat`, each audited with who, what and why.
 */

export const QUEUE_ACTIONS = ['hold', 'release', 'retry', 'reroute', 'bounce', 'delete'] as const;
export type QueueAction = (typeof QUEUE_ACTIONS)[number];

export const QUARANTINE_ACTIONS = ['release', 'delete'] as const;
export type QuarantineAction = (typeof QUARANTINE_ACTIONS)[number];

/**
 * Deliveries one request may act on: each is a conditional write and an audit entry (a bounce
 * also reads the raw message and sends a DSN), so 500 stay well inside the API function's 29 s;
 * a larger clean-up is several requests.
 */
export const MAX_SELECTION = 500;

/** Longest reason kept in the audit log and a DSN. */
export const MAX_REASON_CHARS = 500;

/** How many of a delivery's recorded attempts its detail shows: the latest, a few days of retries. */
export const MAX_ATTEMPTS_SHOWN = 100;

/** The hold reason of a delivery an admin held by hand. */
export const ADMIN_HOLD_REASON = 'admin';

/** A delivery's reason once an admin bounced it and its DSN went out, or did not. */
export const BOUNCED = 'bounced';
export const BOUNCE_NOT_SENT = 'bounce-not-sent';

export interface QueueAdminDeps extends QueueDeps {
  continuity: ContinuityStore;
  config: LifeboatConfig;
  blobs: BlobStore;
  mailer: Mailer;
  /** Asks for an attempt now after a release, retry or reroute; the sweeper is the fallback. */
  trigger?: DeliveryTrigger | undefined;
  /** Where a DSN goes out (SES in AWS); without it, through the route serving the sender. */
  outbound?: OutboundMail | undefined;
}

export interface ActionOptions {
  actor: string;
  reason?: string | null | undefined;
  /** reroute: the configured route to send to. */
  route?: string | undefined;
}

/** A delivery that cannot take the action in its state (a stable code, mapped to 409). */
export class QueueActionError extends LifeboatError {}

/** The sender cannot be sent a bounce: it is the null sender (a validation error, 400). */
export class NullSenderError extends LifeboatError {
  constructor(key: DeliveryKey) {
    super(
      'NULL_SENDER',
      `delivery ${key.messageId} to ${key.recipient} has a null envelope sender (<>): a bounce is never sent to <>`,
    );
  }
}

export type ItemResult =
  | { messageId: string; recipient: string; ok: true; state: DeliveryState | 'deleted'; route?: string }
  | { messageId: string; recipient: string; ok: false; error: { code: string; message: string } };

const target = (k: DeliveryKey) => `${k.messageId}/${k.recipient}`;

async function audit(
  deps: QueueAdminDeps,
  key: DeliveryKey,
  action: string,
  options: ActionOptions,
  detail: string,
): Promise<void> {
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor: options.actor,
    action,
    detail,
    eventId: null,
    target: target(key),
    ...(options.reason ? { reason: options.reason } : {}),
  });
}

function refuse(d: DeliveryRecord, action: string, takes: string): never {
  throw new QueueActionError(
    'TRANSITION_NOT_ALLOWED',
    `${action} takes ${takes} deliveries; ${d.messageId} to ${d.recipient} is ${d.state}`,
  );
}

async function load(deps: QueueAdminDeps, key: DeliveryKey): Promise<DeliveryRecord> {
  const d = await deps.store.getDelivery(key);
  if (!d) throw new NotFoundError(`delivery ${key.messageId} for ${key.recipient}`);
  return d;
}

/** Whether the sweeper or a trigger would attempt it now. */
const dueNow = (d: DeliveryRecord, now: Date) =>
  d.state === 'queued' ||
  (d.state === 'deferred' && (d.nextAttemptAt === null || d.nextAttemptAt <= now.toISOString()));

async function requestAttempt(deps: QueueAdminDeps, d: DeliveryRecord): Promise<void> {
  if (!deps.trigger || !dueNow(d, deps.clock.now())) return;
  try {
    await deps.trigger.requestDelivery(d.messageId);
  } catch (err) {
    // The sweeper takes it within one interval.
    deps.log.warn('attempt not requested; the sweeper will take it', {
      messageId: d.messageId,
      error: (err as Error).message,
    });
  }
}

/** Due now, on the route given (from its own, or back to it). */
function rerouted(d: DeliveryRecord, route: string, own: string | undefined, now: Date): DeliveryRecord {
  const from = route === own ? undefined : (d.reroutedFrom ?? d.route);
  const base = { ...d, route, reroutedFrom: from };
  if (d.state === 'failed' || d.state === 'held') return requeueDelivery(base, now);
  // queued or deferred: the same state, due at once.
  return {
    ...base,
    nextAttemptAt: now.toISOString(),
    updatedAt: now.toISOString(),
    version: d.version + 1,
  };
}

/** Sends a DSN: SES in AWS; locally through the route that serves the sender, the one path there is. */
async function sendOutbound(deps: QueueAdminDeps, envelope: { from: string; to: string[] }, raw: Buffer) {
  if (deps.outbound) {
    await deps.outbound.send(envelope, raw);
    return;
  }
  const to = envelope.to[0] as string;
  const route = resolveRoute(deps.config, to);
  if (!route) {
    throw new LifeboatError(
      'NO_OUTBOUND_PATH',
      `${to} is not on an accepted domain, and this runtime has no relay for other domains: the DSN cannot be sent`,
    );
  }
  const [outcome] = await deps.mailer.send(route, envelope, raw);
  if (outcome?.status !== 'delivered')
    throw new Error(`route ${route.name} did not take the DSN: ${outcome?.response ?? 'no answer'}`);
}

async function bounce(
  deps: QueueAdminDeps,
  d: DeliveryRecord,
  options: ActionOptions,
): Promise<DeliveryRecord> {
  if (!['queued', 'deferred', 'held', 'failed'].includes(d.state))
    refuse(d, 'bounce', 'queued, deferred, held or failed');
  let message: MessageRecord | undefined;
  if (d.envelopeFrom === undefined || d.rawKey === undefined) {
    message = await deps.store.getMessage(d.messageId);
    if (!message) throw new NotFoundError(`message ${d.messageId}`);
  }
  const sender = d.envelopeFrom ?? (message as MessageRecord).envelopeFrom;
  if (sender.trim() === '' || sender === '<>') throw new NullSenderError(d);
  const raw = await deps.blobs.getRaw(d.rawKey ?? (message as MessageRecord).rawKey);
  const now = deps.clock.now();
  const attempts = await deps.store.listDeliveryAttempts(d, 1);
  const dsn = buildDsn({
    hostname: deps.config.hostname,
    from: `MAILER-DAEMON@${deps.config.domains[0]}`,
    envelopeFrom: sender,
    recipient: d.recipient,
    queueId: d.messageId,
    receivedAt: d.receivedAt,
    raw,
    lastReply: d.lastResponse ?? d.lastError,
    reason: options.reason,
    lastAttemptAt: attempts.at(-1)?.at ?? null,
    now,
  });
  // Failed first, with a conditional write: a worker that delivered it meanwhile wins, and no
  // DSN then tells the sender it failed.
  const failed = await transitionWithRetry(deps.store, d, (cur) => {
    if (!['queued', 'deferred', 'held', 'failed'].includes(cur.state))
      refuse(cur, 'bounce', 'queued, deferred, held or failed');
    return {
      ...cur,
      state: 'failed',
      reason: BOUNCED,
      nextAttemptAt: null,
      leaseId: null,
      lastError: cur.lastError ?? 'returned to the sender by an administrator',
      updatedAt: now.toISOString(),
      version: cur.version + 1,
    };
  });
  try {
    await sendOutbound(deps, dsn.envelope, dsn.raw);
  } catch (err) {
    const why = (err as Error).message;
    await transitionWithRetry(deps.store, d, (cur) => ({
      ...cur,
      reason: BOUNCE_NOT_SENT,
      lastError: `the DSN to the sender was not sent: ${why}`,
      updatedAt: now.toISOString(),
      version: cur.version + 1,
    }));
    await audit(
      deps,
      d,
      'bounce',
      options,
      `delivery ${d.messageId} to ${d.recipient} failed; the DSN was not sent: ${why}`,
    );
    if (err instanceof LifeboatError) throw err;
    throw new LifeboatError(
      'DSN_NOT_SENT',
      `the DSN for ${d.messageId} to ${d.recipient} was not sent: ${why}`,
    );
  }
  await audit(
    deps,
    d,
    'bounce',
    options,
    `delivery ${d.messageId} to ${d.recipient} returned to its sender (${d.state} -> failed), DSN ${dsn.messageId}`,
  );
  return failed as DeliveryRecord;
}

async function remove(
  deps: QueueAdminDeps,
  d: DeliveryRecord,
  options: ActionOptions,
  action: string,
  states: readonly DeliveryState[],
): Promise<void> {
  let current = d;
  for (let attempt = 0; ; attempt++) {
    if (!states.includes(current.state)) refuse(current, action, states.join(', '));
    try {
      await deps.store.deleteDelivery(current, current.version);
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 2) throw err;
      current = await load(deps, d);
    }
  }
  await audit(
    deps,
    d,
    action,
    options,
    `delivery ${d.messageId} to ${d.recipient} deleted (was ${current.state}${current.reason ? `, ${current.reason}` : ''}); the raw message is kept`,
  );
}

/**
 * Carries out one queue action on one delivery and audits it.
 * - hold: queued, deferred or failed → held (`admin`).
 * - release: held → queued (held again while its route is held).
 * - retry: deferred or queued → due now; failed or held → queued.
 * - reroute: to another configured route, due now (queued, deferred, failed or held); until an
 *   admin reroutes it back to the route the recipient resolves to, every attempt goes there.
 * - bounce: → failed, and an RFC 3464 DSN to the envelope sender (never to `<>`).
 * - delete: the delivery is dropped; the message record and the raw mail stay.
 * @returns the delivery as it now is, or null once deleted
 * @throws NotFoundError, TRANSITION_NOT_ALLOWED, NULL_SENDER, NO_OUTBOUND_PATH, DSN_NOT_SENT
 */
export async function actOnDelivery(
  deps: QueueAdminDeps,
  key: DeliveryKey,
  action: QueueAction,
  options: ActionOptions,
): Promise<DeliveryRecord | null> {
  const d = await load(deps, key);
  const now = deps.clock.now();
  const was = `${d.state}${d.reason ? ` (${d.reason})` : ''}`;
  let after: DeliveryRecord;
  switch (action) {
    case 'hold':
      if (d.state === 'quarantined') refuse(d, 'hold', 'queued, deferred or failed');
      after = await holdRecipient(key, ADMIN_HOLD_REASON, deps);
      break;
    case 'release':
      if (d.state !== 'held') refuse(d, 'release', 'held');
      after = await releaseDelivery(key, deps);
      break;
    case 'retry':
      if (d.state === 'quarantined')
        throw new QueueActionError(
          'TRANSITION_NOT_ALLOWED',
          `${d.messageId} to ${d.recipient} is quarantined: release it from the quarantine, with a reason`,
        );
      if (d.state === 'deferred' || d.state === 'queued') {
        after =
          (await transitionWithRetry(deps.store, key, (cur) => {
            if (cur.state !== 'deferred' && cur.state !== 'queued')
              refuse(cur, 'retry', 'deferred, queued, failed or held');
            return {
              ...cur,
              nextAttemptAt: now.toISOString(),
              updatedAt: now.toISOString(),
              version: cur.version + 1,
            };
          })) ?? d;
      } else {
        if (!canTransition(d.state, 'queued')) refuse(d, 'retry', 'deferred, queued, failed or held');
        after = await releaseDelivery(key, deps);
      }
      break;
    case 'reroute': {
      const route = options.route;
      if (!route || !deps.config.routes.some((r) => r.name === route))
        throw new ValidationError('request body', [`route: ${route ?? '(none)'} is not a configured route`]);
      const own = resolveRoute(deps.config, d.recipient)?.name;
      const holds = await deps.store.listHolds();
      after = (await transitionWithRetry(deps.store, key, (cur) => {
        if (!['queued', 'deferred', 'failed', 'held'].includes(cur.state))
          refuse(cur, 'reroute', 'queued, deferred, failed or held');
        const next = rerouted(cur, route, own, now);
        // A held route keeps what is sent to it, as ingest and delivery do.
        const hold = holdReasonFor(
          route,
          holds.filter((h) => !h.draining),
          cur.recipient,
        );
        return hold !== null && next.state === 'queued' ? holdDelivery(next, hold, now) : next;
      })) as DeliveryRecord;
      break;
    }
    case 'bounce':
      return bounce(deps, d, options);
    case 'delete':
      await remove(deps, d, options, 'delete', ['queued', 'deferred', 'failed', 'held', 'quarantined']);
      return null;
  }
  await audit(
    deps,
    key,
    action,
    options,
    `delivery ${key.messageId} to ${key.recipient}: ${was} -> ${after.state}${action === 'reroute' ? ` on route ${after.route}` : ''}`,
  );
  await requestAttempt(deps, after);
  return after;
}

/**
 * Releases a quarantined delivery (an admin overriding a verdict, so a reason is required) or
 * deletes it; audited as `quarantine-release` or `quarantine-delete`.
 * @returns the delivery as it now is, or null once deleted
 */
export async function actOnQuarantined(
  deps: QueueAdminDeps,
  key: DeliveryKey,
  action: QuarantineAction,
  options: ActionOptions,
): Promise<DeliveryRecord | null> {
  const d = await load(deps, key);
  if (d.state !== 'quarantined') refuse(d, `quarantine ${action}`, 'quarantined');
  if (action === 'delete') {
    await remove(deps, d, options, 'quarantine-delete', ['quarantined']);
    return null;
  }
  if (!options.reason?.trim())
    throw new ValidationError('request body', ['reason: releasing quarantined mail needs a reason']);
  const after = await releaseDelivery(key, deps);
  await audit(
    deps,
    key,
    'quarantine-release',
    options,
    `delivery ${key.messageId} to ${key.recipient} released from quarantine (${d.reason ?? 'no verdict recorded'}) -> ${after.state}`,
  );
  await requestAttempt(deps, after);
  return after;
}

/** One item of a selection: a delivery, or every delivery of a message. */
export interface SelectionItem {
  messageId: string;
  recipient?: string | undefined;
}

function itemError(key: DeliveryKey, err: unknown, deps: QueueAdminDeps): ItemResult {
  if (err instanceof LifeboatError)
    return { ...key, ok: false, error: { code: err.code, message: err.message } };
  deps.log.error('queue action failed', { messageId: key.messageId, error: (err as Error).message });
  return {
    ...key,
    ok: false,
    error: { code: 'INTERNAL', message: 'the action failed; nothing else was changed' },
  };
}

/**
 * The deliveries a selection names, each once: an item without a recipient stands for every
 * delivery of its message.
 * @throws ValidationError when they are more than MAX_SELECTION
 */
export async function expandSelection(
  deps: QueueAdminDeps,
  items: readonly SelectionItem[],
): Promise<DeliveryKey[]> {
  const keys = new Map<string, DeliveryKey>();
  const add = (k: DeliveryKey) => keys.set(`${k.messageId}\u0000${k.recipient}`, k);
  for (const item of items) {
    if (item.recipient !== undefined)
      add({ messageId: item.messageId, recipient: item.recipient.toLowerCase() });
    else {
      const all = await deps.store.listDeliveries(item.messageId);
      // A message that is not there stays in the selection, so its result says so.
      if (all.length === 0) add({ messageId: item.messageId, recipient: '*' });
      for (const d of all) add(d);
    }
    if (keys.size > MAX_SELECTION)
      throw new ValidationError('request body', [
        `ids: at most ${MAX_SELECTION} deliveries per request; the selection names more`,
      ]);
  }
  return [...keys.values()];
}

/**
 * Acts on every delivery of a selection, one after another, and reports each one's outcome: a
 * delivery that cannot take the action does not stop the others.
 */
export async function actOnSelection(
  deps: QueueAdminDeps,
  items: readonly SelectionItem[],
  act: (key: DeliveryKey) => Promise<DeliveryRecord | null>,
): Promise<{ results: ItemResult[]; done: number; refused: number }> {
  const keys = await expandSelection(deps, items);
  const results: ItemResult[] = [];
  for (const key of keys) {
    try {
      if (key.recipient === '*') throw new NotFoundError(`message ${key.messageId}`);
      const after = await act(key);
      results.push(
        after
          ? { ...key, ok: true, state: after.state, route: after.route }
          : { ...key, ok: true, state: 'deleted' },
      );
    } catch (err) {
      results.push(itemError(key, err, deps));
    }
  }
  const done = results.filter((r) => r.ok).length;
  return { results, done, refused: results.length - done };
}

/** One delivery as the console shows it: the record, its message's summary and its attempts. */
export interface DeliveryDetail {
  delivery: DeliveryRecord;
  /** The message's envelope and headers; never its body or snippet. */
  message: Omit<MessageRecord, 'snippet'> | null;
  /** Each attempt with the primary's reply, oldest first. */
  attempts: DeliveryAttempt[];
}

/** A delivery with its attempts and the primary's replies. */
export async function getDeliveryDetail(deps: QueueAdminDeps, key: DeliveryKey): Promise<DeliveryDetail> {
  const delivery = await load(deps, key);
  const [message, stored] = await Promise.all([
    deps.store.getMessage(key.messageId),
    deps.store.listDeliveryAttempts(key, MAX_ATTEMPTS_SHOWN),
  ]);
  const attempts = [...stored];
  // A first attempt that delivered is kept on the record alone.
  if (delivery.state === 'delivered' && !attempts.some((a) => a.outcome === 'delivered')) {
    attempts.push({
      messageId: key.messageId,
      recipient: key.recipient,
      at: delivery.deliveredAt ?? delivery.updatedAt,
      attempt: delivery.attempts,
      route: delivery.route,
      outcome: 'delivered',
      response: delivery.lastResponse ?? '',
    });
  }
  let summary: DeliveryDetail['message'] = null;
  if (message) {
    const { snippet: _snippet, ...rest } = message;
    summary = rest;
  }
  return { delivery, message: summary, attempts };
}

/** A quarantined delivery with the verdicts that put it there. */
export interface QuarantinedItem {
  delivery: DeliveryRecord;
  message: Pick<
    MessageRecord,
    'envelopeFrom' | 'from' | 'subject' | 'receivedAt' | 'size' | 'verdicts' | 'attachments'
  > | null;
}

/** One page of the quarantine, oldest first, each with its message's verdicts (one batch read). */
export async function listQuarantine(
  deps: Pick<QueueAdminDeps, 'store'>,
  options: { limit: number; cursor?: string | undefined },
): Promise<{ items: QuarantinedItem[]; cursor: string | undefined }> {
  const page = await listQueue(deps.store, { state: 'quarantined', ...options });
  const ids = [...new Set(page.items.map((d) => d.messageId))];
  const messages = new Map<string, MessageRecord>();
  for (let i = 0; i < ids.length; i += 100) {
    for (const m of await deps.store.getMessages(ids.slice(i, i + 100))) messages.set(m.id, m);
  }
  return {
    items: page.items.map((delivery) => {
      const m = messages.get(delivery.messageId);
      return {
        delivery,
        message: m
          ? {
              envelopeFrom: m.envelopeFrom,
              from: m.from,
              subject: m.subject,
              receivedAt: m.receivedAt,
              size: m.size,
              verdicts: m.verdicts,
              attachments: m.attachments,
            }
          : null,
      };
    }),
    cursor: page.cursor,
  };
}
