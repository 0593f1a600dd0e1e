import { runCli } from '../../infra/local/cli.js';

/** What one `lifeboat` command did: its exit code and everything it wrote. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `lifeboat <args>` as `npx lifeboat` would, in `cwd` with `configFile` as its config,
 * collecting what it writes; `stdin`, when given, is its standard input.
 */
export async function runLifeboat(
  args: string[],
  o: { configFile: string; cwd: string; stdin?: string | undefined },
): Promise<CliRun> {
  const run = { out: '', err: '' };
  const code = await runCli(args, {
    out: (t) => {
      run.out += t;
    },
    err: (t) => {
      run.err += t;
    },
    env: { LIFEBOAT_CONFIG_FILE: o.configFile },
    cwd: o.cwd,
    ...(o.stdin !== undefined ? { stdin: async () => o.stdin as string } : {}),
  });
  return { code, ...run };
}
