import net from 'node:net';
import tls from 'node:tls';
import type { RouteConfig } from '../core/config.js';
import type { SmtpProber } from '../ports.js';
import { type PasswordSource, serverName } from './smtp-mailer.js';

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

/** AUTH LOGIN (RFC 4954 with the LOGIN mechanism), for servers that offer no PLAIN. */
async function loginAuth(reader: ReplyReader, user: string, pass: string): Promise<Reply> {
  const first = await reader.command('AUTH LOGIN');
  if (first.code !== 334) return first;
  const second = await reader.command(Buffer.from(user, 'utf8').toString('base64'));
  if (second.code !== 334) return second;
  return reader.command(Buffer.from(pass, 'utf8').toString('base64'));
}

function expect2xx(step: string, r: Reply): void {
  if (r.code < 200 || r.code >= 400) throw new ProbeFailure(`${step}: ${r.text.slice(0, 200)}`);
}

/**
 * The synthetic SMTP check: connect, EHLO, STARTTLS (as the route's TLS mode asks), AUTH when the
 * route uses it, MAIL FROM (the null sender, or the authenticated user), RCPT TO the probe
 * mailbox, QUIT. Nothing is ever sent: no DATA.
 */
export function createSmtpProber(options: { hostname: string; passwords?: PasswordSource }): SmtpProber {
  return {
    async check(route: RouteConfig, { host, port }, recipient) {
      const started = Date.now();
      const timeoutMs = route.connectTimeoutSeconds * 1000;
      let socket: net.Socket | undefined;
      const run = async () => {
        socket =
          route.tls === 'implicit'
            ? tls.connect({ host, port, ...serverName(host), rejectUnauthorized: route.verifyCertificate })
            : net.connect({ host, port });
        const reader = new ReplyReader(socket);
        await new Promise<void>((resolve, reject) => {
          socket?.once(route.tls === 'implicit' ? 'secureConnect' : 'connect', () => resolve());
          socket?.once('error', reject);
        });
        expect2xx('greeting', await reader.next());
        const ehlo = await reader.command(`EHLO ${options.hostname}`);
        expect2xx('EHLO', ehlo);
        let lastEhlo = ehlo;
        const offersTls = /\bSTARTTLS\b/i.test(ehlo.text);
        if (route.tls === 'starttls-required' || (route.tls === 'opportunistic' && offersTls)) {
          if (!offersTls) throw new ProbeFailure('STARTTLS required but not offered');
          expect2xx('STARTTLS', await reader.command('STARTTLS'));
          const plain = socket;
          reader.detach();
          socket = tls.connect({
            socket: plain,
            ...serverName(host),
            rejectUnauthorized: route.verifyCertificate,
          });
          await new Promise<void>((resolve, reject) => {
            socket?.once('secureConnect', () => resolve());
            socket?.once('error', reject);
          });
          reader.attach(socket);
          lastEhlo = await reader.command(`EHLO ${options.hostname}`);
          expect2xx('EHLO after STARTTLS', lastEhlo);
        }
        let sender = '';
        if (route.auth) {
          // A connector on 587/465 refuses MAIL FROM until the session is authenticated, and
          // submission servers want the sender to be the authenticated user.
          const pass = await options.passwords?.(route);
          if (pass === undefined) throw new ProbeFailure('AUTH: no password available for the route');
          const plain = Buffer.from(`\0${route.auth.user}\0${pass}`, 'utf8').toString('base64');
          const reply = /\bAUTH\b[^\r\n]*\bPLAIN\b/i.test(lastEhlo.text)
            ? await reader.command(`AUTH PLAIN ${plain}`)
            : await loginAuth(reader, route.auth.user, pass);
          if (reply.code !== 235) throw new ProbeFailure(`AUTH: ${reply.text.slice(0, 200)}`);
          sender = route.auth.user;
        }
        expect2xx('MAIL FROM', await reader.command(`MAIL FROM:<${sender}>`));
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
