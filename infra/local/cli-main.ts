// The `lifeboat` command's entry point (bin/lifeboat.mjs runs it, bundled by scripts/build-cli.mjs).
import { runCli } from './cli.js';

// Output piped into `head` that stopped reading: the command's output is no longer wanted.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2));
