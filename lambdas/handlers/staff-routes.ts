import type { Context } from '../adapters/context.js';
import { addStaff, importBodySchema, importStaff, listStaff, type StaffDeps } from '../core/staff.js';
import type { Caller } from './http/auth.js';
import { bodyOf, json, parse, type Route } from './http/router.js';

/**
 * The admin API's staff endpoints, where the runtime has a provisioner (the local directory, or
 * the Cognito user pool): list, add or update one, import a directory file. Admins only, like every
 * admin route; each change is audited with who made it.
 */
export function staffRoutes(ctx: Context, staff: StaffDeps['staff']): Route<Caller>[] {
  const deps: StaffDeps = { staff, continuity: ctx.continuity, clock: ctx.clock, config: ctx.config };
  return [
    {
      method: 'GET',
      pattern: /^\/admin\/users$/,
      run: async () => json(200, { users: await listStaff(deps) }),
    },
    {
      method: 'POST',
      pattern: /^\/admin\/users$/,
      run: async (_m, e, who) => json(200, await addStaff(deps, bodyOf(e), who.id)),
    },
    {
      method: 'POST',
      pattern: /^\/admin\/users\/import$/,
      run: async (_m, e, who) =>
        json(200, await importStaff(deps, parse(importBodySchema, bodyOf(e), 'request body'), who.id)),
    },
  ];
}
