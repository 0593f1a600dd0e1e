import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './corpus.js';

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
