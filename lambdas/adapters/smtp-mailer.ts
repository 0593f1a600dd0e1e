import { isIP } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RouteConfig } from '../core/config.js';
import type { Envelope, Mailer, RecipientOutcome } from '../ports.js';

/** Resolves a route's SMTP AUTH password (an env var locally, a Secrets Manager secret in AWS). */
export type PasswordSource = (route: RouteConfig) => Promise<string | undefined>;

export interface SmtpMailerOptions {
  /** Name sent in EHLO. */
  hostname: string;
  passwords?: PasswordSource;
}

interface SmtpError extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  rejectedErrors?: SmtpError[];
}

/** SNI names a host, never an address (RFC 6066 §3): an IP-addressed primary gets none. */
export function serverName(host: string): { servername?: string } {
  return isIP(host) === 0 ? { servername: host } : {};
}

/** Commands after which the server has seen our envelope: failures there are per-message, not per-host. */
const ENVELOPE_COMMANDS = new Set(['MAIL FROM', 'RCPT TO', 'DATA']);

function statusOf(code: number | undefined): 'failed' | 'deferred' {
  return code !== undefined && code >= 500 && code < 600 ? 'failed' : 'deferred';
}

function describe(err: SmtpError): string {
  return (err.response ?? err.message).replace(/\s+/g, ' ').trim().slice(0, 500);
}

function connect(conn: SMTPConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => {
      conn.removeListener('error', reject);
      resolve();
    });
  });
}

function login(conn: SMTPConnection, user: string, pass: string): Promise<void> {
  return new Promise((resolve, reject) =>
    conn.login({ user, pass }, (err) => (err ? reject(err) : resolve())),
  );
}

function send(conn: SMTPConnection, envelope: Envelope, raw: Buffer) {
  return new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
    // A socket error mid-transaction arrives as an event as well as through the callback.
    const onError = (err: Error) => reject(err);
    conn.on('error', onError);
    conn.send(
      { from: envelope.from, to: envelope.to, size: raw.length, use8BitMime: true },
      raw,
      (err, info) => {
        conn.removeListener('error', onError);
        if (err) reject(err);
        else resolve(info);
      },
    );
  });
}

/**
 * Delivers over SMTP with nodemailer's connection: hosts in order, moving on while a host cannot
 * be reached or refuses the session (as Postfix moves to the next MX), and reporting each
 * recipient's own RCPT reply. Never throws for an SMTP outcome.
 */
export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  return {
    async send(route, envelope, raw) {
      const hostErrors: string[] = [];
      let lastHost: string | null = null;
      for (const { host, port } of route.hosts) {
        lastHost = `${host}:${port}`;
        const conn = new SMTPConnection({
          host,
          port,
          name: options.hostname,
          secure: route.tls === 'implicit',
          requireTLS: route.tls === 'starttls-required',
          ignoreTLS: route.tls === 'none',
          opportunisticTLS: route.tls === 'opportunistic',
          connectionTimeout: route.connectTimeoutSeconds * 1000,
          greetingTimeout: route.connectTimeoutSeconds * 1000,
          socketTimeout: route.socketTimeoutSeconds * 1000,
          tls: { rejectUnauthorized: route.verifyCertificate, ...serverName(host) },
        });
        // Errors after the transaction (a late RST) must not crash the process.
        conn.on('error', () => {});
        let transactionStarted = false;
        try {
          await connect(conn);
          if (route.auth) {
            const pass = await options.passwords?.(route);
            if (pass === undefined)
              throw Object.assign(new Error('no password available for SMTP AUTH'), { code: 'EAUTH' });
            await login(conn, route.auth.user, pass);
          }
          transactionStarted = true;
          const info = await send(conn, envelope, raw);
          const rejected = new Map<string, SmtpError>();
          for (const e of (info.rejectedErrors ?? []) as SmtpError[])
            if (e.recipient) rejected.set(e.recipient, e);
          return envelope.to.map((recipient): RecipientOutcome => {
            const e = rejected.get(recipient);
            if (e)
              return { recipient, status: statusOf(e.responseCode), response: describe(e), host: lastHost };
            return { recipient, status: 'delivered', response: info.response.slice(0, 500), host: lastHost };
          });
        } catch (caught) {
          const err = caught as SmtpError;
          if (err.code === 'EMESSAGE' && err.command === 'MAIL FROM' && err.responseCode === undefined) {
            // The message is over the SIZE the primary advertised in EHLO, so nodemailer never sent
            // MAIL FROM. RFC 1870 §6.1 makes that a permanent failure, as Postfix treats it (5.3.4):
            // retrying would only keep it deferred until the queue lifetime runs out.
            return envelope.to.map((recipient) => ({
              recipient,
              status: 'failed' as const,
              response: `552 5.3.4 message of ${raw.length} bytes is over the size limit the server advertises (${describe(err)})`,
              host: lastHost,
            }));
          }
          if (err.command && ENVELOPE_COMMANDS.has(err.command)) {
            const perRecipient = new Map<string, SmtpError>();
            for (const e of err.rejectedErrors ?? []) if (e.recipient) perRecipient.set(e.recipient, e);
            return envelope.to.map((recipient): RecipientOutcome => {
              const e = perRecipient.get(recipient) ?? err;
              return { recipient, status: statusOf(e.responseCode), response: describe(e), host: lastHost };
            });
          }
          if (err.code === 'EMESSAGE' && err.responseCode !== undefined) {
            return envelope.to.map((recipient) => ({
              recipient,
              status: statusOf(err.responseCode),
              response: describe(err),
              host: lastHost,
            }));
          }
          if (transactionStarted) {
            // The session broke mid-transaction: the primary may already hold the message, so
            // another host must not get a second copy now (RFC 1047). Retry later instead.
            return envelope.to.map((recipient) => ({
              recipient,
              status: 'deferred' as const,
              response: `${lastHost}: ${describe(err)}`,
              host: null,
            }));
          }
          hostErrors.push(`${lastHost}: ${describe(err)}`);
        } finally {
          conn.quit();
          setTimeout(() => conn.close(), 1000).unref();
        }
      }
      // No host would take the session: try again later (Postfix: "delivery temporarily suspended").
      const response = hostErrors.join('; ') || 'no host to try';
      return envelope.to.map((recipient) => ({ recipient, status: 'deferred', response, host: null }));
    },
  };
}
