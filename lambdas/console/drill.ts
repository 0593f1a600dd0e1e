/**
 * The drill API's shapes: the request to start a drill, a drill as the API answers it, and its
 * timed report. The admin API validates with them and the console imports them, so a renamed
 * field fails the type check instead of an admin. This module imports zod only, so it bundles
 * for the browser.
 *
 * Endpoints (all admin-only, each action audited):
 * - `POST /admin/drills` {@link startDrillBodySchema} → 201 {@link drillSchema}
 * - `GET /admin/drills?limit=&cursor=` → 200 {@link drillPageSchema}
 * - `GET /admin/drills/<id>` → 200 {@link drillSchema}
 * - `POST /admin/drills/<id>/cancel` → 200 {@link drillSchema}
 * - `GET /admin/drills/<id>/report` → 200 {@link drillReportSchema} (JSON; 409 DRILL_RUNNING while
 *   the drill runs); `/report.csv` (text/csv) and `/report.html` (printable text/html) are downloads.
 *
 * While a drill runs, its event is an ordinary continuity event with `drill` set (its id): the
 * event page acknowledges, invokes and revokes it through the usual endpoints.
 */
import * as z from 'zod';
import { drillSteps } from './drill-steps.js';

/** Test mailboxes in one drill: a handful of rehearsal accounts, and a hold scope short enough to be a record key. */
export const MAX_DRILL_MAILBOXES = 10;
/** Probe messages a drill sends through its scope: enough to see the hold and the hand-over work, never a load test. */
export const MAX_DRILL_PROBES = 10;
/** @default probe messages per drill */
export const DEFAULT_DRILL_PROBES = 3;
/** Drills listed per page unless the console asks for another size. */
export const DEFAULT_DRILL_PAGE = 20;

const isoTime = z.iso.datetime({ offset: true });
const routeName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a route name');
const mailbox = z
  .string()
  .max(320)
  .regex(/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/, 'must be an email address such as user@example.com')
  .transform((a) => a.toLowerCase());

/**
 * Starts a drill on a test route or on a list of test mailboxes (exactly one of the two). A route
 * or mailbox not marked for testing in the config is refused (409 DRILL_PRODUCTION) unless
 * `confirmProduction` is true.
 */
export const startDrillBodySchema = z
  .strictObject({
    route: routeName.optional(),
    mailboxes: z
      .array(mailbox)
      .min(1, 'name at least one mailbox')
      .max(MAX_DRILL_MAILBOXES, `at most ${MAX_DRILL_MAILBOXES} mailboxes per drill`)
      .optional(),
    /** Run the drill on a route or mailboxes that carry real mail. @default false */
    confirmProduction: z.boolean().default(false),
    /** Unattended: Lifeboat acknowledges, invokes and revokes by itself. @default false */
    auto: z.boolean().default(false),
    /** @default 3 */
    probeMessages: z.number().int().min(1).max(MAX_DRILL_PROBES).default(DEFAULT_DRILL_PROBES),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .refine((b) => (b.route === undefined) !== (b.mailboxes === undefined), {
    message: 'give either route or mailboxes, not both and not neither',
  });
export type StartDrillBody = z.input<typeof startDrillBodySchema>;

// The steps and their words live in a module without zod, so the console bundles them as values.
export { type DrillStepName, drillStepLabels, drillSteps } from './drill-steps.js';

export const drillStates = ['running', 'completed', 'cancelled'] as const;
export type DrillState = (typeof drillStates)[number];

export const drillStepSchema = z.object({
  step: z.enum(drillSteps),
  /** When it happened; null while it has not. */
  at: isoTime.nullable(),
  /** Who did it (an admin's id, or `lifeboat` for the automatic path); null when nobody acted. */
  by: z.string().nullable(),
  /** A short note: counts, the mailbox that signed in, why a step was not measured. */
  detail: z.string().nullable(),
});
export type DrillStep = z.infer<typeof drillStepSchema>;

export const drillScopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('route'), route: z.string() }),
  z.object({ kind: z.literal('mailboxes'), mailboxes: z.array(z.string()) }),
]);
export type DrillScope = z.infer<typeof drillScopeSchema>;

/** The organisation's targets, seconds measured from the step named in `from`. */
export const drillTargetSchema = z.object({
  step: z.enum(drillSteps),
  from: z.enum(drillSteps),
  seconds: z.number().nonnegative(),
});
export type DrillTarget = z.infer<typeof drillTargetSchema>;

export const drillResults = ['pass', 'fail', 'missed', 'none'] as const;
/**
 * `pass`/`fail` against the target; `missed`: the step has a target but never happened; `none`:
 * no target for this step.
 */
export type DrillResult = (typeof drillResults)[number];

export const drillReportRowSchema = z.object({
  step: z.enum(drillSteps),
  label: z.string(),
  at: isoTime.nullable(),
  by: z.string().nullable(),
  /** Seconds from the drill's start; null when the step did not happen. */
  sinceStartSeconds: z.number().nullable(),
  /** Seconds from the previous step that happened. */
  sincePreviousSeconds: z.number().nullable(),
  target: drillTargetSchema.nullable(),
  /** Seconds from the target's `from` step. */
  measuredSeconds: z.number().nullable(),
  result: z.enum(drillResults),
  detail: z.string().nullable(),
});
export type DrillReportRow = z.infer<typeof drillReportRowSchema>;

export const drillReportSchema = z.object({
  drillId: z.string(),
  eventId: z.string().nullable(),
  organisation: z.string(),
  scope: drillScopeSchema,
  production: z.boolean(),
  auto: z.boolean(),
  state: z.enum(drillStates),
  startedAt: isoTime,
  startedBy: z.string(),
  finishedAt: isoTime.nullable(),
  /** Why a drill ended early (cancelled by whom, a real outage). */
  outcome: z.string(),
  rows: z.array(drillReportRowSchema),
  /** Every target met (steps without a target do not count). */
  passed: z.boolean(),
  /** Targets met and missed or failed, for the summary line. */
  counts: z.object({ pass: z.number().int(), fail: z.number().int(), missed: z.number().int() }),
});
export type DrillReport = z.infer<typeof drillReportSchema>;

export const drillSchema = z.object({
  id: z.string(),
  state: z.enum(drillStates),
  scope: drillScopeSchema,
  /** The hold scope of its event: the route name, or `mailboxes:a@x,b@y`. */
  holdScope: z.string(),
  production: z.boolean(),
  auto: z.boolean(),
  reason: z.string().nullable(),
  startedAt: isoTime,
  startedBy: z.string(),
  finishedAt: isoTime.nullable(),
  /** Its continuity event once the probes opened it (GET /admin/events/<id>). */
  eventId: z.string().nullable(),
  steps: z.array(drillStepSchema),
  probes: z.object({
    count: z.number().int(),
    /** The gateway ids of the probe messages, once sent. */
    messageIds: z.array(z.string()),
    held: z.number().int(),
    delivered: z.number().int(),
  }),
  cancelledBy: z.string().nullable(),
  outcome: z.string().nullable(),
  /** Set once the drill has ended. */
  report: drillReportSchema.nullable(),
});
export type Drill = z.infer<typeof drillSchema>;

export const drillPageSchema = z.object({
  drills: z.array(drillSchema),
  cursor: z.string().nullable(),
});
export type DrillPage = z.infer<typeof drillPageSchema>;

export const drillListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(DEFAULT_DRILL_PAGE),
  cursor: z.string().max(512).optional(),
});

/**
 * Error codes the drill endpoints answer with besides VALIDATION_FAILED, NOT_FOUND and the auth
 * ones, with their HTTP status (the API's error mapping spreads this in):
 * - DRILL_PRODUCTION: the route or a mailbox carries real mail and confirmProduction was not given;
 * - DRILL_BUSY: another drill runs, or continuity is not normal (a real event is open or planned);
 * - DRILL_RUNNING: the report of a drill that is still running.
 */
export const DRILL_ERROR_STATUS = {
  DRILL_PRODUCTION: 409,
  DRILL_BUSY: 409,
  DRILL_RUNNING: 409,
} as const;
export type DrillErrorCode = keyof typeof DRILL_ERROR_STATUS;
