import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SMTPServer } from 'smtp-server';

/**
 * The far end of both relays: accepts every message, discards the bytes and counts, noting when
 * a target count is reached (no polling, so the end of a run is timed to the message).
 */
export class CountingSink {
  count = 0;
  bytes = 0;
  readonly port: number;
  private readonly server: SMTPServer;
  private waiters: Array<{ target: number; resolve: (at: number) => void }> = [];

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
    this.count += 1;
    this.bytes += bytes;
    const now = performance.now();
    const due = this.waiters.filter((w) => this.count >= w.target);
    this.waiters = this.waiters.filter((w) => this.count < w.target);
    for (const w of due) w.resolve(now);
  }

  /** Resolves with performance.now() at the moment `target` messages have arrived, or rejects after `timeoutMs`. */
  reach(target: number, timeoutMs: number): Promise<number> {
    if (this.count >= target) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`the sink had ${this.count} of ${target} messages after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const done = (at: number) => {
        clearTimeout(timer);
        resolve(at);
      };
      this.waiters.push({ target, resolve: done });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
