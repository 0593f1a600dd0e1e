import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions } from 'smtp-server';

/**
 * How the test primary answers. Switch with the methods of {@link TestPrimary} while a test runs.
 *
 * - `accept`: 250 to everything, and the transaction is recorded.
 * - `refuse`: the port is closed, so a connection is refused (ECONNREFUSED).
 * - `stall`: TCP is accepted but the server goes silent: before its greeting, or after the
 *   message's final dot (the client sent everything and never hears back).
 * - `tempfail`: a 4xx reply at the greeting, at RCPT or after DATA.
 * - `reject`: 550 5.1.1 at RCPT for the named recipients; the others are accepted.
 */
export type PrimaryMode =
  | { kind: 'accept' }
  | { kind: 'refuse' }
  | { kind: 'stall'; at: 'greeting' | 'data' }
  | { kind: 'tempfail'; code: number; at: 'connect' | 'rcpt' | 'data' }
  | { kind: 'reject'; recipients: string[] };

/** The gateway's id of a relayed message, read from the trace header it prepends. */
export function gatewayIdOf(raw: Buffer): string | null {
  const match = /^Received: by \S+ \(Lifeboat\) id ([A-Za-z0-9._-]+)/.exec(
    raw.subarray(0, 512).toString('latin1'),
  );
  return match?.[1] ?? null;
}

/** One transaction the primary accepted with 250 after DATA. */
export interface PrimaryTransaction {
  /** Envelope sender (MAIL FROM), empty for a bounce. */
  from: string;
  /** Envelope recipients the primary accepted at RCPT, in order. */
  to: string[];
  /** DATA as received, dot-unstuffed, CRLF line endings and the final CRLF included. */
  raw: Buffer;
  /** The Message-ID header of `raw`, or null. */
  messageId: string | null;
  /** The gateway's message id from its trace header, or null. */
  gatewayId: string | null;
  /** Which primary took it. */
  host: string;
  port: number;
  /** Wall-clock time the transaction ended, for ordering across primaries. */
  at: number;
  /**
   * The same moment on the monotonic clock (process.hrtime, nanoseconds), which other processes
   * of the machine read too: to place a transaction against another process's event (a kill)
   * closer than the wall clock's millisecond.
   */
  hrAt: bigint;
}

export interface PrimaryOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0, a free port */
  port?: number;
  /** Largest message accepted (552 after DATA above it). @default 64 MiB */
  sizeLimit?: number;
  /** Advertise the limit in EHLO as SIZE (RFC 1870). @default true */
  advertiseSize?: boolean;
}

/** One TCP session that reached the primary, whatever the mode did with it. */
export interface PrimarySession {
  mode: PrimaryMode['kind'];
  at: number;
}

/** The Message-ID of a message: the first `Message-ID:` header of its header section. */
export function messageIdOf(raw: Buffer): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const headers = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  const match = /^message-id:[ \t]*((?:[^\r\n]|\r\n[ \t])*)/im.exec(headers);
  return match?.[1] ? match[1].replace(/\r\n[ \t]+/g, ' ').trim() : null;
}

function smtpReply(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

function tempfailText(code: number): string {
  return code === 421
    ? '4.3.2 primary shutting down, try again later'
    : '4.2.0 mailbox temporarily unavailable, try again later';
}

function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/**
 * A primary mail server on loopback that a test can make accept, refuse, stall, answer 4xx or
 * reject chosen recipients, recording every transaction it accepts. Built on smtp-server, which
 * is what the gateway talks to in these tests exactly as it would talk to Exchange or Postfix.
 */
export class TestPrimary {
  /** Transactions accepted so far, oldest first. */
  readonly transactions: PrimaryTransaction[] = [];
  /** Sessions opened so far, oldest first (none while refusing: the port is closed). */
  readonly sessions: PrimarySession[] = [];
  readonly host: string;
  private boundPort: number;
  private current: PrimaryMode = { kind: 'accept' };
  private server: SMTPServer | null = null;
  private transitions: Promise<void> = Promise.resolve();

  private constructor(
    host: string,
    port: number,
    private readonly limits: { sizeLimit: number; advertiseSize: boolean },
  ) {
    this.host = host;
    this.boundPort = port;
  }

  /** Starts an accepting primary on a free loopback port (or `port`). */
  static async start(options: PrimaryOptions = {}): Promise<TestPrimary> {
    const primary = new TestPrimary(options.host ?? '127.0.0.1', options.port ?? 0, {
      sizeLimit: options.sizeLimit ?? 64 * 1024 * 1024,
      advertiseSize: options.advertiseSize ?? true,
    });
    await primary.listen();
    return primary;
  }

  /** The port, the same for the primary's whole life, also while it refuses. */
  get port(): number {
    return this.boundPort;
  }

  /** `host:port`, as the gateway names the host in its delivery records. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get mode(): PrimaryMode {
    return this.current;
  }

  /** Accepts every transaction from now on. */
  accept(): Promise<void> {
    return this.setMode({ kind: 'accept' });
  }

  /** Closes the port: connections are refused until another mode is set. */
  refuse(): Promise<void> {
    return this.setMode({ kind: 'refuse' });
  }

  /** Goes silent before the greeting, or after the message's final dot. */
  stall(at: 'greeting' | 'data'): Promise<void> {
    return this.setMode({ kind: 'stall', at });
  }

  /** Answers `code` (421, 450 …) at the greeting, at RCPT or after DATA. */
  tempfail(code: number, at: 'connect' | 'rcpt' | 'data'): Promise<void> {
    if (code < 400 || code > 499) throw new Error(`tempfail needs a 4xx code, not ${code}`);
    return this.setMode({ kind: 'tempfail', code, at });
  }

  /** Rejects these recipients with 550 5.1.1 at RCPT; accepts the rest. */
  reject(...recipients: string[]): Promise<void> {
    return this.setMode({ kind: 'reject', recipients: recipients.map((r) => r.toLowerCase()) });
  }

  async setMode(mode: PrimaryMode): Promise<void> {
    this.current = mode;
    if (mode.kind === 'refuse') await this.close();
    else await this.listen();
  }

  /** Transactions carrying this Message-ID (the copies of one message the primary holds). */
  copiesOf(messageId: string): PrimaryTransaction[] {
    return this.transactions.filter((t) => t.messageId === messageId);
  }

  /** How many copies of a message reached one recipient. */
  copiesFor(messageId: string, recipient: string): number {
    const r = recipient.toLowerCase();
    return this.copiesOf(messageId).filter((t) => t.to.some((x) => x.toLowerCase() === r)).length;
  }

  /** Stops listening and drops open sessions. Safe to call more than once. */
  stop(): Promise<void> {
    return this.close();
  }

  /** Runs open/close transitions one after another, so any mix of calls ends in the last one asked for. */
  private serially(step: () => Promise<void>): Promise<void> {
    const next = this.transitions.then(step);
    this.transitions = next.catch(() => {});
    return next;
  }

  private listen(): Promise<void> {
    return this.serially(async () => {
      if (this.server) return;
      const server = this.createServer();
      // The port is kept across refuse/accept so the gateway's route keeps pointing at it.
      this.boundPort = await new Promise<number>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(this.boundPort, this.host, () => {
          server.server.removeListener('error', reject);
          resolve((server.server.address() as AddressInfo).port);
        });
      });
      this.server = server;
    });
  }

  private close(): Promise<void> {
    return this.serially(async () => {
      const server = this.server;
      if (!server) return;
      this.server = null;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Stalled sessions would otherwise hold close() open until closeTimeout.
        for (const connection of server.connections) connection.close();
      });
    });
  }

  private createServer(): SMTPServer {
    const server = new SMTPServer({
      name: 'primary.test',
      banner: 'test primary',
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 200,
      size: this.limits.sizeLimit,
      hideSize: !this.limits.advertiseSize,
      onConnect: (_session, callback) => {
        const mode = this.current;
        this.sessions.push({ mode: mode.kind, at: Date.now() });
        if (mode.kind === 'stall' && mode.at === 'greeting') return; // never greet
        if (mode.kind === 'tempfail' && mode.at === 'connect') {
          return callback(smtpReply(mode.code, tempfailText(mode.code)));
        }
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        const mode = this.current;
        if (mode.kind === 'tempfail' && mode.at === 'rcpt') {
          return callback(smtpReply(mode.code, tempfailText(mode.code)));
        }
        if (mode.kind === 'reject' && mode.recipients.includes(address.address.toLowerCase())) {
          return callback(
            smtpReply(550, `5.1.1 <${address.address}>: Recipient address rejected: User unknown`),
          );
        }
        callback();
      },
      onData: (stream, session, callback) => {
        readAll(stream)
          .then((raw) => {
            const mode = this.current;
            if (mode.kind === 'stall' && mode.at === 'data') return; // never answer the final dot
            if (stream.sizeExceeded) {
              return callback(
                smtpReply(552, `5.3.4 message exceeds the size limit of ${this.limits.sizeLimit} bytes`),
              );
            }
            if (mode.kind === 'tempfail' && mode.at === 'data') {
              return callback(smtpReply(mode.code, tempfailText(mode.code)));
            }
            this.transactions.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              raw,
              messageId: messageIdOf(raw),
              gatewayId: gatewayIdOf(raw),
              host: this.host,
              port: this.port,
              at: Date.now(),
              hrAt: process.hrtime.bigint(),
            });
            callback(null, `2.0.0 Ok: queued as T${this.transactions.length}`);
          })
          .catch((err: Error) => callback(err));
      },
    });
    // A gateway that dies (kill -9) with sessions open resets them; that is the gateway's
    // business, and smtp-server reports it as an error event that must not crash the test run.
    server.on('error', () => {});
    return server;
  }
}

/**
 * A bare primary (no AUTH, no STARTTLS) that reads the gateway's SQLite database through a read-only
 * connection of its own while it answers: what a restart at that moment would find. Tests give it
 * the SMTP handlers they need and read `deliveryState` from them.
 */
export class DatabaseWatchingPrimary {
  port = 0;
  private db: Database.Database | undefined;
  private readonly server: SMTPServer;

  constructor(handlers: Pick<SMTPServerOptions, 'onConnect' | 'onMailFrom' | 'onData'>) {
    this.server = new SMTPServer({
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      ...handlers,
    });
    this.server.on('error', () => {});
  }

  async listen(): Promise<void> {
    this.port = await new Promise<number>((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.server.address() as AddressInfo).port)),
    );
  }

  /** Reads the gateway's database from now on, read-only. */
  watch(database: string): void {
    this.db = new Database(database, { readonly: true, fileMustExist: true });
  }

  /** A delivery's state of the message with this gateway id, as the database holds it now. */
  deliveryState(messageId: string): string | undefined {
    return this.db
      ?.prepare<[string], { state: string }>('SELECT state FROM deliveries WHERE message_id = ?')
      .get(messageId)?.state;
  }

  async stop(): Promise<void> {
    this.db?.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
