/**
 * Replay of the raw archive into a primary restored from a backup: a time window, every mailbox or
 * a list, one route or each recipient's own, and the Message-IDs the primary already holds (pasted,
 * or uploaded as the file `lifeboat replay present-ids` writes) skipped. A job's page shows its
 * progress live and, as it goes, the report: each message sent, skipped or failed with the reason,
 * and the whole report as CSV.
 */
import { useState } from 'preact/hooks';
import type { ReplayJob, ReplayReportRow, ReplayRequest } from '../../../lambdas/console/replay.js';
import type { ViewProps } from './app.js';
import { download } from './download.js';
import { ago, duration, when } from './format.js';
import { Choice, EventFact, JobList, NotYet, ViewLink } from './jobs.js';
import { Sheet } from './sheet.js';
import { usePolled } from './use-polled.js';
import { localInput } from './when-input.js';

/** A job that plans or sends is read again this often: its counts move by the second. */
const RUNNING_POLL_MS = 2000;
/** Report rows shown on the page (the failed and skipped first); the CSV has every one. */
const SHOWN_ROWS = 200;

const STATE_WORDS: Record<ReplayJob['state'], string> = {
  planning: 'Listing the archive',
  running: 'Sending',
  paused: 'Paused',
  cancelled: 'Cancelled',
  finished: 'Finished',
};
const OUTCOME_WORDS: Record<ReplayReportRow['outcome'], string> = {
  sent: 'Sent',
  present: 'Skipped: already on the primary',
  'out-of-scope': 'Skipped: not for the chosen mailboxes',
  failed: 'Failed',
};

const MAILBOX_CHOICES = { all: 'All mailboxes', some: 'These mailboxes' } as const;

const moving = (j: ReplayJob) => j.state === 'planning' || j.state === 'running';

/** Lines of a skip list that name a Message-ID (blank lines and # comments do not). */
export function skipLines(text: string): number {
  return text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#')).length;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function mailboxesWords(m: string[] | null): string {
  return m === null
    ? 'every mailbox'
    : m.length <= 3
      ? m.join(', ')
      : plural(m.length, 'mailbox', 'mailboxes');
}

function Start(props: ViewProps) {
  const { api, status, navigate } = props;
  const [from, setFrom] = useState(() => localInput(new Date(Date.now() - 24 * 3_600_000)));
  // Empty: up to the moment the replay starts (the server's clock), so mail of the last minute is in.
  const [to, setTo] = useState('');
  const [some, setSome] = useState(false);
  const [mailboxes, setMailboxes] = useState('');
  const [route, setRoute] = useState('');
  const [pasted, setPasted] = useState('');
  const [file, setFile] = useState<{ name: string; text: string } | null>(null);
  const [reason, setReason] = useState('');
  const [onEvent, setOnEvent] = useState(true);
  const [asking, setAsking] = useState(false);
  const openEvent = status?.event ?? null;
  const list = mailboxes.split(/[\s,;]+/).filter(Boolean);
  const skipText = [pasted, file?.text ?? ''].filter((t) => t.trim()).join('\n');
  const skips = skipLines(skipText);
  const window = { from: new Date(from), to: to ? new Date(to) : new Date() };
  const ready = !Number.isNaN(window.from.getTime()) && window.from < window.to && (!some || list.length > 0);

  const request = (): ReplayRequest => ({
    from: window.from.toISOString(),
    ...(to ? { to: window.to.toISOString() } : {}),
    ...(some ? { mailboxes: list } : {}),
    ...(route ? { route } : {}),
    ...(skipText.trim() ? { skipIds: skipText } : {}),
    ...(openEvent && onEvent ? { eventId: openEvent.id } : {}),
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  });

  return (
    <section class="card" aria-labelledby="replay-h">
      <h1 id="replay-h">Replay the archive</h1>
      <p class="muted small">
        After the primary was restored from a backup: Lifeboat sends it the mail it received in a window
        again, from the raw archive (records that expired too), oldest first and paced like the hand-over.
      </p>
      <div class="field-pair">
        <label class="field">
          <span>From</span>
          <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>To (empty: now)</span>
          <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
      </div>
      <Choice
        legend="Mailboxes"
        labels={MAILBOX_CHOICES}
        value={some ? 'some' : 'all'}
        onChange={(v) => setSome(v === 'some')}
      />
      {some ? (
        <label class="field">
          <span>Addresses (one a line)</span>
          <textarea
            rows={3}
            value={mailboxes}
            autocapitalize="off"
            onInput={(e) => setMailboxes(e.currentTarget.value)}
          />
        </label>
      ) : null}
      <label class="field">
        <span>Send to</span>
        <select value={route} onChange={(e) => setRoute(e.currentTarget.value)}>
          <option value="">Each recipient’s own route</option>
          {(status?.routes ?? []).map((r) => (
            <option key={r.name} value={r.name}>
              Route {r.name} ({r.hosts.join(', ')})
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>Message-IDs already on the primary (one a line; skipped)</span>
        <textarea
          rows={4}
          value={pasted}
          autocapitalize="off"
          spellcheck={false}
          onInput={(e) => setPasted(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Or upload the list as a file</span>
        <input
          type="file"
          accept=".txt,.csv,text/plain"
          onChange={async (e) => {
            const f = e.currentTarget.files?.[0];
            setFile(f ? { name: f.name, text: await f.text() } : null);
          }}
        />
      </label>
      <p class="muted small" aria-live="polite">
        {skips
          ? `${plural(skips, 'Message-ID')} to skip${file ? `, with ${file.name}` : ''}.`
          : 'Nothing to skip: every message in the window is sent.'}
      </p>
      {openEvent ? (
        <label class="check">
          <input type="checkbox" checked={onEvent} onChange={() => setOnEvent(!onEvent)} /> On the timeline of
          event {openEvent.id}
        </label>
      ) : null}
      <label class="field">
        <span>Reason (kept in the audit log)</span>
        <input type="text" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <div class="actions">
        <button type="button" class="button primary" disabled={!ready} onClick={() => setAsking(true)}>
          Replay…
        </button>
      </div>
      {asking ? (
        <Sheet
          title="Replay into the primary"
          confirm="Start the replay"
          onConfirm={async () => {
            const job = await api.startReplay(request());
            navigate({ name: 'replay', id: job.id });
          }}
          onClose={() => setAsking(false)}
        >
          <p>
            Every archived message received from {when(window.from.toISOString())} to{' '}
            {to ? when(window.to.toISOString()) : 'now'} for {some ? mailboxesWords(list) : 'every mailbox'}{' '}
            is sent again to {route ? `route ${route}` : 'each recipient’s own route'}, oldest first, paced
            like the hand-over.
          </p>
          <p>
            {skips
              ? `${plural(skips, 'Message-ID')} in the list ${skips === 1 ? 'is' : 'are'} already there: skipped.`
              : 'No list of Message-IDs: the primary gets a copy of every message, even ones it already holds.'}{' '}
            Each copy carries an X-Lifeboat-Replay header. You can cancel and resume it.
          </p>
        </Sheet>
      ) : null}
    </section>
  );
}

export function ReplaysView(props: ViewProps) {
  const { api, navigate } = props;
  const list = usePolled(() => api.replays(), [api], {
    everyMs: RUNNING_POLL_MS,
    again: (l) => l.replays.some(moving),
  });
  return (
    <div class="stack">
      <Start {...props} />
      <JobList
        id="replays-h"
        title="Replays"
        empty="No replay yet."
        failure={list.failure}
        items={list.data?.replays}
      >
        {(job) => (
          <li key={job.id}>
            <ViewLink to={{ name: 'replay', id: job.id }} navigate={navigate}>
              <span class="grow">
                <strong>{STATE_WORDS[job.state]}</strong> · {when(job.window.from)} to {when(job.window.to)}
                <span class="muted small block">
                  {mailboxesWords(job.mailboxes)} · {job.progress.sent} sent,{' '}
                  {job.progress.present + job.progress.outOfScope} skipped, {job.progress.failed} failed ·{' '}
                  {ago(job.createdAt)} by {job.createdBy}
                </span>
              </span>
            </ViewLink>
          </li>
        )}
      </JobList>
    </div>
  );
}

/** The rows an admin needs to read: failed first, then skipped as present, then sent; the CSV has them all. */
function Report(props: { rows: ReplayReportRow[] }) {
  const order: ReplayReportRow['outcome'][] = ['failed', 'present', 'sent', 'out-of-scope'];
  const rows = [...props.rows].sort(
    (a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome) || a.seq - b.seq,
  );
  return (
    <>
      <ul class="entries report" aria-label="Report">
        {rows.slice(0, SHOWN_ROWS).map((r) => (
          <li key={r.seq} class={`outcome-${r.outcome}`}>
            <strong>{OUTCOME_WORDS[r.outcome]}</strong> <span class="muted small">{when(r.receivedAt)}</span>
            <span class="block small break">{r.messageId ?? r.id}</span>
            {r.outcome !== 'sent' && r.detail ? <span class="block small muted">{r.detail}</span> : null}
            {r.recipients
              .filter((x) => x.status === 'failed')
              .map((x) => (
                <span key={x.address} class="block small error-text">
                  {x.address}: {x.response}
                </span>
              ))}
          </li>
        ))}
      </ul>
      {rows.length > SHOWN_ROWS ? (
        <p class="muted small">
          The first {SHOWN_ROWS} of {rows.length}; the CSV has every one.
        </p>
      ) : null}
    </>
  );
}

export function ReplayView(props: ViewProps & { id: string }) {
  const { api, id, navigate } = props;
  const polled = usePolled(() => api.replay(id), [api, id], { everyMs: RUNNING_POLL_MS, again: moving });
  // The report's rows are read again as the job moves on (every few dozen messages), not every poll.
  const job = polled.data;
  const report = usePolled(
    () => api.replayReport(id),
    [api, id, job?.state, Math.floor((job?.progress.done ?? 0) / 25)],
  );
  const [sheet, setSheet] = useState<'cancel' | 'resume' | null>(null);
  const [note, setNote] = useState<string | null>(null);
  if (!job) return <NotYet polled={polled} what="replay" />;
  const p = job.progress;
  const csv = async () => {
    try {
      const f = await api.replayCsv(job.id);
      download(f.blob, f.name);
      setNote(`Downloaded the report (${plural(report.data?.rows.length ?? 0, 'message')}).`);
    } catch (err) {
      setNote(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="stack">
      <section class="card" aria-labelledby="one-replay-h">
        <p class="eyebrow">Replay {job.id}</p>
        <h1 id="one-replay-h">{STATE_WORDS[job.state]}</h1>
        <progress
          max={Math.max(p.total ?? 1, 1)}
          value={p.total === null ? undefined : p.done}
          aria-labelledby="replay-progress"
        />
        <p id="replay-progress" aria-live="polite">
          {p.total === null
            ? 'Counting the messages in the window…'
            : `${p.done} of ${plural(p.total, 'message')} done`}
          {p.ratePerSecond ? `, ${p.ratePerSecond.toFixed(1)} a second` : ''}
          {job.finishedAt && job.startedAt
            ? ` in ${duration(Date.parse(job.finishedAt) - Date.parse(job.startedAt))}`
            : ''}
          .
        </p>
        <ul class="tallies" aria-label="Outcomes">
          <li>
            <strong class="tally-n">{p.sent}</strong> sent
          </li>
          <li>
            <strong class="tally-n">{p.present}</strong> skipped, already there
          </li>
          <li>
            <strong class="tally-n">{p.outOfScope}</strong> skipped, other mailboxes
          </li>
          <li class={p.failed ? 'bad' : ''}>
            <strong class="tally-n">{p.failed}</strong> failed
          </li>
        </ul>
        {job.error ? (
          <p class="problem" role="alert">
            {job.state === 'paused' ? 'Paused: ' : ''}
            {job.error}
          </p>
        ) : null}
        {job.retryAt ? (
          <p class="muted small">The primary asked to wait: trying again {when(job.retryAt)}.</p>
        ) : null}
        <dl class="facts">
          <dt>Window</dt>
          <dd>
            {when(job.window.from)} to {when(job.window.to)}
          </dd>
          <dt>Mailboxes</dt>
          <dd class="break">{mailboxesWords(job.mailboxes)}</dd>
          <dt>Sent to</dt>
          <dd>{job.route ? `route ${job.route}` : 'each recipient’s own route'}</dd>
          <dt>Skip list</dt>
          <dd>{plural(job.skipIds, 'Message-ID')}</dd>
          <dt>Started</dt>
          <dd>
            {when(job.createdAt)} by {job.createdBy}
            {job.reason ? ` (${job.reason})` : ''}
          </dd>
          <EventFact eventId={job.eventId} navigate={navigate} />
        </dl>
        <div class="actions">
          {moving(job) || job.state === 'paused' ? (
            <button type="button" class="button danger-outline" onClick={() => setSheet('cancel')}>
              Cancel…
            </button>
          ) : null}
          {job.state === 'paused' || job.state === 'cancelled' ? (
            <button type="button" class="button" onClick={() => setSheet('resume')}>
              Resume…
            </button>
          ) : null}
          <button type="button" class="button" onClick={csv}>
            Download CSV
          </button>
        </div>
        {note ? (
          <p class="notice" role="status">
            {note}
          </p>
        ) : null}
      </section>
      <section class="card" aria-labelledby="report-h">
        <h2 id="report-h">Report</h2>
        {report.data?.rows.length ? (
          <Report rows={report.data.rows} />
        ) : (
          <p class="muted">No message done yet.</p>
        )}
      </section>
      {sheet === 'cancel' ? (
        <Sheet
          title="Cancel the replay"
          confirm="Cancel the replay"
          danger
          onConfirm={async () => {
            await api.cancelReplay(job.id);
            polled.reload();
          }}
          onClose={() => setSheet(null)}
        >
          <p>
            Nothing more is sent after the message in flight. What was sent stays sent; the report keeps every
            outcome so far, and Resume carries on from where it stopped.
          </p>
        </Sheet>
      ) : null}
      {sheet === 'resume' ? (
        <Sheet
          title="Resume the replay"
          confirm="Resume"
          onConfirm={async () => {
            await api.resumeReplay(job.id);
            polled.reload();
          }}
          onClose={() => setSheet(null)}
        >
          <p>
            Sending carries on from message {p.done + 1}
            {p.total !== null ? ` of ${p.total}` : ''}; messages already done are not sent again.
          </p>
        </Sheet>
      ) : null}
    </div>
  );
}
