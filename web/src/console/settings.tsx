/**
 * Settings: the configuration in effect, secrets masked, each setting saying whether it is the
 * deployed value or an override made here (and what the deployment says). Thresholds, paging
 * contacts and staff groups can be changed and reset, each through a sheet that says what changes;
 * the server validates with the deployment config's own schema and audits every change.
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { SettingEntry, SettingKind } from '../../../lambdas/console/settings.js';
import type { ViewProps } from './app.js';
import { when } from './format.js';
import { parseValue, valueText } from './setting-values.js';
import { Sheet } from './sheet.js';
import { usePolled } from './use-polled.js';

/** The editable settings in groups an admin looks for, by path prefix; everything else after. */
const GROUPS: { prefix: string; title: string; says: string }[] = [
  {
    prefix: 'continuity.thresholds.',
    title: 'Thresholds',
    says: 'When the probes call the primary down and page the admins.',
  },
  { prefix: 'continuity.paging.', title: 'Paging contacts', says: 'Who is paged, and how often again.' },
  { prefix: 'continuity.staff.', title: 'Staff', says: 'Who is texted, and with which words.' },
  { prefix: 'continuity.', title: 'Continuity', says: 'The rest of the continuity plan.' },
];

function editText(e: SettingEntry): string {
  return Array.isArray(e.value) ? e.value.map(String).join('\n') : e.value === null ? '' : String(e.value);
}

function EditSheet(props: ViewProps & { entry: SettingEntry; onDone: () => void; onClose: () => void }) {
  const { api, entry } = props;
  const kind = entry.editable as SettingKind;
  const [text, setText] = useState(editText(entry));
  const [off, setOff] = useState(entry.value === null);
  const [reason, setReason] = useState('');
  const parsed = parseValue(kind, text, off);
  const multiline = kind === 'phones' || kind === 'emails' || kind === 'strings' || kind === 'text';
  return (
    <Sheet
      title="Change a setting"
      confirm="Change it"
      ready={'value' in parsed}
      onConfirm={async () => {
        if (!('value' in parsed)) return;
        await api.overrideSettings({
          values: { [entry.path]: parsed.value },
          ...(reason.trim() ? { reason: reason.trim() } : {}),
        });
        props.onDone();
      }}
      onClose={props.onClose}
    >
      <p>
        <code>{entry.path}</code> becomes <strong>{'value' in parsed ? valueText(parsed.value) : '…'}</strong>{' '}
        at once (it is {valueText(entry.value)} now). The change is audited and stays over redeploys until it
        is reset; the deployed value is {valueText(entry.deployed)}.
      </p>
      {kind === 'integer-or-null' ? (
        <label class="check">
          <input type="checkbox" checked={off} onChange={() => setOff(!off)} /> Off
        </label>
      ) : null}
      {multiline ? (
        <label class="field">
          <span>New value{kind !== 'text' ? ' (one a line)' : ''}</span>
          <textarea
            rows={kind === 'text' ? 4 : 3}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
      ) : (
        <label class="field">
          <span>New value</span>
          <input
            type="text"
            inputMode="decimal"
            value={text}
            disabled={off}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
      )}
      {'problem' in parsed && !off ? <p class="error-text small">{parsed.problem}</p> : null}
      <label class="field">
        <span>Reason (kept in the audit log)</span>
        <input type="text" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
    </Sheet>
  );
}

/** The server's note (`overridden: deployed value is 2`, as the CLI prints it) as a sentence of its own. */
const sentence = (note: string) => `${note.charAt(0).toUpperCase()}${note.slice(1)}.`;

/** A setting's dotted path, allowed to break after each dot rather than inside a name. */
function dottedPath(path: string) {
  const parts = path.split('.');
  return parts.map((part, i) => (
    <Fragment key={parts.slice(0, i + 1).join('.')}>
      {part}
      {i < parts.length - 1 ? (
        <>
          .<wbr />
        </>
      ) : null}
    </Fragment>
  ));
}

function Entry(props: { entry: SettingEntry; onEdit: () => void; onReset: () => void }) {
  const { entry } = props;
  return (
    <li class="setting">
      <div class="grow">
        <code class="break">{dottedPath(entry.path)}</code>
        <span class="block break">
          <strong>{valueText(entry.value)}</strong>{' '}
          <span class={`badge ${entry.source === 'overridden' ? 'badge-held' : ''}`}>
            {entry.source === 'overridden' ? 'Overridden here' : 'Deployed'}
          </span>
        </span>
        {entry.source === 'overridden' ? (
          <span class="block small muted">
            By {entry.overriddenBy ?? 'an admin'}
            {entry.overriddenAt ? `, ${when(entry.overriddenAt)}` : ''}.{' '}
            {entry.note ? sentence(entry.note) : ''}
          </span>
        ) : null}
      </div>
      {entry.editable ? (
        <div class="setting-actions">
          <button type="button" class="button" onClick={props.onEdit} aria-label={`Change ${entry.path}`}>
            Change…
          </button>
          {entry.source === 'overridden' ? (
            <button
              type="button"
              class="button subtle"
              onClick={props.onReset}
              aria-label={`Reset ${entry.path}`}
            >
              Reset…
            </button>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

export function SettingsView(props: ViewProps) {
  const { api } = props;
  const view = usePolled(() => api.settings(), [api]);
  const [editing, setEditing] = useState<SettingEntry | null>(null);
  const [resetting, setResetting] = useState<SettingEntry | null>(null);
  const [reason, setReason] = useState('');
  const entries = view.data?.entries ?? [];
  const editable = entries.filter((e) => e.editable);
  const groups = GROUPS.map((g) => ({
    ...g,
    entries: editable.filter(
      (e) => e.path.startsWith(g.prefix) && GROUPS.find((x) => e.path.startsWith(x.prefix)) === g,
    ),
  })).filter((g) => g.entries.length > 0);
  const rest = entries.filter((e) => !e.editable);
  const row = (e: SettingEntry) => (
    <Entry
      key={e.path}
      entry={e}
      onEdit={() => setEditing(e)}
      onReset={() => {
        setReason('');
        setResetting(e);
      }}
    />
  );

  return (
    <div class="stack">
      <section class="card" aria-labelledby="settings-h">
        <h1 id="settings-h">Settings</h1>
        <p class="muted small">
          The configuration in effect. Thresholds, paging contacts and staff groups can be changed here; the
          rest is the deployment’s. Secrets are never shown.
          {view.data?.overridesUpdatedAt
            ? ` Last changed here ${when(view.data.overridesUpdatedAt)} by ${view.data.overridesUpdatedBy ?? 'an admin'}.`
            : ''}
        </p>
        {view.failure ? (
          <p class="problem" role="alert">
            {view.failure}
          </p>
        ) : null}
        {view.data === null && !view.failure ? <p class="loading">Loading…</p> : null}
      </section>
      {groups.map((g) => (
        <section key={g.prefix} class="card" aria-labelledby={`set-${g.title}`}>
          <h2 id={`set-${g.title}`}>{g.title}</h2>
          <p class="muted small">{g.says}</p>
          <ul class="settings">{g.entries.map(row)}</ul>
        </section>
      ))}
      {rest.length ? (
        <section class="card" aria-labelledby="set-rest">
          <details>
            <summary id="set-rest">Everything else in effect ({rest.length})</summary>
            <ul class="settings">{rest.map(row)}</ul>
          </details>
        </section>
      ) : null}
      {editing ? (
        <EditSheet {...props} entry={editing} onDone={view.reload} onClose={() => setEditing(null)} />
      ) : null}
      {resetting ? (
        <Sheet
          title="Reset to the deployed value"
          confirm="Reset"
          onConfirm={async () => {
            view.set(await api.resetSetting(resetting.path, reason.trim() || undefined));
          }}
          onClose={() => setResetting(null)}
        >
          <p>
            <code>{resetting.path}</code> goes back to the deployed value,{' '}
            <strong>{valueText(resetting.deployed)}</strong> (it is {valueText(resetting.value)} now), at
            once. The change is audited.
          </p>
          <label class="field">
            <span>Reason (kept in the audit log)</span>
            <input
              type="text"
              maxLength={500}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </label>
        </Sheet>
      ) : null}
    </div>
  );
}
