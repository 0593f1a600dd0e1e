import { randomBytes } from 'node:crypto';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { RAW_PREFIX, type SesEvent } from '../../lambdas/adapters/ses-event.js';
import { type LifeboatConfig, MAX_MESSAGE_BYTES } from '../../lambdas/core/config.js';
import type { Verdicts } from '../../lambdas/core/model.js';
import { isAcceptedRecipient, normaliseAddress } from '../../lambdas/core/routing.js';
import type { BlobStore, Logger } from '../../lambdas/ports.js';
import type { ReceiptStore } from './receipts.js';
import type { IngestQueue } from './recovery.js';
import type { Resolver } from './resolver.js';
import { computeVerdicts, type VerdictInput } from './verdicts.js';
import { PoolBusyError } from './worker-pool.js';

/** SES accepts at most 50 recipients per message; more get a temporary failure to retry in batches. */
export const MAX_RECIPIENTS = 50;

/**
 * The recipient every SMTP server must accept without a domain (RFC 5321 §4.5.1: `RCPT
 * TO:<Postmaster>`, in any case). It is the postmaster of the first accepted domain here.
 */
const DOMAINLESS_POSTMASTER = 'postmaster';

/** SMTP reply codes of the refusals the receiver logs (RFC 5321 §4.2.3). */
const RELAY_REFUSED = 550;
const TOO_BIG = 552;
const BUSY = 451;

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
   * Where the event handed to ingest is kept, as durably as the raw message and before the 250
   * (staged, then acknowledged just before it), so start-up can finish an ingest a crash
   * interrupted. Without it (a test's in-memory stores) an interrupted ingest is lost with the
   * process.
   */
  receipts?: ReceiptStore;
  resolver: Resolver;
  /**
   * Computes a message's verdicts; the runtime gives its worker pool's, which rejects with
   * PoolBusyError when too many messages wait (answered 451, and the sender retries).
   * @default computeVerdicts with `resolver`, in this thread
   */
  verdicts?: (input: Omit<VerdictInput, 'resolver'>) => Promise<Verdicts>;
  log: Logger;
  /** Where an acknowledged message goes to be ingested, as SES invokes its Lambda action after the 250. */
  ingests: Pick<IngestQueue, 'submit'>;
}

/**
 * The envelope recipient an accepted `RCPT TO` address stands for: the domainless `Postmaster`
 * (RFC 5321 §4.5.1) is the postmaster of the first accepted domain; any other is lower-cased.
 */
export function envelopeRecipient(config: LifeboatConfig, address: string): string {
  const normalised = normaliseAddress(address);
  return normalised === DOMAINLESS_POSTMASTER ? `postmaster@${config.domains[0]}` : normalised;
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
 * Logs every size refusal (552) the receiver sends, with the session id and the reply code only.
 * smtp-server refuses a declared `SIZE=` over the limit at MAIL FROM itself, before any handler of
 * ours runs; the one place that sees that reply is its logger, which is handed each reply as it
 * is sent. The 552 after DATA (an undeclared size) passes here too.
 */
function sizeRefusalLogger(log: Logger): SMTPServer['logger'] {
  const ignore = () => {};
  return {
    trace: ignore,
    info: ignore,
    warn: ignore,
    error: ignore,
    fatal: ignore,
    debug(entry?: unknown, _message?: string, reply?: unknown) {
      const { tnx, cid } = (entry ?? {}) as { tnx?: string; cid?: string };
      if (tnx !== 'send' || typeof reply !== 'string') return;
      if (reply.startsWith(`${TOO_BIG} `)) {
        log.info('SMTP message refused: over the size limit', { session: cid, code: TOO_BIG });
      }
    },
  };
}

/**
 * The local stand-in for SES receiving: refuses recipients outside the accepted domains and
 * messages over 40 MB (each refusal logged with its session id and reply code), stores the raw
 * bytes under `raw/<id>` and the SES-shaped event beside them (each fsynced, folder included), and
 * answers 250 as soon as both are durable, as SES does once the message is in S3. Ingest runs
 * after that, in the background (the queue retries it until it succeeds). A failure to store
 * answers 451 and the sender retries; a crash after the stores is finished at start-up.
 */
export function createReceiver(options: ReceiverOptions): SMTPServer {
  const { config, blobs, resolver } = options;
  const verdictsOf = options.verdicts ?? ((input) => computeVerdicts({ ...input, resolver }));
  const server = new SMTPServer({
    name: config.hostname,
    banner: 'Lifeboat local receiver (SES stand-in)',
    size: MAX_MESSAGE_BYTES,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onRcptTo(address, session, callback) {
      if (!isAcceptedRecipient(config, envelopeRecipient(config, address.address))) {
        // The session and the code, never the address: mail is personal data.
        options.log.info('SMTP recipient refused: relay access denied', {
          session: session.id,
          code: RELAY_REFUSED,
        });
        return callback(smtpError(`5.7.1 <${address.address}>: relay access denied`, RELAY_REFUSED));
      }
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        return callback(smtpError('4.5.3 too many recipients; send the rest in another message', 452));
      }
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      readAll(stream)
        .then(async (raw) => {
          if (stream.sizeExceeded)
            throw smtpError(`5.3.4 message exceeds ${MAX_MESSAGE_BYTES} bytes`, TOO_BIG);
          const id = newSesMessageId();
          const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const recipients = [
            ...new Set(session.envelope.rcptTo.map((r) => envelopeRecipient(config, r.address))),
          ];
          const verdicts = await verdictsOf({
            raw,
            ip: session.remoteAddress,
            helo: session.hostNameAppearsAs,
            sender,
            mta: config.hostname,
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
          // Both durable before the 250: written side by side, as neither is of use without the
          // other (a raw file without its receipt was never acknowledged). Both finish before any
          // reply, so no write outlives the session that asked for it. The receipt is staged: a
          // crash before the acknowledging rename below leaves a message whose sender sends it
          // again, which start-up therefore leaves undelivered (see ReceiptStore).
          const writes = await Promise.allSettled([
            blobs.putRaw(`${RAW_PREFIX}${id}`, raw),
            options.receipts?.stage(event),
          ]);
          for (const w of writes) if (w.status === 'rejected') throw w.reason;
          // The 250 goes out the moment the message is durable and its receipt acknowledged: a
          // crash from here on costs no second copy from the sender, and start-up ingests what it
          // left unrecorded. Only a crash between this rename and the reply stores it twice.
          options.receipts?.acknowledge(id);
          callback(null, `2.0.0 Ok: queued as ${id}`);
          options.ingests.submit(event);
        })
        .catch((err: Error & { responseCode?: number }) => {
          if (err.responseCode) return callback(err);
          if (err instanceof PoolBusyError) {
            // Back-pressure: more messages wait for their checks than the pool queues.
            options.log.warn('message not accepted: too busy', { session: session.id, code: BUSY });
            return callback(smtpError('4.3.2 too busy, try again later', BUSY));
          }
          options.log.error('message not accepted', { session: session.id, error: err.message });
          callback(smtpError('4.3.0 temporary failure storing the message, try again later', 451));
        });
    },
  });
  server.logger = sizeRefusalLogger(options.log);
  return server;
}
