/**
 * The queue: deliveries waiting or stuck, filtered by state, route, recipient, sender and age
 * (the filters live in the address, so a filtered queue can be shared or reloaded); one delivery's
 * attempts with the primary's replies; and the six actions on one delivery or a selection, each
 * through its confirmation sheet. The first page refreshes itself, so an invoke is seen filling it.
 */
import { useEffect, useState } from 'preact/hooks';
import { QUEUE_STATES } from '../../../lambdas/console/constants.js';
import type { DeliveryDetail, DeliveryRecord, QueueAction } from '../../../lambdas/console/schemas.js';
import { explain, type QueueFilter } from './api.js';
import type { ViewProps } from './app.js';
import { ago, DELIVERY_WORDS, size, when } from './format.js';
import { ACTION_LABELS, QueueActionSheet, type Target } from './queue-sheet.js';
import { viewPath } from './route.js';

/** The first page is read again this often while nothing is selected. */
const QUEUE_POLL_MS = 4000;
const PAGE_SIZE = 100;

const ACTIONS: QueueAction[] = ['hold', 'release', 'retry', 'reroute', 'bounce', 'delete'];

const FILTER_KEYS = [
  'state',
  'route',
  'recipient',
  'sender',
  'olderThanMinutes',
  'newerThanMinutes',
] as const;

const keyOf = (d: { messageId: string; recipient: string }) => `${d.messageId}/${d.recipient}`;

function Filters(props: ViewProps & { params: URLSearchParams }) {
  const routes = props.status?.routes ?? [];
  const [draft, setDraft] = useState(() =>
    Object.fromEntries(FILTER_KEYS.map((k) => [k, props.params.get(k) ?? ''])),
  );
  const set = (k: string) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const k of FILTER_KEYS) if (draft[k]?.trim()) p.set(k, draft[k].trim());
    props.navigate({ name: 'queue', params: p });
  };
  const active = FILTER_KEYS.filter((k) => props.params.get(k)).length;
  return (
    <details class="filters" open={active > 0}>
      <summary>Filters{active ? ` (${active})` : ''}</summary>
      <form onSubmit={apply} class="filter-grid">
        <label class="field">
          <span>State</span>
          <select value={draft.state} onChange={set('state')}>
            <option value="">Every state but delivered</option>
            {QUEUE_STATES.map((s) => (
              <option key={s} value={s}>
                {DELIVERY_WORDS[s]}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Route</span>
          <select value={draft.route} onChange={set('route')}>
            <option value="">Any route</option>
            {routes.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Recipient</span>
          <input
            type="email"
            value={draft.recipient}
            onInput={set('recipient')}
            placeholder="alice@example.com"
          />
        </label>
        <label class="field">
          <span>Sender (address or @domain)</span>
          <input type="text" value={draft.sender} onInput={set('sender')} placeholder="@example.org" />
        </label>
        <label class="field">
          <span>Older than (minutes)</span>
          <input
            type="number"
            min="0"
            inputMode="numeric"
            value={draft.olderThanMinutes}
            onInput={set('olderThanMinutes')}
          />
        </label>
        <label class="field">
          <span>Newer than (minutes)</span>
          <input
            type="number"
            min="0"
            inputMode="numeric"
            value={draft.newerThanMinutes}
            onInput={set('newerThanMinutes')}
          />
        </label>
        <div class="actions">
          <button type="submit" class="button primary">
            Apply filters
          </button>
          {active ? (
            <button
              type="button"
              class="button"
              onClick={() => props.navigate({ name: 'queue', params: new URLSearchParams() })}
            >
              Clear
            </button>
          ) : null}
        </div>
      </form>
    </details>
  );
}

export function QueueView(props: ViewProps & { params: URLSearchParams }) {
  const { api, params, status, navigate } = props;
  const [rows, setRows] = useState<DeliveryRecord[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [selected, setSelected] = useState<Map<string, Target>>(new Map());
  const [sheet, setSheet] = useState<{ action: QueueAction; targets: Target[] } | null>(null);
  const [result, setResult] = useState<{ summary: string; refusals: string[] } | null>(null);
  const [tick, setTick] = useState(0);
  const [updatedAt, setUpdatedAt] = useState<string | null>(null);
  const filterKey = params.toString();

  const filter = (): QueueFilter => {
    const f: QueueFilter = { limit: String(PAGE_SIZE) };
    for (const k of FILTER_KEYS) f[k] = params.get(k) ?? undefined;
    return f;
  };

  useEffect(() => {
    setSelected(new Map());
    setRows(null);
  }, [filterKey]);

  useEffect(() => {
    let live = true;
    api.queue(filter()).then(
      (page) => {
        if (!live) return;
        setRows(page.deliveries);
        setCursor(page.cursor);
        setFailure(null);
        setUpdatedAt(new Date().toISOString());
      },
      (err) => live && setFailure(explain(err)),
    );
    const polling = selected.size === 0 && !sheet;
    const timer = polling ? setTimeout(() => setTick((n) => n + 1), QUEUE_POLL_MS) : undefined;
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [api, filterKey, tick, selected.size === 0, sheet === null]);

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api.queue({ ...filter(), cursor });
      setRows([...(rows ?? []), ...page.deliveries]);
      setCursor(page.cursor);
    } catch (err) {
      setFailure(explain(err));
    }
  };

  const toggle = (d: DeliveryRecord) => {
    const next = new Map(selected);
    if (next.has(keyOf(d))) next.delete(keyOf(d));
    else next.set(keyOf(d), { messageId: d.messageId, recipient: d.recipient });
    setSelected(next);
  };
  const allSelected = rows !== null && rows.length > 0 && rows.every((d) => selected.has(keyOf(d)));
  const toggleAll = () =>
    setSelected(
      allSelected
        ? new Map()
        : new Map((rows ?? []).map((d) => [keyOf(d), { messageId: d.messageId, recipient: d.recipient }])),
    );

  return (
    <div class="stack">
      <section class="card" aria-labelledby="queue-h">
        <div class="card-head">
          <h1 id="queue-h">Queue</h1>
          {updatedAt ? <span class="muted small">Updated {when(updatedAt)}</span> : null}
        </div>
        <Filters {...props} key={filterKey} />
        {result ? (
          <div class={result.refusals.length ? 'problem' : 'notice'} role="status">
            <p>{result.summary}</p>
            {result.refusals.length ? (
              <ul>
                {result.refusals.map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        {failure ? (
          <p class="problem" role="alert">
            {failure}
          </p>
        ) : null}
        {rows === null && !failure ? <p class="loading">Loading the queue…</p> : null}
        {rows?.length === 0 ? <p class="muted">Nothing in the queue matches.</p> : null}
        {rows && rows.length > 0 ? (
          <>
            <label class="check select-all">
              <input type="checkbox" checked={allSelected} onChange={toggleAll} />
              <span>Select all {rows.length} shown</span>
            </label>
            <ul class="rows" aria-label="Deliveries">
              {rows.map((d) => (
                <li key={keyOf(d)} class={`qrow${selected.has(keyOf(d)) ? ' selected' : ''}`}>
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={selected.has(keyOf(d))}
                      onChange={() => toggle(d)}
                      aria-label={`Select the delivery to ${d.recipient} from ${d.envelopeFrom || '<>'}`}
                    />
                  </label>
                  <a
                    class="qrow-main"
                    href={viewPath({ name: 'delivery', messageId: d.messageId, recipient: d.recipient })}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate({ name: 'delivery', messageId: d.messageId, recipient: d.recipient });
                    }}
                  >
                    <span class="qrow-top">
                      <span class={`badge badge-${d.state}`}>{DELIVERY_WORDS[d.state]}</span>
                      <strong class="ellipsis">{d.recipient}</strong>
                      <span class="muted small nowrap">{ago(d.receivedAt)}</span>
                    </span>
                    <span class="muted small ellipsis block">
                      from {d.envelopeFrom || '<>'} · route {d.route}
                      {d.reroutedFrom ? ` (rerouted from ${d.reroutedFrom})` : ''} · {d.attempts}{' '}
                      {d.attempts === 1 ? 'try' : 'tries'}
                    </span>
                    {d.lastError ? <span class="small ellipsis block error-text">{d.lastError}</span> : null}
                  </a>
                </li>
              ))}
            </ul>
            {cursor ? (
              <button type="button" class="button" onClick={more}>
                Show more
              </button>
            ) : null}
          </>
        ) : null}
      </section>
      {selected.size > 0 ? (
        <div class="selection-bar" role="toolbar" aria-label={`Actions on ${selected.size} selected`}>
          <span class="sel-count">{selected.size} selected</span>
          {ACTIONS.map((a) => (
            <button
              key={a}
              type="button"
              class={`button${a === 'bounce' || a === 'delete' ? ' danger-outline' : ''}`}
              onClick={() => setSheet({ action: a, targets: [...selected.values()] })}
            >
              {ACTION_LABELS[a]}
            </button>
          ))}
        </div>
      ) : null}
      {sheet ? (
        <QueueActionSheet
          api={api}
          action={sheet.action}
          targets={sheet.targets}
          routes={status?.routes ?? []}
          onDone={(r) => {
            setResult(r);
            setSelected(new Map());
            setTick((n) => n + 1);
            props.refresh();
          }}
          onClose={() => setSheet(null)}
        />
      ) : null}
    </div>
  );
}

/** One delivery: its record, its message's envelope and headers, every attempt with the reply. */
export function DeliveryView(props: ViewProps & { messageId: string; recipient: string }) {
  const { api, messageId, recipient, status } = props;
  const [detail, setDetail] = useState<DeliveryDetail | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sheet, setSheet] = useState<QueueAction | null>(null);
  const [result, setResult] = useState<{ summary: string; refusals: string[] } | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    api.delivery(messageId, recipient).then(
      (d) => {
        if (!live) return;
        setDetail(d);
        setFailure(null);
      },
      (err) => live && setFailure(explain(err)),
    );
    return () => {
      live = false;
    };
  }, [api, messageId, recipient, tick]);

  if (!detail) {
    return failure ? (
      <section class="card">
        <h1>Delivery to {recipient}</h1>
        <p class="problem" role="alert">
          {failure}
        </p>
      </section>
    ) : (
      <p class="loading">Loading the delivery…</p>
    );
  }
  const d = detail.delivery;
  const m = detail.message;
  return (
    <div class="stack">
      <section class="card" aria-labelledby="delivery-h">
        <p class="eyebrow">
          <a
            href="/console/queue"
            onClick={(e) => {
              e.preventDefault();
              history.back();
            }}
          >
            ← Queue
          </a>
        </p>
        <h1 id="delivery-h" class="break">
          {m?.subject ?? '(no subject)'}
        </h1>
        <p>
          <span class={`badge badge-${d.state}`}>{DELIVERY_WORDS[d.state]}</span> to{' '}
          <strong>{d.recipient}</strong>
        </p>
        <dl class="facts">
          <dt>Envelope sender</dt>
          <dd class="break">{m?.envelopeFrom || d.envelopeFrom || '<> (none)'}</dd>
          <dt>From</dt>
          <dd class="break">{m?.from ?? '—'}</dd>
          <dt>Received</dt>
          <dd>
            {when(d.receivedAt)} ({ago(d.receivedAt)})
          </dd>
          <dt>Route</dt>
          <dd>
            {d.route}
            {d.reroutedFrom ? ` (rerouted from ${d.reroutedFrom})` : ''}
          </dd>
          <dt>Tries</dt>
          <dd>{d.attempts}</dd>
          {d.nextAttemptAt ? (
            <>
              <dt>Next try</dt>
              <dd>{when(d.nextAttemptAt)}</dd>
            </>
          ) : null}
          {d.reason ? (
            <>
              <dt>Why</dt>
              <dd>{d.reason}</dd>
            </>
          ) : null}
          {d.lastError ? (
            <>
              <dt>Last error</dt>
              <dd class="break error-text">{d.lastError}</dd>
            </>
          ) : null}
          {m ? (
            <>
              <dt>Size</dt>
              <dd>{size(m.size)}</dd>
              <dt>Message-ID</dt>
              <dd class="break">{m.messageIdHeader ?? '—'}</dd>
            </>
          ) : null}
        </dl>
        {result ? (
          <div class={result.refusals.length ? 'problem' : 'notice'} role="status">
            <p>{result.summary}</p>
            {result.refusals.map((r) => (
              <p key={r}>{r}</p>
            ))}
          </div>
        ) : null}
        <div class="actions wrap">
          {ACTIONS.map((a) => (
            <button
              key={a}
              type="button"
              class={`button${a === 'bounce' || a === 'delete' ? ' danger-outline' : ''}`}
              onClick={() => setSheet(a)}
            >
              {ACTION_LABELS[a]}…
            </button>
          ))}
        </div>
      </section>
      <section class="card" aria-labelledby="attempts-h">
        <h2 id="attempts-h">Attempts</h2>
        {detail.attempts.length === 0 ? <p class="muted">Not attempted yet.</p> : null}
        <ol class="attempts">
          {detail.attempts.map((a) => (
            <li key={`${a.attempt}-${a.at}`} class={`att-${a.outcome}`}>
              <div>
                <strong>
                  #{a.attempt} {a.outcome}
                </strong>{' '}
                <span class="muted small">
                  {when(a.at)} · route {a.route}
                </span>
              </div>
              <code class="reply">{a.response || '(no reply)'}</code>
            </li>
          ))}
        </ol>
      </section>
      {sheet ? (
        <QueueActionSheet
          api={api}
          action={sheet}
          targets={[{ messageId, recipient: d.recipient }]}
          routes={status?.routes ?? []}
          onDone={(r) => {
            setResult(r);
            setTick((n) => n + 1);
            props.refresh();
          }}
          onClose={() => setSheet(null)}
        />
      ) : null}
    </div>
  );
}
