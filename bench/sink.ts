import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { ArrivalCounter } from './arrivals.js';

/**
 * The far end of both relays: accepts every message, discards the bytes and counts, noting when
 * a target count is reached (no polling, so the end of a run is timed to the message).
 */
export class CountingSink {
  bytes = 0;
  /** SMTP connections accepted: a relay that keeps its sessions opens far fewer than it sends messages. */
  connections = 0;
  readonly port: number;
  private readonly server: SMTPServer;
  private readonly arrivals = new ArrivalCounter('the sink');

  private constructor(server: SMTPServer, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(): Promise<CountingSink> {
    let sink: CountingSink | undefined;
    const server = new SMTPServer({
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      banner: 'bench sink',
      size: 50 * 1024 * 1024,
      closeTimeout: 500,
      // The sink is a measuring device, not the subject: no reverse DNS per connection.
      disableReverseLookup: true,
      onConnect(_session, callback) {
        if (sink) sink.connections += 1;
        callback();
      },
      onData(stream, _session, callback) {
        let bytes = 0;
        stream.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        stream.on('error', callback);
        stream.on('end', () => {
          sink?.received(bytes);
          callback();
        });
      },
    });
    server.on('error', () => {
      // A client dropping its connection is not the sink's failure.
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port));
    });
    sink = new CountingSink(server, port);
    return sink;
  }

  private received(bytes: number): void {
    this.bytes += bytes;
    this.arrivals.arrived();
  }

  /** Messages received so far. */
  get count(): number {
    return this.arrivals.count;
  }

  /** Resolves with performance.now() at the moment `target` messages have arrived, or rejects after `timeoutMs`. */
  reach(target: number, timeoutMs: number): Promise<number> {
    return this.arrivals.reach(target, timeoutMs);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
