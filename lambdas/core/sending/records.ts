import { randomBytes } from 'node:crypto';
import type {
  BlobStore,
  Clock,
  ContinuityStore,
  DeliveryTrigger,
  Logger,
  MessageStore,
  OutboundRelay,
  SendingRecord,
  SendingStore,
  UploadSigner,
} from '../../ports.js';
import type { AttachedFile, AttachmentRef, RecipientStatus, SentState } from '../../webmail/schemas.js';
import type { LifeboatConfig } from '../config.js';
import { LifeboatError } from '../errors.js';
import type { IngestResult } from '../ingest.js';

/** Sending blobs: draft bodies, uploaded files and the messages as sent, each under its prefix. */
export { DRAFTS_PREFIX, OUTGOING_PREFIX, UPLOADS_PREFIX } from '../../storage-layout.js';

/** A refusal of the sending API, with a stable code from SEND_ERROR_STATUS. */
export class SendError extends LifeboatError {
  constructor(
    code: string,
    message: string,
    /** For RATE_LIMITED: seconds until a send would be taken again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(code, message);
  }
}

/**
 * Accepts a message Lifeboat writes for its own domains (mail from the webmail to a colleague, a
 * bounce notice) exactly as inbound mail: stored as raw mail, recorded with one delivery per
 * recipient (held during an event), asked to be delivered and indexed. Idempotent on `id`.
 */
export interface Intake {
  accept(input: {
    id: string;
    raw: Buffer;
    envelopeFrom: string;
    recipients: string[];
    receivedAt: string;
  }): Promise<IngestResult>;
}

/** Where draft bodies, uploads and messages as sent are kept. */
export interface SendingBlobStore extends BlobStore {
  /**
   * Removes a blob at once (a draft's body when the draft is sent or deleted). Storage without it
   * leaves the blob to its prefix's expiry (the drafts/ lifecycle rule, the history window).
   */
  deleteRaw?: ((key: string) => Promise<void>) | undefined;
}

/** What the sending side needs; the webmail API and the outbound worker share it. */
export interface SendingDeps {
  config: LifeboatConfig;
  /** Messages and deliveries: the originals a reply quotes, the colleagues' copies, sent copies. */
  store: MessageStore;
  /** Raw mail (`raw/`). */
  blobs: BlobStore;
  sending: SendingStore;
  /** Draft bodies, uploads and sent messages (`drafts/`, `uploads/`, `outgoing/`). */
  sendingBlobs: SendingBlobStore;
  uploads: UploadSigner;
  /** Where mail to outside addresses leaves; without one, such recipients are refused. */
  relay?: OutboundRelay | undefined;
  intake: Intake;
  /** Asks for a sent copy's delivery when its route is not held. */
  trigger: DeliveryTrigger;
  /** The audit log, and the organisation's state (a message sent during an event gets a sent copy). */
  continuity: Pick<ContinuityStore, 'appendAudit' | 'getOrg'>;
  clock: Clock;
  log: Logger;
  /** Tells the outbound worker a record falls due at this time (a timer locally). */
  wake?: ((dueAt: string) => void) | undefined;
}

/** A time-ordered id: the creation time, then 48 random bits (unguessable, so it can name a blob). */
export function newSendingId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(6).toString('hex')}`;
}

/** The smallest id made at `at` or later: listing from it lists what was made since. */
export function sendingIdAt(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

export interface DraftData {
  createdAt: string;
  updatedAt: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  attachments: AttachedFile[];
  inReplyTo: string | null;
  /** The first words of the text, for the list. */
  snippet: string;
  /** Set while the draft is in the outbound queue as this sent message: hidden, restored by undo. */
  sentAs: string | null;
}

/** A draft's body, kept as a blob (`drafts/<id>`): it can be larger than a record may be. */
export interface DraftBody {
  text: string | null;
  html: string | null;
}

export type UploadState = 'pending' | 'receiving' | 'uploaded' | 'sent';

export interface UploadData {
  createdAt: string;
  filename: string;
  contentType: string;
  /** Bytes announced when the upload was asked for; the PUT may not carry more. */
  declaredSize: number;
  /** Bytes received, once they have. */
  size: number | null;
  state: UploadState;
  draftId: string | null;
  expiresAt: string;
}

export interface OutgoingRecipient {
  address: string;
  field: 'to' | 'cc' | 'bcc';
  internal: boolean;
  status: RecipientStatus;
  detail: string | null;
  updatedAt: string;
}

export interface OutgoingData {
  state: SentState;
  createdAt: string;
  undoUntil: string;
  sentAt: string | null;
  draftId: string;
  from: string;
  fromName: string;
  subject: string;
  messageIdHeader: string;
  /** The message as composed, in the sending blobs. */
  rawKey: string;
  size: number;
  attachments: Array<{ filename: string; contentType: string; size: number }>;
  /** Uploads this message used: back to the draft on undo. */
  uploadIds: string[];
  recipients: OutgoingRecipient[];
  /** Runs of the outbound worker on it (the first send and retries). */
  attempts: number;
  /** Sent while the organisation was in `continuity` or `recovering`: a copy goes to the primary. */
  duringEvent: boolean;
  /** The id of the sent copy's record, once made. */
  sentCopyId: string | null;
  /** SES's MessageId, which its bounce and delivery events carry. */
  providerId: string | null;
  /** Bounce notices put in the sender's mailbox so far (each gets its own id). */
  notices: number;
}

export interface SignatureData {
  text: string;
  html: string | null;
}

export type OutgoingRecord = SendingRecord<OutgoingData>;
export type DraftRecord = SendingRecord<DraftData>;
export type UploadRecord = SendingRecord<UploadData>;

/** Refs compare by what they point at. */
export function sameRef(a: AttachmentRef, b: AttachmentRef): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Epoch second `days` after `now`. */
export function expiresAfterDays(now: Date, days: number): number {
  return Math.floor(now.getTime() / 1000) + days * 86_400;
}
