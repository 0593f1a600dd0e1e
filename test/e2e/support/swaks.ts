import { spawn } from 'node:child_process';
import { findExecutable } from './executables.js';

/** Options for one SMTP transaction driven by swaks. */
export interface SwaksOptions {
  /** SMTP server to connect to. @default '127.0.0.1' */
  server?: string;
  port: number;
  /** Envelope sender (MAIL FROM) and, unless `data` is given, the From header. @default 'sender@example.org' */
  from?: string;
  /** Envelope recipients (RCPT TO). */
  to: string | string[];
  /**
   * Headers to set in swaks' generated message, e.g. `{ 'Message-Id': '<a@b>', Subject: 'x' }`.
   * A header swaks already writes is replaced, any other is added. With `data`, they are added to
   * (or replace headers in) that file's header section.
   */
  header?: Record<string, string>;
  /** Body text of the generated message. @default swaks' "This is a test mailing" */
  body?: string;
  /**
   * Path of a file holding the whole message (headers and body) to send as DATA.
   * swaks rewrites it on the way: line endings become CRLF, a literal `\n` or `%NEWLINE%`
   * becomes a line break, `%DATE%`-style tokens are expanded, a leading `From ` line is dropped,
   * and one line break is appended before the final dot (a file ending in a newline arrives
   * with an extra empty line). Use it for realistic mail; send with an SMTP library when a test
   * checks bytes.
   */
  data?: string;
  /** Name to send in EHLO. @default 'client.lifeboat.test' */
  helo?: string;
  /** Whole transaction timeout in seconds. @default 20 */
  timeoutSeconds?: number;
  /** Further swaks arguments, e.g. `['--quit-after', 'RCPT']`. */
  extraArgs?: string[];
}

/** Outcome of one swaks run: exit code 0 means the server accepted the message. */
export interface SwaksResult {
  /**
   * swaks' exit code: 0 accepted, 2 could not connect (e.g. refused), 23/24/25 rejected at
   * MAIL/RCPT/DATA; see `man swaks` EXIT CODES.
   */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The command line that ran, for failure messages. */
  command: string[];
}

/** Whether the `swaks` command is installed. */
export function hasSwaks(): boolean {
  return findExecutable('swaks') !== undefined;
}

/** Why swaks cannot be used here, or `undefined` when it can. */
export function swaksUnavailableReason(): string | undefined {
  return hasSwaks() ? undefined : 'swaks is not installed (apt-get install swaks)';
}

/**
 * Sends one message with swaks and resolves with its exit code and transcript; it never
 * rejects on an SMTP refusal, so tests can assert on refusals too.
 */
export async function sendWithSwaks(options: SwaksOptions): Promise<SwaksResult> {
  const swaks = findExecutable('swaks');
  if (swaks === undefined) throw new Error(swaksUnavailableReason());
  const timeoutSeconds = options.timeoutSeconds ?? 20;
  const args = [
    '--server',
    options.server ?? '127.0.0.1',
    '--port',
    String(options.port),
    '--from',
    options.from ?? 'sender@example.org',
    '--to',
    (Array.isArray(options.to) ? options.to : [options.to]).join(','),
    '--helo',
    options.helo ?? 'client.lifeboat.test',
    '--timeout',
    `${timeoutSeconds}s`,
  ];
  if (options.data !== undefined) args.push('--data', `@${options.data}`);
  if (options.body !== undefined) args.push('--body', options.body);
  for (const [name, value] of Object.entries(options.header ?? {}))
    args.push('--header', `${name}: ${value}`);
  args.push(...(options.extraArgs ?? []));

  return await new Promise((resolve, reject) => {
    // No stdin: swaks prompts for anything missing, and a prompt would hang a CI run.
    const child = spawn(swaks, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), (timeoutSeconds + 10) * 1_000);
    child.once('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      resolve({
        exitCode: code ?? (signal === null ? -1 : 128),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        command: [swaks, ...args],
      });
    });
  });
}
