/**
 * The console's settings page: the shapes of `/admin/settings` and its overrides. The API
 * validates with these schemas and the console imports them, so a renamed field fails the type
 * check instead of an admin. This module imports zod only, so it bundles for the browser.
 */
import * as z from 'zod';

/**
 * The settings an admin may override from the console, and what kind of value each takes (for the
 * form; the server validates every change with the deployment config's own schema). Thresholds,
 * paging contacts and staff notices only: routes, domains, retention and the sign-in are the
 * deployment's, since changing them needs resources the deploy makes.
 */
export const EDITABLE_SETTINGS = {
  'continuity.thresholds.consecutiveFailures': 'integer',
  'continuity.thresholds.failureRatio': 'ratio',
  'continuity.thresholds.minSamples': 'integer',
  'continuity.thresholds.windowMinutes': 'integer',
  'continuity.thresholds.p95LatencySeconds': 'number',
  'continuity.thresholds.oldestDeferredMinutes': 'integer',
  'continuity.thresholds.healthyRoundsForAllClear': 'integer',
  'continuity.autoInvokeAfterMinutes': 'integer-or-null',
  'continuity.paging.adminPhones': 'phones',
  'continuity.paging.adminEmails': 'emails',
  'continuity.paging.repeatMinutes': 'integer',
  'continuity.staff.phones': 'phones',
  'continuity.staff.groups': 'strings',
  'continuity.staff.templates.invoke.sms': 'text',
  'continuity.staff.templates.invoke.emailSubject': 'text',
  'continuity.staff.templates.invoke.email': 'text',
  'continuity.staff.templates.revoke.sms': 'text',
  'continuity.staff.templates.revoke.emailSubject': 'text',
  'continuity.staff.templates.revoke.email': 'text',
} as const;
export type EditableSetting = keyof typeof EDITABLE_SETTINGS;
export type SettingKind = (typeof EDITABLE_SETTINGS)[EditableSetting];
export const editableSettingPaths = Object.keys(EDITABLE_SETTINGS) as EditableSetting[];

/** What a masked secret reads as: the value never leaves the server. */
export const MASKED = '********';

/** Longest reason an admin may give for a change (kept in the audit log). */
export const MAX_SETTINGS_REASON_CHARS = 500;

/** One setting as it is in effect, where its value comes from, and whether it may be changed here. */
export const settingEntrySchema = z.object({
  /** Dotted path in the deployment config, e.g. `continuity.thresholds.consecutiveFailures`. */
  path: z.string(),
  /** The value in effect (masked when secret). */
  value: z.unknown(),
  /** `deployed`: from the deployment config (or its default); `overridden`: set from the console. */
  source: z.enum(['deployed', 'overridden']),
  /** The deployment config's value, which a reset returns to (masked when secret). */
  deployed: z.unknown(),
  /** The value is a password, key, token or secret reference and is shown as {@link MASKED}. */
  secret: z.boolean(),
  /** The kind of value, for settings the console may override; null for the rest. */
  editable: z
    .enum(['integer', 'ratio', 'number', 'integer-or-null', 'phones', 'emails', 'strings', 'text'])
    .nullable(),
  /** Who overrode it, and when. */
  overriddenBy: z.string().nullable(),
  overriddenAt: z.string().nullable(),
  /**
   * For an overridden value, what the deployment says, so nobody is surprised
   * (`overridden: deployed value is 3`); says too when a redeploy changed the deployed value
   * after the override was made.
   */
  note: z.string().nullable(),
});
export type SettingEntry = z.infer<typeof settingEntrySchema>;

/** `GET /admin/settings`, and the answer to every change. */
export const settingsViewSchema = z.object({
  entries: z.array(settingEntrySchema),
  /** When the overrides were last changed and by whom; null when none was ever made. */
  overridesUpdatedAt: z.string().nullable(),
  overridesUpdatedBy: z.string().nullable(),
});
export type SettingsView = z.infer<typeof settingsViewSchema>;

const editablePath = z.enum(editableSettingPaths as [EditableSetting, ...EditableSetting[]], {
  error: (i) =>
    `${String(i.input)} cannot be changed from the console; these can: ${editableSettingPaths.join(', ')}`,
});

/**
 * `PUT /admin/settings/overrides`: the settings to override, each by its path, and why. Settings
 * not named keep their state; the whole result is validated with the deployment config's schema
 * before anything is stored.
 */
export const settingsOverrideBodySchema = z.strictObject({
  values: z.record(z.string(), z.unknown()).superRefine((v, ctx) => {
    const keys = Object.keys(v);
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one setting' });
    for (const key of keys) {
      if (!(key in EDITABLE_SETTINGS)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `cannot be changed from the console; these can: ${editableSettingPaths.join(', ')}`,
        });
      }
    }
  }) as z.ZodType<Partial<Record<EditableSetting, unknown>>>,
  reason: z.string().trim().min(1).max(MAX_SETTINGS_REASON_CHARS).optional(),
});
export type SettingsOverrideBody = z.input<typeof settingsOverrideBodySchema>;

/** `DELETE /admin/settings/overrides/<path>` takes the path in the URL, and this optional query. */
export const settingsResetQuerySchema = z.strictObject({
  reason: z.string().trim().min(1).max(MAX_SETTINGS_REASON_CHARS).optional(),
});

/** The path segment of a reset: an editable setting's path. */
export const settingPathSchema = editablePath;
