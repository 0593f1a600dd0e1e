/** The states of one recipient's delivery (DESIGN.md, "Queue = DynamoDB state"). */
export const deliveryStates = [
  'queued',
  'delivering',
  'delivered',
  'deferred',
  'failed',
  'held',
  'quarantined',
] as const;
export type DeliveryState = (typeof deliveryStates)[number];

/** The states a queue listing shows: every state but delivered (the admin API's `state` filter, the console's queue). */
export const queueStates: readonly DeliveryState[] = deliveryStates.filter((s) => s !== 'delivered');

/** SES verdict status values. */
export type VerdictStatus = 'PASS' | 'FAIL' | 'GRAY' | 'PROCESSING_FAILED' | 'DISABLED';

export interface Verdicts {
  spam: VerdictStatus;
  virus: VerdictStatus;
  spf: VerdictStatus;
  dkim: VerdictStatus;
  dmarc: VerdictStatus;
  /** The sender domain's published DMARC policy, when SES reports one. */
  dmarcPolicy?: 'NONE' | 'QUARANTINE' | 'REJECT' | undefined;
}

export interface AttachmentInfo {
  filename: string | null;
  contentType: string;
  size: number;
}

/** One received message. The raw bytes in the blob store are the source of truth. */
export interface MessageRecord {
  /** SES message id; the raw object's key is `raw/<id>`. */
  id: string;
  rawKey: string;
  /** Envelope sender (MAIL FROM), empty for a bounce. */
  envelopeFrom: string;
  /** Envelope recipients (RCPT TO), as SES reported them. */
  recipients: string[];
  receivedAt: string;
  size: number;
  from: string | null;
  /** The From header's display name, when it had one (records before it was kept have none). */
  fromName?: string | null | undefined;
  to: string[];
  cc: string[];
  subject: string | null;
  date: string | null;
  messageIdHeader: string | null;
  inReplyTo: string | null;
  snippet: string;
  attachments: AttachmentInfo[];
  verdicts: Verdicts;
  /** Set when MIME parsing failed; the message is still kept and relayed. */
  parseError: string | null;
  /** Probe token when this is a round-trip probe message. */
  probeToken?: string | undefined;
  /**
   * The sent message this is the sender's own copy of (marked `X-Lifeboat-Sent-Copy: yes`), handed
   * to their mailbox on the primary after an event: it is on its way to their sent folder, not mail
   * for their webmail inbox, which never lists it.
   */
  sentCopyOf?: string | undefined;
}

/** One recipient's delivery of one message. */
export interface DeliveryRecord {
  messageId: string;
  recipient: string;
  route: string;
  state: DeliveryState;
  attempts: number;
  receivedAt: string;
  updatedAt: string;
  /** ISO time of the next attempt (deferred) or lease expiry (delivering). */
  nextAttemptAt: string | null;
  lastError: string | null;
  /** The primary's reply to the last attempt, e.g. `250 2.0.0 Ok: queued as 4F1`. */
  lastResponse: string | null;
  deliveredAt: string | null;
  /** Why a delivery is held or quarantined: `continuity`, `admin`, `policy:virus` … */
  reason: string | null;
  /** Changes on every write; conditional writes compare it. */
  version: number;
  /** Identifies the worker holding the lease while `delivering`. */
  leaseId: string | null;
  /**
   * The message's raw object key and envelope sender, copied from its record at ingest so an
   * attempt need not read the record. Absent on records written before they were copied.
   */
  rawKey?: string | undefined;
  envelopeFrom?: string | undefined;
  /** The route the recipient resolves to, while an admin has rerouted the delivery elsewhere. */
  reroutedFrom?: string | undefined;
}
