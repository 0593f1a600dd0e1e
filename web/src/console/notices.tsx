/**
 * Staff notices: text (and email, where a personal address is known) all staff, some groups or some
 * people, with the invoke or revoke template or the admin's own words. "Preview and send…" opens a
 * sheet with exactly what each channel carries, the SMS segments it costs and who it reaches; the
 * send is the sheet's one tap. Each notice then shows where every recipient's message stands.
 */
import { useState } from 'preact/hooks';
import type {
  Notice,
  NoticeAudience,
  NoticeChannel,
  NoticePreview,
  NoticeRecipient,
  NoticeRequest,
  NoticeTemplate,
} from '../../../lambdas/console/notices.js';
import type { AdminApi } from './api.js';
import type { ViewProps } from './app.js';
import { ago, audienceWords, when } from './format.js';
import { Choice, EventFact, JobList, NotYet, ViewLink } from './jobs.js';
import { Sheet } from './sheet.js';
import { usePolled } from './use-polled.js';

/** A notice being sent is read again this often, to show each recipient's status as it changes. */
const SENDING_POLL_MS = 2000;

type Message = NoticeTemplate | 'own';
type AudienceKind = NoticeAudience['kind'];

const MESSAGE_LABELS: Record<Message, string> = {
  invoke: 'Continuity invoked',
  revoke: 'Continuity revoked',
  own: 'Your own words',
};
const AUDIENCE_LABELS: Record<AudienceKind, string> = { all: 'All staff', groups: 'Groups', users: 'People' };
const STATUS_WORDS: Record<NoticeRecipient['status'], string> = {
  queued: 'Waiting',
  sent: 'Sent',
  failed: 'Failed',
  skipped: 'Skipped',
};

/** The names in a comma- or line-separated list. */
export function namesIn(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,;]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

/** How many texts and emails a notice sends, leaving out a channel that sends none. */
function channelWords(c: { sms: number; email: number }): string {
  const parts = [
    c.sms ? `${c.sms} ${c.sms === 1 ? 'text' : 'texts'}` : '',
    c.email ? `${c.email} ${c.email === 1 ? 'email' : 'emails'}` : '',
  ].filter(Boolean);
  return parts.join(' and ') || 'nothing';
}

function countsWords(c: Notice['counts']): string {
  return [
    `${c.sent} sent`,
    c.failed ? `${c.failed} failed` : '',
    c.skipped ? `${c.skipped} skipped` : '',
    c.queued ? `${c.queued} waiting` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** Exactly what each channel carries: the SMS with its segment count, the email with its subject. */
function Texts(props: { texts: NoticePreview['texts'] }) {
  const { sms, email } = props.texts;
  return (
    <div class="notice-texts">
      {sms ? (
        <section aria-label="Text message">
          <h3>
            Text message{' '}
            <span class="muted small">
              {sms.cost.units} characters · {sms.cost.segments} SMS{' '}
              {sms.cost.segments === 1 ? 'segment' : 'segments'} ({sms.cost.encoding.toUpperCase()})
            </span>
          </h3>
          <pre class="message-text">{sms.text}</pre>
        </section>
      ) : null}
      {email ? (
        <section aria-label="Email">
          <h3>Email</h3>
          <p>
            <strong>{email.subject}</strong>
          </p>
          <pre class="message-text">{email.text}</pre>
        </section>
      ) : null}
    </div>
  );
}

function Recipients(props: { recipients: NoticeRecipient[] }) {
  return (
    <ul class="entries recipients" aria-label="Recipients">
      {props.recipients.map((r) => (
        <li key={`${r.user}/${r.channel}`}>
          <span class={`badge badge-${r.status}`}>{STATUS_WORDS[r.status]}</span> <strong>{r.name}</strong>{' '}
          <span class="muted small">
            {r.channel === 'sms' ? 'SMS' : 'email'}
            {r.to ? ` to ${r.to}` : ''}
            {r.at ? ` · ${when(r.at)}` : ''}
          </span>
          {r.error ? <span class="block small error-text">{r.error}</span> : null}
        </li>
      ))}
    </ul>
  );
}

/** The sheet: the preview as the server composed it, and Send as its one tap. */
function SendSheet(props: {
  api: AdminApi;
  request: NoticeRequest;
  onSent: (n: Notice) => void;
  onClose: () => void;
}) {
  const { api, request } = props;
  const preview = usePolled(() => api.noticePreview(request), [api]);
  const p = preview.data;
  const people = p?.counts.people ?? 0;
  return (
    <Sheet
      title="Send this notice"
      confirm={p ? `Send to ${people} ${people === 1 ? 'person' : 'people'}` : 'Send'}
      ready={p !== null && p.counts.sms + p.counts.email > 0}
      onConfirm={async () => props.onSent(await api.sendNotice(request))}
      onClose={props.onClose}
    >
      {preview.failure ? (
        <p class="problem" role="alert">
          {preview.failure}
        </p>
      ) : null}
      {p ? (
        <>
          <p>
            Sends now, and cannot be called back: {channelWords(p.counts)} to {people}{' '}
            {people === 1 ? 'person' : 'people'} in {audienceWords(request.audience ?? { kind: 'all' })}
            {p.counts.skipped ? `; ${p.counts.skipped} not reachable that way are skipped` : ''}.
            {p.eventId ? ' It goes on the open event’s timeline.' : ''}
          </p>
          {p.warnings.map((w) => (
            <p key={w} class="notice warn">
              {w}
            </p>
          ))}
          <Texts texts={p.texts} />
          <details>
            <summary>Who gets it ({p.recipients.length})</summary>
            <Recipients recipients={p.recipients} />
          </details>
        </>
      ) : preview.failure ? null : (
        <p class="loading">Composing the preview…</p>
      )}
    </Sheet>
  );
}

function Compose(props: ViewProps & { groups: string[] }) {
  const { api, navigate } = props;
  const [message, setMessage] = useState<Message>('invoke');
  const [text, setText] = useState('');
  const [audience, setAudience] = useState<AudienceKind>('all');
  const [groups, setGroups] = useState('');
  const [users, setUsers] = useState('');
  const [channels, setChannels] = useState<NoticeChannel[]>(['sms', 'email']);
  const [sheet, setSheet] = useState<NoticeRequest | null>(null);

  const target: NoticeAudience =
    audience === 'groups'
      ? { kind: 'groups', groups: namesIn(groups) }
      : audience === 'users'
        ? { kind: 'users', users: namesIn(users) }
        : { kind: 'all' };
  const ready =
    channels.length > 0 &&
    (message !== 'own' || text.trim() !== '') &&
    (target.kind !== 'groups' || target.groups.length > 0) &&
    (target.kind !== 'users' || target.users.length > 0);
  const toggle = (c: NoticeChannel) =>
    setChannels(channels.includes(c) ? channels.filter((x) => x !== c) : [...channels, c]);

  return (
    <section class="card" aria-labelledby="notice-h">
      <h1 id="notice-h">Text staff</h1>
      <p class="muted small">
        By SMS to each person’s mobile and by email to a personal address where one is known: never to the
        mailbox that may be down.
      </p>
      <Choice legend="Message" labels={MESSAGE_LABELS} value={message} onChange={setMessage} />
      {message === 'own' ? (
        <label class="field">
          <span>Text (the email says the same)</span>
          <textarea rows={4} maxLength={459} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
      ) : (
        <p class="muted small">
          The organisation’s {MESSAGE_LABELS[message].toLowerCase()} template; the preview shows it.
        </p>
      )}
      <Choice legend="To" labels={AUDIENCE_LABELS} value={audience} onChange={setAudience} />
      {audience === 'groups' ? (
        <label class="field">
          <span>Groups (separated by commas)</span>
          <input
            type="text"
            list="staff-groups"
            value={groups}
            onInput={(e) => setGroups(e.currentTarget.value)}
            autocapitalize="off"
          />
          <datalist id="staff-groups">
            {props.groups.map((g) => (
              <option key={g} value={g} />
            ))}
          </datalist>
        </label>
      ) : null}
      {audience === 'users' ? (
        <label class="field">
          <span>People (user names or addresses, one a line)</span>
          <textarea
            rows={3}
            value={users}
            onInput={(e) => setUsers(e.currentTarget.value)}
            autocapitalize="off"
          />
        </label>
      ) : null}
      <fieldset class="field plain">
        <legend>By</legend>
        <label class="check">
          <input type="checkbox" checked={channels.includes('sms')} onChange={() => toggle('sms')} /> SMS
        </label>
        <label class="check">
          <input type="checkbox" checked={channels.includes('email')} onChange={() => toggle('email')} />{' '}
          Email
        </label>
      </fieldset>
      <div class="actions">
        <button
          type="button"
          class="button primary"
          disabled={!ready}
          onClick={() =>
            setSheet({
              ...(message === 'own' ? { text: text.trim() } : { template: message }),
              audience: target,
              channels,
            })
          }
        >
          Preview and send…
        </button>
      </div>
      {sheet ? (
        <SendSheet
          api={api}
          request={sheet}
          onSent={(n) => navigate({ name: 'notice', id: n.id })}
          onClose={() => setSheet(null)}
        />
      ) : null}
    </section>
  );
}

export function NoticesView(props: ViewProps) {
  const { api, navigate } = props;
  const list = usePolled(() => api.notices(), [api], {
    everyMs: SENDING_POLL_MS,
    again: (l) => l.notices.some((n) => n.state === 'sending'),
  });
  // The staff groups the organisation texts by default, offered as suggestions.
  const settings = usePolled(() => api.settings(), [api]);
  const groups = settings.data?.entries.find((e) => e.path === 'continuity.staff.groups')?.value;
  return (
    <div class="stack">
      <Compose {...props} groups={Array.isArray(groups) ? groups.map(String) : []} />
      <JobList
        id="sent-h"
        title="Sent"
        empty="No notice sent yet."
        failure={list.failure}
        items={list.data?.notices}
      >
        {(n) => (
          <li key={n.id}>
            <ViewLink to={{ name: 'notice', id: n.id }} navigate={navigate}>
              <span class="grow">
                <strong>{n.template ? MESSAGE_LABELS[n.template] : 'Own words'}</strong> to{' '}
                {audienceWords(n.audience)}
                <span class="muted small block">
                  {ago(n.createdAt)} by {n.createdBy} · {countsWords(n.counts)}
                </span>
              </span>
              {n.state === 'sending' ? <span class="badge badge-deferred">Sending</span> : null}
            </ViewLink>
          </li>
        )}
      </JobList>
    </div>
  );
}

export function NoticeView(props: ViewProps & { id: string }) {
  const { api, id, navigate } = props;
  const notice = usePolled(() => api.notice(id), [api, id], {
    everyMs: SENDING_POLL_MS,
    again: (n) => n.state === 'sending',
  });
  const [resuming, setResuming] = useState(false);
  const n = notice.data;
  if (!n) return <NotYet polled={notice} what="notice" />;
  return (
    <div class="stack">
      <section class="card" aria-labelledby="one-notice-h">
        <p class="eyebrow">Staff notice {n.id}</p>
        <h1 id="one-notice-h">{n.state === 'sending' ? 'Sending…' : countsWords(n.counts)}</h1>
        <dl class="facts">
          <dt>Sent by</dt>
          <dd>
            {n.createdBy}, {when(n.createdAt)}
          </dd>
          <dt>To</dt>
          <dd>{audienceWords(n.audience)}</dd>
          <dt>By</dt>
          <dd>{n.channels.map((c) => (c === 'sms' ? 'SMS' : 'email')).join(' and ')}</dd>
          <EventFact eventId={n.eventId} navigate={navigate} />
        </dl>
        {n.state === 'done' && n.counts.queued > 0 ? (
          <div class="actions">
            <button type="button" class="button" onClick={() => setResuming(true)}>
              Send the rest…
            </button>
          </div>
        ) : null}
        <Texts texts={n.texts} />
      </section>
      <section class="card" aria-labelledby="recipients-h">
        <h2 id="recipients-h">Each recipient</h2>
        <Recipients recipients={n.recipients} />
      </section>
      {resuming ? (
        <Sheet
          title="Send the rest"
          confirm={`Send to ${n.counts.queued}`}
          onConfirm={async () => {
            await api.resumeNotice(n.id);
            notice.reload();
          }}
          onClose={() => setResuming(false)}
        >
          <p>
            {n.counts.queued} {n.counts.queued === 1 ? 'message was' : 'messages were'} not handed over when
            the sending stopped. They go now; those already sent are not sent again.
          </p>
        </Sheet>
      ) : null}
    </div>
  );
}
