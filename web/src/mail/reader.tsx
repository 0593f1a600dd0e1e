/**
 * The reading pane: headers as text, the text body or the HTML body through the renderer
 * (render.ts) in an iframe sandboxed without scripts and without same-origin, a bar to show
 * remote images for this message only, and the attachments (download through a short-lived
 * signed link; images previewed).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AttachmentView, DraftMode, MessageDetail } from '../../../lambdas/webmail/schemas.js';
import { MessageBody } from '../shared/message-body.js';
import { type Api, explain } from './api.js';
import { humanSize, longTime, STATE_WORDS, senderAddress, senderName } from './format.js';
import { BackIcon, DownloadIcon, FlagIcon, ForwardIcon, MailIcon, ReplyAllIcon, ReplyIcon } from './icons.js';

/** Image types a browser shows and that cannot carry script (SVG can, so it is never previewed). */
const PREVIEWABLE = /^image\/(png|jpeg|gif|webp|avif|bmp)$/i;
/** Previews load at most this many images at once: a message with 40 photos should not fetch them all. */
const MAX_PREVIEWS = 6;

export interface ReaderProps {
  api: Api;
  id: string;
  /** The message as the list knows it (for its marks while the whole message loads). */
  onFlags: (id: string, flags: { seen: boolean; flagged: boolean }) => void;
  onBack: () => void;
  /** Shows a failed action's error in the app's problem bar. */
  onError: (err: unknown) => void;
  /** Bumped by the keyboard shortcuts to toggle read or flagged on the open message. */
  command: { kind: 'toggle-seen' | 'toggle-flag'; n: number } | null;
  /** Reply, reply all or forward the open message (the composer opens with the server's draft). */
  onCompose?: (mode: DraftMode) => void;
}

/** Forward inline or as an attachment: a small menu under the Forward button. */
function ForwardMenu({ onCompose }: { onCompose: (mode: DraftMode) => void }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent ? e.key === 'Escape' : !box.current?.contains(e.target as Node))
        setOpen(false);
    };
    document.addEventListener('keydown', close);
    document.addEventListener('pointerdown', close);
    return () => {
      document.removeEventListener('keydown', close);
      document.removeEventListener('pointerdown', close);
    };
  }, [open]);
  const pick = (mode: DraftMode) => {
    setOpen(false);
    onCompose(mode);
  };
  return (
    <div class="menu-box" ref={box}>
      <button
        type="button"
        class="button"
        aria-haspopup="true"
        aria-expanded={open ? 'true' : 'false'}
        aria-controls="forward-menu"
        aria-keyshortcuts="F"
        onClick={() => setOpen(!open)}
      >
        <ForwardIcon />
        <span class="label">Forward</span>
      </button>
      {open ? (
        <div id="forward-menu" class="popover forward-menu">
          <button type="button" class="button subtle" onClick={() => pick('forward')}>
            Forward with attachments
          </button>
          <button type="button" class="button subtle" onClick={() => pick('forward-as-attachment')}>
            Forward as attachment
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** Starts a download of a signed link: an anchor with `download`, so the app page stays where it is. */
function startDownload(url: string, filename: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener noreferrer';
  document.body.append(a);
  a.click();
  a.remove();
}

function Attachment(props: {
  api: Api;
  messageId: string;
  a: AttachmentView;
  preview: boolean;
  onError: (err: unknown) => void;
}) {
  const { api, messageId, a, preview, onError } = props;
  const [src, setSrc] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = a.filename ?? `attachment-${a.index + 1}`;

  useEffect(() => {
    if (!preview) return;
    let live = true;
    api.link(messageId, a.index).then(
      (l) => live && setSrc(l.url),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [api, messageId, a.index, preview]);

  const download = async () => {
    setBusy(true);
    try {
      const link = await api.link(messageId, a.index);
      startDownload(link.url, name);
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class="attachment">
      {src ? <img class="preview" src={src} alt={`Preview of ${name}`} referrerpolicy="no-referrer" /> : null}
      <span class="att-text">
        <span class="att-name">{name}</span>
        <span class="muted">
          {a.contentType} · {humanSize(a.size)}
        </span>
      </span>
      <button
        type="button"
        class="button icon-button"
        onClick={download}
        disabled={busy}
        aria-label={`Download ${name}`}
      >
        <DownloadIcon />
      </button>
    </li>
  );
}

/** The open message. */
export function Reader(props: ReaderProps) {
  const { api, id, onFlags, onError } = props;
  const [message, setMessage] = useState<MessageDetail | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [showHeaders, setShowHeaders] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let live = true;
    setMessage(null);
    setFailure(null);
    setShowHeaders(false);
    api.read(id).then(
      (m) => {
        if (!live) return;
        setMessage(m);
        if (!m.seen) {
          // Opening a message reads it, as in every mail client; the list shows it at once.
          onFlags(m.id, { seen: true, flagged: m.flagged });
          setMessage({ ...m, seen: true });
          api.setFlags(m.id, { seen: true }).catch((err) => onError(err));
        }
      },
      (err) => live && setFailure(explain(err)),
    );
    return () => {
      live = false;
    };
  }, [api, id, onFlags, onError, attempt]);

  useEffect(() => {
    if (message) heading.current?.focus({ preventScroll: true });
  }, [message?.id]);

  const setFlag = async (change: { seen?: boolean; flagged?: boolean }) => {
    if (!message) return;
    const next = { seen: change.seen ?? message.seen, flagged: change.flagged ?? message.flagged };
    setMessage({ ...message, ...next });
    onFlags(message.id, next);
    try {
      await api.setFlags(message.id, change);
    } catch (err) {
      setMessage({ ...message });
      onFlags(message.id, { seen: message.seen, flagged: message.flagged });
      onError(err);
    }
  };

  const command = props.command;
  const lastCommand = useRef(command?.n ?? 0);
  useEffect(() => {
    if (!command || command.n === lastCommand.current || !message) return;
    lastCommand.current = command.n;
    if (command.kind === 'toggle-seen') void setFlag({ seen: !message.seen });
    else void setFlag({ flagged: !message.flagged });
  }, [command?.n]);

  const downloadRaw = async () => {
    try {
      const link = await api.link(id, 'raw');
      startDownload(link.url, `${(message?.subject ?? 'message').slice(0, 60)}.eml`);
    } catch (err) {
      onError(err);
    }
  };

  const back = (
    <button
      type="button"
      class="button icon-button back"
      onClick={props.onBack}
      aria-label="Back to the list"
    >
      <BackIcon />
    </button>
  );

  if (failure) {
    return (
      <article class="reader" aria-label="Message">
        <div class="toolbar">{back}</div>
        <p class="problem" role="alert">
          {failure}
        </p>
        <p class="retry">
          <button type="button" class="button" onClick={() => setAttempt(attempt + 1)}>
            Try again
          </button>
        </p>
      </article>
    );
  }
  if (!message) {
    return (
      <article class="reader" aria-label="Message" aria-busy="true">
        <div class="toolbar">{back}</div>
        <p class="loading">Opening the message…</p>
      </article>
    );
  }

  const state = STATE_WORDS[message.state];
  const files = message.attachments.filter((a) => !a.inline || !a.contentId || !message.html);
  let previews = 0;

  return (
    <article class="reader" aria-labelledby="message-subject">
      <div class="toolbar">
        {back}
        {props.onCompose ? (
          <>
            <button
              type="button"
              class="button"
              onClick={() => props.onCompose?.('reply')}
              aria-keyshortcuts="R"
            >
              <ReplyIcon />
              <span class="label">Reply</span>
            </button>
            <button
              type="button"
              class="button"
              onClick={() => props.onCompose?.('reply-all')}
              aria-keyshortcuts="A"
            >
              <ReplyAllIcon />
              <span class="label">Reply all</span>
            </button>
            <ForwardMenu onCompose={props.onCompose} />
          </>
        ) : null}
        <span class="spacer" />
        <button
          type="button"
          class="button"
          onClick={() => setFlag({ seen: !message.seen })}
          aria-keyshortcuts="Shift+U"
        >
          <MailIcon />
          <span class="label">{message.seen ? 'Mark unread' : 'Mark read'}</span>
        </button>
        <button
          type="button"
          class={`button${message.flagged ? ' on' : ''}`}
          onClick={() => setFlag({ flagged: !message.flagged })}
          aria-pressed={message.flagged ? 'true' : 'false'}
          aria-keyshortcuts="S"
        >
          <FlagIcon filled={message.flagged} />
          <span class="label">Flag</span>
        </button>
      </div>
      <header class="message-head">
        <h2 id="message-subject" ref={heading} tabIndex={-1}>
          {message.subject ?? '(no subject)'}
        </h2>
        {state ? (
          <p class={`state-note badge-${message.state}`}>
            <span class={`badge badge-${message.state}`}>{state.label}</span> {state.title}.
          </p>
        ) : null}
        <dl class="addresses">
          <dt>From</dt>
          <dd>
            <strong>{senderName(message.from)}</strong>
            {message.from && senderName(message.from) !== senderAddress(message.from) ? (
              <span class="muted"> &lt;{senderAddress(message.from)}&gt;</span>
            ) : null}
          </dd>
          <dt>To</dt>
          <dd>{message.to.join(', ') || '—'}</dd>
          {message.cc.length > 0 ? (
            <>
              <dt>Cc</dt>
              <dd>{message.cc.join(', ')}</dd>
            </>
          ) : null}
          <dt>Date</dt>
          <dd>
            <time dateTime={message.date ?? message.receivedAt}>
              {longTime(message.date ?? message.receivedAt)}
            </time>
          </dd>
        </dl>
        <div class="head-actions">
          <button
            type="button"
            class="button subtle"
            aria-expanded={showHeaders ? 'true' : 'false'}
            aria-controls="all-headers"
            onClick={() => setShowHeaders(!showHeaders)}
          >
            {showHeaders ? 'Hide headers' : 'All headers'}
          </button>
          <button type="button" class="button subtle" onClick={downloadRaw}>
            Download original
          </button>
        </div>
        {showHeaders ? (
          <pre id="all-headers" class="headers">
            {message.headers.map((h) => `${h.name}: ${h.value}`).join('\n')}
          </pre>
        ) : null}
      </header>
      {message.parseError ? (
        <p class="problem">
          This message could not be read whole ({message.parseError}). Download the original to see it.
        </p>
      ) : null}
      <MessageBody
        key={message.id}
        message={message}
        opened="you opened this message"
        noTextClass="muted body-none"
      >
        {files.length > 0 ? (
          <section class="attachments" aria-label="Attachments">
            <h3 class="visually-hidden">Attachments</h3>
            <ul>
              {files.map((a) => {
                const preview = PREVIEWABLE.test(a.contentType) && previews++ < MAX_PREVIEWS;
                return (
                  <Attachment
                    key={a.index}
                    api={api}
                    messageId={message.id}
                    a={a}
                    preview={preview}
                    onError={onError}
                  />
                );
              })}
            </ul>
          </section>
        ) : null}
      </MessageBody>
      {message.truncated ? (
        <p class="muted">This message is longer than shown here; download the original for all of it.</p>
      ) : null}
    </article>
  );
}
