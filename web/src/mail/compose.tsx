/**
 * The composer: a new message, a reply, reply all or a forward, as a sheet that fills a phone's
 * screen and a panel at the bottom right of a desktop. Every change is saved to the server as a
 * draft about a second after typing stops (a phone that dies loses at most that second), with the
 * draft's version, so a save from a stale tab never overwrites a newer one. Files go straight to
 * storage through a signed upload, with progress. The server writes the quote, the threading
 * headers and the signature; this is a plain-text editor.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type {
  AttachedFile,
  ComposeFields,
  Draft,
  DraftMode,
  SendingInfo,
  SentItem,
} from '../../../lambdas/webmail/schemas.js';
import { addRecipients, chipLabel, parseRecipient, type Recipient } from './addresses.js';
import { type Api, ApiError, explain, putUpload } from './api.js';
import { humanSize } from './format.js';
import { CloseIcon, PaperclipIcon, SendIcon, TrashIcon } from './icons.js';

/** Quiet time after the last keystroke before the draft is saved: about one save per pause in typing. */
export const SAVE_DEBOUNCE_MS = 1000;

/** What the composer opens with. */
export type ComposeSpec =
  | { kind: 'new' }
  | { kind: 'source'; messageId: string; mode: DraftMode }
  /** A draft the app already has (undo brings one back). */
  | { kind: 'draft'; draft: Draft }
  /** A saved draft, by id (the Drafts view). */
  | { kind: 'open'; id: string };

const TITLES: Record<DraftMode | 'new', string> = {
  new: 'New message',
  reply: 'Reply',
  'reply-all': 'Reply all',
  forward: 'Forward',
  'forward-as-attachment': 'Forward as attachment',
};

/** Why attachments have a limit, in the words the composer shows beside it. */
export const ATTACHMENT_LIMIT_REASON =
  'mail services take at most 40 MB a message, and attachments grow by a third on the way';

interface Fields {
  from: string;
  to: Recipient[];
  cc: Recipient[];
  bcc: Recipient[];
  subject: string;
  text: string;
  attachments: AttachedFile[];
  inReplyTo: string | null;
}

function fieldsOf(d: Draft): Fields {
  const list = (xs: string[]) => xs.map(parseRecipient);
  return {
    from: d.from,
    to: list(d.to),
    cc: list(d.cc),
    bcc: list(d.bcc),
    subject: d.subject,
    text: d.text ?? '',
    attachments: d.attachments,
    inReplyTo: d.inReplyTo,
  };
}

function bodyOf(f: Fields): ComposeFields {
  const texts = (rs: Recipient[]) => rs.map((r) => r.text);
  return {
    from: f.from,
    to: texts(f.to),
    cc: texts(f.cc),
    bcc: texts(f.bcc),
    subject: f.subject,
    text: f.text,
    // A plain-text editor: the text is the message; an HTML part would go stale at the first edit.
    html: null,
    attachments: f.attachments.map((a) => a.ref),
    inReplyTo: f.inReplyTo,
  };
}

interface Upload {
  key: number;
  name: string;
  size: number;
  progress: number;
  error: string | null;
  abort: AbortController;
}

function AddressField(props: {
  id: string;
  label: string;
  value: Recipient[];
  onChange: (rs: Recipient[]) => void;
  pending: { current: Record<string, string> };
  autoFocus?: boolean;
}) {
  const { id, label, value, onChange } = props;
  const [typed, setTyped] = useState('');
  const input = useRef<HTMLInputElement>(null);
  const commit = (text: string) => {
    if (text.trim() !== '') onChange(addRecipients(value, text));
    setTyped('');
    props.pending.current[id] = '';
  };
  const invalid = value.filter((r) => !r.valid);
  useEffect(() => {
    if (props.autoFocus) input.current?.focus();
  }, []);
  return (
    <div class="field address-field">
      <label for={id}>{label}</label>
      {/* Tapping the empty space of the field puts the cursor in it, as in a text box. */}
      {/* biome-ignore lint/a11y/noStaticElementInteractions: the input inside is the control; this only forwards a tap */}
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: keyboard users are in the input already */}
      <div class="chips" onClick={(e) => e.target === e.currentTarget && input.current?.focus()}>
        {value.map((r) => (
          <span
            key={r.address}
            class={`chip${r.valid ? '' : ' invalid'}`}
            title={r.valid ? r.text : 'Not an email address'}
          >
            <span class="chip-text">{chipLabel(r)}</span>
            <button
              type="button"
              class="chip-remove"
              aria-label={`Remove ${r.address}`}
              onClick={() => onChange(value.filter((x) => x !== r))}
            >
              <CloseIcon />
            </button>
          </span>
        ))}
        <input
          id={id}
          ref={input}
          type="text"
          inputMode="email"
          autocomplete="off"
          autoCapitalize="off"
          spellcheck={false}
          enterKeyHint="next"
          aria-invalid={invalid.length > 0 ? 'true' : 'false'}
          aria-describedby={invalid.length > 0 ? `${id}-problem` : undefined}
          value={typed}
          onInput={(e) => {
            const v = (e.target as HTMLInputElement).value;
            // A separator typed at the end makes a chip; a name's quoted comma does not end with one.
            if (/[,;]\s*$/.test(v) && (v.match(/"/g)?.length ?? 0) % 2 === 0) return commit(v);
            setTyped(v);
            props.pending.current[id] = v;
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              commit(typed);
            } else if (e.key === 'Backspace' && typed === '' && value.length > 0) {
              onChange(value.slice(0, -1));
            }
          }}
          onPaste={(e) => {
            const text = e.clipboardData?.getData('text') ?? '';
            if (/[,;\n]/.test(text)) {
              e.preventDefault();
              commit(typed + text);
            }
          }}
          onBlur={() => commit(typed)}
        />
      </div>
      {invalid.length > 0 ? (
        <p id={`${id}-problem`} class="field-problem">
          Not an email address: {invalid.map((r) => r.text).join(', ')}
        </p>
      ) : null}
    </div>
  );
}

export interface ComposerProps {
  api: Api;
  spec: ComposeSpec;
  /** My addresses, the primary first (for the From choice until /sending answers). */
  addresses: string[];
  onClose: (note?: string) => void;
  onSent: (item: SentItem) => void;
}

type SaveState = 'idle' | 'saving' | 'saved' | 'failed';

/** The composer sheet or panel. */
export function Composer(props: ComposerProps) {
  const { api, spec, onClose, onSent } = props;
  const [draft, setDraft] = useState<Draft | null>(spec.kind === 'draft' ? spec.draft : null);
  const [fields, setFields] = useState<Fields | null>(spec.kind === 'draft' ? fieldsOf(spec.draft) : null);
  const [info, setInfo] = useState<SendingInfo | null>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [saveState, setSaveState] = useState<SaveState>('idle');
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [showCopies, setShowCopies] = useState(false);
  const [sending, setSending] = useState(false);

  // The latest of everything, for the timers and the unmount flush.
  const fieldsRef = useRef<Fields | null>(fields);
  fieldsRef.current = fields;
  const versionRef = useRef<number>(draft?.version ?? 0);
  const idRef = useRef<string | null>(draft?.id ?? null);
  const dirty = useRef(false);
  /** A save found a newer version; sending waits until the user has seen it. */
  const conflicted = useRef(false);
  const touched = useRef(false);
  const saving = useRef<Promise<void> | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const pendingTyped = useRef<Record<string, string>>({});
  const fileInput = useRef<HTMLInputElement>(null);
  const body = useRef<HTMLTextAreaElement>(null);
  const uploadKey = useRef(0);
  const title = spec.kind === 'source' ? TITLES[spec.mode] : draft?.inReplyTo ? 'Reply' : TITLES.new;

  // The draft to edit: made on the server (which fills in a reply or forward), or read.
  useEffect(() => {
    let live = true;
    const start =
      spec.kind === 'draft'
        ? Promise.resolve(spec.draft)
        : spec.kind === 'open'
          ? api.draft(spec.id)
          : api.createDraft(
              spec.kind === 'source' ? { source: { messageId: spec.messageId, mode: spec.mode } } : {},
            );
    start.then(
      (d) => {
        if (!live) return;
        idRef.current = d.id;
        versionRef.current = d.version;
        setDraft(d);
        setFields(fieldsOf(d));
      },
      (err) => live && setProblem(explain(err)),
    );
    api.sending().then(
      (i) => live && setInfo(i),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, []);

  // Where the cursor goes once the draft is there: To when it has no recipient, else the top of
  // the text, above the server's quote and signature.
  const focused = useRef(false);
  useEffect(() => {
    if (!fields || focused.current) return;
    focused.current = true;
    if (fields.to.length > 0 && body.current) {
      body.current.focus();
      body.current.setSelectionRange(0, 0);
      body.current.scrollTop = 0;
    }
  }, [fields !== null]);

  const save = async (): Promise<void> => {
    // One save at a time; a change made meanwhile is saved right after.
    while (saving.current) await saving.current;
    const id = idRef.current;
    const f = fieldsRef.current;
    if (!id || !f || !dirty.current) return;
    dirty.current = false;
    setSaveState('saving');
    const run = (async () => {
      try {
        const saved = await api.saveDraft(id, { ...bodyOf(f), version: versionRef.current });
        versionRef.current = saved.version;
        setDraft(saved);
        setSaveState(dirty.current ? 'saving' : 'saved');
      } catch (err) {
        if (err instanceof ApiError && err.code === 'CONFLICT') {
          // Saved elsewhere since (another tab, another device): theirs is newer, so show it.
          const fresh = await api.draft(id).catch(() => null);
          if (fresh) {
            versionRef.current = fresh.version;
            setDraft(fresh);
            setFields(fieldsOf(fresh));
            conflicted.current = true;
            setNotice('This draft was changed in another tab or device; it now shows that newer version.');
            setSaveState('saved');
            return;
          }
        }
        dirty.current = true;
        setSaveState('failed');
        setProblem(`Not saved: ${explain(err)}`);
      }
    })();
    saving.current = run;
    await run;
    saving.current = null;
  };

  const flush = async () => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    await save();
  };

  const change = (patch: Partial<Fields>) => {
    setFields((f) => (f ? { ...f, ...patch } : f));
    if (fieldsRef.current) fieldsRef.current = { ...fieldsRef.current, ...patch };
    dirty.current = true;
    touched.current = true;
    setSaveState('idle');
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => void save(), SAVE_DEBOUNCE_MS);
  };

  // Leaving with changes not saved yet (another draft opened, the page navigated): save them now.
  const uploadsRef = useRef<Upload[]>(uploads);
  uploadsRef.current = uploads;
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
      if (dirty.current) void save();
      for (const u of uploadsRef.current) u.abort.abort();
    },
    [],
  );

  const maxBytes = info?.maxAttachmentBytes ?? null;
  const attachedBytes =
    (fields?.attachments ?? []).reduce((n, a) => n + a.size, 0) +
    uploads.filter((u) => !u.error).reduce((n, u) => n + u.size, 0);

  const attach = async (files: FileList | null) => {
    if (!files || !idRef.current) return;
    let total = attachedBytes;
    for (const file of Array.from(files)) {
      if (maxBytes !== null && total + file.size > maxBytes) {
        setProblem(
          `“${file.name}” (${humanSize(file.size)}) does not fit: attachments can be at most ${humanSize(maxBytes)} in total, because ${ATTACHMENT_LIMIT_REASON}.`,
        );
        continue;
      }
      total += file.size;
      const key = ++uploadKey.current;
      const abort = new AbortController();
      const entry: Upload = { key, name: file.name, size: file.size, progress: 0, error: null, abort };
      setUploads((us) => [...us, entry]);
      const patch = (p: Partial<Upload>) =>
        setUploads((us) => us.map((u) => (u.key === key ? { ...u, ...p } : u)));
      try {
        const ticket = await api.requestUpload({
          filename: file.name,
          contentType: file.type || 'application/octet-stream',
          size: file.size,
          draftId: idRef.current,
        });
        await putUpload(ticket, file, (progress) => patch({ progress }), abort.signal);
        setUploads((us) => us.filter((u) => u.key !== key));
        const f = fieldsRef.current;
        if (f) {
          change({
            attachments: [
              ...f.attachments,
              {
                ref: { kind: 'upload', uploadId: ticket.id },
                filename: file.name,
                contentType: file.type || 'application/octet-stream',
                size: file.size,
              },
            ],
          });
        }
      } catch (err) {
        if (abort.signal.aborted) setUploads((us) => us.filter((u) => u.key !== key));
        else patch({ error: explain(err) });
      }
    }
    if (fileInput.current) fileInput.current.value = '';
  };

  const commitTyped = (): Fields | null => {
    const f = fieldsRef.current;
    if (!f) return null;
    const typed = pendingTyped.current;
    const next = {
      ...f,
      to: addRecipients(f.to, typed['compose-to'] ?? ''),
      cc: addRecipients(f.cc, typed['compose-cc'] ?? ''),
      bcc: addRecipients(f.bcc, typed['compose-bcc'] ?? ''),
    };
    if (next.to.length + next.cc.length + next.bcc.length !== f.to.length + f.cc.length + f.bcc.length) {
      change({ to: next.to, cc: next.cc, bcc: next.bcc });
    }
    pendingTyped.current = {};
    return next;
  };

  const send = async () => {
    setProblem(null);
    const f = commitTyped();
    if (!f || !idRef.current) return;
    const all = [...f.to, ...f.cc, ...f.bcc];
    if (all.length === 0) return setProblem('Add at least one recipient in To, Cc or Bcc.');
    const bad = all.filter((r) => !r.valid);
    if (bad.length > 0) {
      return setProblem(`Fix or remove what is not an email address: ${bad.map((r) => r.text).join(', ')}.`);
    }
    if (uploads.some((u) => !u.error)) return setProblem('Wait for the attachments to finish uploading.');
    if (uploads.some((u) => u.error))
      return setProblem('Remove the attachments that did not upload, or attach them again.');
    if (info && all.length > info.maxRecipients) {
      return setProblem(
        `At most ${info.maxRecipients} recipients a message (a limit that stops a stolen sign-in from sending spam); this one has ${all.length}.`,
      );
    }
    setSending(true);
    try {
      dirty.current = true;
      await flush();
      if (dirty.current) throw new Error('The draft could not be saved, so it was not sent.');
      if (conflicted.current) {
        // The newer version replaced what was on screen: the user sends it on purpose, or not.
        conflicted.current = false;
        setSending(false);
        return;
      }
      const item = await api.send(idRef.current, versionRef.current);
      touched.current = false;
      onSent(item);
    } catch (err) {
      setProblem(explain(err));
      setSending(false);
    }
  };

  const close = async () => {
    const id = idRef.current;
    if (id && !touched.current && spec.kind !== 'open' && spec.kind !== 'draft') {
      // Opened and left without a change: no draft to keep.
      await api.deleteDraft(id).catch(() => undefined);
      return onClose();
    }
    await flush();
    onClose(touched.current ? 'Saved in Drafts.' : undefined);
  };

  const discard = async () => {
    if (timer.current) clearTimeout(timer.current);
    dirty.current = false;
    for (const u of uploads) u.abort.abort();
    const id = idRef.current;
    if (id) {
      try {
        await api.deleteDraft(id);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'NOT_FOUND')) return setProblem(explain(err));
      }
    }
    onClose('Draft discarded.');
  };

  // Ctrl/⌘+Enter sends, Esc closes (keeping the draft), as in other mail clients.
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void send();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      void close();
    }
  };

  const fromChoices = info?.fromAddresses ?? props.addresses;
  const copiesShown = showCopies || (fields?.cc.length ?? 0) > 0 || (fields?.bcc.length ?? 0) > 0;
  const status =
    saveState === 'saving'
      ? 'Saving…'
      : saveState === 'saved'
        ? 'Saved'
        : saveState === 'failed'
          ? 'Not saved'
          : '';

  return (
    <section class="composer" role="dialog" aria-labelledby="composer-title" onKeyDown={onKeyDown}>
      <header class="composer-head">
        <button
          type="button"
          class="button icon-button"
          aria-label="Close and keep the draft"
          onClick={close}
        >
          <CloseIcon />
        </button>
        <h2 id="composer-title">{title}</h2>
        <span class="save-state muted" role="status">
          {status}
        </span>
        <button
          type="button"
          class="button icon-button"
          aria-label="Discard draft"
          onClick={discard}
          disabled={!draft}
        >
          <TrashIcon />
        </button>
        <button
          type="button"
          class="button primary send-button"
          onClick={send}
          disabled={!fields || sending}
          aria-keyshortcuts="Control+Enter"
        >
          <SendIcon />
          <span>Send</span>
        </button>
      </header>
      {problem ? (
        <p class="problem composer-problem" role="alert">
          {problem}
        </p>
      ) : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      {!fields ? (
        <p class="loading">{spec.kind === 'source' ? 'Preparing the draft…' : 'Opening the draft…'}</p>
      ) : (
        <div class="composer-body">
          {fromChoices.length > 1 ? (
            <div class="field">
              <label for="compose-from">From</label>
              <select
                id="compose-from"
                value={fields.from}
                onChange={(e) => change({ from: (e.target as HTMLSelectElement).value })}
              >
                {fromChoices.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <AddressField
            id="compose-to"
            label="To"
            value={fields.to}
            onChange={(to) => change({ to })}
            pending={pendingTyped}
            autoFocus={fields.to.length === 0}
          />
          {copiesShown ? (
            <>
              <AddressField
                id="compose-cc"
                label="Cc"
                value={fields.cc}
                onChange={(cc) => change({ cc })}
                pending={pendingTyped}
              />
              <AddressField
                id="compose-bcc"
                label="Bcc"
                value={fields.bcc}
                onChange={(bcc) => change({ bcc })}
                pending={pendingTyped}
              />
            </>
          ) : (
            <div class="field-extra">
              <button type="button" class="button subtle" onClick={() => setShowCopies(true)}>
                Cc and Bcc
              </button>
            </div>
          )}
          <div class="field">
            <label for="compose-subject">Subject</label>
            <input
              id="compose-subject"
              type="text"
              value={fields.subject}
              maxLength={998}
              onInput={(e) => change({ subject: (e.target as HTMLInputElement).value })}
            />
          </div>
          <section class="compose-attachments" aria-label="Attachments">
            {fields.attachments.length > 0 || uploads.length > 0 ? (
              <ul>
                {fields.attachments.map((a, i) => (
                  <li key={`${a.ref.kind}-${i}-${a.filename}`} class="attachment">
                    <PaperclipIcon />
                    <span class="att-text">
                      <span class="att-name">{a.filename}</span>
                      <span class="muted">
                        {a.ref.kind === 'upload'
                          ? 'Uploaded'
                          : a.ref.kind === 'message'
                            ? 'Original message'
                            : 'From the original'}{' '}
                        · {humanSize(a.size)}
                      </span>
                    </span>
                    <button
                      type="button"
                      class="button icon-button"
                      aria-label={`Remove ${a.filename}`}
                      onClick={() => change({ attachments: fields.attachments.filter((x) => x !== a) })}
                    >
                      <CloseIcon />
                    </button>
                  </li>
                ))}
                {uploads.map((u) => (
                  <li key={u.key} class={`attachment${u.error ? ' failed' : ''}`}>
                    <PaperclipIcon />
                    <span class="att-text">
                      <span class="att-name">{u.name}</span>
                      {u.error ? (
                        <span class="field-problem">{u.error}</span>
                      ) : (
                        <span class="upload-progress">
                          <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
                          <span class="muted">
                            {Math.round(u.progress * 100)}% of {humanSize(u.size)}
                          </span>
                        </span>
                      )}
                    </span>
                    <button
                      type="button"
                      class="button icon-button"
                      aria-label={u.error ? `Remove ${u.name}` : `Stop uploading ${u.name}`}
                      onClick={() => {
                        u.abort.abort();
                        setUploads((us) => us.filter((x) => x.key !== u.key));
                      }}
                    >
                      <CloseIcon />
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
            <div class="attach-row">
              <button
                type="button"
                class="button"
                onClick={() => fileInput.current?.click()}
                disabled={!draft}
              >
                <PaperclipIcon />
                <span>Attach files</span>
              </button>
              {maxBytes !== null ? (
                <span class="muted limit" title={`The limit is there because ${ATTACHMENT_LIMIT_REASON}.`}>
                  {attachedBytes > 0
                    ? `${humanSize(attachedBytes)} of ${humanSize(maxBytes)}`
                    : `Up to ${humanSize(maxBytes)} in all`}
                  : {ATTACHMENT_LIMIT_REASON}.
                </span>
              ) : null}
              <input
                ref={fileInput}
                class="visually-hidden"
                type="file"
                multiple
                tabIndex={-1}
                aria-label="Files to attach"
                onChange={(e) => void attach((e.target as HTMLInputElement).files)}
              />
            </div>
          </section>
          <label for="compose-body" class="visually-hidden">
            Message
          </label>
          <textarea
            id="compose-body"
            ref={body}
            class="compose-text"
            value={fields.text}
            spellcheck
            onInput={(e) => change({ text: (e.target as HTMLTextAreaElement).value })}
          />
        </div>
      )}
    </section>
  );
}
