/**
 * The console's shell: a bar with the continuity state (polled), the views (status, events,
 * queue, quarantine, staff notices, replay, drills, audit log, settings), and the page an admin
 * without the admin group (or without a second factor where one is required) sees instead.
 * One column on a phone; the views widen on a desktop. Every view gets the same API and the last
 * status, so the state shown in the bar and on a page never disagree for long.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { MFA_REQUIRED } from '../../../lambdas/console/auth.js';
import type { StatusResponse } from '../../../lambdas/console/schemas.js';
import { LogoIcon } from '../mail/icons.js';
import { type AdminApi, ApiError, explain } from './api.js';
import { AuditView } from './audit.js';
import { EventsView, EventView } from './event.js';
import { ORG_WORDS } from './format.js';
import { lazyView } from './lazy-view.js';
import { QuarantineView } from './quarantine.js';
import { DeliveryView, QueueView } from './queue.js';
import { parseView, type View, viewPath } from './route.js';
import { StatusView } from './status.js';

// Pages for planned work, each a chunk of its own loaded when first opened (lazy-view.tsx).
const NoticesView = lazyView(() => import('./notices.js').then((m) => m.NoticesView));
const NoticeView = lazyView(() => import('./notices.js').then((m) => m.NoticeView));
const ReplaysView = lazyView(() => import('./replay.js').then((m) => m.ReplaysView));
const ReplayView = lazyView(() => import('./replay.js').then((m) => m.ReplayView));
const DrillsView = lazyView(() => import('./drill.js').then((m) => m.DrillsView));
const DrillView = lazyView(() => import('./drill.js').then((m) => m.DrillView));
const SettingsView = lazyView(() => import('./settings.js').then((m) => m.SettingsView));

/** How often the bar's state is asked for: a page that arrives is seen within this. */
const STATUS_POLL_MS = 10_000;
/** While mail is handed over the state changes within seconds: asked for more often then. */
const HANDOVER_STATUS_POLL_MS = 2000;

export interface ViewProps {
  api: AdminApi;
  status: StatusResponse | null;
  /** Asks for the status again now (after an action). */
  refresh: () => void;
  navigate: (view: View) => void;
}

const NAV: { name: View['name']; label: string; view: View }[] = [
  { name: 'status', label: 'Status', view: { name: 'status' } },
  { name: 'events', label: 'Events', view: { name: 'events' } },
  { name: 'queue', label: 'Queue', view: { name: 'queue', params: new URLSearchParams() } },
  { name: 'quarantine', label: 'Quarantine', view: { name: 'quarantine' } },
  { name: 'notices', label: 'Notices', view: { name: 'notices' } },
  { name: 'replays', label: 'Replay', view: { name: 'replays' } },
  { name: 'drills', label: 'Drills', view: { name: 'drills' } },
  { name: 'audit', label: 'Audit', view: { name: 'audit', params: new URLSearchParams() } },
  { name: 'settings', label: 'Settings', view: { name: 'settings' } },
];

/** The tab a page belongs to: an item's page is under its list's tab. */
const TAB_OF: Partial<Record<View['name'], View['name']>> = {
  event: 'events',
  delivery: 'queue',
  notice: 'notices',
  replay: 'replays',
  drill: 'drills',
};

function navOf(view: View): View['name'] {
  return TAB_OF[view.name] ?? view.name;
}

/** Shown when the admin API refuses the signed-in user: not in the admin group. */
function NotAdmin(props: { userName: string; onSignOut: () => void }) {
  return (
    <main class="signin" aria-labelledby="not-admin">
      <h1 id="not-admin">
        <LogoIcon /> You are not an administrator
      </h1>
      <p>
        You are signed in as <strong>{props.userName}</strong>, who is not in Lifeboat's administrators'
        group. The console is for the admins who run the continuity plan.
      </p>
      <p>
        To read your mail, open <a href="/mail/">Lifeboat mail</a>. If you should be an administrator, ask one
        to add you to the group.
      </p>
      <button type="button" class="button" onClick={props.onSignOut}>
        Sign out
      </button>
    </main>
  );
}

/**
 * Shown when the admin API refuses an administrator whose sign-in had no second factor: what to set
 * up (the API's own words name it), and a way to sign in again once it is.
 */
function MfaRequired(props: {
  userName: string;
  message: string;
  onSignIn: () => void;
  onSignOut: () => void;
}) {
  return (
    <main class="signin" aria-labelledby="mfa-required">
      <h1 id="mfa-required">
        <LogoIcon /> Sign in with a second factor
      </h1>
      <p>
        You are signed in as <strong>{props.userName}</strong>, an administrator, but without a second factor.
        The console runs the continuity plan, so it asks administrators for a code from an authenticator app
        or a passkey as well as their password.
      </p>
      <p class="notice">{props.message.replace(/^admin API: /, '')}</p>
      <div class="actions">
        <button type="button" class="button primary" onClick={props.onSignIn}>
          Sign in again
        </button>
        <button type="button" class="button" onClick={props.onSignOut}>
          Sign out
        </button>
      </div>
    </main>
  );
}

export interface AppProps {
  api: AdminApi;
  userName: string;
  /** Sends the admin through sign-in again (after setting up a second factor). */
  onSignIn: () => void;
  onSignOut: () => void;
}

export function App(props: AppProps) {
  const { api } = props;
  const [view, setView] = useState<View>(() => parseView(location.pathname, location.search));
  const [status, setStatus] = useState<StatusResponse | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [forbidden, setForbidden] = useState<'not-admin' | { mfa: string } | null>(null);
  const [tick, setTick] = useState(0);

  const refresh = useCallback(() => setTick((n) => n + 1), []);

  useEffect(() => {
    let live = true;
    api.status().then(
      (s) => {
        if (!live) return;
        setStatus(s);
        setProblem(null);
      },
      (err) => {
        if (!live) return;
        if (err instanceof ApiError && err.code === MFA_REQUIRED) setForbidden({ mfa: err.message });
        else if (err instanceof ApiError && err.status === 403) setForbidden('not-admin');
        else setProblem(explain(err));
      },
    );
    const timer = setTimeout(
      refresh,
      status?.state === 'recovering' ? HANDOVER_STATUS_POLL_MS : STATUS_POLL_MS,
    );
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, tick, refresh]);

  useEffect(() => {
    const onPop = () => setView(parseView(location.pathname, location.search));
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((next: View) => {
    const path = viewPath(next);
    if (`${location.pathname}${location.search}` !== path) history.pushState(null, '', path);
    setView(next);
    scrollTo(0, 0);
  }, []);

  if (forbidden === 'not-admin') return <NotAdmin userName={props.userName} onSignOut={props.onSignOut} />;
  if (forbidden)
    return (
      <MfaRequired
        userName={props.userName}
        message={forbidden.mfa}
        onSignIn={props.onSignIn}
        onSignOut={props.onSignOut}
      />
    );

  const shared: ViewProps = { api, status, refresh, navigate };
  const current = navOf(view);
  const state = status?.state;

  return (
    <div class={`app state-${state ?? 'unknown'}`}>
      <header class="topbar">
        <a
          class="brand"
          href="/console/"
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: 'status' });
          }}
        >
          <LogoIcon />
          <span>
            Lifeboat<span class="brand-long"> console</span>
          </span>
        </a>
        {state ? (
          <span
            class={`pill pill-${state}`}
            role="status"
            aria-label={`Continuity state: ${ORG_WORDS[state].label}`}
          >
            {ORG_WORDS[state].label}
          </span>
        ) : null}
        <span class="spacer" />
        <details class="account">
          <summary aria-label={`Account: ${props.userName}`}>
            <span class="avatar" aria-hidden="true">
              {props.userName.slice(0, 1).toUpperCase()}
            </span>
          </summary>
          <div class="account-menu">
            <p>{props.userName}</p>
            <a class="button subtle" href="/mail/">
              Lifeboat mail
            </a>
            <button type="button" class="button" onClick={props.onSignOut}>
              Sign out
            </button>
          </div>
        </details>
      </header>
      <nav class="tabs" aria-label="Console">
        {NAV.map((n) => (
          <a
            key={n.name}
            href={viewPath(n.view)}
            aria-current={current === n.name ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate(n.view);
            }}
          >
            {n.label}
            {n.name === 'quarantine' && status?.queue.quarantined ? (
              <span class="count">{status.queue.quarantined}</span>
            ) : null}
          </a>
        ))}
      </nav>
      {problem ? (
        <p class="problem-bar" role="alert">
          {problem}
        </p>
      ) : null}
      <main class="content">
        {view.name === 'status' ? <StatusView {...shared} /> : null}
        {view.name === 'events' ? <EventsView {...shared} /> : null}
        {view.name === 'event' ? <EventView {...shared} id={view.id} key={view.id} /> : null}
        {view.name === 'queue' ? <QueueView {...shared} params={view.params} /> : null}
        {view.name === 'delivery' ? (
          <DeliveryView
            {...shared}
            messageId={view.messageId}
            recipient={view.recipient}
            key={`${view.messageId}/${view.recipient}`}
          />
        ) : null}
        {view.name === 'quarantine' ? <QuarantineView {...shared} /> : null}
        {view.name === 'audit' ? <AuditView {...shared} params={view.params} /> : null}
        {view.name === 'notices' ? <NoticesView {...shared} /> : null}
        {view.name === 'notice' ? <NoticeView {...shared} id={view.id} key={view.id} /> : null}
        {view.name === 'replays' ? <ReplaysView {...shared} /> : null}
        {view.name === 'replay' ? <ReplayView {...shared} id={view.id} key={view.id} /> : null}
        {view.name === 'drills' ? <DrillsView {...shared} /> : null}
        {view.name === 'drill' ? <DrillView {...shared} id={view.id} key={view.id} /> : null}
        {view.name === 'settings' ? <SettingsView {...shared} /> : null}
        {view.name === 'missing' ? (
          <section class="card">
            <h1>Nothing here</h1>
            <p>This address is not a page of the console.</p>
          </section>
        ) : null}
      </main>
    </div>
  );
}
