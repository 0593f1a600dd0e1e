import { normaliseAddress } from '../routing.js';
import { noticeBounces, overallState, updateOutgoing } from './outbound.js';
import type { OutgoingData, OutgoingRecipient, SendingDeps } from './records.js';

/**
 * What the relay (SES, through its configuration set's events) said later about a message it had
 * accepted: a bounce, a complaint or a delivery, for some of its recipients.
 */
export interface RelayEvent {
  type: 'bounce' | 'complaint' | 'delivery';
  /** The sender's user id and the sent message's id, as the relay carried them back (message tags). */
  user: string;
  id: string;
  /** The relay's id for the message, to check the event is about the message as sent. */
  providerId: string | null;
  recipients: Array<{ address: string; detail: string }>;
}

export type RelayEventOutcome = 'recorded' | 'unchanged' | 'unknown';

/**
 * Records a relay's later word on a sent message in its Sent item, per recipient:
 * - a **bounce** makes the recipient `bounced` and puts a delivery status notice in the sender's
 *   mailbox, the same notice a 5xx from the relay gives (noticeBounces), audited;
 * - a **delivery** makes a `relayed` recipient `delivered`;
 * - a **complaint** (the recipient marked it as spam) keeps the status, says so in the detail,
 *   and is audited: a stolen session spamming from the domain shows first as complaints.
 * Idempotent: a recipient already bounced is not noticed again, so an event delivered twice
 * changes nothing. An event for a message this store does not hold is `unknown` (mail SES sent
 * for something else in the account, or a record past its retention).
 */
export async function recordRelayEvent(deps: SendingDeps, event: RelayEvent): Promise<RelayEventOutcome> {
  const rec = await deps.sending.getSending<OutgoingData>('outgoing', event.user, event.id);
  if (
    !rec ||
    (event.providerId !== null && rec.data.providerId !== null && rec.data.providerId !== event.providerId)
  ) {
    deps.log.warn('relay event for a message not held here', { id: event.id, type: event.type });
    return 'unknown';
  }
  const at = deps.clock.now().toISOString();
  const named = new Map(event.recipients.map((r) => [normaliseAddress(r.address), r.detail]));
  const change = (x: OutgoingRecipient): OutgoingRecipient => {
    const detail = named.get(x.address);
    if (detail === undefined || x.internal || x.status === 'bounced') return x;
    if (event.type === 'bounce') return { ...x, status: 'bounced', detail, updatedAt: at };
    if (event.type === 'delivery')
      return x.status === 'delivered' ? x : { ...x, status: 'delivered', detail, updatedAt: at };
    return { ...x, detail: `complaint: ${detail}`, updatedAt: at };
  };
  const changed = rec.data.recipients.filter((x) => change(x) !== x);
  if (changed.length === 0) return 'unchanged';
  let cur = await updateOutgoing(deps, rec, (r) => {
    const data = { ...r.data, recipients: r.data.recipients.map(change) };
    // A retry still due keeps its state and time; otherwise the state follows the recipients.
    return {
      dueAt: r.dueAt,
      data: r.data.state === 'retrying' ? data : { ...data, state: overallState(data) },
    };
  });
  if (event.type === 'bounce') {
    const bounced = cur.data.recipients.filter((x) => changed.some((c) => c.address === x.address));
    const raw = await deps.sendingBlobs.getRaw(cur.data.rawKey);
    const notices = await noticeBounces(deps, cur, raw, bounced);
    cur = await updateOutgoing(deps, cur, (r) => ({ dueAt: r.dueAt, data: { ...r.data, notices } }));
  }
  if (event.type !== 'delivery') {
    await deps.continuity.appendAudit({
      at,
      actor: 'lifeboat',
      action: event.type === 'bounce' ? 'mail-send-bounced' : 'mail-send-complaint',
      target: event.id,
      detail:
        event.type === 'bounce'
          ? `${changed.length} of ${cur.data.recipients.length} recipients bounced after SES accepted it; notice to ${cur.data.from}`
          : `${changed.length} recipients reported it as spam (sent by ${cur.data.from})`,
      eventId: null,
    });
  }
  deps.log.info('relay event recorded', {
    id: event.id,
    user: event.user,
    type: event.type,
    recipients: changed.length,
    state: cur.data.state,
  });
  return 'recorded';
}
