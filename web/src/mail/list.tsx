/**
 * The mailbox list (and search results): newest first, unread rows bold with a dot, sender,
 * time, subject, snippet, attachment and flag marks and a badge for mail that is not on the
 * mail server yet. Every string from a message is rendered as text. The next page loads when
 * the end of the list scrolls into view (and from a button, for keyboards and screen readers).
 */
import { useEffect, useRef } from 'preact/hooks';
import type { MessageSummary } from '../../../lambdas/webmail/schemas.js';
import { STATE_WORDS, senderName, shortTime } from './format.js';
import { FlagIcon, PaperclipIcon } from './icons.js';
import { routeHash } from './route.js';

export interface ListProps {
  messages: MessageSummary[];
  selectedId: string | null;
  /** The search the rows belong to (kept in their links), or null for the mailbox. */
  q: string | null;
  hasMore: boolean;
  loading: boolean;
  loaded: boolean;
  emptyText: string;
  onMore: () => void;
}

/** One row's words for a screen reader, in the order a sighted user scans them. */
function rowLabel(m: MessageSummary): string {
  const parts = [
    m.seen ? '' : 'Unread.',
    `From ${m.fromName ?? senderName(m.from)}.`,
    m.subject ?? '(no subject)',
    m.hasAttachments ? '. Has attachments' : '',
    m.flagged ? '. Flagged' : '',
    STATE_WORDS[m.state] ? `. ${STATE_WORDS[m.state]?.label}` : '',
    `. ${shortTime(m.receivedAt)}`,
  ];
  return parts.filter((p) => p !== '').join(' ');
}

function Row({ m, selected, q }: { m: MessageSummary; selected: boolean; q: string | null }) {
  const state = STATE_WORDS[m.state];
  return (
    <li class="row-item">
      <a
        class={`row${m.seen ? '' : ' unread'}${selected ? ' selected' : ''}`}
        href={routeHash({ id: m.id, q })}
        data-id={m.id}
        aria-current={selected ? 'true' : undefined}
        aria-label={rowLabel(m)}
      >
        <span class="dot" aria-hidden="true" />
        <span class="row-top">
          <span class="from" title={m.from ?? undefined}>
            {m.fromName ?? senderName(m.from)}
          </span>
          <time class="when" dateTime={m.receivedAt} title={new Date(m.receivedAt).toLocaleString()}>
            {shortTime(m.receivedAt)}
          </time>
        </span>
        <span class="row-mid">
          <span class="subject">{m.subject ?? '(no subject)'}</span>
          <span class="marks">
            {state ? (
              <span class={`badge badge-${m.state}`} title={state.title}>
                {state.label}
              </span>
            ) : null}
            {m.hasAttachments ? <PaperclipIcon /> : null}
            {m.flagged ? (
              <span class="flagged">
                <FlagIcon filled />
              </span>
            ) : null}
          </span>
        </span>
        <span class="snippet">{m.snippet}</span>
      </a>
    </li>
  );
}

/** The list of messages with its "load more" end. */
export function MessageList(props: ListProps) {
  const end = useRef<HTMLLIElement>(null);
  const { hasMore, loading, onMore } = props;

  useEffect(() => {
    const node = end.current;
    if (!node || !hasMore || loading || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) onMore();
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [hasMore, loading, onMore]);

  if (props.loaded && props.messages.length === 0) {
    return <p class="empty">{props.emptyText}</p>;
  }
  return (
    <ul class="rows" aria-busy={loading ? 'true' : 'false'}>
      {props.messages.map((m) => (
        <Row key={m.id} m={m} selected={m.id === props.selectedId} q={props.q} />
      ))}
      <li class="list-end" ref={end}>
        {loading ? (
          <span class="loading">Loading…</span>
        ) : hasMore ? (
          <button type="button" class="button subtle" onClick={onMore}>
            Load older messages
          </button>
        ) : props.messages.length > 0 ? (
          <span class="muted">That is all.</span>
        ) : null}
      </li>
    </ul>
  );
}
