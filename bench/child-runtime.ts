import {
  type ChildProcessWithoutNullStreams,
  type SpawnOptionsWithoutStdio,
  spawn,
} from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './corpus.js';

/**
 * Runs `node <args>` to its end and resolves with the JSON on the last line it printed; rejects with
 * `failure(stderr)` when it exits other than 0. Asynchronous, so a sink in this process keeps
 * answering the child meanwhile.
 */
export function runJsonChild<T>(
  args: readonly string[],
  failure: (stderr: string) => Error,
  options: SpawnOptionsWithoutStdio = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(failure(stderr));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) as string) as T);
    });
  });
}

/**
 * A Lifeboat runtime in a child process of its own (as Postfix runs in its own), driven by lines
 * on stdio: commands in, `tag {json}` lines out.
 */
export class ChildRuntime {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  protected constructor(protected readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-4000);
    });
  }

  /** Spawns `script` (relative to the repository) under tsx, with a CPU profile when `profileFile` is set. */
  protected static spawnScript(script: string, args: readonly string[], profileFile?: string) {
    return spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...(profileFile ? { BENCH_PROFILE_FILE: profileFile } : {}) },
    });
  }

  /** The next line starting with `tag `, parsed as JSON. */
  async expect<T>(tag: string): Promise<T> {
    for (;;) {
      const next = await this.lines.next();
      if (next.done) throw new Error(`the Lifeboat runtime exited before "${tag}": ${this.stderr.trim()}`);
      if (next.value.startsWith(`${tag} `)) return JSON.parse(next.value.slice(tag.length + 1)) as T;
    }
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`);
  }
}
