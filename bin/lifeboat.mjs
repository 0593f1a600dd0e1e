#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx lifeboat …` works straight from a checkout.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const result = spawnSync(
  process.execPath,
  // tsx resolved from here, not from the working folder, which need not be the checkout.
  ['--import', import.meta.resolve('tsx'), join(root, 'infra/local/cli.ts'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
