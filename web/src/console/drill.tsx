/**
 * Drills: a rehearsal any weekday without disturbing mail. An admin starts one on a test route or a
 * few test mailboxes (a route that carries real mail needs an explicit confirmation), its steps
 * show live as they happen (the event it opens is acknowledged, invoked and revoked on the event
 * page, or by Lifeboat itself for an unattended drill), and once it ends its timed report says each
 * step's time against the organisation's targets, pass or fail, to keep and download.
 */
import { useState } from 'preact/hooks';
import type { Drill, DrillReport, DrillScope, StartDrillBody } from '../../../lambdas/console/drill.js';
import { drillStepLabels, drillSteps } from '../../../lambdas/console/drill-steps.js';
import { ApiError } from './api.js';
import type { ViewProps } from './app.js';
import { download } from './download.js';
import { ago, duration, when } from './format.js';
import { Choice, JobList, NotYet, ViewLink } from './jobs.js';
import { Sheet } from './sheet.js';
import { usePolled } from './use-polled.js';
import { sentence } from './words.js';

/** A running drill is read again this often: its steps land seconds apart. */
const RUNNING_POLL_MS = 2000;

const STATE_WORDS: Record<Drill['state'], string> = {
  running: 'Running',
  completed: 'Completed',
  cancelled: 'Cancelled',
};
const RESULT_WORDS: Record<DrillReport['rows'][number]['result'], string> = {
  pass: 'Pass',
  fail: 'Fail',
  missed: 'Missed',
  none: '—',
};

export function scopeWords(scope: DrillScope): string {
  return scope.kind === 'route'
    ? `route ${scope.route}`
    : `${scope.mailboxes.length === 1 ? 'mailbox' : 'mailboxes'} ${scope.mailboxes.join(', ')}`;
}

const SCOPE_CHOICES: Record<DrillScope['kind'], string> = {
  route: 'A test route',
  mailboxes: 'Test mailboxes',
};

const seconds = (s: number | null) => (s === null ? '—' : duration(s * 1000));

function Start(props: ViewProps) {
  const { api, status, navigate } = props;
  const routes = status?.routes ?? [];
  const [kind, setKind] = useState<DrillScope['kind']>('route');
  const [route, setRoute] = useState('');
  const [mailboxes, setMailboxes] = useState('');
  const [probes, setProbes] = useState('3');
  const [auto, setAuto] = useState(false);
  const [reason, setReason] = useState('');
  const [asking, setAsking] = useState(false);
  // Set when the server says the scope carries real mail: the sheet then asks for that explicitly.
  const [production, setProduction] = useState<string | null>(null);
  const [confirmed, setConfirmed] = useState(false);
  const chosenRoute = route || routes[0]?.name || '';
  const list = mailboxes.split(/[\s,;]+/).filter(Boolean);
  const scopeText =
    kind === 'route'
      ? `route ${chosenRoute}`
      : `${list.length === 1 ? 'mailbox' : 'mailboxes'} ${list.join(', ')}`;
  const ready = kind === 'route' ? chosenRoute !== '' : list.length > 0;

  const body = (): StartDrillBody => ({
    ...(kind === 'route' ? { route: chosenRoute } : { mailboxes: list }),
    probeMessages: Math.max(1, Math.min(10, Number.parseInt(probes, 10) || 3)),
    auto,
    ...(production && confirmed ? { confirmProduction: true } : {}),
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  });

  return (
    <section class="card" aria-labelledby="drill-h">
      <h1 id="drill-h">Run a drill</h1>
      <p class="muted small">
        A timed rehearsal of the plan: Lifeboat simulates an outage for a test route or test mailboxes, and
        times detection, the page, your acknowledgement and invocation, staff texted, the first webmail
        sign-in and the hand-over against the organisation’s targets.
      </p>
      <Choice legend="Scope" labels={SCOPE_CHOICES} value={kind} onChange={setKind} />
      {kind === 'route' ? (
        <label class="field">
          <span>Route</span>
          <select value={chosenRoute} onChange={(e) => setRoute(e.currentTarget.value)}>
            {routes.map((r) => (
              <option key={r.name} value={r.name}>
                Route {r.name} ({r.domains.join(', ') || r.hosts.join(', ')})
              </option>
            ))}
          </select>
        </label>
      ) : (
        <label class="field">
          <span>Test mailboxes (one a line)</span>
          <textarea
            rows={3}
            value={mailboxes}
            autocapitalize="off"
            onInput={(e) => setMailboxes(e.currentTarget.value)}
          />
        </label>
      )}
      <label class="field">
        <span>Probe messages to send through it</span>
        <input
          type="number"
          min={1}
          max={10}
          value={probes}
          onInput={(e) => setProbes(e.currentTarget.value)}
        />
      </label>
      <label class="check">
        <input type="checkbox" checked={auto} onChange={() => setAuto(!auto)} /> Unattended: Lifeboat
        acknowledges, invokes and revokes by itself
      </label>
      <label class="field">
        <span>Reason (kept with the report)</span>
        <input type="text" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <div class="actions">
        <button
          type="button"
          class="button primary"
          disabled={!ready}
          onClick={() => {
            setProduction(null);
            setConfirmed(false);
            setAsking(true);
          }}
        >
          Start the drill…
        </button>
      </div>
      {asking ? (
        <Sheet
          title="Start a drill"
          confirm={production ? 'Run the drill on real mail' : 'Start the drill'}
          danger={production !== null}
          ready={production === null || confirmed}
          onConfirm={async () => {
            try {
              const drill = await api.startDrill(body());
              navigate({ name: 'drill', id: drill.id });
            } catch (err) {
              if (err instanceof ApiError && err.code === 'DRILL_PRODUCTION') setProduction(err.message);
              throw err;
            }
          }}
          onClose={() => setAsking(false)}
        >
          <p>
            Mail for {scopeText} is held as in an outage until the drill’s hand-over; nothing else changes.
            The probes open an event for it and admins are paged,{' '}
            {auto
              ? 'and Lifeboat acknowledges, invokes and revokes by itself.'
              : 'as on a real night: acknowledge, invoke and revoke it on its event page.'}{' '}
            {Number.parseInt(probes, 10) || 3} probe messages go through it, and the report times each step.
          </p>
          {production ? (
            <label class="check production">
              <input type="checkbox" checked={confirmed} onChange={() => setConfirmed(!confirmed)} />{' '}
              {scopeText} carries real mail. I understand its mail is held during the drill and handed over at
              its end.
            </label>
          ) : null}
        </Sheet>
      ) : null}
    </section>
  );
}

export function DrillsView(props: ViewProps) {
  const { api, navigate } = props;
  const list = usePolled(() => api.drills(), [api], {
    everyMs: RUNNING_POLL_MS,
    again: (p) => p.drills.some((d) => d.state === 'running'),
  });
  return (
    <div class="stack">
      <Start {...props} />
      <JobList
        id="drills-h"
        title="Drills"
        empty="No drill yet."
        failure={list.failure}
        items={list.data?.drills}
      >
        {(d) => (
          <li key={d.id}>
            <ViewLink to={{ name: 'drill', id: d.id }} navigate={navigate}>
              <span class="grow">
                <strong>{STATE_WORDS[d.state]}</strong> · {scopeWords(d.scope)}
                <span class="muted small block">
                  {ago(d.startedAt)} by {d.startedBy}
                  {d.report ? ` · ${d.report.passed ? 'every target met' : 'targets missed'}` : ''}
                </span>
              </span>
              {d.report ? (
                <span class={`badge ${d.report.passed ? 'badge-delivered' : 'badge-failed'}`}>
                  {d.report.passed ? 'Pass' : 'Fail'}
                </span>
              ) : null}
            </ViewLink>
          </li>
        )}
      </JobList>
    </div>
  );
}

/** The steps as they happen: each with when, by whom and its note; those still to come greyed. */
function Steps(props: { drill: Drill }) {
  const { drill } = props;
  const start = Date.parse(drill.startedAt);
  return (
    <ol class="timeline steps">
      {drillSteps.map((name) => {
        const s = drill.steps.find((x) => x.step === name);
        return (
          <li key={name} class={s?.at ? 'tl-done' : 'tl-pending'}>
            <time dateTime={s?.at ?? undefined}>
              {s?.at ? `+${duration(Date.parse(s.at) - start)}` : '…'}
            </time>
            <div>
              <strong>{drillStepLabels[name]}</strong>
              {s?.by ? <span> by {s.by}</span> : null}
              {s?.detail ? <p class="muted small">{s.detail}</p> : null}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

function Report(props: { report: DrillReport }) {
  const { report } = props;
  return (
    <>
      <p class={report.passed ? 'notice' : 'problem'}>
        {report.passed ? 'Every target met' : 'Targets missed'}: {report.counts.pass} passed,{' '}
        {report.counts.fail} failed, {report.counts.missed} missed. {sentence(report.outcome)}
      </p>
      <ul class="entries report" aria-label="Timed report">
        {report.rows.map((r) => (
          <li key={r.step} class={`result-${r.result}`}>
            <span
              class={`badge badge-${r.result === 'pass' ? 'delivered' : r.result === 'none' ? 'none' : 'failed'}`}
            >
              {RESULT_WORDS[r.result]}
            </span>{' '}
            <strong>{r.label}</strong>
            <span class="block small muted">
              {r.at ? `${when(r.at)} · +${seconds(r.sinceStartSeconds)} from the start` : 'did not happen'}
              {r.target
                ? ` · took ${seconds(r.measuredSeconds)} from “${drillStepLabels[r.target.from]}”, target ${seconds(r.target.seconds)}`
                : ''}
              {r.by ? ` · by ${r.by}` : ''}
            </span>
            {r.detail ? <span class="block small muted">{r.detail}</span> : null}
          </li>
        ))}
      </ul>
    </>
  );
}

export function DrillView(props: ViewProps & { id: string }) {
  const { api, id, navigate } = props;
  const polled = usePolled(() => api.drill(id), [api, id], {
    everyMs: RUNNING_POLL_MS,
    again: (d) => d.state === 'running',
  });
  const [cancelling, setCancelling] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const drill = polled.data;
  if (!drill) return <NotYet polled={polled} what="drill" />;
  const save = async (kind: 'csv' | 'html') => {
    try {
      const f = await api.drillReportFile(drill.id, kind);
      download(f.blob, f.name);
      setNote(`Downloaded ${f.name}.`);
    } catch (err) {
      setNote(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="stack">
      <section
        class={`card state-card state-${drill.state === 'running' ? 'continuity' : 'closed'}`}
        aria-labelledby="one-drill-h"
      >
        <p class="eyebrow">Drill {drill.id}</p>
        <h1 id="one-drill-h">
          {STATE_WORDS[drill.state]}
          <span class="muted"> · {scopeWords(drill.scope)}</span>
        </h1>
        <p>
          Started {when(drill.startedAt)} by {drill.startedBy}
          {drill.finishedAt
            ? `, ended after ${duration(Date.parse(drill.finishedAt) - Date.parse(drill.startedAt))}`
            : ''}
          .{drill.production ? ' On a route that carries real mail.' : ''}
          {drill.auto ? ' Unattended.' : ''}
        </p>
        <p class="muted small">
          Probe messages: {drill.probes.count} · {drill.probes.held} held · {drill.probes.delivered}{' '}
          delivered.
        </p>
        <div class="actions">
          {drill.eventId ? (
            <ViewLink
              class={`button${drill.state === 'running' && !drill.auto ? ' primary' : ''}`}
              to={{ name: 'event', id: drill.eventId }}
              navigate={navigate}
            >
              Open its event
            </ViewLink>
          ) : null}
          {drill.state === 'running' ? (
            <button type="button" class="button danger-outline" onClick={() => setCancelling(true)}>
              Cancel…
            </button>
          ) : null}
          {drill.report ? (
            <>
              <button type="button" class="button" onClick={() => save('csv')}>
                Download report
              </button>
              <button type="button" class="button" onClick={() => save('html')}>
                Printable report
              </button>
            </>
          ) : null}
        </div>
        {note ? (
          <p class="notice" role="status">
            {note}
          </p>
        ) : null}
      </section>
      {drill.report ? (
        <section class="card" aria-labelledby="drill-report-h">
          <h2 id="drill-report-h">Timed report</h2>
          <Report report={drill.report} />
        </section>
      ) : null}
      <section class="card" aria-labelledby="steps-h">
        <h2 id="steps-h">Steps</h2>
        <Steps drill={drill} />
      </section>
      {cancelling ? (
        <Sheet
          title="Cancel the drill"
          confirm="Cancel the drill"
          danger
          onConfirm={async () => {
            await api.cancelDrill(drill.id);
            polled.reload();
          }}
          onClose={() => setCancelling(false)}
        >
          <p>
            The drill stops where it is: its alert is closed, or its continuity revoked and the held probe
            mail handed over as in any revoke. The report is written with the steps so far.
          </p>
        </Sheet>
      ) : null}
    </div>
  );
}
