/**
 * What surrounds the composer: the Sent view (what I sent, newest first, each recipient's
 * delivery status and whether the copy for my mailbox on the mail server was handed back), the
 * Drafts view, the signature sheet and the toast that offers Undo while a sent message waits.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DraftList, RecipientStatus, SentItem, SentState } from '../../../lambdas/webmail/schemas.js';
import { type Api, explain } from './api.js';
import { humanSize, shortTime } from './format.js';
import { PaperclipIcon } from './icons.js';

/** How often the Sent view asks again while something is still on its way: statuses change in seconds. */
export const SENT_BUSY_POLL_MS = 3000;
/** And when everything has settled (a bounce or the hand-over can still change it), as often as the inbox. */
export const SENT_IDLE_POLL_MS = 15_000;

/** A message as a whole, in words. */
const SENT_WORDS: Record<SentState, string> = {
  waiting: 'Waiting to send',
  undone: 'Undone, not sent',
  sending: 'Sending',
  retrying: 'Trying again',
  sent: 'Sent',
  'partly-failed': 'Not delivered to everyone',
  failed: 'Not delivered',
};

/** One recipient's status, in words; a colleague's and an outside address's read differently. */
export function recipientWords(status: RecipientStatus, internal: boolean): string {
  switch (status) {
    case 'waiting':
      return 'Waiting (you can still undo)';
    case 'undone':
      return 'Not sent (undone)';
    case 'queued':
      return internal ? 'In their mailbox here; on its way to the mail server' : 'Queued';
    case 'held':
      return 'In their mailbox here; on the mail server once it is back';
    case 'deferred':
      return 'Delayed; trying again';
    case 'relayed':
      return 'Sent';
    case 'delivered':
      return internal ? 'Delivered to their mailbox' : 'Delivered';
    case 'bounced':
      return 'Bounced: the notice is in your inbox';
    case 'failed':
      return 'Not delivered';
  }
}

const BAD: readonly RecipientStatus[] = ['bounced', 'failed'];
const GOOD: readonly RecipientStatus[] = ['relayed', 'delivered'];
const BUSY_STATES: readonly SentState[] = ['waiting', 'sending', 'retrying'];

function SentCard({ item }: { item: SentItem }) {
  const heading = item.subject.trim() === '' ? '(no subject)' : item.subject;
  return (
    <li class="sent-item">
      <article aria-label={heading}>
        <header class="sent-top">
          <h2 class="sent-subject">{heading}</h2>
          <time class="when" dateTime={item.sentAt ?? item.createdAt}>
            {shortTime(item.sentAt ?? item.createdAt)}
          </time>
        </header>
        <p class="sent-meta">
          <span class={`badge sent-${item.state}`}>{SENT_WORDS[item.state]}</span>{' '}
          <span class="muted">
            from {item.from} · {humanSize(item.size)}
            {item.attachments.length > 0 ? (
              <>
                {' '}
                · <PaperclipIcon /> {item.attachments.map((a) => a.filename).join(', ')}
              </>
            ) : null}
          </span>
        </p>
        <ul class="recipients" aria-label="Recipients">
          {item.recipients.map((r) => (
            <li key={`${r.field}:${r.address}`} class="recipient">
              <span class="recipient-address">
                {r.field === 'to' ? '' : <span class="muted">{r.field === 'cc' ? 'Cc ' : 'Bcc '}</span>}
                {r.address}
              </span>
              <span
                class={`status${BAD.includes(r.status) ? ' bad' : GOOD.includes(r.status) ? ' good' : ''}`}
                title={r.detail ?? undefined}
              >
                {recipientWords(r.status, r.internal)}
              </span>
            </li>
          ))}
        </ul>
        {item.sentCopy === 'pending' ? (
          <p class="sent-copy muted">
            Sent during the outage: a copy goes to your own mailbox on the mail server when it is back.
          </p>
        ) : item.sentCopy === 'handed-over' ? (
          <p class="sent-copy good">Copy handed back to your own mailbox on the mail server.</p>
        ) : null}
      </article>
    </li>
  );
}

/** The Sent view. */
export function SentView(props: { api: Api; refresh: number }) {
  const { api } = props;
  const [items, setItems] = useState<SentItem[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const loadedMore = useRef(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      let busy = false;
      try {
        const page = await api.sent();
        if (stopped) return;
        setFailure(null);
        // Newer statuses for what is shown; an older page loaded by hand is kept below.
        setItems((shown) => {
          const fresh = new Set(page.items.map((i) => i.id));
          const oldest = page.items.at(-1)?.createdAt;
          const older = (shown ?? []).filter(
            (i) => !fresh.has(i.id) && oldest !== undefined && i.createdAt < oldest,
          );
          return [...page.items, ...older];
        });
        if (!loadedMore.current) setCursor(page.cursor);
        busy = page.items.some(
          (i) =>
            BUSY_STATES.includes(i.state) ||
            i.recipients.some((r) => r.status === 'queued' || r.status === 'deferred'),
        );
      } catch (err) {
        if (!stopped) setFailure(explain(err));
      }
      if (!stopped) timer = setTimeout(load, busy ? SENT_BUSY_POLL_MS : SENT_IDLE_POLL_MS);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, props.refresh]);

  const more = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    loadedMore.current = true;
    try {
      const page = await api.sent(cursor);
      setItems((shown) => {
        const known = new Set((shown ?? []).map((i) => i.id));
        return [...(shown ?? []), ...page.items.filter((i) => !known.has(i.id))];
      });
      setCursor(page.cursor);
    } catch (err) {
      setFailure(explain(err));
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <section class="page-pane" aria-labelledby="list-title">
      <div class="list-head">
        <h1 id="list-title">Sent</h1>
      </div>
      {failure ? (
        <p class="problem" role="alert">
          {failure}
        </p>
      ) : null}
      {items === null ? (
        <p class="loading">Loading…</p>
      ) : items.length === 0 ? (
        <p class="empty">Nothing sent from here yet.</p>
      ) : (
        <ul class="sent-list">
          {items.map((i) => (
            <SentCard key={i.id} item={i} />
          ))}
        </ul>
      )}
      {cursor ? (
        <p class="list-end">
          <button type="button" class="button subtle" onClick={more} disabled={loadingMore}>
            Load older sent messages
          </button>
        </p>
      ) : null}
    </section>
  );
}

/** The Drafts view: open one in the composer, or discard it. */
export function DraftsView(props: { api: Api; refresh: number; onOpen: (id: string) => void }) {
  const { api } = props;
  const [list, setList] = useState<DraftList['drafts'] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api.drafts().then(
      (d) => live && setList(d.drafts),
      (err) => live && setFailure(explain(err)),
    );
    return () => {
      live = false;
    };
  }, [api, props.refresh]);

  const discard = async (id: string) => {
    try {
      await api.deleteDraft(id);
      setList((l) => (l ?? []).filter((d) => d.id !== id));
    } catch (err) {
      setFailure(explain(err));
    }
  };

  return (
    <section class="page-pane" aria-labelledby="list-title">
      <div class="list-head">
        <h1 id="list-title">Drafts</h1>
      </div>
      {failure ? (
        <p class="problem" role="alert">
          {failure}
        </p>
      ) : null}
      {list === null ? (
        <p class="loading">Loading…</p>
      ) : list.length === 0 ? (
        <p class="empty">
          No drafts. Drafts are saved as you write, so nothing is lost if you close the page.
        </p>
      ) : (
        <ul class="rows">
          {list.map((d) => {
            const subject = d.subject.trim() === '' ? '(no subject)' : d.subject;
            const to = [...d.to, ...d.cc].join(', ') || '(no recipients yet)';
            return (
              <li key={d.id} class="draft-row">
                <button
                  type="button"
                  class="draft-open"
                  onClick={() => props.onOpen(d.id)}
                  aria-label={`Edit draft: ${subject}, to ${to}`}
                >
                  <span class="row-top">
                    <span class="from">{to}</span>
                    <time class="when" dateTime={d.updatedAt}>
                      {shortTime(d.updatedAt)}
                    </time>
                  </span>
                  <span class="subject">{subject}</span>
                  <span class="snippet">{d.snippet}</span>
                </button>
                <button
                  type="button"
                  class="button subtle"
                  onClick={() => void discard(d.id)}
                  aria-label={`Discard draft: ${subject}`}
                >
                  Discard
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** The signature sheet, opened from the account menu. The server puts the signature into new drafts. */
export function SignatureDialog(props: { api: Api; onClose: (note?: string) => void }) {
  const { api, onClose } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    ref.current?.showModal();
    api.signature().then(
      (s) => setText(s.text),
      (err) => {
        setText('');
        setProblem(explain(err));
      },
    );
  }, []);

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await api.saveSignature({ text: text ?? '', html: null });
      onClose('Signature saved. New messages get it.');
    } catch (err) {
      setProblem(explain(err));
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} class="dialog sheet" aria-labelledby="signature-title" onClose={() => onClose()}>
      <form onSubmit={save}>
        <h2 id="signature-title">Signature</h2>
        <p class="muted">Added below what you write in new messages, replies and forwards.</p>
        <label for="signature-text" class="visually-hidden">
          Signature
        </label>
        <textarea
          id="signature-text"
          class="signature-text"
          rows={6}
          maxLength={10_000}
          value={text ?? ''}
          disabled={text === null}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
        {problem ? (
          <p class="problem" role="alert">
            {problem}
          </p>
        ) : null}
        <div class="dialog-actions">
          <button type="button" class="button" onClick={() => onClose()}>
            Cancel
          </button>
          <button type="submit" class="button primary" disabled={busy || text === null}>
            Save signature
          </button>
        </div>
      </form>
    </dialog>
  );
}

/**
 * The toast after Send: a countdown to the end of the undo window with Undo, then "Sent". The
 * countdown runs on this browser's clock from the window's length, so a server clock a few
 * seconds off does not shorten it.
 */
export function UndoToast(props: {
  item: SentItem;
  shownAt: number;
  onUndo: () => Promise<void>;
  onDone: () => void;
}) {
  const { item, shownAt, onDone } = props;
  const windowMs = item.undoUntil ? Math.max(0, Date.parse(item.undoUntil) - Date.parse(item.createdAt)) : 0;
  const [now, setNow] = useState(() => Date.now());
  const [busy, setBusy] = useState(false);
  const left = Math.max(0, Math.ceil((shownAt + windowMs - now) / 1000));

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    if (left > 0) return;
    const t = setTimeout(onDone, 4000);
    return () => clearTimeout(t);
  }, [left > 0]);

  return (
    <div class="toast" role="status">
      {left > 0 ? (
        <>
          <span>
            Sending in {left} s… <span class="visually-hidden">Undo is possible until then.</span>
          </span>
          <button
            type="button"
            class="button toast-button"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              await props.onUndo();
            }}
          >
            Undo
          </button>
        </>
      ) : (
        <span>Sent.</span>
      )}
    </div>
  );
}

/** A toast with words only (draft saved, discarded, undone). */
export function NoteToast(props: { text: string; onDone: () => void }) {
  useEffect(() => {
    const t = setTimeout(props.onDone, 5000);
    return () => clearTimeout(t);
  }, [props.text]);
  return (
    <div class="toast" role="status">
      <span>{props.text}</span>
    </div>
  );
}
