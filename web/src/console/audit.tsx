/**
 * The audit log: every admin action and every automatic transition, newest first, filtered by
 * actor, action, target and time (the filters live in the address), and the API's CSV export.
 */
import { useEffect, useState } from 'preact/hooks';
import type { AuditEntry } from '../../../lambdas/console/schemas.js';
import { type AuditFilter, explain } from './api.js';
import type { ViewProps } from './app.js';
import { download } from './download.js';
import { when } from './format.js';

const KEYS = ['actor', 'action', 'target', 'from', 'to'] as const;

/** Actions the log holds, for the action filter's suggestions. */
const KNOWN_ACTIONS = [
  'alert',
  'acknowledge',
  'invoke',
  'revoke',
  'schedule',
  'all-clear',
  'flow-restored',
  'recovered',
  'hold',
  'release',
  'retry',
  'reroute',
  'bounce',
  'delete',
  'flush',
  'notify-failed',
  'quarantine-view',
  'extend',
  'notice-send',
  'notice-resume',
  'replay-start',
  'replay-cancel',
  'replay-resume',
  'replay-paused',
  'replay-finished',
  'drill-start',
  'drill-cancel',
  'drill-complete',
  'settings-override',
  'settings-reset',
];

/** `datetime-local` value ↔ ISO instant. */
function toInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromInput(v: string): string {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function AuditView(props: ViewProps & { params: URLSearchParams }) {
  const { api, params, navigate } = props;
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [draft, setDraft] = useState(() => ({
    actor: params.get('actor') ?? '',
    action: params.get('action') ?? '',
    target: params.get('target') ?? '',
    from: toInput(params.get('from')),
    to: toInput(params.get('to')),
  }));
  const key = params.toString();
  const filter = (): AuditFilter => Object.fromEntries(KEYS.map((k) => [k, params.get(k) ?? undefined]));

  useEffect(() => {
    let live = true;
    setEntries(null);
    api.audit({ ...filter(), limit: '100' }).then(
      (p) => {
        if (!live) return;
        setEntries(p.entries);
        setCursor(p.cursor);
        setFailure(null);
      },
      (err) => live && setFailure(explain(err)),
    );
    return () => {
      live = false;
    };
  }, [api, key]);

  const apply = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (draft.actor.trim()) p.set('actor', draft.actor.trim());
    if (draft.action.trim()) p.set('action', draft.action.trim());
    if (draft.target.trim()) p.set('target', draft.target.trim());
    if (draft.from && fromInput(draft.from)) p.set('from', fromInput(draft.from));
    if (draft.to && fromInput(draft.to)) p.set('to', fromInput(draft.to));
    navigate({ name: 'audit', params: p });
  };
  const set = (k: keyof typeof draft) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });

  const more = async () => {
    if (!cursor) return;
    try {
      const p = await api.audit({ ...filter(), limit: '100', cursor });
      setEntries([...(entries ?? []), ...p.entries]);
      setCursor(p.cursor);
    } catch (err) {
      setFailure(explain(err));
    }
  };

  const csv = async () => {
    setNote(null);
    try {
      const r = await api.auditCsv(filter());
      download(r.blob, 'lifeboat-audit.csv');
      setNote(
        r.truncated
          ? `Downloaded the first ${r.rows} entries: there are more. Narrow the time range to get the rest.`
          : `Downloaded ${r.rows} ${r.rows === 1 ? 'entry' : 'entries'}.`,
      );
    } catch (err) {
      setFailure(explain(err));
    }
  };

  return (
    <section class="card" aria-labelledby="audit-h">
      <div class="card-head">
        <h1 id="audit-h">Audit log</h1>
        <button type="button" class="button" onClick={csv}>
          Download CSV
        </button>
      </div>
      <form class="filter-grid" onSubmit={apply} aria-label="Filter the audit log">
        <label class="field">
          <span>Who</span>
          <input
            type="text"
            value={draft.actor}
            onInput={set('actor')}
            placeholder="alice@example.com or lifeboat"
          />
        </label>
        <label class="field">
          <span>Action</span>
          <input type="text" list="audit-actions" value={draft.action} onInput={set('action')} />
          <datalist id="audit-actions">
            {KNOWN_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label class="field">
          <span>Target (message id or address)</span>
          <input type="text" value={draft.target} onInput={set('target')} />
        </label>
        <label class="field">
          <span>From</span>
          <input type="datetime-local" value={draft.from} onInput={set('from')} />
        </label>
        <label class="field">
          <span>Until</span>
          <input type="datetime-local" value={draft.to} onInput={set('to')} />
        </label>
        <div class="actions">
          <button type="submit" class="button primary">
            Search
          </button>
        </div>
      </form>
      {note ? (
        <p class="notice" role="status">
          {note}
        </p>
      ) : null}
      {failure ? (
        <p class="problem" role="alert">
          {failure}
        </p>
      ) : null}
      {entries === null && !failure ? <p class="loading">Loading…</p> : null}
      {entries?.length === 0 ? <p class="muted">No entry matches.</p> : null}
      <ul class="entries" aria-label="Audit entries">
        {entries?.map((e) => (
          <li key={`${e.at}-${e.action}-${e.target ?? ''}-${e.detail}`}>
            <div>
              <time dateTime={e.at}>{when(e.at)}</time> <strong>{e.actor}</strong> <code>{e.action}</code>
            </div>
            {e.target ? <div class="small break">{e.target}</div> : null}
            <div class="muted small break">
              {e.detail}
              {e.reason ? ` · reason: ${e.reason}` : ''}
            </div>
          </li>
        ))}
      </ul>
      {cursor ? (
        <button type="button" class="button" onClick={more}>
          Show more
        </button>
      ) : null}
    </section>
  );
}
