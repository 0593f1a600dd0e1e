/**
 * The admin API's answers as the console reads them. The server's own types live in lambdas/
 * (ContinuityEvent, DeliveryRecord, FlowSeries …) beside Node-only code the browser's type check
 * cannot load, so the shapes are restated here, and test/unit/console-shapes.test.ts fails the
 * type check when the server's types stop fitting them: a renamed field breaks the build, not
 * the console at night.
 */

export type OrgStateName = 'normal' | 'alerting' | 'continuity' | 'recovering';
export type DeliveryState =
  | 'queued'
  | 'delivering'
  | 'delivered'
  | 'deferred'
  | 'failed'
  | 'held'
  | 'quarantined';

export const DELIVERY_STATES: readonly DeliveryState[] = [
  'queued',
  'delivering',
  'delivered',
  'deferred',
  'failed',
  'held',
  'quarantined',
];

/** The queue's states: everything but delivered (the admin API's `state` filter). */
export const QUEUE_STATES: readonly DeliveryState[] = DELIVERY_STATES.filter((s) => s !== 'delivered');

export interface Evidence {
  probe: 'organic' | 'smtp' | 'roundtrip';
  route: string;
  ok: boolean;
  detail: string;
  figures: Record<string, number>;
  at: string;
}

export interface HandoverProgress {
  startedAt: string;
  total: number;
  released: number;
  finishedAt: string | null;
}

export interface ContinuityEvent {
  id: string;
  openedAt: string;
  closedAt: string | null;
  state: OrgStateName;
  openedBy: 'probe' | 'admin' | 'schedule';
  scope: string;
  evidence: Evidence[];
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  invokedAt: string | null;
  invokedBy: string | null;
  invokeMode: 'manual' | 'auto' | 'scheduled' | null;
  revokedAt: string | null;
  revokedBy: string | null;
  lastPagedAt: string | null;
  pages: number;
  recoveredAt: string | null;
  scheduledStart: string | null;
  scheduledEnd: string | null;
  reason: string | null;
  handover: HandoverProgress | null;
  /** Each time an admin moved the planned end later, oldest first. */
  extensions?: { at: string; by: string; hours: number; from: string; to: string }[] | undefined;
}

export interface HoldRecord {
  scope: string;
  reason: string;
  since: string;
  by: string;
  draining?: boolean | undefined;
}

export interface ProbeHealth {
  probe: string;
  failures: number;
  successes: number;
}

export interface RouteHealth {
  name: string;
  domains: string[];
  hosts: string[];
  held: boolean;
  probes: ProbeHealth[];
}

export interface StatusResponse {
  state: OrgStateName;
  since: string;
  lastProbeRoundAt: string | null;
  event: ContinuityEvent | null;
  holds: HoldRecord[];
  queue: Record<DeliveryState, number>;
  failedNotifications: { count: number; windowHours: number; last: { at: string; error?: string } | null };
  routes: RouteHealth[];
}

export interface HandoverResponse {
  state: OrgStateName;
  eventId: string | null;
  handover: HandoverProgress | null;
  held: number;
}

/** The answer to invoke, revoke and schedule. */
export interface TransitionResponse {
  state: OrgStateName;
  event: ContinuityEvent | null;
}

export interface NotificationRecord {
  id: string;
  at: string;
  channel: 'sms' | 'email';
  audience: 'admins' | 'staff';
  to: string[];
  subject: string;
  text: string;
  eventId: string | null;
  notice: string;
  error?: string | undefined;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  detail: string;
  eventId: string | null;
  target?: string | undefined;
  reason?: string | undefined;
}

export interface AuditPage {
  entries: AuditEntry[];
  cursor: string | null;
  scanned: number;
}

export interface DeliveryRecord {
  messageId: string;
  recipient: string;
  route: string;
  state: DeliveryState;
  attempts: number;
  receivedAt: string;
  updatedAt: string;
  nextAttemptAt: string | null;
  lastError: string | null;
  lastResponse: string | null;
  deliveredAt: string | null;
  reason: string | null;
  envelopeFrom?: string | undefined;
  reroutedFrom?: string | undefined;
}

export interface QueuePage {
  deliveries: DeliveryRecord[];
  cursor: string | null;
  scanned: number;
}

export type VerdictStatus = 'PASS' | 'FAIL' | 'GRAY' | 'PROCESSING_FAILED' | 'DISABLED';

export interface Verdicts {
  spam: VerdictStatus;
  virus: VerdictStatus;
  spf: VerdictStatus;
  dkim: VerdictStatus;
  dmarc: VerdictStatus;
  dmarcPolicy?: 'NONE' | 'QUARANTINE' | 'REJECT' | undefined;
}

export interface AttachmentInfo {
  filename: string | null;
  contentType: string;
  size: number;
}

export interface MessageSummary {
  id: string;
  envelopeFrom: string;
  recipients: string[];
  receivedAt: string;
  size: number;
  from: string | null;
  to: string[];
  cc: string[];
  subject: string | null;
  date: string | null;
  messageIdHeader: string | null;
  attachments: AttachmentInfo[];
  verdicts: Verdicts;
  parseError: string | null;
}

export interface DeliveryAttempt {
  at: string;
  attempt: number;
  route: string;
  outcome: 'delivered' | 'deferred' | 'failed';
  response: string;
}

export interface DeliveryDetail {
  delivery: DeliveryRecord;
  message: MessageSummary | null;
  attempts: DeliveryAttempt[];
}

export interface QuarantinedItem {
  delivery: DeliveryRecord;
  message: Pick<
    MessageSummary,
    'envelopeFrom' | 'from' | 'subject' | 'receivedAt' | 'size' | 'verdicts' | 'attachments'
  > | null;
}

/** An attachment of a previewed message, listed only: the preview offers no download. */
export interface AttachmentView {
  index: number;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  inline: boolean;
}

/**
 * `GET /admin/quarantine/<messageId>`: a quarantined message read as the webmail reads it (the
 * HTML sanitised by the server, remote images held back), with no links, plus its verdicts and
 * the deliveries still in quarantine.
 */
export interface QuarantinePreview {
  id: string;
  receivedAt: string;
  date: string | null;
  from: string | null;
  fromName: string | null;
  envelopeFrom: string;
  to: string[];
  cc: string[];
  replyTo: string[];
  subject: string | null;
  messageIdHeader: string | null;
  headers: { name: string; value: string }[];
  text: string | null;
  /** Sanitised by the server; render it only through web/src/mail/render.ts, in the sandboxed iframe. */
  html: string | null;
  remoteImages: number;
  truncated: boolean;
  attachments: AttachmentView[];
  inlineImages: Record<string, string>;
  parseError: string | null;
  size: number;
  verdicts: Verdicts;
  quarantined: { recipient: string; reason: string | null }[];
}

export interface QuarantinePage {
  items: QuarantinedItem[];
  cursor: string | null;
}

export type QueueAction = 'hold' | 'release' | 'retry' | 'reroute' | 'bounce' | 'delete';

export type ItemResult =
  | { messageId: string; recipient: string; ok: true; state: DeliveryState | 'deleted'; route?: string }
  | { messageId: string; recipient: string; ok: false; error: { code: string; message: string } };

export interface ActionOutcome {
  action: string;
  results: ItemResult[];
  done: number;
  refused: number;
}

export interface Distribution {
  count: number;
  p50: number | null;
  p95: number | null;
  mean: number | null;
}

export interface FlowPoint {
  start: string;
  accepted: number;
  delivered: number;
  deferred: number;
  failed: number;
  latencySeconds: Distribution;
  smtpMs: Distribution;
  probeRttSeconds: Distribution;
  depth: Record<DeliveryState, number> | null;
}

export interface FlowThresholds {
  smtpP95Seconds: number;
  failureRatio: number;
  minSamples: number;
  windowMinutes: number;
  oldestDeferredMinutes: number;
  consecutiveFailures: number;
  roundTripTimeoutSeconds: number | null;
}

export interface FlowSeries {
  resolution: 'minute' | 'hour';
  from: string;
  to: string;
  points: FlowPoint[];
  thresholds: FlowThresholds;
}
