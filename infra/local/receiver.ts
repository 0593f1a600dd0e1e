import { randomBytes } from 'node:crypto';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { RAW_PREFIX, type SesEvent } from '../../lambdas/adapters/ses-event.js';
import { type LifeboatConfig, MAX_MESSAGE_BYTES } from '../../lambdas/core/config.js';
import { isAcceptedRecipient, normaliseAddress } from '../../lambdas/core/routing.js';
import type { BlobStore, Logger } from '../../lambdas/ports.js';
import type { ReceiptStore } from './receipts.js';
import type { Resolver } from './resolver.js';
import { computeVerdicts } from './verdicts.js';

/** SES accepts at most 50 recipients per message; more get a temporary failure to retry in batches. */
export const MAX_RECIPIENTS = 50;

/**
 * Times ingest is invoked for one stored message before the sender is told to try again: Lambda
 * retries a failed asynchronous invocation twice. Ingest is idempotent, so a retry finishes what a
 * passing store error interrupted; refusing at once would leave the deliveries already written to
 * be sent, and the sender's retry would send them a second time.
 */
export const INGEST_ATTEMPTS = 3;

/** An SES-like message id: 40 lower-case base32 characters, time-ordered. */
export function newSesMessageId(now = Date.now()): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const time = now.toString(32).padStart(10, '0');
  const rand = Array.from(randomBytes(30), (b) => alphabet[b % 32]).join('');
  return `${time}${rand}`;
}

export interface ReceiverOptions {
  config: LifeboatConfig;
  blobs: BlobStore;
  /**
   * Where the event handed to ingest is kept, as durably as the raw message and before the 250,
   * so start-up can finish an ingest a crash interrupted. Without it (a test's in-memory stores)
   * an interrupted ingest is lost with the process.
   */
  receipts?: ReceiptStore;
  resolver: Resolver;
  log: Logger;
  /** The ingest handler, invoked as SES's Lambda action would. */
  ingest: (event: SesEvent) => Promise<unknown>;
}

function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

/**
 * The local stand-in for SES receiving: refuses recipients outside the accepted domains and
 * messages over 40 MB, stores the raw bytes under `raw/<id>` and the SES-shaped event beside them
 * (each fsynced, folder included), and invokes ingest with that event. It answers 250 only once
 * all of it is done, so an accepted message is on disk and recorded; any failure answers 451 and
 * the sender retries. A crash after the stores and before the record is finished at start-up.
 */
export function createReceiver(options: ReceiverOptions): SMTPServer {
  const { config, blobs, resolver, log } = options;
  return new SMTPServer({
    name: config.hostname,
    banner: 'Lifeboat local receiver (SES stand-in)',
    size: MAX_MESSAGE_BYTES,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onRcptTo(address, session, callback) {
      if (!isAcceptedRecipient(config, address.address)) {
        return callback(smtpError(`5.7.1 <${address.address}>: relay access denied`, 550));
      }
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        return callback(smtpError('4.5.3 too many recipients; send the rest in another message', 452));
      }
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      readAll(stream)
        .then(async (raw) => {
          if (stream.sizeExceeded) throw smtpError(`5.3.4 message exceeds ${MAX_MESSAGE_BYTES} bytes`, 552);
          const id = newSesMessageId();
          const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const recipients = session.envelope.rcptTo.map((r) => normaliseAddress(r.address));
          const verdicts = await computeVerdicts({
            raw,
            ip: session.remoteAddress,
            helo: session.hostNameAppearsAs,
            sender,
            mta: config.hostname,
            resolver,
          });
          const status = (s: string) => ({ status: s });
          const now = new Date().toISOString();
          const event: SesEvent = {
            Records: [
              {
                eventSource: 'aws:ses',
                ses: {
                  mail: { timestamp: now, source: sender, messageId: id, destination: recipients },
                  receipt: {
                    timestamp: now,
                    recipients,
                    spamVerdict: status(verdicts.spam),
                    virusVerdict: status(verdicts.virus),
                    spfVerdict: status(verdicts.spf),
                    dkimVerdict: status(verdicts.dkim),
                    dmarcVerdict: status(verdicts.dmarc),
                    ...(verdicts.dmarcPolicy ? { dmarcPolicy: verdicts.dmarcPolicy.toLowerCase() } : {}),
                    action: { type: 'Lambda', invocationType: 'Event' },
                  },
                },
              },
            ],
          };
          // Both durable before ingest, and so before the 250: written side by side, as neither
          // is of use without the other (a raw file without its receipt was never acknowledged).
          // Both finish before any reply, so no write outlives the session that asked for it.
          const writes = await Promise.allSettled([
            blobs.putRaw(`${RAW_PREFIX}${id}`, raw),
            options.receipts?.put(event),
          ]);
          for (const w of writes) if (w.status === 'rejected') throw w.reason;
          for (let attempt = 1; ; attempt++) {
            try {
              await options.ingest(event);
              break;
            } catch (err) {
              if (attempt >= INGEST_ATTEMPTS) throw err;
              log.warn('ingest failed; invoking it again as Lambda would', {
                messageId: id,
                attempt,
                error: (err as Error).message,
              });
            }
          }
          callback(null, `2.0.0 Ok: queued as ${id}`);
        })
        .catch((err: Error & { responseCode?: number }) => {
          if (err.responseCode) return callback(err);
          log.error('message not accepted', { error: err.message });
          callback(smtpError('4.3.0 temporary failure storing the message, try again later', 451));
        });
    },
  });
}
