import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './executables.js';
import { freePort, probePort, waitUntil } from './net.js';

export { freePort } from './net.js';
export { hasSwaks, type SwaksOptions, type SwaksResult, sendWithSwaks } from './swaks.js';

/** Postfix queues that hold mail; `defer`, `bounce`, `trace` and `flush` only hold logs. */
export type QueueName = 'maildrop' | 'incoming' | 'active' | 'deferred' | 'hold';
const MAIL_QUEUES: readonly QueueName[] = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

// Above SES receiving's 40 MB so that, in a test, the primary is never the smaller limit.
const MESSAGE_SIZE_LIMIT_BYTES = 50 * 1024 * 1024;
// `postfix stop` itself waits 5 s and then kills; this leaves room for that and the port check.
const STOP_TIMEOUT_MS = 15_000;
const DOMAIN_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i;

interface CommonOptions {
  /** Domains this instance accepts mail for; mail for any other domain is refused with 554. */
  domains: string[];
  /** TCP port for the SMTP listener. @default a free port from {@link freePort} */
  port?: number;
  /** IPv4 address to listen on. @default '127.0.0.1' */
  address?: string;
  /** `myhostname`: the name in the banner and in the Received header this instance adds. @default `postfix-<port>.lifeboat.test` */
  hostname?: string;
  /**
   * Extra or overriding main.cf settings, applied last. For example a primary that refuses one
   * user: `{ smtpd_recipient_restrictions: 'check_recipient_access inline:{{gone@corp.test=550 5.1.1 no such user}}' }`,
   * or one that retries deferred mail every second: `{ queue_run_delay: '1s', minimal_backoff_time: '1s', maximal_backoff_time: '2s' }`.
   */
  mainCf?: Record<string, string | number>;
  /** Start the instance before `create` resolves. @default true */
  start?: boolean;
}

/** A primary mail server: delivers mail for `domains` into one Maildir. */
export interface MailboxModeOptions extends CommonOptions {
  mode: 'mailbox';
}

/** A relay: accepts mail for `domains` and forwards all of it to `relayhost`. */
export interface RelayModeOptions extends CommonOptions {
  mode: 'relay';
  /** Where to relay, `host:port` or `[host]:port`; MX lookups never happen. */
  relayhost: string;
}

export type PostfixOptions = MailboxModeOptions | RelayModeOptions;

/** One message as the mailbox-mode instance stored it in its Maildir. */
export interface DeliveredMessage {
  /** Path of the Maildir file. */
  file: string;
  /** The file as stored: Postfix's delivery headers prepended, LF line endings (Maildir convention). */
  raw: Buffer;
  /**
   * `raw` without the four header fields this instance prepended (Return-Path, X-Original-To,
   * Delivered-To and its own Received), i.e. what the SMTP client sent, with LF line endings.
   */
  original: Buffer;
  /** The Message-ID header as sent, angle brackets included, or `undefined` when absent. */
  messageId: string | undefined;
  /** Envelope recipient this copy was delivered to (from Delivered-To). */
  recipient: string | undefined;
  /** Envelope sender (from Return-Path, without angle brackets; empty for a bounce). */
  sender: string | undefined;
}

interface PostfixTools {
  postfix: string;
  postconf: string;
  postqueue: string;
  postsuper: string;
}

/** Why a private Postfix instance cannot run here, or `undefined` when it can. */
export function postfixUnavailableReason(): string | undefined {
  if (process.platform !== 'linux')
    return `a private Postfix instance needs Linux, this is ${process.platform}`;
  if (findExecutable('postfix') === undefined) return 'Postfix is not installed (apt-get install postfix)';
  if (process.getuid?.() !== 0) {
    return 'starting a private Postfix instance needs root: its master daemon starts as root and drops to the postfix user';
  }
  return undefined;
}

/** Whether a private Postfix instance can be started here (Postfix installed, Linux, root). */
export function hasPostfix(): boolean {
  return postfixUnavailableReason() === undefined;
}

function postfixTools(): PostfixTools {
  const reason = postfixUnavailableReason();
  if (reason !== undefined) throw new Error(reason);
  const tool = (name: string): string => {
    const path = findExecutable(name);
    if (path === undefined) throw new Error(`Postfix is installed but ${name} is missing`);
    return path;
  };
  return {
    postfix: tool('postfix'),
    postconf: tool('postconf'),
    postqueue: tool('postqueue'),
    postsuper: tool('postsuper'),
  };
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return await new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr });
    });
  });
}

function userIds(name: string, fallback: number): { uid: number; gid: number } {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
    }
  } catch {
    // no readable passwd file: use the conventional id
  }
  return { uid: fallback, gid: fallback };
}

function postfixVersion(postconf: string): [number, number] {
  const version = execFileSync(postconf, ['-d', '-h', 'mail_version'], { encoding: 'utf8' }).trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return [major, minor];
}

function normaliseRelayhost(relayhost: string): string {
  const match = /^\[?([^\]\s:]+|[^\]\s]+(?=\]))\]?(?::(\d+))?$/.exec(relayhost.trim());
  if (match === null)
    throw new Error(`relayhost must look like 127.0.0.1:2525, got ${JSON.stringify(relayhost)}`);
  // Brackets make Postfix connect to the host itself instead of looking up its MX.
  return match[2] === undefined ? `[${match[1]}]` : `[${match[1]}]:${match[2]}`;
}

function masterCf(address: string, port: number): string {
  // Written whole instead of copied from the distribution, whose chroot column differs between
  // packages: a chroot would need resolv.conf and friends copied into the temp queue directory.
  const services = [
    `${address}:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'virtual unix - n n - - virtual',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    // maillog_file needs the postlog service.
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `${services.join('\n')}\n`;
}

function headerSection(raw: Buffer): string {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
}

function headerValue(headers: string, name: string): string | undefined {
  const pattern = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im');
  return pattern.exec(headers)?.[1]?.trim();
}

// The header fields Postfix prepends: virtual(8) adds the first three at delivery, cleanup(8)
// adds its Received. A field may be folded over several lines.
const PREPENDED_FIELDS = ['return-path', 'x-original-to', 'delivered-to', 'received'];

function stripPrependedHeaders(raw: Buffer): Buffer {
  let offset = 0;
  for (const name of PREPENDED_FIELDS) {
    const head = raw.subarray(offset, offset + name.length + 1).toString('latin1');
    if (head.toLowerCase() !== `${name}:`) continue;
    let end = raw.indexOf(0x0a, offset);
    while (end !== -1 && (raw[end + 1] === 0x20 || raw[end + 1] === 0x09)) end = raw.indexOf(0x0a, end + 1);
    if (end === -1) break;
    offset = end + 1;
  }
  return raw.subarray(offset);
}

function maildirOrder(name: string): [number, number] {
  const match = /^(\d+)\.[^.]*?M(\d+)/.exec(name);
  return match === null ? [Number.MAX_SAFE_INTEGER, 0] : [Number(match[1]), Number(match[2])];
}

async function listFiles(directory: string): Promise<string[]> {
  try {
    const entries = await readdir(directory, { withFileTypes: true, recursive: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

const liveInstances = new Set<PostfixInstance>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that throws before its afterAll must not leave a Postfix master running.
  process.once('exit', () => {
    for (const instance of liveInstances) instance.disposeSync();
  });
}

/**
 * A throwaway Postfix instance on loopback, with its own config, queue, data and mail
 * directories under one temp directory, so several can run side by side and the system
 * Postfix (if any) is never touched.
 *
 * Mailbox mode stands in for an organisation's primary mail server; relay mode forwards to an
 * SMTP sink for throughput runs. DNS is never used and nothing is relayed beyond what the
 * mode sets up. Requires Linux and root ({@link postfixUnavailableReason}).
 *
 * @example
 * const primary = await PostfixInstance.create({ mode: 'mailbox', domains: ['corp.test'] });
 * await sendWithSwaks({ port: primary.port, to: 'ann@corp.test' });
 * await primary.waitForMessages(1);
 * await primary.dispose();
 */
export class PostfixInstance {
  /** Root of everything this instance owns; removed by {@link dispose}. */
  readonly dir: string;
  /** The instance's config_directory (main.cf, master.cf); pass to `postfix -c`. */
  readonly configDir: string;
  readonly queueDir: string;
  /** The Maildir that mailbox mode delivers every message to. */
  readonly maildir: string;
  /** Postfix's own log (maillog_file), for diagnosing a failed test. */
  readonly logFile: string;
  readonly mode: PostfixOptions['mode'];
  readonly address: string;
  readonly port: number;
  readonly hostname: string;
  readonly domains: readonly string[];
  private readonly tools: PostfixTools;
  private disposed = false;

  private constructor(init: {
    dir: string;
    mode: PostfixOptions['mode'];
    address: string;
    port: number;
    hostname: string;
    domains: string[];
    tools: PostfixTools;
  }) {
    this.dir = init.dir;
    this.configDir = join(init.dir, 'etc');
    this.queueDir = join(init.dir, 'queue');
    this.maildir = join(init.dir, 'mail', 'Maildir');
    this.logFile = join(init.dir, 'maillog');
    this.mode = init.mode;
    this.address = init.address;
    this.port = init.port;
    this.hostname = init.hostname;
    this.domains = init.domains;
    this.tools = init.tools;
  }

  /** Writes a private configuration into a new temp directory and (by default) starts it. */
  static async create(options: PostfixOptions): Promise<PostfixInstance> {
    const tools = postfixTools();
    if (options.domains.length === 0) throw new Error('PostfixInstance needs at least one domain');
    for (const domain of options.domains) {
      if (!DOMAIN_PATTERN.test(domain)) throw new Error(`not a domain name: ${JSON.stringify(domain)}`);
    }
    const address = options.address ?? '127.0.0.1';
    if (!/^\d{1,3}(?:\.\d{1,3}){3}$/.test(address)) throw new Error(`address must be IPv4, got ${address}`);
    const port = options.port ?? (await freePort(address));
    const hostname = options.hostname ?? `postfix-${port}.lifeboat.test`;

    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-postfix-'));
    const instance = new PostfixInstance({
      dir,
      mode: options.mode,
      address,
      port,
      hostname,
      domains: [...options.domains],
      tools,
    });
    liveInstances.add(instance);
    installExitHook();
    try {
      await instance.writeConfiguration(options);
      if (options.start !== false) await instance.start();
    } catch (error) {
      await instance.dispose();
      throw error;
    }
    return instance;
  }

  private async writeConfiguration(options: PostfixOptions): Promise<void> {
    // Postfix daemons drop to the postfix user and open absolute paths below this directory.
    await chmod(this.dir, 0o755);
    await mkdir(this.configDir, { mode: 0o755 });
    // post-install creates the queue subdirectories with the right owners at first start.
    await mkdir(this.queueDir, { mode: 0o755 });

    const [major, minor] = postfixVersion(this.tools.postconf);
    const settings: Record<string, string | number> = {
      compatibility_level: major > 3 || (major === 3 && minor >= 6) ? '3.6' : '2',
      queue_directory: this.queueDir,
      data_directory: join(this.dir, 'data'),
      maillog_file: this.logFile,
      maillog_file_prefixes: this.dir,
      myhostname: this.hostname,
      mydomain: 'lifeboat.test',
      myorigin: '$myhostname',
      mydestination: '',
      inet_interfaces: this.address,
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      // Only the mode's domains are accepted; loopback clients get no relay permission.
      smtpd_relay_restrictions: 'reject_unauth_destination',
      smtpd_recipient_restrictions: '',
      smtpd_banner: '$myhostname ESMTP',
      smtpd_peername_lookup: 'no',
      smtp_dns_support_level: 'disabled',
      smtp_host_lookup: 'native',
      lmtp_host_lookup: 'native',
      smtpd_tls_security_level: 'none',
      smtp_tls_security_level: 'none',
      // Treat loopback clients like remote ones: no header rewriting, no added Date/Message-ID,
      // so what a test sends is what lands in the Maildir.
      local_header_rewrite_clients: '',
      // No line folding or 8bit-to-QP conversion on the way out: relayed bytes stay as received.
      smtp_line_length_limit: 0,
      disable_mime_output_conversion: 'yes',
      message_size_limit: MESSAGE_SIZE_LIMIT_BYTES,
      mailbox_size_limit: 0,
      virtual_mailbox_limit: 0,
      local_recipient_maps: '',
      alias_maps: '',
      alias_database: '',
      biff: 'no',
      // Bounces and postmaster notices go nowhere, so queue counts and sinks see test mail only.
      default_transport: 'discard:mail outside the test domains is not delivered',
      notify_classes: '',
      // Throughput on a 2-core machine: no inbound throttling, enough parallel deliveries.
      in_flow_delay: '0s',
      default_process_limit: 50,
      initial_destination_concurrency: 10,
      default_destination_concurrency_limit: 20,
    };
    if (options.mode === 'mailbox') {
      const nobody = userIds('nobody', 65534);
      const mailRoot = join(this.dir, 'mail');
      await mkdir(mailRoot, { mode: 0o755 });
      await chown(mailRoot, nobody.uid, nobody.gid);
      Object.assign(settings, {
        virtual_mailbox_domains: this.domains.join(', '),
        virtual_mailbox_base: mailRoot,
        // One catch-all Maildir for every recipient; Delivered-To says whose copy a file is.
        virtual_mailbox_maps: 'static:Maildir/',
        virtual_uid_maps: `static:${nobody.uid}`,
        virtual_gid_maps: `static:${nobody.gid}`,
      });
    } else {
      Object.assign(settings, {
        relay_domains: this.domains.join(', '),
        relayhost: normaliseRelayhost(options.relayhost),
        relay_recipient_maps: '',
      });
    }
    Object.assign(settings, options.mainCf ?? {});

    const mainCf = Object.entries(settings).map(([key, value]) => {
      const text = String(value);
      if (/[\r\n]/.test(text)) throw new Error(`main.cf value for ${key} must be a single line`);
      return `${key} = ${text}`;
    });
    await writeFile(join(this.configDir, 'main.cf'), `${mainCf.join('\n')}\n`, { mode: 0o644 });
    await writeFile(join(this.configDir, 'master.cf'), masterCf(this.address, this.port), { mode: 0o644 });
    await this.backdateConfiguration();
  }

  // Postfix commands wait until main.cf and master.cf are more than a second old (so they never
  // read a file mid-edit), which costs every command run right after a write about 2 s.
  private async backdateConfiguration(): Promise<void> {
    const past = new Date(Date.now() - 60_000);
    for (const file of ['main.cf', 'master.cf']) await utimes(join(this.configDir, file), past, past);
  }

  private postfixArgs(command: string): string[] {
    return ['-c', this.configDir, command];
  }

  private async failure(what: string, result: RunResult): Promise<Error> {
    const log = (await this.log()).split('\n').slice(-20).join('\n');
    return new Error(
      `${what} failed (exit ${result.code}) for the instance in ${this.dir}\n${result.stderr.trim()}\n--- maillog tail ---\n${log}`,
    );
  }

  /** Starts the instance; resolves once its port accepts connections. Starting a running instance is a no-op. */
  async start(): Promise<void> {
    this.assertUsable();
    if (await this.isRunning()) return;
    const result = await run(this.tools.postfix, this.postfixArgs('start'));
    if (result.code !== 0) throw await this.failure('postfix start', result);
    await waitUntil(async () => (await probePort(this.port, this.address)) === 'accepted', {
      timeoutMs: 10_000,
      what: `Postfix to accept connections on ${this.address}:${this.port}`,
    });
  }

  /**
   * Stops the instance the way a failed primary looks to a client: resolves once its port
   * refuses connections. Queued mail stays in the queue. Stopping a stopped instance is a no-op.
   */
  async stop(): Promise<void> {
    this.assertUsable();
    if (await this.isRunning()) {
      const result = await run(this.tools.postfix, this.postfixArgs('stop'), STOP_TIMEOUT_MS);
      if (result.code !== 0 && (await this.isRunning())) throw await this.failure('postfix stop', result);
    }
    await waitUntil(async () => (await probePort(this.port, this.address)) === 'refused', {
      timeoutMs: STOP_TIMEOUT_MS,
      what: `${this.address}:${this.port} to refuse connections after postfix stop`,
    });
  }

  /** Whether this instance's master daemon is running (`postfix status`). */
  async isRunning(): Promise<boolean> {
    if (this.disposed) return false;
    const result = await run(this.tools.postfix, this.postfixArgs('status'));
    return result.code === 0;
  }

  /** Asks Postfix to attempt every queued message now (`postqueue -f`), ignoring backoff. */
  async flush(): Promise<void> {
    this.assertUsable();
    const result = await run(this.tools.postqueue, ['-c', this.configDir, '-f']);
    if (result.code !== 0) throw await this.failure('postqueue -f', result);
  }

  /**
   * Number of messages in this instance's queue, counted from the queue files, so it also
   * works while the instance is stopped. A message moving between queues at that moment may
   * be missed or counted twice; poll for a stable value when it matters.
   *
   * @param queues - which queues to count. @default all mail queues
   */
  async queueSize(queues: QueueName | readonly QueueName[] = MAIL_QUEUES): Promise<number> {
    const names = typeof queues === 'string' ? [queues] : queues;
    const counts = await Promise.all(
      names.map(async (name) => (await listFiles(join(this.queueDir, name))).length),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Waits until {@link queueSize} for `queues` equals `size`. */
  async waitForQueueSize(
    size: number,
    {
      queues = MAIL_QUEUES,
      timeoutMs = 15_000,
    }: { queues?: QueueName | readonly QueueName[]; timeoutMs?: number } = {},
  ): Promise<void> {
    await waitUntil(async () => (await this.queueSize(queues)) === size, {
      timeoutMs,
      what: `${size} message(s) in the ${String(queues)} queue of ${this.hostname}`,
    });
  }

  /** Deletes every queued message (`postsuper -d ALL`). */
  async purgeQueue(): Promise<void> {
    this.assertUsable();
    const result = await run(this.tools.postsuper, ['-c', this.configDir, '-d', 'ALL']);
    if (result.code !== 0) throw await this.failure('postsuper -d ALL', result);
  }

  /** Every message delivered so far (mailbox mode), oldest first, one entry per recipient copy. */
  async messages(): Promise<DeliveredMessage[]> {
    const files = await this.maildirFiles();
    return await Promise.all(
      files.map(async (file) => {
        const raw = await readFile(file);
        const headers = headerSection(raw);
        const returnPath = headerValue(headers, 'Return-Path');
        return {
          file,
          raw,
          original: stripPrependedHeaders(raw),
          messageId: headerValue(headers, 'Message-ID'),
          recipient: headerValue(headers, 'Delivered-To'),
          sender: returnPath?.replace(/^<(.*)>$/, '$1'),
        };
      }),
    );
  }

  /** Message-ID of each delivered copy, oldest first; a message sent to two recipients appears twice. */
  async messageIds(): Promise<string[]> {
    return (await this.messages()).flatMap((message) =>
      message.messageId === undefined ? [] : [message.messageId],
    );
  }

  /** Waits until at least `count` copies are in the Maildir, then returns all of them. */
  async waitForMessages(count: number, timeoutMs = 15_000): Promise<DeliveredMessage[]> {
    await waitUntil(async () => (await this.maildirFiles()).length >= count, {
      timeoutMs,
      what: `${count} message(s) in the Maildir of ${this.hostname}`,
    });
    return await this.messages();
  }

  /** Removes every delivered message, so the next test starts from an empty mailbox. */
  async clearMessages(): Promise<void> {
    await Promise.all((await this.maildirFiles()).map((file) => unlink(file)));
  }

  /**
   * Changes main.cf settings (`postconf -e`) and, if running, reloads Postfix. New SMTP
   * sessions see the change; one already open keeps the old settings.
   */
  async configure(settings: Record<string, string | number>): Promise<void> {
    this.assertUsable();
    const pairs = Object.entries(settings).map(([key, value]) => `${key}=${String(value)}`);
    const edit = await run(this.tools.postconf, ['-c', this.configDir, '-e', ...pairs]);
    if (edit.code !== 0) throw await this.failure('postconf -e', edit);
    await this.backdateConfiguration();
    if (await this.isRunning()) {
      const reload = await run(this.tools.postfix, this.postfixArgs('reload'));
      if (reload.code !== 0) throw await this.failure('postfix reload', reload);
    }
  }

  /** Postfix's log for this instance (empty before the first start). */
  async log(): Promise<string> {
    try {
      return await readFile(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the instance if it runs and removes its directory. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (await this.isRunning()) await run(this.tools.postfix, this.postfixArgs('stop'), STOP_TIMEOUT_MS);
    this.disposed = true;
    liveInstances.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last-resort cleanup for process exit; prefer {@link dispose}. */
  disposeSync(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveInstances.delete(this);
    try {
      execFileSync(this.tools.postfix, this.postfixArgs('abort'), { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // not running
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async maildirFiles(): Promise<string[]> {
    const files = [
      ...(await listFiles(join(this.maildir, 'new'))),
      ...(await listFiles(join(this.maildir, 'cur'))),
    ];
    return files.sort((a, b) => {
      const [secondsA, microsA] = maildirOrder(a.slice(a.lastIndexOf('/') + 1));
      const [secondsB, microsB] = maildirOrder(b.slice(b.lastIndexOf('/') + 1));
      return secondsA - secondsB || microsA - microsB || a.localeCompare(b);
    });
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error(`the Postfix instance on port ${this.port} was disposed`);
  }
}
