/**
 * The event page, where the link in an admin's page lands: what was detected and the evidence
 * (which probe, which route, the figures against their thresholds), the actions that fit the
 * state (acknowledge, invoke, revoke), the hand-over's progress while it runs (polled), and the
 * event's timeline from its record, the outbox and the audit log: who did what, when.
 */
import { useEffect, useState } from 'preact/hooks';
import type {
  AuditEntry,
  ContinuityEvent,
  Evidence,
  FlowThresholds,
  NotificationRecord,
} from '../../../lambdas/console/schemas.js';
import { type AdminApi, explain } from './api.js';
import type { ViewProps } from './app.js';
import { type ContinuitySheet, ContinuitySheets } from './continuity-sheets.js';
import { ago, duration, ORG_WORDS, scopeWords, when } from './format.js';
import { type EventJobs, type TimelineItem, timelineOf } from './timeline.js';

/** How often an open event is read again; a running hand-over is read faster, to show it moving. */
const EVENT_POLL_MS = 5000;
const HANDOVER_POLL_MS = 1500;

const PROBE_WORDS: Record<string, string> = {
  smtp: 'SMTP check',
  organic: 'Real deliveries',
  roundtrip: 'Round-trip probe',
};

/** One figure against its threshold: the bar fills to the threshold's mark and past it. */
interface Measure {
  label: string;
  value: number;
  limit: number;
  text: string;
  limitText: string;
  /** Breaches when value >= limit (all of ours do). */
}

function measuresOf(e: Evidence, t: FlowThresholds | null, streak: number | null): Measure[] {
  const f = e.figures;
  const out: Measure[] = [];
  if (e.probe === 'organic' && t) {
    if (f.failureRatio !== undefined && f.attempts !== undefined) {
      out.push({
        label: 'Failed attempts',
        value: f.failureRatio,
        limit: t.failureRatio,
        text: `${f.failed ?? 0} of ${f.attempts} (${Math.round(f.failureRatio * 100)} %)`,
        limitText: `pages at ${Math.round(t.failureRatio * 100)} % of at least ${t.minSamples} in ${t.windowMinutes} min`,
      });
    }
    if (f.p95LatencyMs !== undefined) {
      out.push({
        label: 'p95 transaction time',
        value: f.p95LatencyMs,
        limit: t.smtpP95Seconds * 1000,
        text: duration(f.p95LatencyMs),
        limitText: `pages at ${t.smtpP95Seconds} s`,
      });
    }
    if (f.oldestDeferredSeconds !== undefined) {
      out.push({
        label: 'Oldest deferred',
        value: f.oldestDeferredSeconds,
        limit: t.oldestDeferredMinutes * 60,
        text: duration(f.oldestDeferredSeconds * 1000),
        limitText: `pages at ${t.oldestDeferredMinutes} min`,
      });
    }
  }
  if (e.probe === 'smtp') {
    if (f.hosts !== undefined) {
      out.push({
        label: 'Hosts answering',
        value: (f.hosts ?? 0) - (f.hostsUp ?? 0),
        limit: f.hosts ?? 1,
        text: `${f.hostsUp ?? 0} of ${f.hosts}`,
        limitText: 'fails when none answers',
      });
    }
    if (t && streak !== null) {
      out.push({
        label: 'Failed checks in a row',
        value: streak,
        limit: t.consecutiveFailures,
        text: String(streak),
        limitText: `pages at ${t.consecutiveFailures}`,
      });
    }
  }
  if (e.probe === 'roundtrip' && t?.roundTripTimeoutSeconds) {
    const ms = f.ageMs ?? f.rttMs;
    if (ms !== undefined) {
      out.push({
        label: f.ageMs !== undefined ? 'Probe not back after' : 'Round trip',
        value: ms,
        limit: t.roundTripTimeoutSeconds * 1000,
        text: duration(ms),
        limitText: `fails at ${t.roundTripTimeoutSeconds} s`,
      });
    }
  }
  return out;
}

function MeasureBar(props: { m: Measure }) {
  const { m } = props;
  const over = m.value >= m.limit;
  // The threshold sits at two thirds of the bar, so a breach shows how far past it the figure is.
  const scale = m.limit > 0 ? Math.min(1, (m.value / m.limit) * (2 / 3)) : 1;
  return (
    <div class={`measure${over ? ' over' : ''}`}>
      <div class="measure-text">
        <span>{m.label}</span>
        <strong>{m.text}</strong>
      </div>
      <div class="measure-bar" aria-hidden="true">
        <span class="fill" style={{ width: `${Math.round(scale * 100)}%` }} />
        <span class="mark" />
      </div>
      <div class="muted small">
        {over ? 'Over the threshold: ' : 'Threshold: '}
        {m.limitText}
      </div>
    </div>
  );
}

/** The evidence, the latest finding per route and probe, with how often it was seen. */
function EvidenceList(props: {
  event: ContinuityEvent;
  thresholds: FlowThresholds | null;
  streaks: Map<string, number>;
}) {
  const groups = new Map<string, { first: Evidence; last: Evidence; count: number }>();
  for (const e of props.event.evidence) {
    const key = `${e.route}/${e.probe}`;
    const g = groups.get(key);
    if (g) {
      g.last = e;
      g.count++;
    } else groups.set(key, { first: e, last: e, count: 1 });
  }
  if (groups.size === 0) {
    return (
      <p class="muted">
        {props.event.openedBy === 'admin'
          ? 'Opened by an admin, without a probe finding.'
          : props.event.openedBy === 'schedule'
            ? 'Planned maintenance.'
            : 'No probe finding was kept.'}
      </p>
    );
  }
  return (
    <ul class="evidence">
      {[...groups.entries()].map(([key, g]) => {
        const measures = measuresOf(g.last, props.thresholds, props.streaks.get(key) ?? null);
        return (
          <li key={key} class="card inset">
            <h3>
              {PROBE_WORDS[g.last.probe] ?? g.last.probe} · route {g.last.route}
            </h3>
            <p class="detail">{g.last.detail}</p>
            <p class="muted small">
              Seen {g.count} {g.count === 1 ? 'time' : 'times'}, first at {when(g.first.at)}
              {g.count > 1 ? `, last at ${when(g.last.at)}` : ''}
            </p>
            {measures.map((m) => (
              <MeasureBar key={m.label} m={m} />
            ))}
          </li>
        );
      })}
    </ul>
  );
}

function Timeline(props: { items: TimelineItem[] }) {
  return (
    <ol class="timeline">
      {props.items.map((i) => (
        <li key={`${i.at}-${i.what}`} class={`tl-${i.kind}`}>
          <time dateTime={i.at}>{when(i.at)}</time>
          <div>
            <strong>{i.what}</strong>
            {i.who ? <span> by {i.who}</span> : null}
            {i.detail ? <p class="muted small">{i.detail}</p> : null}
          </div>
        </li>
      ))}
    </ol>
  );
}

function Handover(props: { event: ContinuityEvent; held: number }) {
  const h = props.event.handover;
  if (!h) return null;
  const done = h.finishedAt !== null;
  const pct = h.total > 0 ? Math.round((h.released / h.total) * 100) : 100;
  return (
    <section class="card" aria-labelledby="handover-h">
      <h2 id="handover-h">Hand-over</h2>
      <progress
        max={Math.max(h.total, 1)}
        value={done ? Math.max(h.total, 1) : h.released}
        aria-labelledby="handover-text"
      />
      <p id="handover-text" aria-live="polite">
        {done
          ? `Finished: ${h.released} of ${h.total} handed over in ${duration(Date.parse(h.finishedAt as string) - Date.parse(h.startedAt))}.`
          : `${h.released} of ${h.total} handed over (${pct} %), ${props.held} still held. Started ${ago(h.startedAt)}.`}
      </p>
    </section>
  );
}

/**
 * The admin's jobs that may be tied to the event (staff notices, replays, drills), for its timeline.
 * A list the API cannot give (an older server) is left out rather than failing the page.
 */
async function eventJobs(api: AdminApi, eventId: string): Promise<EventJobs> {
  const [notices, replays, drills] = await Promise.all([
    api.notices().then(
      (l) => l.notices,
      () => undefined,
    ),
    api.replays({ eventId }).then(
      (l) => l.replays,
      () => undefined,
    ),
    api.drills().then(
      (p) => p.drills,
      () => undefined,
    ),
  ]);
  return { notices, replays, drills };
}

/** Audit entries of the event: the time range of the event, matched on the entries' event id. */
async function eventAudit(api: AdminApi, event: ContinuityEvent): Promise<AuditEntry[]> {
  const from = new Date(Date.parse(event.openedAt) - 60_000).toISOString();
  const to = event.closedAt ? new Date(Date.parse(event.closedAt) + 60_000).toISOString() : undefined;
  const page = await api.audit({ from, to, limit: '500' });
  return page.entries.filter((e) => e.eventId === event.id);
}

export function EventView(props: ViewProps & { id: string }) {
  const { api, id, status, refresh } = props;
  const [event, setEvent] = useState<ContinuityEvent | null>(null);
  const [notes, setNotes] = useState<NotificationRecord[]>([]);
  const [jobs, setJobs] = useState<EventJobs>({});
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [thresholds, setThresholds] = useState<FlowThresholds | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sheet, setSheet] = useState<ContinuitySheet | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    // The thresholds the figures are judged against, as configured (the metrics answer carries them).
    const now = new Date();
    api.metrics(new Date(now.getTime() - 60_000), now, 'minute').then(
      (m) => setThresholds(m.thresholds),
      () => undefined,
    );
  }, [api]);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    (async () => {
      try {
        const ev = await api.event(id);
        const [outbox, entries, related] = await Promise.all([
          api.outbox(200),
          eventAudit(api, ev),
          eventJobs(api, ev.id),
        ]);
        if (!live) return;
        setEvent(ev);
        setNotes(outbox.notifications);
        setJobs(related);
        setAudit(entries);
        setFailure(null);
        const running = ev.handover && !ev.handover.finishedAt;
        if (!ev.closedAt || running)
          timer = setTimeout(() => setTick((n) => n + 1), running ? HANDOVER_POLL_MS : EVENT_POLL_MS);
      } catch (err) {
        if (!live) return;
        setFailure(explain(err));
        timer = setTimeout(() => setTick((n) => n + 1), EVENT_POLL_MS);
      }
    })();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [api, id, tick]);

  if (!event) {
    return failure ? (
      <section class="card">
        <h1>Event {id}</h1>
        <p class="problem" role="alert">
          {failure}
        </p>
      </section>
    ) : (
      <p class="loading" aria-busy="true">
        Opening event {id}…
      </p>
    );
  }

  const isOpen = status?.event?.id === event.id;
  const orgState = isOpen ? (status?.state ?? event.state) : event.state;
  const streaks = new Map<string, number>();
  // The streaks now describe this event only while it is open; a closed one is told by its evidence.
  if (isOpen)
    for (const r of status?.routes ?? [])
      for (const p of r.probes) streaks.set(`${r.name}/${p.probe}`, p.failures);
  const canAck = isOpen && orgState === 'alerting' && !event.acknowledgedAt;
  const canInvoke = isOpen && orgState === 'alerting';
  const canRevoke = isOpen && orgState === 'continuity';
  // Only a planned window has an end to move; continuity for an outage lasts until revoked.
  const canExtend =
    isOpen &&
    event.scheduledEnd !== null &&
    !event.revokedAt &&
    (orgState === 'normal' || orgState === 'continuity');
  const words = ORG_WORDS[event.closedAt ? 'normal' : orgState];

  return (
    <div class="stack">
      <section
        class={`card state-card state-${event.closedAt ? 'closed' : orgState}`}
        aria-labelledby="event-h"
      >
        <p class="eyebrow">
          {event.drill ? 'Drill · ' : ''}Event {event.id}
        </p>
        <h1 id="event-h">
          {event.closedAt ? 'Closed' : words.label}
          <span class="muted"> · {scopeWords(event.scope)}</span>
        </h1>
        <p>
          {event.closedAt
            ? `Opened ${when(event.openedAt)}, closed ${when(event.closedAt)} (${duration(Date.parse(event.closedAt) - Date.parse(event.openedAt))}).`
            : `${words.says} Opened ${ago(event.openedAt)}.`}
        </p>
        {event.scheduledStart && !event.invokedAt ? (
          <p>
            Planned from {when(event.scheduledStart)} to {when(event.scheduledEnd ?? event.scheduledStart)}.
          </p>
        ) : null}
        {event.scheduledEnd && event.invokedAt && !event.revokedAt ? (
          <p>Planned to end {when(event.scheduledEnd)}, with the hand-over then.</p>
        ) : null}
        {canAck || canInvoke || canRevoke || canExtend ? (
          <div class="actions">
            {canAck ? (
              <button type="button" class="button" onClick={() => setSheet('acknowledge')}>
                Acknowledge
              </button>
            ) : null}
            {canInvoke ? (
              <button type="button" class="button danger" onClick={() => setSheet('invoke')}>
                Invoke continuity…
              </button>
            ) : null}
            {canRevoke ? (
              <button type="button" class="button primary" onClick={() => setSheet('revoke')}>
                Revoke and hand over…
              </button>
            ) : null}
            {canExtend ? (
              <button type="button" class="button" onClick={() => setSheet('extend')}>
                Extend…
              </button>
            ) : null}
          </div>
        ) : null}
        {event.drill ? (
          <p class="muted small">
            A rehearsal: the outage is simulated for {scopeWords(event.scope)} only.{' '}
            <a
              href={`/console/drills/${encodeURIComponent(event.drill)}`}
              onClick={(e) => {
                e.preventDefault();
                props.navigate({ name: 'drill', id: event.drill as string });
              }}
            >
              The drill and its timed report
            </a>
          </p>
        ) : null}
        {isOpen && orgState === 'alerting' && event.acknowledgedAt ? (
          <p class="muted small">
            Acknowledged by {event.acknowledgedBy} {ago(event.acknowledgedAt)}: pages and automatic invocation
            have stopped.
          </p>
        ) : null}
        {failure ? (
          <p class="problem" role="alert">
            {failure}
          </p>
        ) : null}
      </section>

      <Handover event={event} held={status?.queue.held ?? 0} />

      <section class="card" aria-labelledby="evidence-h">
        <h2 id="evidence-h">What was detected</h2>
        <EvidenceList event={event} thresholds={thresholds} streaks={streaks} />
      </section>

      <section class="card" aria-labelledby="timeline-h">
        <h2 id="timeline-h">Timeline</h2>
        <Timeline items={timelineOf(event, notes, jobs)} />
      </section>

      <section class="card" aria-labelledby="audit-h">
        <h2 id="audit-h">Who did what</h2>
        {audit.length === 0 ? (
          <p class="muted">Nothing in the audit log for this event yet.</p>
        ) : (
          <ul class="entries">
            {audit.map((e) => (
              <li key={`${e.at}-${e.action}-${e.detail}`}>
                <time dateTime={e.at}>{when(e.at)}</time> <strong>{e.actor}</strong> <code>{e.action}</code>
                <span class="muted small"> {e.detail}</span>
              </li>
            ))}
          </ul>
        )}
        <a
          class="button subtle"
          href={`/console/audit?from=${encodeURIComponent(event.openedAt)}`}
          onClick={(e) => {
            e.preventDefault();
            props.navigate({ name: 'audit', params: new URLSearchParams({ from: event.openedAt }) });
          }}
        >
          The whole audit log since then
        </a>
      </section>

      {sheet ? (
        <ContinuitySheets
          api={api}
          status={status}
          eventId={event.id}
          event={event}
          which={sheet}
          onDone={() => {
            setTick((n) => n + 1);
            refresh();
          }}
          onClose={() => setSheet(null)}
        />
      ) : null}
    </div>
  );
}

/** Recent events, newest first, each a link to its page. */
export function EventsView(props: ViewProps) {
  const { api, navigate } = props;
  const [events, setEvents] = useState<ContinuityEvent[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    api.events(50).then(
      (r) => setEvents(r.events),
      (err) => setFailure(explain(err)),
    );
  }, [api]);

  return (
    <section class="card" aria-labelledby="events-h">
      <h1 id="events-h">Events</h1>
      {failure ? (
        <p class="problem" role="alert">
          {failure}
        </p>
      ) : null}
      {events === null && !failure ? <p class="loading">Loading…</p> : null}
      {events?.length === 0 ? <p class="muted">No continuity event yet.</p> : null}
      <ul class="links">
        {events?.map((e) => (
          <li key={e.id}>
            <a
              href={`/console/events/${encodeURIComponent(e.id)}`}
              onClick={(ev) => {
                ev.preventDefault();
                navigate({ name: 'event', id: e.id });
              }}
            >
              <span class={`dot dot-${e.closedAt ? 'normal' : e.state}`} aria-hidden="true" />
              <span class="grow">
                <strong>{e.closedAt ? 'Closed' : ORG_WORDS[e.state].label}</strong> · {when(e.openedAt)}
                <span class="muted small block">
                  {e.evidence[0]?.detail ??
                    e.reason ??
                    (e.openedBy === 'schedule' ? 'Planned maintenance' : e.id)}
                </span>
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
