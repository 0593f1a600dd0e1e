import {
  EDITABLE_SETTINGS,
  type EditableSetting,
  MASKED,
  type SettingEntry,
  type SettingsView,
} from '../console/settings.js';
import { type Clock, type ContinuityStore, JOBS_OWNER, type Logger, type SendingStore } from '../ports.js';
import { configSchema, formatIssues, type LifeboatConfig } from './config.js';
import { ConflictError, ValidationError } from './errors.js';

/**
 * How long a function keeps the overrides it read before reading them again. A change from the
 * console reaches the probe function (and every other warm function) within this; the function
 * that made the change drops its copy at once. One read of one item per half minute per function.
 */
export const SETTINGS_CACHE_MS = 30_000;

/** The overrides' one record: kind `settings`, user JOBS_OWNER. */
export const OVERRIDES_ID = 'overrides';

/**
 * Settings shown masked whatever their key: the passwords' environment variables and secrets,
 * the STARTTLS key, the federation client's secret. Keys that look secret are masked too
 * ({@link SECRET_KEY}), so a setting added later is masked by its name.
 */
export const SECRET_PATHS: readonly RegExp[] = [
  /^routes\.\d+\.auth\.(passwordEnv|secretId)$/,
  /^local\.relay\.auth\.passwordEnv$/,
  /^local\.tls\.(key|cert)$/,
  /^aws\.staffAuth\.federation\.clientSecretId$/,
];

/** A key that names a secret: a password, a token, a key, a credential, a secret (or its ARN). */
export const SECRET_KEY = /(secret|passw|token|credential|private|api.?key|^key$|signing)/i;

/** Overrides are kept far longer than any deployment: they go when an admin resets them. */
const OVERRIDES_LIFETIME_S = 100 * 365 * 86_400;

interface Override {
  value: unknown;
  by: string;
  at: string;
  /** The deployed value when the override was made: a redeploy that changed it is pointed out. */
  deployedWas: unknown;
}

interface OverridesData {
  values: Partial<Record<EditableSetting, Override>>;
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface SettingsDeps {
  config: LifeboatConfig;
  jobs?: SendingStore | undefined;
  clock: Clock;
  log: Logger;
}

const cache = new WeakMap<SendingStore, { readAt: number; data: OverridesData | null }>();

async function readOverrides(jobs: SendingStore, fresh = false): Promise<OverridesData | null> {
  const hit = cache.get(jobs);
  if (!fresh && hit && performance.now() - hit.readAt < SETTINGS_CACHE_MS) return hit.data;
  const record = await jobs.getSending<OverridesData>('settings', JOBS_OWNER, OVERRIDES_ID);
  const data = record?.data ?? null;
  cache.set(jobs, { readAt: performance.now(), data });
  return data;
}

const segments = (path: string) => path.split('.');

function getPath(obj: unknown, path: string): unknown {
  let at: unknown = obj;
  for (const key of segments(path)) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function setPath<T>(obj: T, path: string, value: unknown): T {
  const keys = segments(path);
  let at = obj as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1) as string] = value;
  return obj;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The deployed config with these overrides in place, validated as a whole by the config's own schema. */
function merged(
  config: LifeboatConfig,
  values: Partial<Record<EditableSetting, unknown>>,
): { config?: LifeboatConfig; problems?: string[] } {
  const draft = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  for (const [path, value] of Object.entries(values)) setPath(draft, path, value);
  const r = configSchema.safeParse(draft);
  if (!r.success) return { problems: formatIssues(r.error.issues) };
  // The deployed config's own runtime adjustments (a test's port in the staff link) stay.
  return {
    config: {
      ...r.data,
      continuity: {
        ...r.data.continuity,
        paging: { ...r.data.continuity.paging, consoleUrl: config.continuity.paging.consoleUrl },
        staff: { ...r.data.continuity.staff, webmailUrl: config.continuity.staff.webmailUrl },
      },
    },
  };
}

const valuesOf = (data: OverridesData | null) =>
  Object.fromEntries(Object.entries(data?.values ?? {}).map(([k, o]) => [k, (o as Override).value]));

/**
 * The configuration in effect: the deployed config with the console's overrides (thresholds,
 * paging contacts, staff groups and texts) in place. Read through a {@link SETTINGS_CACHE_MS}
 * cache; without a job store, or when the overrides no longer fit the deployed config (a
 * redeploy changed a setting they are checked against), the deployed config, with an error logged.
 */
export async function effectiveConfig(deps: SettingsDeps): Promise<LifeboatConfig> {
  if (!deps.jobs) return deps.config;
  let data: OverridesData | null;
  try {
    data = await readOverrides(deps.jobs);
  } catch (err) {
    // The probes and pages must not stop because the overrides could not be read.
    deps.log.error('settings overrides not read; using the deployed config', {
      error: (err as Error).message,
    });
    return deps.config;
  }
  if (!data || Object.keys(data.values).length === 0) return deps.config;
  const m = merged(deps.config, valuesOf(data));
  if (!m.config) {
    deps.log.error('settings overrides do not fit the deployed config; using the deployed config', {
      problems: m.problems?.length,
    });
    return deps.config;
  }
  return m.config;
}

const isSecret = (path: string) =>
  SECRET_PATHS.some((p) => p.test(path)) || SECRET_KEY.test(segments(path).at(-1) ?? '');

/** Masks every secret in a value found at `path` (a whole subtree when it is an object). */
export function maskSecrets(path: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (isSecret(path)) return MASKED;
  if (Array.isArray(value)) return value.map((v, i) => maskSecrets(`${path}.${i}`, v));
  if (typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, maskSecrets(path ? `${path}.${k}` : k, v)]),
    );
  return value;
}

/** Leaves of a config object, as dotted paths; an array of plain values is one leaf. */
function leaves(value: unknown, path = ''): Array<[string, unknown]> {
  if (value !== null && typeof value === 'object' && !isSecret(path)) {
    const plainArray = Array.isArray(value) && value.every((v) => v === null || typeof v !== 'object');
    if (!plainArray) {
      return Object.entries(value).flatMap(([k, v]) => leaves(v, path ? `${path}.${k}` : k));
    }
  }
  return path ? [[path, value]] : [];
}

/** What the settings page shows of the staff directory: how many, not who (see /admin/users). */
function summariseDirectory(config: LifeboatConfig): LifeboatConfig {
  const users = config.webmail.users;
  if (!users) return config;
  return {
    ...config,
    webmail: { ...config.webmail, users: `${users.length} users (see the staff list)` as never },
  };
}

const words = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Every setting in effect, secrets masked, each marked deployed or overridden; an overridden one
 * says what the deployment has (and whether a redeploy changed it since the override was made).
 */
export async function getSettings(deps: SettingsDeps): Promise<SettingsView> {
  const data = deps.jobs ? await readOverrides(deps.jobs, true) : null;
  const effective = await effectiveConfig(deps);
  const deployedLeaves = new Map(leaves(summariseDirectory(deps.config)));
  const entries: SettingEntry[] = [];
  const paths = new Set([...deployedLeaves.keys(), ...Object.keys(EDITABLE_SETTINGS)]);
  for (const path of paths) {
    const editable = (EDITABLE_SETTINGS as Record<string, SettingEntry['editable']>)[path] ?? null;
    const deployed = deployedLeaves.has(path) ? deployedLeaves.get(path) : getPath(deps.config, path);
    const override = data?.values[path as EditableSetting];
    const secret = isSecret(path);
    const value = override && effective !== deps.config ? getPath(effective, path) : deployed;
    let note: string | null = null;
    if (override) {
      note = `overridden: deployed value is ${words(maskSecrets(path, deployed))}`;
      if (!same(override.deployedWas, deployed))
        note += ` (a redeploy changed it from ${words(maskSecrets(path, override.deployedWas))} after this override was made)`;
      if (effective === deps.config) note += '; NOT IN EFFECT: the overrides do not fit the deployed config';
    }
    entries.push({
      path,
      value: maskSecrets(path, value),
      source: override && effective !== deps.config ? 'overridden' : 'deployed',
      deployed: maskSecrets(path, deployed),
      secret,
      editable,
      overriddenBy: override?.by ?? null,
      overriddenAt: override?.at ?? null,
      note,
    });
  }
  return {
    entries,
    overridesUpdatedAt: data?.updatedAt ?? null,
    overridesUpdatedBy: data?.updatedBy ?? null,
  };
}

function needJobs(deps: SettingsDeps): SendingStore {
  if (!deps.jobs) throw new ValidationError('settings', ['(root): this function keeps no overrides']);
  return deps.jobs;
}

/** Reads, changes and writes the overrides record with a conditional write, retrying a lost race. */
async function changeOverrides(
  deps: SettingsDeps & { continuity: Pick<ContinuityStore, 'appendAudit'> },
  actor: string,
  change: (values: OverridesData['values']) => void,
): Promise<{ before: OverridesData['values']; after: OverridesData['values'] }> {
  const jobs = needJobs(deps);
  for (let attempt = 0; ; attempt++) {
    const record = await jobs.getSending<OverridesData>('settings', JOBS_OWNER, OVERRIDES_ID);
    const before = { ...(record?.data.values ?? {}) };
    const after = { ...before };
    change(after);
    const m = merged(deps.config, valuesOf({ values: after, updatedAt: null, updatedBy: null }));
    if (m.problems) throw new ValidationError('settings', m.problems);
    const now = deps.clock.now();
    try {
      await jobs.putSending(
        {
          kind: 'settings',
          user: JOBS_OWNER,
          id: OVERRIDES_ID,
          version: (record?.version ?? 0) + 1,
          dueAt: null,
          expiresAt: Math.floor(now.getTime() / 1000) + OVERRIDES_LIFETIME_S,
          data: { values: after, updatedAt: now.toISOString(), updatedBy: actor },
        },
        record?.version ?? 0,
      );
    } catch (err) {
      if (err instanceof ConflictError && attempt < 3) continue;
      throw err;
    }
    cache.delete(jobs);
    return { before, after };
  }
}

const auditValue = (path: string, o: Override | undefined, deployed: unknown) =>
  words(maskSecrets(path, o ? o.value : deployed));

/**
 * Overrides settings from the console: each path must be an editable one, and the deployed config
 * with every override in place must pass the config's own schema (all problems reported). Audited
 * per setting with its value before and after (masked), and the reason.
 * @throws ValidationError listing every problem; nothing is stored then
 */
export async function overrideSettings(
  deps: SettingsDeps & { continuity: Pick<ContinuityStore, 'appendAudit'> },
  values: Partial<Record<EditableSetting, unknown>>,
  actor: string,
  reason?: string | undefined,
): Promise<SettingsView> {
  const at = deps.clock.now().toISOString();
  const { before, after } = await changeOverrides(deps, actor, (v) => {
    for (const [path, value] of Object.entries(values) as Array<[EditableSetting, unknown]>) {
      v[path] = { value, by: actor, at, deployedWas: getPath(deps.config, path) };
    }
  });
  for (const path of Object.keys(values) as EditableSetting[]) {
    const deployed = getPath(deps.config, path);
    await deps.continuity.appendAudit({
      at,
      actor,
      action: 'settings-override',
      detail: `${path}: ${auditValue(path, before[path], deployed)} -> ${auditValue(path, after[path], deployed)}`,
      eventId: null,
      target: `setting/${path}`,
      ...(reason ? { reason } : {}),
    });
  }
  return getSettings(deps);
}

/**
 * Returns a setting to its deployed value (a reset of a setting not overridden changes nothing and
 * is not audited). Audited with the value before and after.
 */
export async function resetSetting(
  deps: SettingsDeps & { continuity: Pick<ContinuityStore, 'appendAudit'> },
  path: EditableSetting,
  actor: string,
  reason?: string | undefined,
): Promise<SettingsView> {
  const { before } = await changeOverrides(deps, actor, (v) => {
    delete v[path];
  });
  if (before[path]) {
    const deployed = getPath(deps.config, path);
    await deps.continuity.appendAudit({
      at: deps.clock.now().toISOString(),
      actor,
      action: 'settings-reset',
      detail: `${path}: ${auditValue(path, before[path], deployed)} -> ${words(maskSecrets(path, deployed))} (deployed)`,
      eventId: null,
      target: `setting/${path}`,
      ...(reason ? { reason } : {}),
    });
  }
  return getSettings(deps);
}
