import { type Context, defaultContext } from '../adapters/context.js';
import { MfaRequiredError, signInMfa } from '../core/admin-mfa.js';
import { effectiveConfig } from '../core/settings.js';
import type { StaffDeps } from '../core/staff.js';
import { adminRoutes } from './admin-routes.js';
import { AuthError, callerFrom } from './http/auth.js';
import { errorResponse } from './http/errors.js';
import { dispatch, type HttpResult, httpEventSchema, parse } from './http/router.js';
import { staffRoutes } from './staff-routes.js';

export { AuthError, type Caller, callerFrom } from './http/auth.js';
export { errorResponse } from './http/errors.js';
export type { HttpEvent, HttpResult } from './http/router.js';

/**
 * The admin API (HTTP API behind a JWT authorizer): validates the event, checks the caller is
 * an admin, and dispatches to the endpoint (admin-routes.ts); every error becomes JSON with its
 * stable code (http/errors.ts).
 */
export function createApiHandler(
  context: () => Context,
  options: {
    /** Who may sign in to the webmail (the local directory, the Cognito pool): adds `/admin/users`. */
    staff?: (() => StaffDeps['staff'] | undefined) | undefined;
    /**
     * Claims of a machine credential rather than a sign-in (the local runtime's admin token, which
     * only whoever can read the data folder holds): not asked for a second factor. @default none
     */
    machineToken?: ((claims: Record<string, unknown>) => boolean) | undefined;
  } = {},
) {
  return async (rawEvent: unknown): Promise<HttpResult> => {
    const ctx = context();
    try {
      const event = parse(httpEventSchema, rawEvent, 'HTTP event');
      const who = callerFrom(event.requestContext.authorizer?.jwt?.claims);
      if (!who.groups.includes(ctx.config.adminGroup)) {
        throw new AuthError(403, `admin API: ${who.id} is not in the ${ctx.config.adminGroup} group`);
      }
      const claims = event.requestContext.authorizer?.jwt?.claims ?? {};
      if (ctx.config.adminMfa.required && !options.machineToken?.(claims)) {
        const mfa = signInMfa(claims, ctx.config.adminMfa);
        if (!mfa.ok) {
          const user = typeof claims['cognito:username'] === 'string' ? claims['cognito:username'] : who.id;
          throw new MfaRequiredError(user, mfa.why);
        }
      }
      const staff = options.staff?.();
      // Thresholds, paging contacts and staff notices as the console overrode them: an invoke's
      // pages and a notice's default audience follow the settings page, not only the deploy.
      const effective = { ...ctx, config: await effectiveConfig(ctx) };
      return await dispatch(
        [
          ...adminRoutes(effective, { staff, deployed: ctx.config }),
          ...(staff ? staffRoutes(effective, staff) : []),
        ],
        event,
        who,
      );
    } catch (err) {
      return errorResponse(err, ctx.log);
    }
  };
}

export const handler = createApiHandler(defaultContext);
