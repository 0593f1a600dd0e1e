import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { waitUntil } from './net.js';

/** One message the sink accepted. */
export interface SinkMessage {
  /** Envelope sender (MAIL FROM), empty for a bounce. */
  from: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  /** DATA exactly as received, dot-unstuffed, CRLF line endings. */
  raw: Buffer;
}

/** Options for {@link SmtpSink.start}. */
export interface SmtpSinkOptions {
  /** Port to listen on; 0 lets the kernel choose. @default 0 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Keep message bytes in memory; turn off for throughput runs that only count. @default true */
  keepMessages?: boolean;
}

/**
 * A minimal SMTP server that accepts everything and remembers it: the far end of a relay-mode
 * {@link PostfixInstance}, or of anything else under test. No AUTH, no STARTTLS.
 */
export class SmtpSink {
  /** Messages accepted so far (empty when `keepMessages` is off). */
  readonly messages: SinkMessage[] = [];
  /** Number of messages accepted so far. */
  count = 0;
  readonly host: string;
  readonly port: number;
  private readonly server: SMTPServer;

  private constructor(server: SMTPServer, host: string, port: number) {
    this.server = server;
    this.host = host;
    this.port = port;
  }

  /** Starts listening; resolves once the port accepts connections. */
  static async start(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
    const host = options.host ?? '127.0.0.1';
    const keep = options.keepMessages ?? true;
    let sink: SmtpSink | undefined;
    const server = new SMTPServer({
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      banner: 'lifeboat test sink',
      // Let close() finish quickly even while a client holds a cached connection open.
      closeTimeout: 500,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => {
          if (keep) chunks.push(chunk);
        });
        stream.on('error', callback);
        stream.on('end', () => {
          if (sink !== undefined) {
            sink.count += 1;
            if (keep) {
              sink.messages.push({
                from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
                to: session.envelope.rcptTo.map((recipient) => recipient.address),
                raw: Buffer.concat(chunks),
              });
            }
          }
          callback();
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      const listener = server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve((listener.address() as AddressInfo).port);
      });
    });
    server.on('error', () => {
      // A client that drops its connection is not the sink's failure.
    });
    sink = new SmtpSink(server, host, port);
    return sink;
  }

  /** Waits until at least `count` messages have been accepted. */
  async waitForMessages(count: number, timeoutMs = 15_000): Promise<void> {
    await waitUntil(() => this.count >= count, { timeoutMs, what: `${count} message(s) at the SMTP sink` });
  }

  /** Stops listening and closes open connections; afterwards the port refuses connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
