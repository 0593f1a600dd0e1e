#!/usr/bin/env node
// The `lifeboat` command. It runs the bundle in dist/cli/ (`npm install` builds it), building it
// again first when it is missing or older than its sources, so a checkout that changed needs no
// step of its own. Where esbuild is not installed (npm ci --omit=dev) it runs the TypeScript
// through tsx instead, which takes a second or two longer.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCli, cliBundleIsFresh, cliEntry, isEsbuildMissing, root } from '../scripts/build-cli.mjs';

async function bundle() {
  if (cliBundleIsFresh()) return cliEntry();
  try {
    return (await buildCli()).entry;
  } catch (err) {
    if (!isEsbuildMissing(err))
      process.stderr.write(
        `lifeboat: the command could not be built (${err.message}); running its sources\n`,
      );
    return null;
  }
}

const entry = await bundle();
if (entry) {
  await import(pathToFileURL(entry).href);
} else {
  const result = spawnSync(
    process.execPath,
    // tsx resolved from here, not from the working folder, which need not be the checkout.
    [
      '--import',
      import.meta.resolve('tsx'),
      path.join(root, 'infra/local/cli-main.ts'),
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}
