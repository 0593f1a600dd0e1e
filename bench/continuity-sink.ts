import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { ArrivalCounter } from './arrivals.js';

/** Header bytes read per message to find its Message-ID; a header block is far smaller than this. */
const HEADER_SCAN_BYTES = 64 * 1024;

/** The Message-ID in a header block (unfolded), or undefined when it has none. */
function messageIdOf(head: string): string | undefined {
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  return /^Message-ID:\s*(<[^>\s]+>)/im.exec(unfolded)?.[1];
}

/**
 * The primary of the continuity figures: an SMTP server that accepts everything, counts it and
 * keeps each message's Message-ID (not the bytes), so a run can prove every message arrived
 * exactly once. It can be stopped (its port then refuses connections, as a failed primary does)
 * and started again on the same port, keeping its counts.
 */
export class BenchPrimary {
  /** SMTP connections accepted: a client that reuses its connections opens fewer than it sends messages. */
  connections = 0;
  /** Message-ID of every message received, in arrival order (`(none)` for a message without one). */
  readonly messageIds: string[] = [];
  private server: SMTPServer | undefined;
  private port_ = 0;
  private readonly arrivals = new ArrivalCounter('the primary');

  /** The port it listens (or last listened) on. */
  get port(): number {
    return this.port_;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Starts listening on `port` (0 picks a free one; the port a stopped primary used, to bring it back). */
  async start(port = this.port_): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      banner: 'bench primary',
      size: 50 * 1024 * 1024,
      closeTimeout: 500,
      // A measuring device, not the subject: no reverse DNS per connection.
      disableReverseLookup: true,
      onConnect: (_session, callback) => {
        this.connections += 1;
        callback();
      },
      onData: (stream, _session, callback) => {
        const head: Buffer[] = [];
        let kept = 0;
        stream.on('data', (chunk: Buffer) => {
          if (kept < HEADER_SCAN_BYTES) {
            head.push(chunk);
            kept += chunk.length;
          }
        });
        stream.on('error', callback);
        stream.on('end', () => {
          const text = Buffer.concat(head).toString('latin1');
          const end = text.search(/\r?\n\r?\n/);
          this.received(messageIdOf(end === -1 ? text : text.slice(0, end)) ?? '(none)');
          callback();
        });
      },
    });
    server.on('error', () => {
      // A client dropping its connection is not the primary's failure.
    });
    this.port_ = await new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.server.removeListener('error', reject);
        resolve((server.server.address() as AddressInfo).port);
      });
    });
    this.server = server;
  }

  /**
   * Stops taking connections: the listener closes at once (the caller's clock can be read right
   * before), then open sessions get a short grace period to finish.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private received(messageId: string): void {
    this.messageIds.push(messageId);
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

  /**
   * Exactly-once check against the Message-IDs that were sent: the problems found (missing,
   * duplicated or unexpected messages), empty when every one arrived once.
   */
  exactlyOnce(sent: readonly string[]): string[] {
    const seen = new Map<string, number>();
    for (const id of this.messageIds) seen.set(id, (seen.get(id) ?? 0) + 1);
    const expected = new Set(sent);
    const missing = sent.filter((id) => !seen.has(id));
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`);
    const unexpected = [...seen.keys()].filter((id) => !expected.has(id));
    const problems: string[] = [];
    if (this.count !== sent.length) problems.push(`${this.count} messages arrived for ${sent.length} sent`);
    if (missing.length) problems.push(`${missing.length} missing (first ${missing.slice(0, 3).join(', ')})`);
    if (duplicated.length)
      problems.push(`${duplicated.length} duplicated (first ${duplicated.slice(0, 3).join(', ')})`);
    if (unexpected.length)
      problems.push(`${unexpected.length} unexpected (first ${unexpected.slice(0, 3).join(', ')})`);
    return problems;
  }
}
