import type { Context } from '../adapters/context.js';
import { drillListQuerySchema, startDrillBodySchema } from '../console/drill.js';
import {
  cancelDrill,
  type DrillDeps,
  drillReport,
  drillReportCsv,
  drillReportHtml,
  getDrill,
  listDrills,
  startDrill,
} from '../core/drill.js';
import { NotFoundError } from '../core/errors.js';
import type { Caller } from './http/auth.js';
import { bodyOf, type HttpResult, json, parse, type Route } from './http/router.js';

/** A drill's id, as `startDrill` makes them (newSendingId: the start time, then 48 random bits). */
const ID = '([0-9]{8}T[0-9]{9}Z-[0-9a-f]{12})';

function drillsOf(ctx: Context): DrillDeps {
  if (!ctx.jobs) throw new NotFoundError('drills (this function keeps no admin job records)');
  return { ...ctx, jobs: ctx.jobs };
}

/** A download: the report as a file an admin keeps, never rendered as part of the console. */
function download(
  body: string,
  type: string,
  filename: string,
  extra: Record<string, string> = {},
): HttpResult {
  return {
    statusCode: 200,
    headers: {
      'content-type': type,
      'content-disposition': `attachment; filename="${filename}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...extra,
    },
    body,
  };
}

/**
 * The drill endpoints (see the README's "Drill" and lambdas/console/drill.ts): start, list, one
 * drill's steps, cancel, and its timed report as JSON, CSV or a printable page. Starting and
 * cancelling are audited with the caller's identity; a drill's event is acknowledged, invoked and
 * revoked through the usual event endpoints, audited there.
 */
export function drillRoutes(ctx: Context): Route<Caller>[] {
  return [
    {
      method: 'POST',
      pattern: /^\/admin\/drills$/,
      run: async (_m, e, who) => {
        const body = parse(startDrillBodySchema, bodyOf(e), 'request body');
        return json(201, await startDrill(drillsOf(ctx), who.id, body));
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/drills$/,
      run: async (_m, e) => {
        const q = parse(drillListQuerySchema, e.queryStringParameters ?? {}, 'query');
        return json(200, await listDrills(drillsOf(ctx), q));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/drills/${ID}$`),
      run: async (m) => json(200, await getDrill(drillsOf(ctx), m[1] as string)),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/admin/drills/${ID}/cancel$`),
      run: async (m, _e, who) => json(200, await cancelDrill(drillsOf(ctx), m[1] as string, who.id)),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/drills/${ID}/report$`),
      run: async (m) => json(200, await drillReport(drillsOf(ctx), m[1] as string)),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/drills/${ID}/report\\.csv$`),
      run: async (m) => {
        const report = await drillReport(drillsOf(ctx), m[1] as string);
        return download(
          drillReportCsv(report),
          'text/csv; charset=utf-8',
          `lifeboat-drill-${report.drillId}.csv`,
        );
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/drills/${ID}/report\\.html$`),
      run: async (m) => {
        const report = await drillReport(drillsOf(ctx), m[1] as string);
        // A standalone page: its own style, nothing else may load or run.
        return download(
          drillReportHtml(report),
          'text/html; charset=utf-8',
          `lifeboat-drill-${report.drillId}.html`,
          {
            'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
          },
        );
      },
    },
  ];
}
