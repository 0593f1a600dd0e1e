/**
 * What the pages of the admin's jobs (staff notices, replays, drills) share: the list of past jobs
 * under the form that starts one, each a link to its page; the line a job's page shows while it
 * loads or when it cannot; and the link from a job to the event it belongs to.
 */
import type { ComponentChildren } from 'preact';
import type { View } from './route.js';
import { viewPath } from './route.js';
import type { Polled } from './use-polled.js';

/** A failure, in the words the API's error was explained in. */
export function Problem(props: { text: string | null }) {
  return props.text ? (
    <p class="problem" role="alert">
      {props.text}
    </p>
  ) : null;
}

/** Past jobs, newest first, each a link to its own page. */
export function JobList<T>(props: {
  id: string;
  title: string;
  empty: string;
  failure: string | null;
  items: readonly T[] | undefined;
  children: (item: T) => ComponentChildren;
}) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      <Problem text={props.failure} />
      {props.items?.length === 0 ? <p class="muted">{props.empty}</p> : null}
      <ul class="links">{props.items?.map(props.children)}</ul>
    </section>
  );
}

/** One row of a list: a link to a view, followed in the app without a page load. */
export function ViewLink(props: {
  to: View;
  navigate: (view: View) => void;
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <a
      class={props.class}
      href={viewPath(props.to)}
      onClick={(e) => {
        e.preventDefault();
        props.navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

/** A job's page before its first answer: loading, or why it cannot be read. */
export function NotYet(props: { polled: Pick<Polled<unknown>, 'failure'>; what: string }) {
  return props.polled.failure ? (
    <Problem text={props.polled.failure} />
  ) : (
    <p class="loading">Opening the {props.what}…</p>
  );
}

/** The event a job belongs to, as a fact with a link to its page. */
export function EventFact(props: { eventId: string | null; navigate: (view: View) => void }) {
  if (!props.eventId) return null;
  return (
    <>
      <dt>Event</dt>
      <dd>
        <ViewLink to={{ name: 'event', id: props.eventId }} navigate={props.navigate}>
          {props.eventId}
        </ViewLink>
      </dd>
    </>
  );
}

/** One of a few choices, as a row of toggle buttons under its legend (44 px each, one tap). */
export function Choice<K extends string>(props: {
  legend: string;
  labels: Record<K, string>;
  value: K;
  onChange: (value: K) => void;
}) {
  return (
    <fieldset class="field plain">
      <legend>{props.legend}</legend>
      <div class="segmented">
        {(Object.keys(props.labels) as K[]).map((k) => (
          <button
            key={k}
            type="button"
            aria-pressed={props.value === k ? 'true' : 'false'}
            onClick={() => props.onChange(k)}
          >
            {props.labels[k]}
          </button>
        ))}
      </div>
    </fieldset>
  );
}
