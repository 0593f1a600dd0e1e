import {
  EDITABLE_SETTINGS,
  type EditableSetting,
  type SettingsView,
} from '../../lambdas/console/settings.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { AdminCall } from './cli-api.js';

export interface SettingsValues {
  reason?: string | undefined;
  json?: boolean | undefined;
}

/**
 * A value as typed on the command line, read for the setting's kind: a number, `null`, a list
 * (comma-separated or JSON), or text as it is.
 */
export function settingValue(path: string, text: string): unknown {
  const kind = (EDITABLE_SETTINGS as Record<string, string>)[path];
  if (kind === undefined)
    throw new LifeboatError(
      'USAGE',
      `${path} cannot be changed from the console or the CLI; these can: ${Object.keys(EDITABLE_SETTINGS).join(', ')}`,
    );
  const trimmed = text.trim();
  if (kind === 'text') return text;
  if (kind === 'phones' || kind === 'emails' || kind === 'strings') {
    if (trimmed.startsWith('[')) return JSON.parse(trimmed) as unknown;
    return trimmed === '' ? [] : trimmed.split(/\s*,\s*/);
  }
  if (kind === 'integer-or-null' && trimmed === 'null') return null;
  // A number the schema checks; anything else is passed on for the schema to name the problem.
  return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

const shown = (v: unknown) => (typeof v === 'string' ? v.replace(/\n/g, '\\n') : JSON.stringify(v));

/**
 * `lifeboat settings show` prints the configuration in effect (secrets masked), each value's
 * source; `settings set <path> <value>` overrides one; `settings reset <path>` returns it to the
 * deployed value. Through the running runtime's admin API, audited with who ran it.
 */
export async function settingsCommand(
  args: string[],
  values: SettingsValues,
  call: AdminCall,
  line: (text: string) => void,
): Promise<number> {
  const [sub = 'show', path, ...rest] = args;
  let view: SettingsView;
  if (sub === 'show') {
    view = (await call('GET', '/admin/settings')) as unknown as SettingsView;
  } else if (sub === 'set') {
    if (!path || rest.length === 0) throw new LifeboatError('USAGE', 'settings set needs <path> <value>');
    view = (await call('PUT', '/admin/settings/overrides', {
      values: { [path]: settingValue(path, rest.join(' ')) },
      ...(values.reason ? { reason: values.reason } : {}),
    })) as unknown as SettingsView;
  } else if (sub === 'reset') {
    if (!path) throw new LifeboatError('USAGE', 'settings reset needs <path>');
    settingValue(path, '');
    const q = values.reason ? `?reason=${encodeURIComponent(values.reason)}` : '';
    view = (await call(
      'DELETE',
      `/admin/settings/overrides/${path as EditableSetting}${q}`,
    )) as unknown as SettingsView;
  } else throw new LifeboatError('USAGE', `settings: unknown ${sub} (show, set, reset)`);
  if (values.json) {
    line(JSON.stringify(view, null, 2));
    return 0;
  }
  const entries = sub === 'show' ? view.entries : view.entries.filter((e) => e.path === path);
  for (const e of entries) {
    const mark = e.source === 'overridden' ? '*' : e.editable ? '~' : ' ';
    line(`${mark} ${e.path} = ${shown(e.value)}${e.note ? `   (${e.note})` : ''}`);
  }
  if (sub === 'show')
    line('* overridden from the console or CLI   ~ may be overridden   (secrets are masked)');
  return 0;
}
