/**
 * The webmail's shell: top bar (search, help, account), the continuity banner, the folders
 * (Inbox, Drafts, Sent) with New message, the list and the reading pane. One column on a phone
 * (list, then the message, then back); list and pane side by side from tablet width up
 * (styles.css). New mail is fetched every POLL_MS while the tab is visible and merged into the
 * list by id, and announced to screen readers. Writing (the composer, Sent, Drafts, the
 * signature, Undo) is a chunk of its own (sending.tsx), loaded when first wanted.
 */
import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { DraftMode, MeResponse, SentItem } from '../../../lambdas/webmail/schemas.js';
import { type Api, ApiError, explain, type StatusResponse } from './api.js';
import { continuityBannerText } from './banner.js';
import { DraftIcon, HelpIcon, InboxIcon, LogoIcon, PencilIcon, SearchIcon, SentIcon } from './icons.js';
import { MessageList } from './list.js';
import { EMPTY, type ListState, mergeFirstPage } from './merge.js';
import type { ReaderProps } from './reader.js';
import { parseRoute, type Route, routeHash } from './route.js';
import type { ComposeSpec } from './sending.js';

/** How often the first page is fetched again for new mail: quick enough to feel live, one small request. */
export const POLL_MS = 15_000;
/**
 * The first page of the mailbox (and each poll): a phone shows about eight rows and a desktop
 * about fifteen, so 30 fills the screen twice; older mail follows as the list scrolls. A smaller
 * first answer matters on a slow link, where nothing compresses it (API Gateway's HTTP APIs do not).
 */
export const FIRST_PAGE = 30;

/** The search operators, for the help popover (the API's parser is lambdas/core/search). */
export const OPERATORS: readonly [string, string][] = [
  ['from:bob', 'sent by Bob (name or address)'],
  ['to:sales', 'sent to an address, or copied (Cc)'],
  ['subject:invoice', 'word in the subject'],
  ['has:attachment', 'with attachments'],
  ['before:2026-11-20', 'received before a day (UTC)'],
  ['after:2026-11-01', 'received after a day (UTC)'],
  ['is:unread', 'not read yet (also is:read, is:flagged)'],
  ['"exact phrase"', 'words in this order'],
];

/** Keyboard shortcuts on a desktop, for the help dialog. */
const SHORTCUTS: readonly [string, string][] = [
  ['j / k', 'next / previous message'],
  ['o or Enter', 'open the message'],
  ['u', 'back to the list'],
  ['Shift+U', 'mark the open message unread (or read)'],
  ['s', 'flag or unflag the open message'],
  ['c', 'write a new message'],
  ['r', 'reply to the open message'],
  ['a', 'reply to all of the open message'],
  ['f', 'forward the open message'],
  ['Ctrl+Enter', 'send (in the message you write)'],
  ['/', 'search'],
  ['?', 'this help'],
  ['Esc', 'close help, leave the message or the search'],
];

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

function useRoute(): [Route, (r: Route) => void] {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const go = useCallback((r: Route) => {
    location.hash = routeHash(r);
  }, []);
  return [route, go];
}

function ContinuityBanner({ status }: { status: StatusResponse | null }) {
  const banner = continuityBannerText(status);
  if (!banner) return null;
  return (
    <div class={`banner banner-${banner.tone}`} role="status">
      {banner.words}
    </div>
  );
}

function SearchBox(props: {
  q: string | null;
  onSearch: (q: string | null) => void;
  inputRef: { current: HTMLInputElement | null };
}) {
  const [value, setValue] = useState(props.q ?? '');
  const [help, setHelp] = useState(false);
  const helpBox = useRef<HTMLDivElement>(null);
  useEffect(() => setValue(props.q ?? ''), [props.q]);
  useEffect(() => {
    if (!help) return;
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent ? e.key === 'Escape' : !helpBox.current?.contains(e.target as Node)) {
        setHelp(false);
      }
    };
    document.addEventListener('keydown', close);
    document.addEventListener('pointerdown', close);
    return () => {
      document.removeEventListener('keydown', close);
      document.removeEventListener('pointerdown', close);
    };
  }, [help]);

  return (
    <div class="search" ref={helpBox}>
      <search>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const q = value.trim();
            props.onSearch(q === '' ? null : q);
            props.inputRef.current?.blur();
          }}
        >
          <label class="visually-hidden" for="search-input">
            Search mail
          </label>
          <span class="search-icon">
            <SearchIcon />
          </span>
          <input
            id="search-input"
            ref={props.inputRef}
            type="search"
            placeholder="Search mail"
            autocomplete="off"
            spellcheck={false}
            enterKeyHint="search"
            aria-keyshortcuts="/"
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
          <button
            type="button"
            class="button icon-button"
            aria-label="Search tips"
            aria-expanded={help ? 'true' : 'false'}
            aria-controls="search-help"
            onClick={() => setHelp(!help)}
          >
            <HelpIcon />
          </button>
        </form>
      </search>
      {help ? (
        <section id="search-help" class="popover" aria-label="Search tips">
          <p>Type words, or narrow with:</p>
          <dl class="operators">
            {OPERATORS.map(([op, meaning]) => (
              <div key={op}>
                <dt>
                  <code>{op}</code>
                </dt>
                <dd>{meaning}</dd>
              </div>
            ))}
          </dl>
          <p class="muted">Combine them: from:bob has:attachment after:2026-11-01</p>
        </section>
      ) : null}
    </div>
  );
}

function ShortcutsDialog(props: { open: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="shortcuts-title" onClose={props.onClose}>
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <dl class="operators">
        {SHORTCUTS.map(([key, what]) => (
          <div key={key}>
            <dt>
              <kbd>{key}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <form method="dialog">
        <button type="submit" class="button">
          Close
        </button>
      </form>
    </dialog>
  );
}

/**
 * The reading pane (with the HTML renderer and DOMPurify) is a chunk of its own: the mailbox list
 * renders without it, and it loads as soon as the list is up or a message is opened, whichever
 * comes first. Loaded once per page.
 */
let readerModule: Promise<typeof import('./reader.js')> | null = null;
const loadReader = () => {
  readerModule ??= import('./reader.js');
  return readerModule;
};

function useReader(wanted: boolean): ((props: ReaderProps) => JSX.Element) | null {
  const [reader, setReader] = useState<((props: ReaderProps) => JSX.Element) | null>(null);
  useEffect(() => {
    if (!wanted || reader) return;
    loadReader().then(
      (m) => setReader(() => m.Reader),
      () => {
        // Offline before the chunk came: the next wish (a message opened) tries again.
        readerModule = null;
      },
    );
  }, [wanted, reader]);
  return reader;
}

/** The writing side (composer, Sent, Drafts, signature, Undo): loaded once, when first wanted. */
let sendingModule: Promise<typeof import('./sending.js')> | null = null;
const loadSending = () => {
  sendingModule ??= import('./sending.js');
  return sendingModule;
};

function useSending(wanted: boolean): typeof import('./sending.js') | null {
  const [mod, setMod] = useState<typeof import('./sending.js') | null>(null);
  useEffect(() => {
    if (!wanted || mod) return;
    loadSending().then(
      (m) => setMod(m),
      () => {
        sendingModule = null;
      },
    );
  }, [wanted, mod]);
  return mod;
}

type Toast = { kind: 'undo'; item: SentItem; shownAt: number } | { kind: 'note'; text: string };

export interface AppProps {
  api: Api;
  onSignOut: () => void;
}

/** The signed-in webmail. */
export function App({ api, onSignOut }: AppProps) {
  const [route, go] = useRoute();
  const [me, setMe] = useState<MeResponse | null>(null);
  const [inbox, setInbox] = useState<ListState>(EMPTY);
  const [results, setResults] = useState<ListState & { q: string | null }>({ ...EMPTY, q: null });
  const [status, setStatus] = useState<StatusResponse | null>(null);
  const [problem, setProblemState] = useState<{ text: string; network: boolean } | null>(null);
  const setProblem = useCallback((err: unknown) => {
    if (err === null) return setProblemState(null);
    const network = err instanceof ApiError && err.code === 'NETWORK';
    setProblemState({ text: typeof err === 'string' ? err : explain(err), network });
  }, []);
  const meLoaded = useRef(false);
  const [announce, setAnnounce] = useState('');
  const [help, setHelp] = useState(false);
  const [command, setCommand] = useState<{ kind: 'toggle-seen' | 'toggle-flag'; n: number } | null>(null);
  const searchInput = useRef<HTMLInputElement>(null);
  const listPane = useRef<HTMLDivElement>(null);
  const firstRender = useRef(false);

  const showing = route.q ? results : inbox;
  const Reader = useReader(route.id !== null || inbox.loaded);
  const [compose, setCompose] = useState<{ spec: ComposeSpec; n: number } | null>(null);
  const [toast, setToast] = useState<Toast | null>(null);
  const [signature, setSignature] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const Sending = useSending(compose !== null || signature || route.view !== undefined || Reader !== null);
  const openCompose = useCallback((spec: ComposeSpec) => {
    setCompose((c) => ({ spec, n: (c?.n ?? 0) + 1 }));
  }, []);
  const onCompose = useCallback(
    (mode: DraftMode) => {
      if (route.id) openCompose({ kind: 'source', messageId: route.id, mode });
    },
    [route.id, openCompose],
  );

  // Who is signed in, and the first page.
  useEffect(() => {
    api.me().then(
      (m) => {
        meLoaded.current = true;
        setMe(m);
      },
      (err) => setProblem(err),
    );
    setInbox((l) => ({ ...l, loading: true }));
    api.list(undefined, FIRST_PAGE).then(
      (p) => setInbox({ messages: p.messages, cursor: p.cursor, loading: false, loaded: true }),
      (err) => {
        setInbox((l) => ({ ...l, loading: false }));
        setProblem(err);
      },
    );
  }, [api, setProblem]);

  // Marks the first mailbox render, for the load-time benchmark (bench/web-app.ts).
  useEffect(() => {
    if (!firstRender.current && inbox.loaded) {
      firstRender.current = true;
      performance.mark('lifeboat:first-mailbox');
    }
  }, [inbox.loaded]);

  // New mail without a reload: the first page again while the tab is visible, and the continuity
  // state with it, so the banner shows within one tick of an invoke.
  useEffect(() => {
    let stopped = false;
    const loadStatus = () =>
      api.status().then(
        (s) => !stopped && setStatus(s),
        () => {
          // No status (an older server, or a blip): no banner rather than a wrong one.
        },
      );
    const poll = async () => {
      if (document.visibilityState !== 'visible') return;
      void loadStatus();
      try {
        const fresh = await api.list(undefined, FIRST_PAGE);
        if (stopped) return;
        setInbox((list) => {
          const { list: merged, added } = mergeFirstPage(list, fresh);
          if (added > 0) setAnnounce(added === 1 ? '1 new message' : `${added} new messages`);
          return merged;
        });
        // Back on line: the "cannot be reached" notice has served its purpose.
        setProblemState((p) => (p?.network ? null : p));
        if (!meLoaded.current) {
          api.me().then(
            (m) => {
              meLoaded.current = true;
              setMe(m);
            },
            () => undefined,
          );
        }
      } catch {
        // A missed poll is retried at the next tick.
      }
    };
    // The first page is loaded above; the banner's state now, then both every tick.
    void loadStatus();
    const timer = setInterval(poll, POLL_MS);
    const onVisible = () => void poll();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api]);

  // Search results, fetched whenever the route's query changes.
  useEffect(() => {
    if (!route.q) return;
    const q = route.q;
    setResults({ ...EMPTY, q, loading: true });
    api.search(q).then(
      (p) => setResults({ messages: p.messages, cursor: p.cursor, loading: false, loaded: true, q }),
      (err) => {
        setResults({ ...EMPTY, q, loaded: true });
        setProblem(err);
      },
    );
  }, [api, route.q, setProblem]);

  const more = useCallback(() => {
    const list = route.q ? results : inbox;
    if (!list.cursor || list.loading) return;
    const cursor = list.cursor;
    const set = route.q ? setResults : setInbox;
    const q = route.q;
    (set as (f: (l: ListState) => ListState) => void)((l) => ({ ...l, loading: true }));
    (q ? api.search(q, cursor) : api.list(cursor)).then(
      (p) =>
        (set as (f: (l: ListState) => ListState) => void)((l) => {
          const known = new Set(l.messages.map((m) => m.id));
          return {
            ...l,
            messages: [...l.messages, ...p.messages.filter((m) => !known.has(m.id))],
            cursor: p.cursor,
            loading: false,
          };
        }),
      (err) => {
        (set as (f: (l: ListState) => ListState) => void)((l) => ({ ...l, loading: false }));
        setProblem(err);
      },
    );
  }, [api, route.q, inbox, results, setProblem]);

  const onFlags = useCallback((id: string, flags: { seen: boolean; flagged: boolean }) => {
    const patch = (l: ListState) => ({
      ...l,
      messages: l.messages.map((m) => (m.id === id ? { ...m, ...flags } : m)),
    });
    setInbox(patch);
    setResults((r) => ({ ...r, ...patch(r) }));
  }, []);

  const onError = useCallback((err: unknown) => setProblem(err), [setProblem]);

  // Back from a message to the list: the row it came from gets the focus again (and stays in view on a phone).
  const lastOpen = useRef<string | null>(null);
  useEffect(() => {
    if (route.id) {
      lastOpen.current = route.id;
      return;
    }
    const id = lastOpen.current;
    if (!id) return;
    const row = listPane.current?.querySelector<HTMLElement>(`a[data-id="${CSS.escape(id)}"]`);
    row?.focus({ preventScroll: true });
    row?.scrollIntoView({ block: 'nearest' });
  }, [route.id]);

  // Keyboard shortcuts (desktop keyboards; a phone has none of these keys in the way).
  useEffect(() => {
    const rows = () => Array.from(listPane.current?.querySelectorAll<HTMLAnchorElement>('a.row') ?? []);
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target) || help) return;
      // The composer and the signature sheet keep their keys (Esc closes them).
      if ((e.target as Element | null)?.closest?.('.composer, dialog')) return;
      const all = rows();
      const focused = all.indexOf(document.activeElement as HTMLAnchorElement);
      const current = focused >= 0 ? focused : all.findIndex((r) => r.dataset.id === route.id);
      const move = (delta: number) => {
        const next = all[Math.min(all.length - 1, Math.max(0, current + delta))];
        if (!next) return;
        if (route.id) go({ id: next.dataset.id ?? null, q: route.q });
        next.focus();
        next.scrollIntoView({ block: 'nearest' });
      };
      switch (e.key) {
        case 'j':
          move(1);
          break;
        case 'k':
          move(-1);
          break;
        case 'o': {
          const row = all[Math.max(0, current)];
          if (row) go({ id: row.dataset.id ?? null, q: route.q });
          break;
        }
        case 'u':
          if (route.id) go({ id: null, q: route.q });
          break;
        case 'U':
          if (route.id) setCommand((c) => ({ kind: 'toggle-seen', n: (c?.n ?? 0) + 1 }));
          break;
        case 's':
          if (route.id) setCommand((c) => ({ kind: 'toggle-flag', n: (c?.n ?? 0) + 1 }));
          break;
        case 'c':
          openCompose({ kind: 'new' });
          break;
        case 'r':
        case 'a':
        case 'f':
          if (!route.id) return;
          openCompose({
            kind: 'source',
            messageId: route.id,
            mode: e.key === 'r' ? 'reply' : e.key === 'a' ? 'reply-all' : 'forward',
          });
          break;
        case '/':
          searchInput.current?.focus();
          searchInput.current?.select();
          break;
        case '?':
          setHelp(true);
          break;
        case 'Escape':
          if (route.id) go({ id: null, q: route.q });
          else if (route.q) go({ id: null, q: null });
          else return;
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [route, go, help, openCompose]);

  // Esc in the search box leaves the search (the input's own Esc only clears its text).
  useEffect(() => {
    const input = searchInput.current;
    if (!input) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        input.blur();
        if (route.q) go({ id: null, q: null });
      }
    };
    input.addEventListener('keydown', onKey);
    return () => input.removeEventListener('keydown', onKey);
  }, [route.q, go]);

  const title = route.q ? 'Search results' : 'Inbox';
  const unread = inbox.messages.filter((m) => !m.seen).length;
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Lifeboat mail` : 'Lifeboat mail';
  }, [unread]);

  return (
    <div class={`app${route.id ? ' reading' : ''}`}>
      <header class="topbar">
        <a class="brand" href={routeHash({ id: null, q: null })} aria-label="Lifeboat mail: inbox">
          <LogoIcon />
          <span class="brand-name">Lifeboat</span>
        </a>
        <SearchBox q={route.q} onSearch={(q) => go({ id: null, q })} inputRef={searchInput} />
        <button
          type="button"
          class="button icon-button shortcuts-button"
          aria-label="Keyboard shortcuts"
          aria-keyshortcuts="?"
          onClick={() => setHelp(true)}
        >
          <kbd>?</kbd>
        </button>
        <details class="account">
          <summary class="button icon-button" aria-label={`Account${me ? `: ${me.name}` : ''}`}>
            <span aria-hidden="true" class="avatar">
              {(me?.name ?? '·').slice(0, 1).toUpperCase()}
            </span>
          </summary>
          <div class="popover account-menu">
            <p>
              <strong>{me?.name ?? ''}</strong>
            </p>
            {me?.addresses.map((a) => (
              <p key={a} class="muted">
                {a}
              </p>
            ))}
            {me ? <p class="muted">Mail from the last {me.historyDays} days.</p> : null}
            <p class="menu-buttons">
              <button
                type="button"
                class="button"
                onClick={(e) => {
                  (e.currentTarget.closest('details') as HTMLDetailsElement | null)?.removeAttribute('open');
                  setSignature(true);
                }}
              >
                Signature…
              </button>
              <button type="button" class="button" onClick={onSignOut}>
                Sign out
              </button>
            </p>
          </div>
        </details>
      </header>
      <ContinuityBanner status={status} />
      {problem ? (
        <div class="problem-bar" role="alert">
          <span>{problem.text}</span>
          <button type="button" class="button subtle" onClick={() => setProblem(null)}>
            Dismiss
          </button>
        </div>
      ) : null}
      <div class="visually-hidden" aria-live="polite" aria-atomic="true">
        {announce}
      </div>
      <nav class="folders" aria-label="Folders">
        <a
          class="folder"
          href={routeHash({ id: null, q: null })}
          aria-current={route.view ? undefined : 'page'}
        >
          <InboxIcon />
          <span>Inbox</span>
        </a>
        <a
          class="folder"
          href={routeHash({ id: null, q: null, view: 'drafts' })}
          aria-current={route.view === 'drafts' ? 'page' : undefined}
        >
          <DraftIcon />
          <span>Drafts</span>
        </a>
        <a
          class="folder"
          href={routeHash({ id: null, q: null, view: 'sent' })}
          aria-current={route.view === 'sent' ? 'page' : undefined}
        >
          <SentIcon />
          <span>Sent</span>
        </a>
        <button
          type="button"
          class={`button primary compose-button${compose ? ' hidden-while-composing' : ''}`}
          aria-label="New message"
          aria-keyshortcuts="C"
          onClick={() => openCompose({ kind: 'new' })}
        >
          <PencilIcon />
          <span class="compose-label">New message</span>
        </button>
      </nav>
      {route.view ? (
        <main class="panes">
          {!Sending ? (
            <p class="loading">Loading…</p>
          ) : route.view === 'sent' ? (
            <Sending.SentView api={api} refresh={refresh} />
          ) : (
            <Sending.DraftsView
              api={api}
              refresh={refresh}
              onOpen={(id) => openCompose({ kind: 'open', id })}
            />
          )}
        </main>
      ) : (
        <main class="panes">
          <section class="list-pane" ref={listPane} aria-labelledby="list-title">
            <div class="list-head">
              <h1 id="list-title">{title}</h1>
              {route.q ? (
                <>
                  <span class="muted query">{route.q}</span>
                  <button type="button" class="button subtle" onClick={() => go({ id: null, q: null })}>
                    Clear search
                  </button>
                </>
              ) : null}
            </div>
            <MessageList
              messages={showing.messages}
              selectedId={route.id}
              q={route.q}
              hasMore={showing.cursor !== null}
              loading={showing.loading}
              loaded={showing.loaded}
              emptyText={route.q ? 'No messages match this search.' : 'No mail in the last days.'}
              onMore={more}
            />
          </section>
          <section class="reader-pane" aria-label="Reading pane">
            {route.id && !Reader ? (
              <p class="loading">Opening the message…</p>
            ) : route.id && Reader ? (
              <Reader
                api={api}
                id={route.id}
                onFlags={onFlags}
                onBack={() => go({ id: null, q: route.q })}
                onError={onError}
                command={command}
                onCompose={onCompose}
              />
            ) : (
              <p class="placeholder muted">Choose a message to read it.</p>
            )}
          </section>
        </main>
      )}
      {compose ? (
        Sending ? (
          <Sending.Composer
            key={compose.n}
            api={api}
            spec={compose.spec}
            addresses={me?.addresses ?? []}
            onClose={(note) => {
              setCompose(null);
              setRefresh((n) => n + 1);
              if (note) setToast({ kind: 'note', text: note });
            }}
            onSent={(item) => {
              setCompose(null);
              setRefresh((n) => n + 1);
              setToast({ kind: 'undo', item, shownAt: Date.now() });
            }}
          />
        ) : (
          <section class="composer" aria-label="New message" aria-busy="true">
            <p class="loading">Opening…</p>
          </section>
        )
      ) : null}
      {Sending && toast?.kind === 'undo' ? (
        <Sending.UndoToast
          key={toast.item.id}
          item={toast.item}
          shownAt={toast.shownAt}
          onDone={() => {
            setToast(null);
            setRefresh((n) => n + 1);
          }}
          onUndo={async () => {
            try {
              const { draft } = await api.undo(toast.item.id);
              setToast({ kind: 'note', text: 'Not sent: the message is back in the composer.' });
              openCompose({ kind: 'draft', draft });
            } catch (err) {
              setToast({ kind: 'note', text: explain(err) });
            }
            setRefresh((n) => n + 1);
          }}
        />
      ) : Sending && toast?.kind === 'note' ? (
        <Sending.NoteToast key={toast.text} text={toast.text} onDone={() => setToast(null)} />
      ) : null}
      {Sending && signature ? (
        <Sending.SignatureDialog
          api={api}
          onClose={(note) => {
            setSignature(false);
            if (note) setToast({ kind: 'note', text: note });
          }}
        />
      ) : null}
      <ShortcutsDialog open={help} onClose={() => setHelp(false)} />
    </div>
  );
}
