import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConfigInput } from '../../lambdas/core/config.js';
import { repoRoot } from './runtime.js';

/** tsx's loader, by absolute URL, so `npm start`'s entry point runs from any working folder. */
const TSX_LOADER = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const MAIN = path.join(repoRoot, 'infra/local/main.ts');

/** The last line of the banner main.ts prints once every listener is up. */
const READY_LINE = /^Try it: /m;

/** A loopback port nothing listens on now (the kernel's pick, released at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Writes a config file for `npm start` and returns its path. */
export async function writeConfigFile(dir: string, config: ConfigInput): Promise<string> {
  const file = path.join(dir, 'lifeboat.config.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** What the process has open for listening, by kind. */
/**
 * The n-th message of one of several load senders, with a Message-ID unique to (tag, sender, n),
 * so copies at the primary can be counted per message: the kill -9 test's and bench's traffic.
 */
export function senderMessage(
  tag: string,
  domain: string,
  sender: number,
  n: number,
): { messageId: string; recipient: string; raw: string } {
  const messageId = `<${tag}-${sender}-${n}@sender.example>`;
  const recipient = `user${sender}@${domain}`;
  const raw = [
    `From: Sender ${sender} <sender${sender}@sender.example>`,
    `To: ${recipient}`,
    `Subject: message ${n} of sender ${sender}`,
    `Message-ID: ${messageId}`,
    'Date: Fri, 20 Nov 2026 09:00:00 +0000',
    '',
    `Body of message ${n}.`,
    '',
  ].join('\r\n');
  return { messageId, recipient, raw };
}

export interface Listeners {
  /** TCP ports in LISTEN state, IPv4 and IPv6. */
  tcp: number[];
  /** Bound UDP ports. */
  udp: number[];
  /** Unix-domain sockets accepting connections, by path (empty for unnamed ones). */
  unix: string[];
}

/** The inodes of the sockets a process holds open, from its file descriptors. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  const fdDir = `/proc/${pid}/fd`;
  for (const fd of readdirSync(fdDir)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(path.join(fdDir, fd)));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // The descriptor closed between the listing and the read.
    }
  }
  return inodes;
}

/** Rows of a /proc/net table (tcp, tcp6, udp, udp6) whose socket the process owns. */
function ownedRows(pid: number, table: string, inodes: Set<string>): string[][] {
  const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => l.trim().split(/\s+/)).filter((cols) => inodes.has(cols[9] ?? ''));
}

const portOf = (localAddress: string): number => Number.parseInt(localAddress.split(':')[1] ?? '', 16);

/**
 * The sockets a process listens on, read from Linux's /proc: the network tables of its
 * namespace, kept to the sockets among its own file descriptors (what `ss -ltnp` shows for it).
 */
export function listenersOf(pid: number): Listeners {
  const inodes = socketInodes(pid);
  const TCP_LISTEN = '0A';
  const tcp = ['tcp', 'tcp6']
    .flatMap((t) => ownedRows(pid, t, inodes))
    .filter((cols) => cols[3] === TCP_LISTEN)
    .map((cols) => portOf(cols[1] ?? ''));
  const udp = ['udp', 'udp6'].flatMap((t) => ownedRows(pid, t, inodes)).map((cols) => portOf(cols[1] ?? ''));
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON.
  const unix = readFileSync(`/proc/${pid}/net/unix`, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => inodes.has(cols[6] ?? '') && (Number.parseInt(cols[3] ?? '0', 16) & 0x10000) !== 0)
    .map((cols) => cols[7] ?? '');
  const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  return { tcp: sorted(tcp), udp: sorted(udp), unix };
}

export interface LifeboatProcessOptions {
  /** Working folder: where `.lifeboat-data` and `lifeboat.config.json` are looked for. */
  cwd: string;
  /** Config file to run with (LIFEBOAT_CONFIG_FILE); none runs the demo unless `cwd` has one. */
  configFile?: string;
}

/**
 * `npm start` (infra/local/main.ts) in a child process of its own, as a user runs it: so a test
 * can read its listening sockets, kill it with SIGKILL and start it again on the same data.
 */
export class LifeboatProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (c: Buffer) => {
      this.out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      this.err += c.toString('utf8');
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts the runtime and resolves once it prints its banner (every listener up, recovery done). */
  static async start(options: LifeboatProcessOptions): Promise<LifeboatProcess> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LIFEBOAT_CONFIG_FILE;
    if (options.configFile) env.LIFEBOAT_CONFIG_FILE = options.configFile;
    const child = spawn(process.execPath, ['--import', TSX_LOADER, MAIN], {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lifeboat = new LifeboatProcess(child);
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (READY_LINE.test(lifeboat.out)) {
          child.stdout.off('data', check);
          child.off('exit', failed);
          resolve();
        }
      };
      const failed = (code: number | null) =>
        reject(new Error(`npm start exited (${code}) before it was ready:\n${lifeboat.err}${lifeboat.out}`));
      child.stdout.on('data', check);
      child.once('exit', failed);
    });
    return lifeboat;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Everything it printed on stdout so far (the banner and its log). */
  get output(): string {
    return this.out;
  }

  get errors(): string {
    return this.err;
  }

  /** The sockets it listens on now. */
  listeners(): Listeners {
    return listenersOf(this.pid);
  }

  /** Kills it as a power cut or the OOM killer would: SIGKILL, no chance to finish anything. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Stops it as Ctrl-C does and resolves with its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
