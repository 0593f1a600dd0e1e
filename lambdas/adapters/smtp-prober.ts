import net from 'node:net';
import tls from 'node:tls';
import type { RouteConfig } from '../core/config.js';
import type { SmtpProber } from '../ports.js';

interface Reply {
  code: number;
  text: string;
}

/** Reads SMTP replies (RFC 5321 §4.2: `250-` continues, `250 ` ends) from a socket. */
class ReplyReader {
  private buffer = '';
  private waiting: Array<(r: Reply) => void> = [];
  private lines: string[] = [];
  private readonly onData = (chunk: Buffer) => this.push(chunk.toString('latin1'));
  constructor(private socket: net.Socket) {
    socket.on('data', this.onData);
  }
  /** Moves to another socket (the TLS one after STARTTLS); the old one must not be read any more. */
  detach() {
    this.socket.removeListener('data', this.onData);
    this.buffer = '';
  }
  attach(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', this.onData);
  }
  private push(chunk: string) {
    this.buffer += chunk;
    let i = this.buffer.indexOf('\n');
    while (i >= 0) {
      const line = this.buffer.slice(0, i).replace(/\r$/, '');
      this.buffer = this.buffer.slice(i + 1);
      this.lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const text = this.lines.join(' ');
        this.lines = [];
        this.waiting.shift()?.({ code: Number(line.slice(0, 3)), text });
      }
      i = this.buffer.indexOf('\n');
    }
  }
  next(): Promise<Reply> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  async command(line: string): Promise<Reply> {
    const reply = this.next();
    this.socket.write(`${line}\r\n`);
    return reply;
  }
}

class ProbeFailure extends Error {}

function expect2xx(step: string, r: Reply): void {
  if (r.code < 200 || r.code >= 400) throw new ProbeFailure(`${step}: ${r.text.slice(0, 200)}`);
}

/**
 * The synthetic SMTP check: connect, EHLO, STARTTLS (as the route's TLS mode asks), MAIL FROM:<>,
 * RCPT TO the probe mailbox, QUIT. Nothing is ever sent: no DATA.
 */
export function createSmtpProber(options: { hostname: string }): SmtpProber {
  return {
    async check(route: RouteConfig, { host, port }, recipient) {
      const started = Date.now();
      const timeoutMs = route.connectTimeoutSeconds * 1000;
      let socket: net.Socket | undefined;
      const run = async () => {
        socket =
          route.tls === 'implicit'
            ? tls.connect({ host, port, servername: host, rejectUnauthorized: route.verifyCertificate })
            : net.connect({ host, port });
        const reader = new ReplyReader(socket);
        await new Promise<void>((resolve, reject) => {
          socket?.once(route.tls === 'implicit' ? 'secureConnect' : 'connect', () => resolve());
          socket?.once('error', reject);
        });
        expect2xx('greeting', await reader.next());
        const ehlo = await reader.command(`EHLO ${options.hostname}`);
        expect2xx('EHLO', ehlo);
        const offersTls = /\bSTARTTLS\b/i.test(ehlo.text);
        if (route.tls === 'starttls-required' || (route.tls === 'opportunistic' && offersTls)) {
          if (!offersTls) throw new ProbeFailure('STARTTLS required but not offered');
          expect2xx('STARTTLS', await reader.command('STARTTLS'));
          const plain = socket;
          reader.detach();
          socket = tls.connect({
            socket: plain,
            servername: host,
            rejectUnauthorized: route.verifyCertificate,
          });
          await new Promise<void>((resolve, reject) => {
            socket?.once('secureConnect', () => resolve());
            socket?.once('error', reject);
          });
          reader.attach(socket);
          expect2xx('EHLO after STARTTLS', await reader.command(`EHLO ${options.hostname}`));
        }
        expect2xx('MAIL FROM', await reader.command('MAIL FROM:<>'));
        expect2xx('RCPT TO', await reader.command(`RCPT TO:<${recipient}>`));
        await reader.command('QUIT').catch(() => undefined);
      };
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          run(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new ProbeFailure(`no answer within ${route.connectTimeoutSeconds} s`)),
              timeoutMs,
            );
          }),
        ]);
        return { ok: true, detail: 'ok', latencyMs: Date.now() - started };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const detail = e instanceof ProbeFailure ? e.message : `${e.code ?? 'error'}: ${e.message}`;
        return { ok: false, detail, latencyMs: Date.now() - started };
      } finally {
        clearTimeout(timer);
        (socket as net.Socket | undefined)?.destroy();
      }
    },
  };
}
