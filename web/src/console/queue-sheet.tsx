/**
 * The queue actions' confirmation sheet: hold, release, retry now, reroute, bounce and delete, on
 * one delivery or a selection, each saying what it does (the README's words), with a reason for
 * the audit log and, for reroute, the route. The outcome is reported per delivery in plain words.
 */
import { useState } from 'preact/hooks';
import type { QueueAction, RouteHealth } from '../../../lambdas/console/schemas.js';
import type { AdminApi } from './api.js';
import { Sheet } from './sheet.js';
import { ACTION_LABELS, outcomeWords } from './words.js';

export interface Target {
  messageId: string;
  recipient: string;
}

const WHAT_IT_DOES: Record<QueueAction, string> = {
  hold: 'Kept here, not attempted, until released. A queued, deferred or failed delivery can be held.',
  release:
    'Goes back to the queue and is attempted at the next sweep (mail held by continuity stays held while its route is).',
  retry: 'Attempted now: a deferred delivery becomes due at once; a failed or held one is queued again.',
  reroute:
    'Sent to the hosts of the route you pick, at once and on every later attempt, until rerouted back to its own route.',
  bounce:
    'Fails the delivery and sends the sender a delivery status notification (RFC 3464) with the primary’s last reply. The message is not delivered.',
  delete: 'The delivery is dropped and never delivered. The message and its raw mail stay in the archive.',
};

export { ACTION_LABELS, outcomeWords };

export function QueueActionSheet(props: {
  api: AdminApi;
  action: QueueAction;
  targets: Target[];
  routes: RouteHealth[];
  onDone: (result: { summary: string; refusals: string[] }) => void;
  onClose: () => void;
}) {
  const { api, action, targets, routes } = props;
  const [reason, setReason] = useState('');
  const [route, setRoute] = useState(routes[0]?.name ?? '');
  const n = targets.length;
  const which = n === 1 ? `the delivery to ${targets[0]?.recipient}` : `${n} deliveries`;
  return (
    <Sheet
      title={`${ACTION_LABELS[action]} ${n === 1 ? 'this delivery' : `${n} deliveries`}`}
      confirm={`${ACTION_LABELS[action]} ${n === 1 ? '' : n}`.trim()}
      danger={action === 'bounce' || action === 'delete'}
      ready={action !== 'reroute' || route !== ''}
      onConfirm={async () => {
        const outcome = await api.queueAction({
          action,
          ids: targets.map((t) => ({ messageId: t.messageId, recipient: t.recipient })),
          ...(reason.trim() ? { reason: reason.trim() } : {}),
          ...(action === 'reroute' ? { route } : {}),
        });
        props.onDone(outcomeWords(action, outcome));
      }}
      onClose={props.onClose}
    >
      <p>
        {ACTION_LABELS[action]} {which}. {WHAT_IT_DOES[action]}
      </p>
      {action === 'reroute' ? (
        <label class="field">
          <span>To route</span>
          <select value={route} onChange={(e) => setRoute((e.target as HTMLSelectElement).value)}>
            {routes.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name} ({r.hosts.join(', ')})
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <label class="field">
        <span>Reason (kept in the audit log)</span>
        <input
          type="text"
          value={reason}
          maxLength={500}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
        />
      </label>
    </Sheet>
  );
}
