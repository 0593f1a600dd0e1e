import { resolveMailboxUser } from '../core/directory.js';
import { createDrillSignInRecorder } from '../core/drill.js';
import { LifeboatError } from '../core/errors.js';
import type { SendingStore } from '../ports.js';
import { AuthError } from './http/auth.js';
import { errorResponse } from './http/errors.js';
import { dispatch, type HttpResult, httpEventSchema, parse } from './http/router.js';
import { FILES_ROUTE, serveLinkedFile, type WebmailContext, webmailRoutes } from './webmail-routes.js';

export type { WebmailContext } from './webmail-routes.js';
export { FILES_ROUTE, serveLinkedFile, webmailRoutes } from './webmail-routes.js';

/**
 * The staff webmail API (HTTP API behind a JWT authorizer; the same handler on the local
 * runtime): validates the event, finds the signed-in user's addresses (directory entry plus a
 * federated `addresses` claim), refuses a user who owns none, and dispatches to the endpoint
 * (webmail-routes.ts). Downloads through a signed link (`/mail/api/files/<token>`) need no
 * sign-in: the link is the authorisation. Every error becomes JSON with its stable code.
 */
export function createWebmailHandler(context: () => WebmailContext) {
  // One recorder per job store, so its short cache of the running drill lives as long as the process.
  const recorders = new WeakMap<SendingStore, ReturnType<typeof createDrillSignInRecorder>>();
  const drillSignIn = (ctx: WebmailContext, jobs: SendingStore) => {
    let recorder = recorders.get(jobs);
    if (!recorder) {
      recorder = createDrillSignInRecorder({ jobs, config: ctx.config, clock: ctx.clock, log: ctx.log });
      recorders.set(jobs, recorder);
    }
    return recorder;
  };
  return async (rawEvent: unknown): Promise<HttpResult> => {
    const ctx = context();
    try {
      const event = parse(httpEventSchema, rawEvent, 'HTTP event');
      const claims = event.requestContext.authorizer?.jwt?.claims;
      const whoFrom = (c: Record<string, unknown>) => {
        const user = resolveMailboxUser(ctx.directory, c, { domains: ctx.config.domains });
        if (user.id === '') throw new AuthError(401, 'the token names no user');
        return user;
      };
      const file = FILES_ROUTE.exec(event.rawPath);
      if (file) {
        const method = event.requestContext.http.method.toUpperCase();
        if (method !== 'GET' && method !== 'HEAD') {
          throw new LifeboatError('METHOD_NOT_ALLOWED', `${method} is not allowed on a download link`);
        }
        return await serveLinkedFile(ctx, file[1] as string, claims ? () => whoFrom(claims) : undefined);
      }
      if (!claims) throw new AuthError(401, 'sign in first: no verified identity on the request');
      const user = whoFrom(claims);
      if (user.addresses.length === 0) {
        throw new AuthError(
          403,
          `webmail: ${user.id} has no mailbox here; ask an administrator to add your addresses to the staff directory`,
        );
      }
      if (ctx.drills) await drillSignIn(ctx, ctx.drills)(user);
      return await dispatch(webmailRoutes(ctx), event, user);
    } catch (err) {
      return errorResponse(err, ctx.log);
    }
  };
}
