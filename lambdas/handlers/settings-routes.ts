import type { Context } from '../adapters/context.js';
import {
  settingPathSchema,
  settingsOverrideBodySchema,
  settingsResetQuerySchema,
} from '../console/settings.js';
import { getSettings, overrideSettings, resetSetting } from '../core/settings.js';
import type { Caller } from './http/auth.js';
import { bodyOf, json, parse, type Route } from './http/router.js';

/**
 * The console's settings (see the README's "Settings"): the configuration in effect with secrets
 * masked, and the overrides of thresholds, paging contacts and staff notices, each change
 * validated with the config's own schema and audited with its value before and after.
 */
export function settingsRoutes(ctx: Context, deployed: Context['config'] = ctx.config): Route<Caller>[] {
  // The deployed config, not the effective one: overrides are made (and checked) against it.
  const deps = { ...ctx, config: deployed };
  return [
    { method: 'GET', pattern: /^\/admin\/settings$/, run: async () => json(200, await getSettings(deps)) },
    {
      method: 'PUT',
      pattern: /^\/admin\/settings\/overrides$/,
      run: async (_m, e, who) => {
        const body = parse(settingsOverrideBodySchema, bodyOf(e), 'request body');
        return json(200, await overrideSettings(deps, body.values, who.id, body.reason));
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/admin\/settings\/overrides\/([A-Za-z0-9.]{1,200})$/,
      run: async (m, e, who) => {
        const path = parse(settingPathSchema, m[1], 'path');
        const q = parse(settingsResetQuerySchema, e.queryStringParameters ?? {}, 'query');
        return json(200, await resetSetting(deps, path, who.id, q.reason));
      },
    },
  ];
}
