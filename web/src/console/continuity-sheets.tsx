/**
 * The continuity actions' confirmation sheets: acknowledge, invoke (scope, reason), revoke, plan
 * maintenance and extend it. Each says what will happen before it happens, in the words the README uses.
 */
import { useState } from 'preact/hooks';
import type { ContinuityEvent, RouteHealth, StatusResponse } from '../../../lambdas/console/schemas.js';
import type { AdminApi } from './api.js';
import { scopeWords, when } from './format.js';
import { Sheet } from './sheet.js';
import { localInput } from './when-input.js';

export type ContinuitySheet = 'acknowledge' | 'invoke' | 'revoke' | 'schedule' | 'extend';

interface Props {
  api: AdminApi;
  status: StatusResponse | null;
  eventId: string | null;
  /** The event itself, for extend: its planned end. */
  event?: ContinuityEvent | null | undefined;
  which: ContinuitySheet;
  onDone: () => void;
  onClose: () => void;
}

function ScopePicker(props: { routes: RouteHealth[]; value: string; onChange: (v: string) => void }) {
  if (props.routes.length < 2) return null;
  return (
    <label class="field">
      <span>Which mail</span>
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="*">Every route</option>
        {props.routes.map((r) => (
          <option key={r.name} value={r.name}>
            Route {r.name} ({r.domains.join(', ') || r.hosts.join(', ')})
          </option>
        ))}
      </select>
    </label>
  );
}

export function ContinuitySheets(props: Props) {
  const { api, status, eventId, which, onDone, onClose } = props;
  const routes = status?.routes ?? [];
  const [scope, setScope] = useState('*');
  const [reason, setReason] = useState('');
  const [start, setStart] = useState(() => localInput(new Date(Date.now() + 60 * 60_000)));
  const [end, setEnd] = useState(() => localInput(new Date(Date.now() + 3 * 60 * 60_000)));
  const [hours, setHours] = useState('2');
  const held = status?.queue.held ?? 0;

  if (which === 'acknowledge' && eventId) {
    return (
      <Sheet
        title="Acknowledge the page"
        confirm="Acknowledge"
        onConfirm={async () => {
          await api.acknowledge(eventId);
          onDone();
        }}
        onClose={onClose}
      >
        <p>
          You take this event on. Repeat pages stop, and so does automatic invocation: mail keeps being
          retried until you invoke continuity or the primary recovers.
        </p>
      </Sheet>
    );
  }
  if (which === 'invoke') {
    const deferred = status?.queue.deferred ?? 0;
    return (
      <Sheet
        title="Invoke continuity"
        confirm="Invoke continuity"
        danger
        onConfirm={async () => {
          await api.invoke({
            ...(scope !== '*' ? { scope } : {}),
            ...(reason.trim() ? { reason: reason.trim() } : {}),
          });
          onDone();
        }}
        onClose={onClose}
      >
        <p>
          Mail for {scopeWords(scope)} stops going to the primary and is held here, including the {deferred}{' '}
          {deferred === 1 ? 'delivery' : 'deliveries'} deferred now. Staff are texted the webmail's address
          and admins are told. Nothing is lost: revoking hands every held message over, oldest first.
        </p>
        <ScopePicker routes={routes} value={scope} onChange={setScope} />
        <label class="field">
          <span>Reason (for the audit log and the texts)</span>
          <input
            type="text"
            value={reason}
            maxLength={500}
            placeholder="Exchange is down"
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
        </label>
      </Sheet>
    );
  }
  if (which === 'revoke') {
    return (
      <Sheet
        title="Revoke continuity"
        confirm="Revoke and hand over"
        onConfirm={async () => {
          await api.revoke();
          onDone();
        }}
        onClose={onClose}
      >
        <p>
          The hand-over starts at once: the {held} held {held === 1 ? 'delivery goes' : 'deliveries go'} to
          the primary in arrival order, paced so it is not flooded, then the mail staff sent meanwhile. Check
          that the primary accepts mail first.
        </p>
      </Sheet>
    );
  }
  if (which === 'extend' && eventId && props.event?.scheduledEnd) {
    const n = Number(hours);
    const valid = Number.isInteger(n) && n >= 1;
    const to = new Date(Date.parse(props.event.scheduledEnd) + (valid ? n : 0) * 3_600_000);
    return (
      <Sheet
        title="Extend the window"
        confirm="Extend"
        ready={valid}
        onConfirm={async () => {
          await api.extend(eventId, n);
          onDone();
        }}
        onClose={onClose}
      >
        <p>
          Continuity for {scopeWords(props.event.scope)} now ends at {when(props.event.scheduledEnd)}.
          {valid ? ` It will end at ${when(to.toISOString())} instead, with the hand-over then.` : ''} An
          event lasts at most the configured longest event (continuity.maxEventHours).
        </p>
        <label class="field">
          <span>Hours to add</span>
          <input
            type="number"
            inputMode="numeric"
            min={1}
            step={1}
            value={hours}
            onInput={(ev) => setHours((ev.target as HTMLInputElement).value)}
          />
        </label>
      </Sheet>
    );
  }
  if (which === 'schedule') {
    const s = new Date(start);
    const e = new Date(end);
    const valid = !Number.isNaN(s.getTime()) && !Number.isNaN(e.getTime()) && e > s;
    return (
      <Sheet
        title="Plan maintenance"
        confirm="Plan it"
        ready={valid}
        onConfirm={async () => {
          await api.schedule({
            start: s.toISOString(),
            end: e.toISOString(),
            ...(scope !== '*' ? { scope } : {}),
            ...(reason.trim() ? { reason: reason.trim() } : {}),
          });
          onDone();
        }}
        onClose={onClose}
      >
        <p>
          Continuity is invoked for {scopeWords(scope)} at the start and revoked at the end, with the
          hand-over then. Admins are told now.
        </p>
        <label class="field">
          <span>Start</span>
          <input
            type="datetime-local"
            value={start}
            onInput={(ev) => setStart((ev.target as HTMLInputElement).value)}
          />
        </label>
        <label class="field">
          <span>End</span>
          <input
            type="datetime-local"
            value={end}
            onInput={(ev) => setEnd((ev.target as HTMLInputElement).value)}
          />
        </label>
        <ScopePicker routes={routes} value={scope} onChange={setScope} />
        <label class="field">
          <span>Reason</span>
          <input
            type="text"
            value={reason}
            maxLength={500}
            placeholder="Exchange upgrade"
            onInput={(ev) => setReason((ev.target as HTMLInputElement).value)}
          />
        </label>
      </Sheet>
    );
  }
  return null;
}
