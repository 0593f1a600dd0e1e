/**
 * The admin API's answers as the console reads them: events, status, the queue, quarantine, the
 * audit log, the outbox and the flow metrics. The web app imports these as types only (this module
 * imports zod and the zod-free model, so it type-checks in the browser's project and bundles no
 * validator there); test/unit/console-shapes.test.ts checks that every answer the core gives fits
 * its schema, so a field renamed on the server fails the type check, not the console at night.
 * Constants the console needs at run time come from ./constants.ts, which has no zod.
 */
import * as z from 'zod';
import { deliveryStates } from '../core/model.js';

const time = z.string();

export const orgStateNames = ['normal', 'alerting', 'continuity', 'recovering'] as const;
export type OrgStateName = (typeof orgStateNames)[number];
export type DeliveryState = (typeof deliveryStates)[number];

const deliveryState = z.enum(deliveryStates);
const stateCounts = z.record(deliveryState, z.number());

/** One probe finding kept on an event: which probe, which route, the figures it judged. */
export const evidenceSchema = z.object({
  probe: z.enum(['organic', 'smtp', 'roundtrip']),
  route: z.string(),
  ok: z.boolean(),
  detail: z.string(),
  figures: z.record(z.string(), z.number()),
  /** A drill's simulated failure of its scope, not a finding of a real probe. */
  simulated: z.boolean().optional(),
  at: time,
});
export type Evidence = z.infer<typeof evidenceSchema>;

export const handoverProgressSchema = z.object({
  startedAt: time,
  total: z.number(),
  released: z.number(),
  finishedAt: time.nullable(),
});
export type HandoverProgress = z.infer<typeof handoverProgressSchema>;

export const continuityEventSchema = z.object({
  id: z.string(),
  openedAt: time,
  closedAt: time.nullable(),
  state: z.enum(orgStateNames),
  openedBy: z.enum(['probe', 'admin', 'schedule']),
  scope: z.string(),
  evidence: z.array(evidenceSchema),
  acknowledgedAt: time.nullable(),
  acknowledgedBy: z.string().nullable(),
  invokedAt: time.nullable(),
  invokedBy: z.string().nullable(),
  invokeMode: z.enum(['manual', 'auto', 'scheduled']).nullable(),
  revokedAt: time.nullable(),
  revokedBy: z.string().nullable(),
  lastPagedAt: time.nullable(),
  pages: z.number(),
  recoveredAt: time.nullable(),
  scheduledStart: time.nullable(),
  scheduledEnd: time.nullable(),
  reason: z.string().nullable(),
  handover: handoverProgressSchema.nullable(),
  /** Each time an admin moved the planned end later, oldest first. */
  extensions: z
    .array(z.object({ at: time, by: z.string(), hours: z.number(), from: time, to: time }))
    .optional(),
  /** The drill this event rehearses (its id); absent for a real event. */
  drill: z.string().optional(),
});
export type ContinuityEvent = z.infer<typeof continuityEventSchema>;

export const holdRecordSchema = z.object({
  scope: z.string(),
  reason: z.string(),
  since: time,
  by: z.string(),
  draining: z.boolean().optional(),
});
export type HoldRecord = z.infer<typeof holdRecordSchema>;

export const routeHealthSchema = z.object({
  name: z.string(),
  domains: z.array(z.string()),
  hosts: z.array(z.string()),
  held: z.boolean(),
  probes: z.array(z.object({ probe: z.string(), failures: z.number(), successes: z.number() })),
});
export type RouteHealth = z.infer<typeof routeHealthSchema>;
export type ProbeHealth = RouteHealth['probes'][number];

/** `GET /admin/status`. */
export const statusResponseSchema = z.object({
  state: z.enum(orgStateNames),
  since: time,
  lastProbeRoundAt: time.nullable(),
  event: continuityEventSchema.nullable(),
  holds: z.array(holdRecordSchema),
  queue: stateCounts,
  failedNotifications: z.object({
    count: z.number(),
    windowHours: z.number(),
    last: z.object({ at: time, error: z.string().optional() }).nullable(),
  }),
  routes: z.array(routeHealthSchema),
});
export type StatusResponse = z.infer<typeof statusResponseSchema>;

/** `GET /admin/handover`. */
export const handoverResponseSchema = z.object({
  state: z.enum(orgStateNames),
  eventId: z.string().nullable(),
  handover: handoverProgressSchema.nullable(),
  held: z.number(),
});
export type HandoverResponse = z.infer<typeof handoverResponseSchema>;

/** The answer to invoke, revoke and schedule. */
export const transitionResponseSchema = z.object({
  state: z.enum(orgStateNames),
  event: continuityEventSchema.nullable(),
});
export type TransitionResponse = z.infer<typeof transitionResponseSchema>;

/** One notice the outbox kept (`GET /admin/outbox`). */
export const notificationRecordSchema = z.object({
  id: z.string(),
  at: time,
  channel: z.enum(['sms', 'email']),
  audience: z.enum(['admins', 'staff']),
  to: z.array(z.string()),
  subject: z.string(),
  text: z.string(),
  eventId: z.string().nullable(),
  notice: z.string(),
  error: z.string().optional(),
});
export type NotificationRecord = z.infer<typeof notificationRecordSchema>;

export const auditEntrySchema = z.object({
  at: time,
  actor: z.string(),
  action: z.string(),
  detail: z.string(),
  eventId: z.string().nullable(),
  target: z.string().optional(),
  reason: z.string().optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export const auditPageSchema = z.object({
  entries: z.array(auditEntrySchema),
  cursor: z.string().nullable(),
  scanned: z.number(),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

export const deliveryRecordSchema = z.object({
  messageId: z.string(),
  recipient: z.string(),
  route: z.string(),
  state: deliveryState,
  attempts: z.number(),
  receivedAt: time,
  updatedAt: time,
  nextAttemptAt: time.nullable(),
  lastError: z.string().nullable(),
  lastResponse: z.string().nullable(),
  deliveredAt: time.nullable(),
  reason: z.string().nullable(),
  envelopeFrom: z.string().optional(),
  reroutedFrom: z.string().optional(),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;

export const queuePageSchema = z.object({
  deliveries: z.array(deliveryRecordSchema),
  cursor: z.string().nullable(),
  scanned: z.number(),
});
export type QueuePage = z.infer<typeof queuePageSchema>;

const verdictStatus = z.enum(['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED']);
export type VerdictStatus = z.infer<typeof verdictStatus>;

export const verdictsSchema = z.object({
  spam: verdictStatus,
  virus: verdictStatus,
  spf: verdictStatus,
  dkim: verdictStatus,
  dmarc: verdictStatus,
  dmarcPolicy: z.enum(['NONE', 'QUARANTINE', 'REJECT']).optional(),
});
export type Verdicts = z.infer<typeof verdictsSchema>;

export const attachmentInfoSchema = z.object({
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number(),
});
export type AttachmentInfo = z.infer<typeof attachmentInfoSchema>;

export const messageSummarySchema = z.object({
  id: z.string(),
  envelopeFrom: z.string(),
  recipients: z.array(z.string()),
  receivedAt: time,
  size: z.number(),
  from: z.string().nullable(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  subject: z.string().nullable(),
  date: time.nullable(),
  messageIdHeader: z.string().nullable(),
  attachments: z.array(attachmentInfoSchema),
  verdicts: verdictsSchema,
  parseError: z.string().nullable(),
});
export type MessageSummary = z.infer<typeof messageSummarySchema>;

export const deliveryAttemptSchema = z.object({
  at: time,
  attempt: z.number(),
  route: z.string(),
  outcome: z.enum(['delivered', 'deferred', 'failed']),
  response: z.string(),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** `GET /admin/messages/<id>/recipients/<address>`. */
export const deliveryDetailSchema = z.object({
  delivery: deliveryRecordSchema,
  message: messageSummarySchema.nullable(),
  attempts: z.array(deliveryAttemptSchema),
});
export type DeliveryDetail = z.infer<typeof deliveryDetailSchema>;

export const quarantinedItemSchema = z.object({
  delivery: deliveryRecordSchema,
  message: messageSummarySchema
    .pick({
      envelopeFrom: true,
      from: true,
      subject: true,
      receivedAt: true,
      size: true,
      verdicts: true,
      attachments: true,
    })
    .nullable(),
});
export type QuarantinedItem = z.infer<typeof quarantinedItemSchema>;

export const quarantinePageSchema = z.object({
  items: z.array(quarantinedItemSchema),
  cursor: z.string().nullable(),
});
export type QuarantinePage = z.infer<typeof quarantinePageSchema>;

/** An attachment of a previewed message, listed only: the preview offers no download. */
export const attachmentViewSchema = z.object({
  index: z.number(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number(),
  contentId: z.string().nullable(),
  inline: z.boolean(),
});
export type AttachmentView = z.infer<typeof attachmentViewSchema>;

/**
 * `GET /admin/quarantine/<messageId>`: a quarantined message read as the webmail reads it (the
 * HTML sanitised by the server, remote images held back), with no links, plus its verdicts and
 * the deliveries still in quarantine.
 */
export const quarantinePreviewSchema = z.object({
  id: z.string(),
  receivedAt: time,
  date: time.nullable(),
  from: z.string().nullable(),
  fromName: z.string().nullable(),
  envelopeFrom: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  replyTo: z.array(z.string()),
  subject: z.string().nullable(),
  messageIdHeader: z.string().nullable(),
  headers: z.array(z.object({ name: z.string(), value: z.string() })),
  text: z.string().nullable(),
  /** Sanitised by the server; render it only through web/src/mail/render.ts, in the sandboxed iframe. */
  html: z.string().nullable(),
  remoteImages: z.number(),
  truncated: z.boolean(),
  attachments: z.array(attachmentViewSchema),
  inlineImages: z.record(z.string(), z.string()),
  parseError: z.string().nullable(),
  size: z.number(),
  verdicts: verdictsSchema,
  quarantined: z.array(z.object({ recipient: z.string(), reason: z.string().nullable() })),
});
export type QuarantinePreview = z.infer<typeof quarantinePreviewSchema>;

export const queueActions = ['hold', 'release', 'retry', 'reroute', 'bounce', 'delete'] as const;
export type QueueAction = (typeof queueActions)[number];

export const itemResultSchema = z.discriminatedUnion('ok', [
  z.object({
    messageId: z.string(),
    recipient: z.string(),
    ok: z.literal(true),
    state: z.union([deliveryState, z.literal('deleted')]),
    route: z.string().optional(),
  }),
  z.object({
    messageId: z.string(),
    recipient: z.string(),
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
]);
export type ItemResult = z.infer<typeof itemResultSchema>;

/** The answer to an action on one delivery or a selection. */
export const actionOutcomeSchema = z.object({
  action: z.string(),
  results: z.array(itemResultSchema),
  done: z.number(),
  refused: z.number(),
});
export type ActionOutcome = z.infer<typeof actionOutcomeSchema>;

export const distributionSchema = z.object({
  count: z.number(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  mean: z.number().nullable(),
});
export type Distribution = z.infer<typeof distributionSchema>;

export const flowPointSchema = z.object({
  start: time,
  accepted: z.number(),
  delivered: z.number(),
  deferred: z.number(),
  failed: z.number(),
  latencySeconds: distributionSchema,
  smtpMs: distributionSchema,
  probeRttSeconds: distributionSchema,
  depth: stateCounts.nullable(),
});
export type FlowPoint = z.infer<typeof flowPointSchema>;

export const flowThresholdsSchema = z.object({
  smtpP95Seconds: z.number(),
  failureRatio: z.number(),
  minSamples: z.number(),
  windowMinutes: z.number(),
  oldestDeferredMinutes: z.number(),
  consecutiveFailures: z.number(),
  roundTripTimeoutSeconds: z.number().nullable(),
});
export type FlowThresholds = z.infer<typeof flowThresholdsSchema>;

/** `GET /admin/metrics`: one point per bucket, empty buckets as zeros. */
export const flowSeriesSchema = z.object({
  resolution: z.enum(['minute', 'hour']),
  from: time,
  to: time,
  points: z.array(flowPointSchema),
  thresholds: flowThresholdsSchema,
});
export type FlowSeries = z.infer<typeof flowSeriesSchema>;
