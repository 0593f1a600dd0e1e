import * as z from 'zod';
import { awsConfigSchema } from './config-aws.js';
import { directoryProblems, directoryUserSchema } from './directory.js';
import { ConfigError } from './errors.js';

/** SES receiving: a message stored through the S3 action may be up to 40 MB. */
export const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;

const domainName = z
  .string()
  .min(3)
  .max(253)
  .regex(/^(?!-)[a-z0-9-]+(\.[a-z0-9-]+)+$/i, 'must be a DNS domain name such as example.com')
  .transform((d) => d.toLowerCase());

const emailAddress = z
  .string()
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address such as user@example.com')
  .transform((a) => a.toLowerCase());

/** A listening port. 0 ("any free port") is refused: the CLI and senders must know where to connect. */
const port = z.number().int().min(1, 'must be a port from 1 to 65535').max(65535);

/** The local runtime keeps its data in files and opens no storage port (nothing to point a client at). */
const noStoragePort = z
  .never({
    error:
      'no longer used: the local runtime keeps its records in SQLite and its raw messages as files in local.dataDir, and opens no storage port; remove this setting',
  })
  .optional();

const hostSchema = z.strictObject({
  /** Host name or IP address of one server of the route. */
  host: z.string().min(1),
  /** @default 25 */
  port: z.number().int().min(1).max(65535).default(25),
});

export const tlsModes = ['starttls-required', 'opportunistic', 'implicit', 'none'] as const;
export type TlsMode = (typeof tlsModes)[number];

const routeSchema = z
  .strictObject({
    /** A short name shown in the queue and in alerts. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    /** Domains whose recipients this route serves (split routing: `addresses` win over `domains`). */
    domains: z.array(domainName).default([]),
    /** Individual recipients this route serves, ahead of any domain route. */
    addresses: z.array(emailAddress).default([]),
    /** Servers tried in order; the next one is tried while one cannot be reached or refuses the session (4xx/5xx greeting). */
    hosts: z.array(hostSchema).min(1, 'a route needs at least one host'),
    /** @default 'opportunistic' */
    tls: z.enum(tlsModes).default('opportunistic'),
    /** Check the primary's certificate. @default true */
    verifyCertificate: z.boolean().default(true),
    auth: z
      .strictObject({
        user: z.string().min(1),
        /** Local runtime: the environment variable holding the password. */
        passwordEnv: z.string().min(1).optional(),
        /** AWS: the Secrets Manager secret (name or ARN) holding the password. */
        secretId: z.string().min(1).optional(),
      })
      .refine((a) => a.passwordEnv !== undefined || a.secretId !== undefined, {
        message: 'auth needs passwordEnv (local) or secretId (AWS)',
      })
      .optional(),
    /** Mailbox the SMTP check names in RCPT TO (never sent to). @default postmaster@ the route's first domain */
    probeRecipient: emailAddress.optional(),
    /** Seconds to wait for TCP connect and the greeting. @default 30 */
    connectTimeoutSeconds: z.number().int().min(1).max(300).default(30),
    /** Seconds of silence mid-transaction before giving up (Postfix smtp_data_done_timeout is 600). @default 120 */
    socketTimeoutSeconds: z.number().int().min(1).max(900).default(120),
    /**
     * A route kept for rehearsals (a test server, test mailboxes): a drill may run on it without
     * `confirmProduction`. Absent means false. @default false
     */
    test: z.boolean().optional(),
  })
  .refine((r) => r.domains.length + r.addresses.length > 0, {
    message: 'a route must name at least one domain or address',
  });

/**
 * Default history window: a month of mail in the webmail and the console, well past any continuity
 * event (`continuity.maxEventHours`, 5 days by default) and the queue lifetime.
 */
export const DEFAULT_HISTORY_DAYS = 30;

/**
 * Default webmail history: a month, as Mimecast's and Barracuda's continuity inboxes keep. Staff
 * need the mail from before the outage (the thread they were in, the invoice due this week), not
 * only what arrived since; a month covers the longest planned event (`continuity.maxEventHours`,
 * five days by default) several times over while keeping a page and a search cheap.
 */
export const DEFAULT_WEBMAIL_HISTORY_DAYS = 30;
/** Signed download links live five minutes by default: enough to start a download on a slow phone. */
export const DEFAULT_LINK_TTL_SECONDS = 300;
/**
 * Seconds a sent message waits in the outbound queue before it leaves, so the sender can take it
 * back: Gmail's default undo window is 5 s and its longest 30 s; 10 s lets a person notice a
 * missing attachment without making an urgent reply feel slow.
 */
export const DEFAULT_UNDO_SECONDS = 10;
/** Past a few minutes "undo" is a scheduled send, which the queue's sweeps are not timed for. */
export const MAX_UNDO_SECONDS = 300;
/**
 * Recipients on one message from the webmail: a team or a customer thread, never a mailing list.
 * A stolen session can then reach few people per message (and the rate limits cap the day).
 */
export const DEFAULT_MAX_RECIPIENTS = 50;
/** Messages a user may send in an hour: a busy person writes a few dozen; a spam run writes thousands. */
export const DEFAULT_MESSAGES_PER_HOUR = 60;
/** Recipients a user may reach in 24 hours: well under SES's default sending quota's share of one person. */
export const DEFAULT_RECIPIENTS_PER_DAY = 500;

/** A link leaks through browser history and shared screens; it must not outlive a short task. */
export const MAX_LINK_TTL_SECONDS = 3600;
/** Under ten seconds, a link can expire between the API answer and the browser following it. */
export const MIN_LINK_TTL_SECONDS = 10;

/**
 * A drill's default targets, in seconds: detected within a minute (two failed checks, as an outage
 * pages), paged at once, acknowledged and invoked within a quarter of an hour (a phone at night),
 * staff texted within five minutes of the invocation, someone in the webmail within half an hour,
 * and the held mail handed over within a quarter of an hour of the revocation.
 */
export const DEFAULT_DRILL_TARGETS = {
  detectionSeconds: 60,
  pageSeconds: 60,
  acknowledgeSeconds: 900,
  invokeSeconds: 900,
  staffNotifiedSeconds: 300,
  firstSignInSeconds: 1800,
  handoverSeconds: 900,
} as const;

/** Directory groups named for the invoke text: a few teams, never a list of people. */
export const MAX_STAFF_GROUPS = 50;

/**
 * The staff notices' default texts. Each SMS stays in GSM-7 (no curly quotes, no '…': one such
 * character makes the whole text UCS-2 at 70 characters a segment) and, with a webmail address of
 * up to 60 characters, within two segments. They say what happened, where to read mail, and how to
 * sign in when the company sign-in is down, with nothing to click but the webmail's own address.
 */
export const DEFAULT_STAFF_TEMPLATES = {
  invoke: {
    sms: '{organisation}: our email is down. Read and send work mail at {webmailUrl} - if the company sign-in fails there, choose the option to get a code by text to this phone.',
    emailSubject: '{organisation} email is down: use the continuity webmail',
    email: [
      'Our email system is down. Your mail is safe: nothing sent to you is lost.',
      '',
      'Until it is back, read and send your work mail at {webmailUrl}',
      '',
      'Sign in as usual. If the company sign-in does not work, choose the option to get a code by text message: it goes to the personal mobile number the IT team has on file. Nobody from IT will ever ask you for that code.',
      '',
      'We will tell you when the email system is back.',
      '{organisation} IT',
    ].join('\n'),
  },
  revoke: {
    sms: '{organisation}: email is back. Use your usual mail app again; mail from the outage and what you sent from the webmail is being moved into it. Nothing to do.',
    emailSubject: '{organisation} email is back',
    email: [
      'Our email system is working again. Use your usual mail app from now on.',
      '',
      'Mail that arrived during the outage, and the messages you sent from the continuity webmail, are being moved into your mailbox; this can take a while. You do not need to do anything.',
      '',
      '{organisation} IT',
    ].join('\n'),
  },
} as const;

/** The longest SMS template: three GSM-7 segments (lambdas/console/notices.ts MAX_NOTICE_SMS_CHARS). */
const MAX_TEMPLATE_SMS_CHARS = 459;

function noticeTemplateSchema(defaults: { sms: string; emailSubject: string; email: string }) {
  return z
    .strictObject({
      /** The SMS text. */
      sms: z.string().trim().min(1).max(MAX_TEMPLATE_SMS_CHARS).default(defaults.sms),
      /** The email's subject, to personal addresses. */
      emailSubject: z.string().trim().min(1).max(200).default(defaults.emailSubject),
      /** The email's text. */
      email: z.string().trim().min(1).max(10_000).default(defaults.email),
    })
    .prefault({});
}

/**
 * Who may use the admin API: what a sign-in must have proved. See the README's "Admin sign-in and
 * MFA" for what counts as a second factor.
 */
const adminMfaSchema = z
  .strictObject({
    /** Refuse an admin whose sign-in had no second factor. @default true */
    required: z.boolean().default(true),
    /**
     * Accept admins signed in through a federated IdP (the staff pool's federation, or
     * `aws.adminAuth`) without an MFA claim, because that IdP enforces MFA itself (Entra
     * conditional access, Okta sign-on policy). @default false: the token must say so
     */
    trustFederatedMfa: z.boolean().default(false),
    /** The claim a federated IdP asserts MFA in (mapped by Cognito, or your provider's own). @default 'amr' */
    claim: z.string().min(1).max(128).default('amr'),
    /** Values of `claim` that mean the sign-in had a second factor. @default ['mfa'] */
    values: z.array(z.string().min(1).max(128)).min(1).default(['mfa']),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    /** Organisation name, shown in alerts. */
    organisation: z.string().min(1).default('Lifeboat'),
    /** Domains Lifeboat accepts mail for; anything else is refused at RCPT (no open relay). */
    domains: z.array(domainName).min(1, 'list at least one accepted domain'),
    /** Where mail for each recipient goes. */
    routes: z.array(routeSchema).min(1, 'configure at least one route to the primary'),
    /** Name this gateway uses in EHLO and in the trace header. @default 'lifeboat.local' */
    hostname: z.string().min(1).default('lifeboat.local'),
    /** The identity provider group whose members may use the admin API and console. @default 'lifeboat-admins' */
    adminGroup: z.string().min(1).default('lifeboat-admins'),
    /** What an admin's sign-in must have proved before the admin API answers. */
    adminMfa: adminMfaSchema,
    /** Days raw mail is kept (the source of truth, for replays). Must cover a whole continuity event. @default 365 */
    retentionDays: z.number().int().min(1).max(36500).default(365),
    /**
     * The history window: days the message and delivery records behind the webmail, the queue and the
     * console are kept (capped at retentionDays; see {@link recordDays}). Older mail stays as raw mail,
     * from which the records can be rebuilt; on AWS it moves to a cheaper storage class after this.
     * @default 30
     */
    historyDays: z.number().int().min(1).max(36500).default(DEFAULT_HISTORY_DAYS),
    queue: z
      .strictObject({
        /** First retry delay (Postfix minimal_backoff_time). @default 300 */
        minBackoffSeconds: z.number().int().min(1).default(300),
        /** Longest retry delay (Postfix maximal_backoff_time). @default 4000 */
        maxBackoffSeconds: z.number().int().min(1).default(4000),
        /** How long a message may stay undelivered before it fails (Postfix maximal_queue_lifetime). @default 120 */
        lifetimeHours: z.number().int().min(1).default(120),
        /** How often the sweeper looks for due retries. @default 60 */
        sweepIntervalSeconds: z.number().int().min(5).max(3600).default(60),
        /** A claim on a delivery older than this is taken to be a crashed worker's; a route whose timeouts allow a longer attempt gets a longer lease. @default 300 */
        leaseSeconds: z.number().int().min(30).max(3600).default(300),
      })
      .prefault({}),
    continuity: z
      .strictObject({
        /** Longest continuity event to plan for: queue lifetime may not be shorter. @default 120 */
        maxEventHours: z.number().int().min(1).default(120),
        probes: z
          .strictObject({
            /**
             * Seconds between probe rounds. On AWS a schedule runs at most once a minute, so each
             * minute's probe run does that minute's rounds; 30 puts the first failed check within
             * 30 s of an outage, so with its confirming check the page goes out within a minute.
             * @default 30
             */
            intervalSeconds: z.number().int().min(10).max(3600).default(30),
            /** SMTP check (connect, EHLO, STARTTLS, MAIL, RCPT, QUIT) against every host of every route. @default true */
            smtpCheck: z.boolean().default(true),
            /**
             * Seconds after a failed SMTP check's start that the confirming check runs, instead of at
             * the next round: long enough for a blip (one refused connection, a restarting MTA) to
             * pass, short enough that `thresholds.consecutiveFailures` checks page within a minute.
             * null waits for the next round. @default 10
             */
            confirmAfterSeconds: z.number().int().min(1).max(3600).nullable().default(10),
            /**
             * Seconds an SMTP check may take, connect to RCPT, before it counts as failed (never more
             * than the route's connectTimeoutSeconds). A healthy primary answers in a second or two,
             * Postfix's postscreen greets after 6 s, and Nagios's check_smtp waits 10 s; a primary that
             * drops packets is then known within seconds, not after a 30 s connect timeout. @default 10
             */
            checkTimeoutSeconds: z.number().int().min(1).max(300).default(10),
            roundTrip: z
              .strictObject({
                /** A mailbox on the primary that forwards everything to `returnAddress`. */
                sendTo: emailAddress,
                /** An address on a (sub)domain whose MX is this gateway, e.g. probe@lifeboat.example.com. */
                returnAddress: emailAddress,
                /** Seconds a probe may take to come back before it counts as failed. @default 600 */
                timeoutSeconds: z.number().int().min(30).default(600),
              })
              .optional(),
          })
          .prefault({}),
        thresholds: z
          .strictObject({
            /** Failed SMTP checks (or round trips) in a row that open an event. @default 2 */
            consecutiveFailures: z.number().int().min(1).default(2),
            /** Share of real delivery attempts failing in the window that opens an event. @default 0.5 */
            failureRatio: z.number().min(0).max(1).default(0.5),
            /** Attempts needed in the window before the failure ratio counts. @default 5 */
            minSamples: z.number().int().min(1).default(5),
            /** Sliding window for organic figures, in minutes. @default 10 */
            windowMinutes: z.number().int().min(1).default(10),
            /** 95th-percentile SMTP transaction time that opens an event, in seconds. @default 60 */
            p95LatencySeconds: z.number().min(1).default(60),
            /** Age of the oldest deferred delivery that opens an event, in minutes. @default 30 */
            oldestDeferredMinutes: z.number().int().min(1).default(30),
            /** Healthy probe rounds in a row before all-clear (hysteresis against flapping). @default 3 */
            healthyRoundsForAllClear: z.number().int().min(1).default(3),
          })
          .prefault({}),
        paging: z
          .strictObject({
            /** Admin mobile numbers in E.164 form, paged by SMS. @default [] */
            adminPhones: z
              .array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +447700900123'))
              .default([]),
            /** Alternate admin addresses, off the primary's domains (they must work while it is down). @default [] */
            adminEmails: z.array(emailAddress).default([]),
            /** Minutes between repeated pages until someone acknowledges. @default 30 */
            repeatMinutes: z.number().int().min(1).default(30),
            /**
             * Base URL of the admin console; pages link to `<consoleUrl>/events/<id>`. @default the
             * local runtime's own, `http://<local.listen>:<local.apiPort>/console` (see {@link defaultConsoleUrl})
             */
            consoleUrl: z.url().optional(),
          })
          .prefault({}),
        /**
         * Minutes in `alerting`, unacknowledged, before continuity is invoked automatically; null
         * turns automatic invocation off. @default 30
         */
        autoInvokeAfterMinutes: z.number().int().min(1).nullable().default(30),
        staff: z
          .strictObject({
            /** Staff mobile numbers texted when continuity is invoked. @default [] */
            phones: z.array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number')).default([]),
            /**
             * Where staff read and send mail during an event: the webmail's address as their phones
             * reach it (CloudFront's or your own domain in AWS). @default the local runtime's own,
             * `http://<local.listen>:<local.apiPort>/mail/` (see {@link defaultWebmailUrl})
             */
            webmailUrl: z.url().optional(),
            /**
             * The directory groups (`webmail.users[].groups`, the local directory, Cognito groups) a
             * staff notice goes to when the admin names no audience: the console's first choice and
             * `lifeboat notify` without `--group` or `--user`. @default [] (every member of staff)
             */
            groups: z.array(z.string().trim().min(1).max(128)).max(MAX_STAFF_GROUPS).default([]),
            /**
             * The texts of the staff notices an admin sends from the console or `lifeboat notify`
             * (and of the text staff get when continuity is invoked). `{organisation}` and
             * `{webmailUrl}` are filled in. @default what happened, the webmail link and how to sign
             * in when the company sign-in is down, within two SMS segments
             */
            templates: z
              .strictObject({
                invoke: noticeTemplateSchema(DEFAULT_STAFF_TEMPLATES.invoke),
                revoke: noticeTemplateSchema(DEFAULT_STAFF_TEMPLATES.revoke),
              })
              .prefault({}),
          })
          .prefault({}),
        handover: z
          .strictObject({
            /** Most messages a second handed back to the primary. @default 10 */
            ratePerSecond: z.number().min(0.1).max(1000).default(10),
            /** Messages in flight at once; 1 keeps strict arrival order at the primary. @default 2 */
            concurrency: z.number().int().min(1).max(64).default(2),
          })
          .prefault({}),
      })
      .prefault({}),
    policy: z
      .strictObject({
        /** SES virus verdict FAIL. Only quarantine is allowed: malware never reaches a mailbox. */
        virus: z.literal('quarantine').default('quarantine'),
        /** SES spam verdict FAIL. @default 'deliver' (the primary's own filter decides) */
        spam: z.enum(['deliver', 'quarantine']).default('deliver'),
        /** DMARC FAIL where the sender's policy is reject. @default 'quarantine' */
        dmarcReject: z.enum(['deliver', 'quarantine']).default('quarantine'),
      })
      .prefault({}),
    /** The staff webmail: who the staff are, how far back they see, how long download links live. */
    webmail: z
      .strictObject({
        /**
         * Days of mail a user's mailbox lists and searches, whatever each delivery's state. The
         * records behind it are kept for `historyDays` (top level), so the smaller of the two applies.
         * @default 30
         */
        historyDays: z.number().int().min(1).max(36500).default(DEFAULT_WEBMAIL_HISTORY_DAYS),
        /** A JSON or CSV file of the staff directory (id, name, addresses, groups, phone). */
        directoryFile: z.string().min(1).optional(),
        /** The staff directory inline, instead of `directoryFile`. */
        users: z.array(directoryUserSchema).optional(),
        /** Seconds an attachment or raw-message link stays valid. @default 300 */
        linkTtlSeconds: z
          .number()
          .int()
          .min(MIN_LINK_TTL_SECONDS)
          .max(MAX_LINK_TTL_SECONDS)
          .default(DEFAULT_LINK_TTL_SECONDS),
        /** Sending from the webmail: the undo window and the limits that keep a stolen session from spamming. */
        send: z
          .strictObject({
            /** Seconds a sent message waits before it leaves, during which it can be undone. @default 10 */
            undoSeconds: z.number().int().min(0).max(MAX_UNDO_SECONDS).default(DEFAULT_UNDO_SECONDS),
            /** Recipients (To, Cc and Bcc together) on one message. @default 50 */
            maxRecipients: z.number().int().min(1).max(1000).default(DEFAULT_MAX_RECIPIENTS),
            /** Messages one user may send per hour. @default 60 */
            messagesPerHour: z.number().int().min(1).max(10_000).default(DEFAULT_MESSAGES_PER_HOUR),
            /** Recipients one user may reach per 24 hours. @default 500 */
            recipientsPerDay: z.number().int().min(1).max(100_000).default(DEFAULT_RECIPIENTS_PER_DAY),
          })
          .prefault({}),
      })
      .prefault({}),
    /**
     * Drills: rehearsals of a continuity event on a test route or test mailboxes, timed against
     * these targets (each in seconds from the step named; the report says pass or fail per step).
     */
    drill: z
      .strictObject({
        /** Mailboxes kept for rehearsals: a drill may name them without `confirmProduction`. @default [] */
        testMailboxes: z.array(emailAddress).default([]),
        /**
         * Phones texted "staff notified" in a drill, besides those of the directory's users
         * (`webmail.users`) whose addresses are in its scope. @default []
         */
        staffPhones: z.array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number')).default([]),
        targets: z
          .strictObject({
            /** From the drill's start (the simulated outage) to the event opening. @default 60 */
            detectionSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.detectionSeconds),
            /** From detection to the first page. @default 60 */
            pageSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.pageSeconds),
            /** From the page to its acknowledgement. @default 900 */
            acknowledgeSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.acknowledgeSeconds),
            /** From detection to continuity invoked. @default 900 */
            invokeSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.invokeSeconds),
            /** From the invocation to the staff in scope texted. @default 300 */
            staffNotifiedSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.staffNotifiedSeconds),
            /** From the invocation to the first webmail sign-in of a user in scope. @default 1800 */
            firstSignInSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.firstSignInSeconds),
            /** From the revocation to the held probe mail handed over. @default 900 */
            handoverSeconds: z.number().int().min(1).default(DEFAULT_DRILL_TARGETS.handoverSeconds),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Settings read only by the local runtime (`npm start`). */
    local: z
      .strictObject({
        /** Folder for the local records (SQLite), raw messages and demo primary data, private to the user; survives restarts. @default '.lifeboat-data' */
        dataDir: z.string().min(1).default('.lifeboat-data'),
        /** Loopback address every local listener binds to. @default '127.0.0.1' */
        listen: z.string().min(1).default('127.0.0.1'),
        /** SMTP port standing in for SES receiving. @default 2525 */
        smtpPort: port.default(2525),
        /**
         * Certificate and private key (PEM files) the SMTP receiver offers in STARTTLS, read at start
         * and again once a day. @default a self-signed certificate made in the data folder at first
         * start and renewed before it expires
         */
        tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
        /** Earlier versions' storage ports: refused with a reason rather than silently ignored. */
        dynamodbPort: noStoragePort,
        s3Port: noStoragePort,
        /** The HTTP port: the admin API (the same handler as API Gateway's), the webmail, its API and its sign-in (/oidc). @default 8787 */
        apiPort: port.default(8787),
        /** Port of the demo primary started when no config file is given. @default 2526 */
        demoPrimaryPort: port.default(2526),
        /**
         * The relay mail sent from the webmail to outside addresses leaves through (your ISP's or your
         * mail provider's submission service). Mail to the accepted domains never leaves: it is
         * delivered here, as inbound mail is. @default none: outside recipients are refused, except in
         * demo mode, where a local sink takes them (`<dataDir>/demo-sink/`)
         */
        relay: z
          .strictObject({
            host: z.string().min(1),
            /** @default 587 (submission) */
            port: port.default(587),
            /** @default 'starttls-required' */
            tls: z.enum(tlsModes).default('starttls-required'),
            /** @default true */
            verifyCertificate: z.boolean().default(true),
            auth: z.strictObject({ user: z.string().min(1), passwordEnv: z.string().min(1) }).optional(),
          })
          .optional(),
        /** Port of the demo sink, the relay of demo mode, which writes what it takes to `<dataDir>/demo-sink/`. @default 2527 */
        demoSinkPort: port.default(2527),
        /**
         * DNS answers for SPF, DKIM and DMARC checks, by name and record type, e.g.
         * `{ "example.org": { "TXT": ["v=spf1 ip4:127.0.0.1 -all"] } }`. Names not listed do not exist.
         * @default {}
         */
        dns: z.record(z.string(), z.record(z.string(), z.array(z.string()))).default({}),
      })
      .prefault({}),
    /** Settings read only by the AWS deployment. */
    aws: awsConfigSchema,
  })
  // Cross-field checks run even when other fields are wrong (`when`), so a config's problems are
  // all reported in one round: the value may then be partly invalid, hence every guard below.
  .superRefine(
    (c, ctx) => {
      const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
      const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
      const minBackoff = num(c.queue?.minBackoffSeconds);
      const maxBackoff = num(c.queue?.maxBackoffSeconds);
      if (minBackoff !== undefined && maxBackoff !== undefined && maxBackoff < minBackoff) {
        ctx.addIssue({
          code: 'custom',
          path: ['queue', 'maxBackoffSeconds'],
          message: 'must not be smaller than queue.minBackoffSeconds',
        });
      }
      const maxEventHours = num(c.continuity?.maxEventHours);
      const lifetime = num(c.queue?.lifetimeHours);
      if (maxEventHours !== undefined && lifetime !== undefined && lifetime < maxEventHours) {
        ctx.addIssue({
          code: 'custom',
          path: ['queue', 'lifetimeHours'],
          message: `must be at least continuity.maxEventHours (${maxEventHours}): mail is never bounced because an outage ran long`,
        });
      }
      const probeInterval = num(c.continuity?.probes?.intervalSeconds);
      const confirmAfter = num(c.continuity?.probes?.confirmAfterSeconds);
      if (probeInterval !== undefined && confirmAfter !== undefined && confirmAfter > probeInterval) {
        ctx.addIssue({
          code: 'custom',
          path: ['continuity', 'probes', 'confirmAfterSeconds'],
          message: `must not be longer than continuity.probes.intervalSeconds (${probeInterval}): the next round would come first (use null to wait for it)`,
        });
      }
      const checkTimeout = num(c.continuity?.probes?.checkTimeoutSeconds);
      if (probeInterval !== undefined && checkTimeout !== undefined && checkTimeout > probeInterval) {
        ctx.addIssue({
          code: 'custom',
          path: ['continuity', 'probes', 'checkTimeoutSeconds'],
          message: `must not be longer than continuity.probes.intervalSeconds (${probeInterval}): a round must end by the time the next is due`,
        });
      }
      const retention = num(c.retentionDays);
      if (maxEventHours !== undefined && retention !== undefined && retention * 24 < maxEventHours) {
        ctx.addIssue({
          code: 'custom',
          path: ['retentionDays'],
          message: 'must cover continuity.maxEventHours: mail held in an event must outlive it',
        });
      }
      const history = num(c.historyDays);
      if (history !== undefined && retention !== undefined && lifetime !== undefined) {
        const days = Math.min(history, retention);
        if (days * 24 < lifetime) {
          ctx.addIssue({
            code: 'custom',
            path: ['historyDays'],
            message: `must cover queue.lifetimeHours (${lifetime}), with retentionDays: a delivery's record must outlive its retries`,
          });
        }
      }
      const domains = list(c.domains).filter((d): d is string => typeof d === 'string');
      const accepted = (d: unknown) => typeof d !== 'string' || domains.includes(d.toLowerCase());
      if (c.webmail?.users !== undefined && c.webmail?.directoryFile !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['webmail', 'users'],
          message: 'give the directory once: webmail.users or webmail.directoryFile, not both',
        });
      }
      for (const p of directoryProblems(list(c.webmail?.users), domains)) {
        ctx.addIssue({ code: 'custom', path: ['webmail', 'users', ...p.path], message: p.message });
      }
      const routes = list(c.routes).filter((r) => typeof r === 'object' && r !== null);
      const seen = new Set<string>();
      routes.forEach((route, i) => {
        if (typeof route.name === 'string' && seen.has(route.name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'name'],
            message: `duplicate route name ${route.name}`,
          });
        }
        seen.add(route.name);
        list(route.domains).forEach((d, j) => {
          if (!accepted(d)) {
            ctx.addIssue({
              code: 'custom',
              path: ['routes', i, 'domains', j],
              message: `${d} is not in the accepted domains`,
            });
          }
        });
        list(route.addresses).forEach((a, j) => {
          if (typeof a !== 'string') return;
          if (!accepted(a.slice(a.lastIndexOf('@') + 1))) {
            ctx.addIssue({
              code: 'custom',
              path: ['routes', i, 'addresses', j],
              message: `${a} is not in an accepted domain`,
            });
          }
        });
      });
      list(c.drill?.testMailboxes).forEach((a, j) => {
        if (typeof a === 'string' && !accepted(a.slice(a.lastIndexOf('@') + 1))) {
          ctx.addIssue({
            code: 'custom',
            path: ['drill', 'testMailboxes', j],
            message: `${a} is not in an accepted domain`,
          });
        }
      });
      const noticeFrom = c.aws?.staffEmailFrom;
      if (typeof noticeFrom === 'string' && !accepted(noticeFrom.slice(noticeFrom.lastIndexOf('@') + 1))) {
        ctx.addIssue({
          code: 'custom',
          path: ['aws', 'staffEmailFrom'],
          message: `${noticeFrom} is not in an accepted domain: SES sends staff notices only from the identity of one`,
        });
      }
      const probeReturn = c.continuity?.probes?.roundTrip?.returnAddress;
      const probeDomain =
        typeof probeReturn === 'string' ? probeReturn.slice(probeReturn.lastIndexOf('@') + 1) : undefined;
      if (probeDomain && !accepted(probeDomain)) {
        ctx.addIssue({
          code: 'custom',
          path: ['continuity', 'probes', 'roundTrip', 'returnAddress'],
          message: `${probeDomain} must be an accepted domain (its MX is this gateway)`,
        });
      }
      for (const d of domains) {
        // The round-trip probe's domain needs no route: its mail ends at the gateway.
        if (d === probeDomain) continue;
        if (
          !routes.some((r) => list(r.domains).some((x) => typeof x === 'string' && x.toLowerCase() === d))
        ) {
          ctx.addIssue({ code: 'custom', path: ['domains'], message: `no route serves ${d}` });
        }
      }
    },
    { when: () => true },
  )
  // Staff are texted a link that works, admins paged with one: unless configured, the runtime's own
  // webmail and console on its port.
  .transform((c) => ({
    ...c,
    continuity: {
      ...c.continuity,
      paging: {
        ...c.continuity.paging,
        consoleUrl: c.continuity.paging.consoleUrl ?? defaultConsoleUrl(c.local),
      },
      staff: {
        ...c.continuity.staff,
        webmailUrl: c.continuity.staff.webmailUrl ?? defaultWebmailUrl(c.local),
      },
    },
  }));

export type LifeboatConfig = z.infer<typeof configSchema>;

/**
 * Days a message or delivery record is kept: the history window, never longer than the raw mail it
 * describes.
 */
export function recordDays(config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays'>): number {
  return Math.min(config.historyDays, config.retentionDays);
}

/**
 * Days back the webmail lists and searches: `webmail.historyDays`, never past the records that
 * describe the mail (recordDays).
 */
export function webmailHistoryDays(
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays' | 'webmail'>,
): number {
  return Math.min(config.webmail.historyDays, recordDays(config));
}
/**
 * The origin a browser reaches the local runtime's HTTP server at: a wildcard `local.listen`
 * (every interface) is reached on loopback, an IPv6 address in brackets.
 */
export function localOrigin(local: { listen: string }, port: number): string {
  const host = local.listen === '0.0.0.0' ? '127.0.0.1' : local.listen === '::' ? '::1' : local.listen;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The webmail address staff are texted when `continuity.staff.webmailUrl` is not set: the local
 * runtime's webmail on `local.listen` and `local.apiPort`.
 */
export function defaultWebmailUrl(local: { listen: string; apiPort: number }): string {
  return `${localOrigin(local, local.apiPort)}/mail/`;
}

/**
 * The console address admins are paged with when `continuity.paging.consoleUrl` is not set: the
 * local runtime's console on `local.listen` and `local.apiPort`.
 */
export function defaultConsoleUrl(local: { listen: string; apiPort: number }): string {
  return `${localOrigin(local, local.apiPort)}/console`;
}

export type RouteConfig = LifeboatConfig['routes'][number];
export type ConfigInput = z.input<typeof configSchema>;

/** Formats every zod issue as `path: message`, one per line. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/**
 * Validates a deployment config, reporting every problem with its path.
 * @throws ConfigError listing all problems
 */
export function parseConfig(input: unknown, source = 'config'): LifeboatConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(source, formatIssues(result.error.issues));
  }
  return result.data;
}

/** Parses config from JSON text, naming the source in the error. */
export function parseConfigJson(text: string, source = 'config'): LifeboatConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(source, [`(root): not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, source);
}
