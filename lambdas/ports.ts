import type { RouteConfig } from './core/config.js';
import type { DeliveryRecord, DeliveryState, MessageRecord } from './core/model.js';

/** Raw message bytes, keyed as SES's S3 action keys them (`raw/<sesMessageId>`). */
export interface BlobStore {
  getRaw(key: string): Promise<Buffer>;
  putRaw(key: string, body: Buffer): Promise<void>;
}

/** A hold on delivery: everything (`*`) or one route, for continuity or an admin. */
export interface HoldRecord {
  scope: string;
  reason: string;
  since: string;
  by: string;
}

export interface DeliveryKey {
  messageId: string;
  recipient: string;
}

export interface StateQuery {
  state: DeliveryState;
  /** Only items whose index time (due time, or arrival for held/failed) is at or before this. */
  before?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  cursor: string | undefined;
}

/** Messages, deliveries and holds (DynamoDB in AWS and locally through dynalite). */
export interface MessageStore {
  putMessage(message: MessageRecord): Promise<void>;
  getMessage(id: string): Promise<MessageRecord | undefined>;
  /** Creates the delivery unless one exists for the key; returns whether it wrote. */
  createDelivery(delivery: DeliveryRecord): Promise<boolean>;
  getDelivery(key: DeliveryKey): Promise<DeliveryRecord | undefined>;
  listDeliveries(messageId: string): Promise<DeliveryRecord[]>;
  /**
   * Writes `next` only if the stored record still has `expected.version`.
   * @throws ConflictError when another worker wrote first
   */
  replaceDelivery(next: DeliveryRecord, expectedVersion: number): Promise<void>;
  /** Deliveries in one state, oldest index time first. */
  queryByState(query: StateQuery): Promise<Page<DeliveryRecord>>;
  /** Messages received on one UTC day (`YYYY-MM-DD`), newest first. */
  listMessagesByDay(day: string, limit?: number, cursor?: string): Promise<Page<MessageRecord>>;
  putHold(hold: HoldRecord): Promise<void>;
  deleteHold(scope: string): Promise<void>;
  listHolds(): Promise<HoldRecord[]>;
}

export interface Envelope {
  from: string;
  to: string[];
}

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  recipient: string;
  status: RecipientStatus;
  /** The server's reply, or the local reason (`connect ECONNREFUSED 127.0.0.1:25`). */
  response: string;
  /** The host that gave the answer, when one was reached. */
  host: string | null;
}

/** Sends one SMTP transaction per call to a route's hosts, in order. Never throws for SMTP outcomes. */
export interface Mailer {
  send(route: RouteConfig, envelope: Envelope, raw: Buffer): Promise<RecipientOutcome[]>;
}

/** Asks for a message's first delivery attempt (Lambda Event invoke in AWS, in-process locally). */
export interface DeliveryTrigger {
  requestDelivery(messageId: string): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Structured logs. Never pass bodies, subjects or whole events: ids, counts and codes only. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const systemClock: Clock = { now: () => new Date() };
