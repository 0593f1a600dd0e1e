import { isIP } from 'node:net';
import { PassThrough } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RouteConfig } from '../core/config.js';
import type { Envelope, Mailer, RecipientOutcome } from '../ports.js';

/** Resolves a route's SMTP AUTH password (an env var locally, a Secrets Manager secret in AWS). */
export type PasswordSource = (route: RouteConfig) => Promise<string | undefined>;

/**
 * Transactions one SMTP session carries before it is closed. Exchange's receive connectors
 * default to MaxMessagesPerConnection 20 and answer 4xx past it; keeping under that means the
 * primary never has to refuse a message for a limit of ours (Postfix's
 * smtp_connection_reuse_count_limit does the same job).
 */
export const MAX_MESSAGES_PER_CONNECTION = 20;

/**
 * How long an idle session is kept for the next message. Postfix keeps a cached connection 2 s
 * (smtp_connection_cache_time_limit): long enough for a queue run or a hand-over, where the next
 * message is already waiting, and short enough not to sit on one of the primary's session slots
 * (or keep a Lambda or a test run alive).
 */
export const IDLE_CONNECTION_MS = 2_000;

/**
 * How long the deliver function keeps an idle session for its next invocation. Lambda freezes an
 * instance between invocations and thaws it for the next one, which at the worked month's 0.58
 * messages a second comes within seconds: a session ended after each invocation costs every
 * delivery a new TCP connection, STARTTLS and two EHLOs (six round trips and a TLS handshake), where
 * a kept one goes straight to MAIL (0.61 s against 0.26 s a delivery, `npm run bench --
 * lambda-durations`). Half a minute stays under the idle limits a session meets on the way:
 * Exchange's ConnectionInactivityTimeout (5 minutes; 1 on an Edge server), Postfix's smtpd_timeout
 * (300 s), RFC 5321 §4.5.3.2.7's 5 minutes, a NAT gateway's 350 s, a load balancer's 4 minutes. A
 * frozen instance cannot run its idle timer, so the age is checked again, by the wall clock, before
 * a session is used; a session the primary ended meanwhile (Postfix under stress waits only 10 s)
 * is noticed before any of the next message is sent, which then goes on a new session. The
 * function's reserved concurrency (10 by default) bounds the sessions kept on the primary, under
 * Exchange's MaxInboundConnectionPerSource (20) and MAX_CONNECTIONS_PER_ROUTE.
 */
export const LAMBDA_IDLE_CONNECTION_MS = 30_000;

/**
 * Oldest session that is still given another message: a long hand-over opens fresh sessions
 * now and then, so a primary behind a load balancer sees the load spread again (Postfix's
 * smtp_connection_reuse_time_limit, 300 s).
 */
export const MAX_CONNECTION_AGE_MS = 300_000;

/**
 * Most sessions open at once to one route, over all its hosts. Postfix's
 * default_destination_concurrency_limit: the most parallel sessions a primary is used to taking
 * from one relay. More deliveries in flight than this wait for a session to come free.
 */
export const MAX_CONNECTIONS_PER_ROUTE = 20;

export interface SmtpMailerOptions {
  /** Name sent in EHLO. */
  hostname: string;
  passwords?: PasswordSource;
  /** @default MAX_MESSAGES_PER_CONNECTION */
  maxMessagesPerConnection?: number;
  /** @default IDLE_CONNECTION_MS */
  idleTimeoutMs?: number;
  /** @default MAX_CONNECTIONS_PER_ROUTE */
  maxConnectionsPerRoute?: number;
  /** Milliseconds since the epoch, for a session's age and idle time. @default Date.now */
  now?: () => number;
}

/** A mailer that keeps SMTP sessions open between transactions. */
export interface SmtpMailer extends Mailer {
  /**
   * Ends every idle session now (QUIT) and every busy one when its transaction ends: a process
   * about to stop, or a Lambda invocation about to be frozen, leaves no session open on the
   * primary. Sends after it open sessions afresh.
   */
  close(): Promise<void>;
  /** Sessions open now, idle or busy, per route name: for tests and the bench. */
  openConnections(): Record<string, number>;
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

/**
 * Failures that end a session rather than refuse a message (nodemailer's isTransientError): a 421
 * (RFC 5321 §4.2: the server closes the channel), a dropped connection, a socket error or timeout.
 */
function endsSession(err: SmtpError): boolean {
  return (
    err.responseCode === 421 ||
    err.code === 'ECONNECTION' ||
    err.code === 'ESOCKET' ||
    err.code === 'ETIMEDOUT' ||
    err.code === 'EPROTOCOL'
  );
}

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

function reset(conn: SMTPConnection): Promise<void> {
  return new Promise((resolve, reject) => conn.reset((err) => (err ? reject(err) : resolve())));
}

/**
 * One SMTP transaction. The bytes go as a stream so that, on failure, we know whether any of
 * them left: nodemailer reads it only once the server has answered DATA with 354.
 */
function transact(conn: SMTPConnection, envelope: Envelope, raw: Buffer) {
  const body = new PassThrough();
  body.end(raw);
  const done = new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
    // A socket error mid-transaction arrives as an event as well as through the callback.
    const onError = (err: Error) => reject(err);
    conn.on('error', onError);
    conn.send(
      { from: envelope.from, to: envelope.to, size: raw.length, use8BitMime: true },
      body,
      (err, info) => {
        conn.removeListener('error', onError);
        if (err) reject(err);
        else resolve(info);
      },
    );
  });
  return { done, bodyUntouched: () => !body.readableDidRead };
}

/** The per-recipient outcomes of a transaction that ended in an error, as Postfix would classify them. */
function outcomesOfError(
  err: SmtpError,
  envelope: Envelope,
  raw: Buffer,
  host: string,
): RecipientOutcome[] | undefined {
  if (err.code === 'EMESSAGE' && err.command === 'MAIL FROM' && err.responseCode === undefined) {
    // The message is over the SIZE the primary advertised in EHLO, so nodemailer never sent
    // MAIL FROM. RFC 1870 §6.1 makes that a permanent failure, as Postfix treats it (5.3.4):
    // retrying would only keep it deferred until the queue lifetime runs out.
    return envelope.to.map((recipient) => ({
      recipient,
      status: 'failed' as const,
      response: `552 5.3.4 message of ${raw.length} bytes is over the size limit the server advertises (${describe(err)})`,
      host,
    }));
  }
  if (err.command && ENVELOPE_COMMANDS.has(err.command)) {
    const perRecipient = new Map<string, SmtpError>();
    for (const e of err.rejectedErrors ?? []) if (e.recipient) perRecipient.set(e.recipient, e);
    return envelope.to.map((recipient): RecipientOutcome => {
      const e = perRecipient.get(recipient) ?? err;
      return { recipient, status: statusOf(e.responseCode), response: describe(e), host };
    });
  }
  if (err.code === 'EMESSAGE' && err.responseCode !== undefined) {
    return envelope.to.map((recipient) => ({
      recipient,
      status: statusOf(err.responseCode),
      response: describe(err),
      host,
    }));
  }
  return undefined;
}

/** An open, greeted (and authenticated) session to one host of one route. */
interface Session {
  conn: SMTPConnection;
  /** `host:port`. */
  host: string;
  /** The route settings the session was opened with; a changed route gets new sessions. */
  settings: string;
  openedAt: number;
  /** When it last went idle: its idle timer cannot run while the process is frozen (Lambda). */
  idleSince: number;
  transactions: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Whether the RSET after the last transaction was answered: false ends the session. */
  ready: Promise<boolean>;
  /** Settles (false) when the connection has ended, whoever ended it. */
  ended: Promise<false>;
  /** Sessions opened before the last close() are not kept. */
  generation: number;
  /** The server closed it or it failed: never used again. */
  gone: boolean;
}

/** A route's sessions: idle ones ready for a transaction, and how many are open in all. */
interface RoutePool {
  open: number;
  idle: Session[];
  /** Sends waiting for a session slot, first come first served. */
  waiting: Array<() => void>;
}

/** What a session's behaviour depends on: a route whose settings change gets sessions of its own. */
function settingsOf(route: RouteConfig): string {
  return JSON.stringify([
    route.tls,
    route.verifyCertificate,
    route.auth ?? null,
    route.connectTimeoutSeconds,
    route.socketTimeoutSeconds,
  ]);
}

/**
 * Delivers over SMTP with nodemailer's connection: hosts in order, moving on while a host cannot
 * be reached or refuses the session (as Postfix moves to the next MX), and reporting each
 * recipient's own RCPT reply. Never throws for an SMTP outcome.
 *
 * Sessions are kept per route and host and carry several transactions, as Postfix's connection
 * cache and nodemailer's pool do: RSET after each transaction, at most `maxMessagesPerConnection`
 * transactions and MAX_CONNECTION_AGE_MS per session, `maxConnectionsPerRoute` open at once,
 * closed after `idleTimeoutMs` idle. A 421 or a dropped connection ends a session; a message it
 * cost before any of its bytes were sent goes out again at once on a new session, which is safe
 * because the primary never saw it (RFC 5321 §4.2: a 421 closes the channel, nothing more).
 */
export function createSmtpMailer(options: SmtpMailerOptions): SmtpMailer {
  const maxMessages = options.maxMessagesPerConnection ?? MAX_MESSAGES_PER_CONNECTION;
  const idleMs = options.idleTimeoutMs ?? IDLE_CONNECTION_MS;
  const maxOpen = options.maxConnectionsPerRoute ?? MAX_CONNECTIONS_PER_ROUTE;
  const now = options.now ?? Date.now;
  const pools = new Map<string, RoutePool>();
  let generation = 0;

  const poolOf = (route: RouteConfig): RoutePool => {
    let pool = pools.get(route.name);
    if (!pool) {
      pool = { open: 0, idle: [], waiting: [] };
      pools.set(route.name, pool);
    }
    return pool;
  };

  const wakeOne = (pool: RoutePool) => pool.waiting.shift()?.();

  /** Frees the session's slot once, whatever ended it. */
  const forget = (pool: RoutePool, session: Session) => {
    if (session.gone) return;
    session.gone = true;
    clearTimeout(session.idleTimer);
    const i = pool.idle.indexOf(session);
    if (i >= 0) pool.idle.splice(i, 1);
    pool.open--;
    wakeOne(pool);
  };

  const discard = (pool: RoutePool, session: Session) => {
    forget(pool, session);
    session.conn.quit();
    // QUIT is a courtesy; a server that never answers it must not keep the socket open.
    setTimeout(() => session.conn.close(), 1000).unref();
  };

  const socketOf = (session: Session) => session.conn._socket || undefined;

  /** Puts a session back for the next transaction, after RSET, unless it has done its share. */
  const release = (pool: RoutePool, session: Session) => {
    if (
      session.generation !== generation ||
      session.gone ||
      session.conn.destroyed ||
      session.transactions >= maxMessages ||
      now() - session.openedAt >= MAX_CONNECTION_AGE_MS
    ) {
      discard(pool, session);
      return;
    }
    // RSET between transactions (nodemailer's pool does the same): a refused envelope leaves the
    // server mid-transaction, and a session that no longer answers is found out before the next
    // message is given to it. The session is free at once; the next transaction awaits the reply.
    session.ready = Promise.race([reset(session.conn).then(() => true), session.ended]).then(
      (ok) => ok,
      () => false,
    );
    void session.ready.then((ok) => ok || discard(pool, session));
    session.idleSince = now();
    pool.idle.push(session);
    // Idle sessions keep neither a Lambda nor a test run alive.
    socketOf(session)?.unref();
    session.idleTimer = setTimeout(() => discard(pool, session), idleMs);
    session.idleTimer.unref();
    wakeOne(pool);
  };

  /** Opens, greets and authenticates a new session; its slot is already counted. */
  const open = async (route: RouteConfig, host: string, port: number, pool: RoutePool): Promise<Session> => {
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
    let ended: (value: false) => void = () => {};
    const session: Session = {
      conn,
      host: `${host}:${port}`,
      settings: settingsOf(route),
      openedAt: now(),
      idleSince: now(),
      transactions: 0,
      idleTimer: undefined,
      generation,
      ready: Promise.resolve(true),
      ended: new Promise<false>((resolve) => {
        ended = resolve;
      }),
      gone: false,
    };
    // Errors outside a transaction (a late RST, an idle session timing out) must not crash the
    // process; a session that ends while idle gives its slot back.
    conn.on('error', () => {});
    conn.once('end', () => {
      forget(pool, session);
      ended(false);
    });
    try {
      await connect(conn);
      if (route.auth) {
        const pass = await options.passwords?.(route);
        if (pass === undefined)
          throw Object.assign(new Error('no password available for SMTP AUTH'), { code: 'EAUTH' });
        await login(conn, route.auth.user, pass);
      }
      return session;
    } catch (err) {
      discard(pool, session);
      throw err;
    }
  };

  /**
   * An idle session to the host, or a slot to open one. At the route's limit an idle session to
   * another host is closed to make room; failing that, this waits for a session to come free.
   */
  const acquire = async (route: RouteConfig, hostKey: string, pool: RoutePool): Promise<Session | null> => {
    const settings = settingsOf(route);
    let waited = false;
    for (;;) {
      // The most recently used first: the others then go idle long enough to be closed.
      for (let i = pool.idle.length - 1; i >= 0; i--) {
        const s = pool.idle[i] as Session;
        if (s.host !== hostKey) continue;
        // Idle past the limit with its timer not yet run (a Lambda instance frozen meanwhile): the
        // primary may have ended it, or be about to, so it is ended rather than used.
        if (s.settings !== settings || now() - s.idleSince >= idleMs) {
          discard(pool, s);
          continue;
        }
        pool.idle.splice(i, 1);
        clearTimeout(s.idleTimer);
        socketOf(s)?.ref();
        return s;
      }
      if (pool.open < maxOpen) {
        pool.open++;
        return null;
      }
      const other = pool.idle[0];
      if (other) {
        discard(pool, other);
        continue;
      }
      // One woken for a slot someone else took first keeps its place at the front.
      await new Promise<void>((resolve) =>
        waited ? pool.waiting.unshift(resolve) : pool.waiting.push(resolve),
      );
      waited = true;
    }
  };

  /**
   * One transaction on one host: on a kept session if there is one, else on a new session.
   * @returns the outcomes, or the reason the host could not take a session at all
   */
  const sendVia = async (
    route: RouteConfig,
    host: string,
    port: number,
    envelope: Envelope,
    raw: Buffer,
  ): Promise<{ outcomes: RecipientOutcome[] } | { hostError: string }> => {
    const hostKey = `${host}:${port}`;
    const pool = poolOf(route);
    let session = await acquire(route, hostKey, pool);
    // Bounded: every retry gives up a kept session, and a new session is never retried.
    for (;;) {
      const reused = session !== null;
      if (session === null) {
        try {
          session = await open(route, host, port, pool);
        } catch (caught) {
          return { hostError: `${hostKey}: ${describe(caught as SmtpError)}` };
        }
      }
      const current: Session = session;
      if (reused && !(await current.ready)) {
        // It did not answer RSET: it never had a byte of this message, which goes on a new session.
        session = await acquire(route, hostKey, pool);
        continue;
      }
      current.transactions++;
      const tx = transact(current.conn, envelope, raw);
      try {
        const info = await tx.done;
        release(pool, current);
        const rejected = new Map<string, SmtpError>();
        for (const e of (info.rejectedErrors ?? []) as SmtpError[])
          if (e.recipient) rejected.set(e.recipient, e);
        return {
          outcomes: envelope.to.map((recipient): RecipientOutcome => {
            const e = rejected.get(recipient);
            if (e)
              return { recipient, status: statusOf(e.responseCode), response: describe(e), host: hostKey };
            return { recipient, status: 'delivered', response: info.response.slice(0, 500), host: hostKey };
          }),
        };
      } catch (caught) {
        const err = caught as SmtpError;
        if (endsSession(err) || current.conn.destroyed) {
          discard(pool, current);
          // A kept session the primary closed before it saw a byte of this message (a 421 at a
          // session limit, an idle timeout just as we spoke): the message goes on a new session.
          if (reused && tx.bodyUntouched()) {
            session = await acquire(route, hostKey, pool);
            continue;
          }
        } else {
          release(pool, current);
        }
        const outcomes = outcomesOfError(err, envelope, raw, hostKey);
        if (outcomes) return { outcomes };
        // The session broke mid-transaction: the primary may already hold the message, so
        // another host must not get a second copy now (RFC 1047). Retry later instead.
        return {
          outcomes: envelope.to.map((recipient) => ({
            recipient,
            status: 'deferred' as const,
            response: `${hostKey}: ${describe(err)}`,
            host: null,
          })),
        };
      }
    }
  };

  return {
    async send(route, envelope, raw) {
      const hostErrors: string[] = [];
      for (const { host, port } of route.hosts) {
        const result = await sendVia(route, host, port, envelope, raw);
        if ('outcomes' in result) return result.outcomes;
        hostErrors.push(result.hostError);
      }
      // No host would take the session: try again later (Postfix: "delivery temporarily suspended").
      const response = hostErrors.join('; ') || 'no host to try';
      return envelope.to.map((recipient) => ({ recipient, status: 'deferred', response, host: null }));
    },
    async close() {
      generation++;
      for (const pool of pools.values()) for (const s of [...pool.idle]) discard(pool, s);
    },
    openConnections() {
      return Object.fromEntries([...pools].map(([name, pool]) => [name, pool.open]));
    },
  };
}
