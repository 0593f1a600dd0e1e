/**
 * Quarantined mail with the verdicts that put it there: a safe preview through the webmail's
 * renderer (the body in a sandboxed iframe, remote images held back, attachments listed, never
 * opened), release with a required reason, delete; on one message or a selection, each through
 * its sheet.
 */
import { useEffect, useState } from 'preact/hooks';
import type { QuarantinedItem, QuarantinePreview, Verdicts } from '../../../lambdas/console/schemas.js';
import { explain } from './api.js';
import type { ViewProps } from './app.js';
import { ago, size, when } from './format.js';
import { outcomeWords, type Target } from './queue-sheet.js';
import { Sheet } from './sheet.js';

const VERDICT_NAMES: (keyof Omit<Verdicts, 'dmarcPolicy'>)[] = ['virus', 'spam', 'spf', 'dkim', 'dmarc'];

function VerdictChips(props: { verdicts: Verdicts }) {
  return (
    <ul class="chips" aria-label="Verdicts">
      {VERDICT_NAMES.map((k) => {
        const v = props.verdicts[k];
        return (
          <li key={k} class={`chip chip-${v.toLowerCase()}`}>
            {k.toUpperCase()} {v === 'PROCESSING_FAILED' ? 'not checked' : v.toLowerCase()}
            {k === 'dmarc' && props.verdicts.dmarcPolicy
              ? ` (p=${props.verdicts.dmarcPolicy.toLowerCase()})`
              : ''}
          </li>
        );
      })}
    </ul>
  );
}

/** The message body with the webmail's renderer, loaded when a preview is first opened: most visits never need it. */
let renderModule: Promise<typeof import('../shared/message-body.js')> | null = null;
function loadRenderer() {
  renderModule ??= import('../shared/message-body.js');
  return renderModule;
}

/**
 * The message as the webmail's reading pane shows it: the server's sanitised HTML sanitised again
 * by the webmail's renderer and shown in the same sandboxed iframe (no script, no same-origin),
 * remote images held back behind the same bar, the attachments listed without links.
 */
function Preview(props: ViewProps & { item: QuarantinedItem }) {
  const { api, item } = props;
  const [message, setMessage] = useState<QuarantinePreview | null>(null);
  const [body, setBody] = useState<Awaited<ReturnType<typeof loadRenderer>> | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [showHeaders, setShowHeaders] = useState(false);
  useEffect(() => {
    Promise.all([api.quarantinePreview(item.delivery.messageId), loadRenderer()]).then(
      ([m, r]) => {
        setMessage(m);
        setBody(r);
      },
      (err) => setFailure(explain(err)),
    );
  }, [api, item.delivery.messageId]);
  if (failure)
    return (
      <p class="problem" role="alert">
        {failure}
      </p>
    );
  if (!message || !body) return <p class="loading">Loading…</p>;
  return (
    <section class="preview" aria-label="Preview">
      <dl class="facts">
        <dt>From</dt>
        <dd class="break">{message.from ?? '—'}</dd>
        <dt>Envelope</dt>
        <dd class="break">{message.envelopeFrom || '<>'}</dd>
        <dt>To</dt>
        <dd class="break">{message.to.join(', ') || '—'}</dd>
        {message.cc.length ? (
          <>
            <dt>Cc</dt>
            <dd class="break">{message.cc.join(', ')}</dd>
          </>
        ) : null}
        {message.replyTo.length ? (
          <>
            <dt>Reply-To</dt>
            <dd class="break">{message.replyTo.join(', ')}</dd>
          </>
        ) : null}
        <dt>Date</dt>
        <dd>{message.date ? when(message.date) : '—'}</dd>
        <dt>Message-ID</dt>
        <dd class="break">{message.messageIdHeader ?? '—'}</dd>
        <dt>Held for</dt>
        <dd class="break">
          {message.quarantined.map((q) => `${q.recipient} (${q.reason ?? 'no verdict recorded'})`).join(', ')}
        </dd>
        <dt>Attachments</dt>
        <dd class="break">
          {message.attachments.length
            ? message.attachments
                .map((a) => `${a.filename ?? '(unnamed)'} (${a.contentType}, ${size(a.size)})`)
                .join('; ')
            : 'none'}
        </dd>
      </dl>
      <p class="muted small">
        Attachments are listed, never opened here. Opening this preview is kept in the audit log.
      </p>
      <button
        type="button"
        class="button subtle"
        aria-expanded={showHeaders ? 'true' : 'false'}
        onClick={() => setShowHeaders(!showHeaders)}
      >
        {showHeaders ? 'Hide headers' : 'All headers'}
      </button>
      {showHeaders ? (
        <pre class="headers">{message.headers.map((h) => `${h.name}: ${h.value}`).join('\n')}</pre>
      ) : null}
      {message.parseError ? (
        <p class="problem">This message could not be read whole ({message.parseError}).</p>
      ) : null}
      <body.MessageBody key={message.id} message={message} opened="the message was opened" />
      {message.truncated ? <p class="muted small">This message is longer than shown here.</p> : null}
    </section>
  );
}

export function QuarantineView(props: ViewProps) {
  const { api } = props;
  const [items, setItems] = useState<QuarantinedItem[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [selected, setSelected] = useState<Map<string, Target>>(new Map());
  const [sheet, setSheet] = useState<{ action: 'release' | 'delete'; targets: Target[] } | null>(null);
  const [reason, setReason] = useState('');
  const [result, setResult] = useState<{ summary: string; refusals: string[] } | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    api.quarantine().then(
      (p) => {
        setItems(p.items);
        setCursor(p.cursor);
        setFailure(null);
      },
      (err) => setFailure(explain(err)),
    );
  }, [api, tick]);

  const key = (i: QuarantinedItem) => `${i.delivery.messageId}/${i.delivery.recipient}`;
  const target = (i: QuarantinedItem) => ({
    messageId: i.delivery.messageId,
    recipient: i.delivery.recipient,
  });
  const toggle = (i: QuarantinedItem) => {
    const next = new Map(selected);
    if (next.has(key(i))) next.delete(key(i));
    else next.set(key(i), target(i));
    setSelected(next);
  };
  const more = async () => {
    if (!cursor) return;
    try {
      const p = await api.quarantine(cursor);
      setItems([...(items ?? []), ...p.items]);
      setCursor(p.cursor);
    } catch (err) {
      setFailure(explain(err));
    }
  };

  const ask = (action: 'release' | 'delete', targets: Target[]) => {
    setReason('');
    setSheet({ action, targets });
  };

  return (
    <div class="stack">
      <section class="card" aria-labelledby="q-h">
        <h1 id="q-h">Quarantine</h1>
        <p class="muted small">Mail a policy kept from the mailboxes: a virus, spam, or a DMARC reject.</p>
        {result ? (
          <div class={result.refusals.length ? 'problem' : 'notice'} role="status">
            <p>{result.summary}</p>
            {result.refusals.map((r) => (
              <p key={r}>{r}</p>
            ))}
          </div>
        ) : null}
        {failure ? (
          <p class="problem" role="alert">
            {failure}
          </p>
        ) : null}
        {items === null && !failure ? <p class="loading">Loading…</p> : null}
        {items?.length === 0 ? <p class="muted">Nothing is quarantined.</p> : null}
        <ul class="rows" aria-label="Quarantined mail">
          {items?.map((i) => (
            <li key={key(i)} class={`qrow${selected.has(key(i)) ? ' selected' : ''}`}>
              <label class="check">
                <input
                  type="checkbox"
                  checked={selected.has(key(i))}
                  onChange={() => toggle(i)}
                  aria-label={`Select ${i.message?.subject ?? 'the message'} to ${i.delivery.recipient}`}
                />
              </label>
              <div class="qrow-main">
                <button
                  type="button"
                  class="row-button"
                  aria-expanded={open === key(i) ? 'true' : 'false'}
                  onClick={() => setOpen(open === key(i) ? null : key(i))}
                >
                  <span class="qrow-top">
                    <strong class="ellipsis">{i.message?.subject ?? '(no subject)'}</strong>
                    <span class="muted small nowrap">{ago(i.delivery.receivedAt)}</span>
                  </span>
                  <span class="muted small ellipsis block">
                    {i.message?.envelopeFrom || '<>'} → {i.delivery.recipient}
                    {i.delivery.reason ? ` · ${i.delivery.reason}` : ''}
                  </span>
                </button>
                {i.message ? <VerdictChips verdicts={i.message.verdicts} /> : null}
                {open === key(i) ? (
                  <>
                    <Preview {...props} item={i} />
                    <div class="actions">
                      <button type="button" class="button" onClick={() => ask('release', [target(i)])}>
                        Release…
                      </button>
                      <button
                        type="button"
                        class="button danger-outline"
                        onClick={() => ask('delete', [target(i)])}
                      >
                        Delete…
                      </button>
                    </div>
                  </>
                ) : null}
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
      {selected.size > 0 ? (
        <div class="selection-bar" role="toolbar" aria-label={`Actions on ${selected.size} selected`}>
          <span class="sel-count">{selected.size} selected</span>
          <button type="button" class="button" onClick={() => ask('release', [...selected.values()])}>
            Release
          </button>
          <button
            type="button"
            class="button danger-outline"
            onClick={() => ask('delete', [...selected.values()])}
          >
            Delete
          </button>
        </div>
      ) : null}
      {sheet ? (
        <Sheet
          title={`${sheet.action === 'release' ? 'Release' : 'Delete'} ${sheet.targets.length === 1 ? 'this message' : `${sheet.targets.length} messages`}`}
          confirm={sheet.action === 'release' ? 'Release' : 'Delete'}
          danger={sheet.action === 'delete'}
          ready={sheet.action === 'delete' || reason.trim() !== ''}
          onConfirm={async () => {
            const outcome = await api.quarantineAction({
              action: sheet.action,
              ids: sheet.targets,
              ...(reason.trim() ? { reason: reason.trim() } : {}),
            });
            setResult(outcomeWords(sheet.action, outcome));
            setSelected(new Map());
            setOpen(null);
            setTick((n) => n + 1);
            props.refresh();
          }}
          onClose={() => setSheet(null)}
        >
          <p>
            {sheet.action === 'release'
              ? 'Released mail goes to the recipient’s mailbox on the primary like any other. Release only what you are sure is safe: the verdicts above say why it was kept.'
              : 'The delivery is dropped and never delivered. The raw message stays in the archive.'}
          </p>
          <label class="field">
            <span>
              Reason
              {sheet.action === 'release' ? ' (required, kept in the audit log)' : ' (kept in the audit log)'}
            </span>
            <input
              type="text"
              value={reason}
              maxLength={500}
              required={sheet.action === 'release'}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
        </Sheet>
      ) : null}
    </div>
  );
}
