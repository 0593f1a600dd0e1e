import * as z from 'zod';
import type { Context } from '../adapters/context.js';
import { noticeListQuerySchema, noticeRequestSchema } from '../console/notices.js';
import { parseDirectory } from '../core/directory.js';
import { LifeboatError } from '../core/errors.js';
import {
  getNotice,
  listNotices,
  previewNotice,
  resumeNotice,
  type StaffNoticeDeps,
  sendNotice,
} from '../core/staff-notices.js';
import type { StaffAccount, StaffProvisioner } from '../ports.js';
import type { Caller } from './http/auth.js';
import { bodyOf, json, parse, type Route } from './http/router.js';

const noticeId = '([0-9TZ]{15}-[0-9a-f]{6})';

/**
 * The staff directory a notice is addressed from: the runtime's provisioner (the local directory,
 * the Cognito user pool), or else the config's `webmail.users`.
 */
function staffSource(
  ctx: Context,
  staff: StaffProvisioner | undefined,
): () => Promise<readonly StaffAccount[]> {
  if (staff) return () => staff.list();
  return async () =>
    parseDirectory(ctx.config.webmail.users ?? [], { source: 'webmail.users' }).users.map((u) => ({
      ...u,
      status: u.phone ? 'enrolled' : 'federated-only',
    }));
}

/** The notice endpoints' dependencies, or a clear refusal where the runtime keeps no job records. */
export function noticeDeps(ctx: Context, staff: StaffProvisioner | undefined): StaffNoticeDeps {
  if (!ctx.jobs) throw new LifeboatError('NOT_FOUND', 'staff notices are not kept by this function');
  return {
    jobs: ctx.jobs,
    continuity: ctx.continuity,
    notifier: ctx.notifier,
    staff: staffSource(ctx, staff),
    config: ctx.config,
    clock: ctx.clock,
    log: ctx.log,
    metrics: ctx.metrics,
  };
}

/**
 * Staff notices (see the README's "Staff notices"): preview the exact texts, send one to all staff,
 * groups or named users, list them, and each one's status per recipient. Sending is audited with
 * who sent it and lands on the open event's timeline (the outbox).
 */
export function noticeRoutes(ctx: Context, staff?: StaffProvisioner | undefined): Route<Caller>[] {
  const deps = () => noticeDeps(ctx, staff);
  return [
    {
      method: 'POST',
      pattern: /^\/admin\/notices\/preview$/,
      run: async (_m, e) =>
        json(200, await previewNotice(deps(), parse(noticeRequestSchema, bodyOf(e), 'request body'))),
    },
    {
      method: 'POST',
      pattern: /^\/admin\/notices$/,
      run: async (_m, e, who) =>
        json(200, await sendNotice(deps(), parse(noticeRequestSchema, bodyOf(e), 'request body'), who.id)),
    },
    {
      method: 'GET',
      pattern: /^\/admin\/notices$/,
      run: async (_m, e) =>
        json(
          200,
          await listNotices(deps(), parse(noticeListQuerySchema, e.queryStringParameters ?? {}, 'query')),
        ),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/notices/${noticeId}$`),
      run: async (m) => json(200, await getNotice(deps(), m[1] as string)),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/admin/notices/${noticeId}/resume$`),
      run: async (m, e, who) => {
        parse(z.undefined().or(z.strictObject({})), bodyOf(e), 'request body');
        return json(200, await resumeNotice(deps(), m[1] as string, who.id));
      },
    },
  ];
}
