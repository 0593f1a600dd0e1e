/**
 * Status with pictures: the continuity state, each route's health, the queue by state as one bar,
 * and the mail flow charts (charts.tsx, which brings uPlot, is loaded only here and only once the
 * rest of the page is up). Invoke and plan maintenance live here when no event is open.
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { QUEUE_STATES } from '../../../lambdas/console/constants.js';
import type { DeliveryState, FlowSeries, RouteHealth } from '../../../lambdas/console/schemas.js';
import { explain } from './api.js';
import type { ViewProps } from './app.js';
import type { ChartsProps } from './charts.js';
import { type ContinuitySheet, ContinuitySheets } from './continuity-sheets.js';
import { ago, DELIVERY_WORDS, ORG_WORDS, scopeWords } from './format.js';

/** The ranges the charts offer: minute buckets for hours, hour buckets for days. */
export const RANGES = [
  { key: '1h', label: '1 hour', ms: 3_600_000, resolution: 'minute' },
  { key: '6h', label: '6 hours', ms: 6 * 3_600_000, resolution: 'minute' },
  { key: '24h', label: '24 hours', ms: 24 * 3_600_000, resolution: 'minute' },
  { key: '7d', label: '7 days', ms: 7 * 24 * 3_600_000, resolution: 'hour' },
] as const;

/** Set once the status view first shows the state (bench/web-app.ts reads it). */
export const FIRST_RENDER_MARK = 'lifeboat:console-first-status';

/** The charts refresh this often while the page is open. */
const METRICS_POLL_MS = 30_000;

const PROBE_NAMES: Record<string, string> = {
  smtp: 'SMTP check',
  organic: 'Real deliveries',
  roundtrip: 'Round trip',
};

function routeVerdict(r: RouteHealth): { kind: 'ok' | 'bad' | 'held' | 'unknown'; words: string } {
  const failing = r.probes.filter((p) => p.failures > 0);
  if (failing.length > 0)
    return {
      kind: 'bad',
      words: `Failing: ${failing.map((p) => `${PROBE_NAMES[p.probe] ?? p.probe} ${p.failures} in a row`).join(', ')}`,
    };
  if (r.held) return { kind: 'held', words: 'Healthy, mail held here' };
  if (r.probes.length === 0) return { kind: 'unknown', words: 'Not probed yet' };
  return { kind: 'ok', words: 'Healthy' };
}

function Routes(props: { routes: RouteHealth[] }) {
  return (
    <ul class="routes">
      {props.routes.map((r) => {
        const v = routeVerdict(r);
        return (
          <li key={r.name} class={`card inset route-${v.kind}`}>
            <h3>
              <span class={`dot dot-${v.kind}`} aria-hidden="true" /> Route {r.name}
            </h3>
            <p>
              <strong>{v.words}</strong>
            </p>
            <p class="muted small">
              {r.domains.join(', ') || 'its addresses'} → {r.hosts.join(', ')}
            </p>
            {r.probes.length > 0 ? (
              <ul class="probes" aria-label={`Probes of route ${r.name}`}>
                {r.probes.map((p) => (
                  <li key={p.probe} class={p.failures > 0 ? 'bad' : 'ok'}>
                    {PROBE_NAMES[p.probe] ?? p.probe}:{' '}
                    {p.failures > 0 ? `failed ${p.failures} in a row` : `passed ${p.successes} in a row`}
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

/** The queue by state as one bar, each part a link to the queue filtered by it. */
function QueueBar(props: { counts: Record<DeliveryState, number>; onPick: (s: DeliveryState) => void }) {
  const parts = QUEUE_STATES.map((s) => ({ s, n: props.counts[s] ?? 0 }));
  const total = parts.reduce((a, p) => a + p.n, 0);
  return (
    <div>
      <div class="stackbar" aria-hidden="true">
        {total === 0 ? <span class="empty" /> : null}
        {parts
          .filter((p) => p.n > 0)
          .map((p) => (
            <span key={p.s} class={`seg seg-${p.s}`} style={{ flexGrow: p.n }} />
          ))}
      </div>
      <ul class="legend">
        {parts.map((p) => (
          <li key={p.s}>
            <button type="button" class="legend-item" onClick={() => props.onPick(p.s)}>
              <span class={`swatch seg-${p.s}`} aria-hidden="true" />
              {DELIVERY_WORDS[p.s]} <strong>{p.n}</strong>
            </button>
          </li>
        ))}
      </ul>
      <p class="muted small">{props.counts.delivered ?? 0} delivered in the history window.</p>
    </div>
  );
}

export function StatusView(props: ViewProps) {
  const { api, status, navigate, refresh } = props;
  const [range, setRange] = useState<(typeof RANGES)[number]>(RANGES[1]);
  const [series, setSeries] = useState<FlowSeries | null>(null);
  const [chartsFailure, setChartsFailure] = useState<string | null>(null);
  const [Charts, setCharts] = useState<ComponentType<ChartsProps> | null>(null);
  const [sheet, setSheet] = useState<ContinuitySheet | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    // uPlot and the charts come in their own chunk, after the state and routes are on screen.
    import('./charts.js').then(
      (m) => setCharts(() => m.FlowCharts),
      () => setChartsFailure('The charts could not be loaded. Reload the page to try again.'),
    );
  }, []);

  useEffect(() => {
    let live = true;
    const to = new Date();
    const from = new Date(to.getTime() - range.ms);
    api.metrics(from, to, range.resolution).then(
      (s) => {
        if (!live) return;
        setSeries(s);
        setChartsFailure(null);
      },
      (err) => live && setChartsFailure(explain(err)),
    );
    const timer = setTimeout(() => setTick((n) => n + 1), METRICS_POLL_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, range, tick]);

  useEffect(() => {
    // The bench's first render: the state, the routes and the queue are on screen.
    if (status && performance.getEntriesByName(FIRST_RENDER_MARK).length === 0)
      performance.mark(FIRST_RENDER_MARK);
  }, [status !== null]);

  if (!status) return <p class="loading">Loading the status…</p>;
  const words = ORG_WORDS[status.state];
  const ev = status.event;

  return (
    <div class="stack">
      <section class={`card state-card state-${status.state}`} aria-labelledby="state-h">
        <p class="eyebrow">Continuity</p>
        <h1 id="state-h">{words.label}</h1>
        <p>
          {words.says} Since {ago(status.since)}.
          {ev && ev.scope !== '*' ? ` Scope: ${scopeWords(ev.scope)}.` : ''}
        </p>
        {status.lastProbeRoundAt ? (
          <p class="muted small">Last probe round {ago(status.lastProbeRoundAt)}.</p>
        ) : null}
        {status.failedNotifications.count > 0 ? (
          <p class="problem">
            {status.failedNotifications.count} page{status.failedNotifications.count === 1 ? '' : 's'} not
            sent in the last {status.failedNotifications.windowHours} h
            {status.failedNotifications.last?.error ? `: ${status.failedNotifications.last.error}` : ''}.
          </p>
        ) : null}
        <div class="actions">
          {ev ? (
            <a
              class="button primary"
              href={`/console/events/${encodeURIComponent(ev.id)}`}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: 'event', id: ev.id });
              }}
            >
              Open the event
            </a>
          ) : null}
          {status.state === 'normal' ? (
            <>
              <button type="button" class="button danger" onClick={() => setSheet('invoke')}>
                Invoke continuity…
              </button>
              <button type="button" class="button" onClick={() => setSheet('schedule')}>
                Plan maintenance…
              </button>
            </>
          ) : null}
        </div>
      </section>

      <section class="card" aria-labelledby="routes-h">
        <h2 id="routes-h">Routes</h2>
        <Routes routes={status.routes} />
      </section>

      <section class="card" aria-labelledby="queue-h">
        <h2 id="queue-h">Queue now</h2>
        <QueueBar
          counts={status.queue}
          onPick={(s) => navigate({ name: 'queue', params: new URLSearchParams({ state: s }) })}
        />
      </section>

      <section class="card" aria-labelledby="flow-h">
        <div class="card-head">
          <h2 id="flow-h">Mail flow</h2>
          <fieldset class="segmented">
            <legend class="visually-hidden">Time range</legend>
            {RANGES.map((r) => (
              <button
                key={r.key}
                type="button"
                aria-pressed={r.key === range.key ? 'true' : 'false'}
                onClick={() => setRange(r)}
              >
                {r.label}
              </button>
            ))}
          </fieldset>
        </div>
        {chartsFailure ? (
          <p class="problem" role="alert">
            {chartsFailure}
          </p>
        ) : null}
        {Charts && series ? <Charts series={series} /> : <p class="loading">Drawing the charts…</p>}
      </section>

      {sheet ? (
        <ContinuitySheets
          api={api}
          status={status}
          eventId={null}
          which={sheet}
          onDone={refresh}
          onClose={() => setSheet(null)}
        />
      ) : null}
    </div>
  );
}
