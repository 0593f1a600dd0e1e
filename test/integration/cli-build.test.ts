import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cliBundleIsFresh, cliEntry } from '../../scripts/build-cli.mjs';
import { repoRoot } from '../support/runtime.js';

/**
 * Packages a module loads before it runs, following its static imports through the bundle's
 * chunks: what starting the command costs, whatever the command.
 */
function packagesLoadedAtStart(metafile: Metafile, output: string, seen = new Set<string>()): Set<string> {
  const packages = new Set<string>();
  if (seen.has(output)) return packages;
  seen.add(output);
  for (const imp of metafile.outputs[output]?.imports ?? []) {
    if (imp.kind !== 'import-statement') continue;
    if (imp.external) packages.add(imp.path);
    else for (const p of packagesLoadedAtStart(metafile, imp.path, seen)) packages.add(p);
  }
  return packages;
}

describe('buildCli', () => {
  let outDir: string;
  let built: Awaited<ReturnType<typeof buildCli>>;

  beforeAll(async () => {
    // Inside the checkout, as dist/cli is, so the bundle finds node_modules.
    outDir = await mkdtemp(path.join(repoRoot, 'dist', '.test-cli-'));
    built = await buildCli({ outDir });
  }, 60_000);

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('leaves packages in node_modules, better-sqlite3 (a native module) among them', () => {
    const externals = Object.values(built.metafile.outputs).flatMap((o) =>
      o.imports.filter((i) => i.external).map((i) => i.path),
    );

    expect(externals).toContain('better-sqlite3');
    expect(externals).toContain('zod');
    expect(Object.keys(built.metafile.inputs).some((f) => f.includes('node_modules'))).toBe(false);
  });

  it('starts without SQLite, the SMTP client, the AWS SDK or tsx: each command loads its own', () => {
    const entry = path.relative(repoRoot, built.entry);

    const atStart = [...packagesLoadedAtStart(built.metafile, entry)].filter((p) => !p.startsWith('node:'));

    expect(atStart).toEqual(['zod']);
  });

  it('is fresh once built, and stale once a file it was built from is newer', async () => {
    expect(cliBundleIsFresh(outDir)).toBe(true);

    await utimes(cliEntry(outDir), new Date('2020-01-01'), new Date('2020-01-01'));

    expect(cliBundleIsFresh(outDir)).toBe(false);
  });

  it('runs: a usage error from the bundle exits 2', async () => {
    const config = path.join(outDir, 'lifeboat.config.json');
    await writeFile(
      config,
      JSON.stringify({
        domains: ['example.com'],
        routes: [{ name: 'p', domains: ['example.com'], hosts: [{ host: '127.0.0.1', port: 9 }] }],
        local: { dataDir: path.join(outDir, 'data') },
      }),
    );

    const run = spawnSync(process.execPath, [built.entry, 'messages', '--day', '2024-13-45'], {
      env: { ...process.env, LIFEBOAT_CONFIG_FILE: config },
      encoding: 'utf8',
    });

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--day takes a date as YYYY-MM-DD, not 2024-13-45');
  });
});

describe('bin/lifeboat.mjs', () => {
  it('answers from the bundle it builds when there is none', () => {
    const run = spawnSync(process.execPath, [path.join(repoRoot, 'bin/lifeboat.mjs'), 'help'], {
      encoding: 'utf8',
      timeout: 60_000,
    });

    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^usage: lifeboat <command>/);
    expect(cliBundleIsFresh()).toBe(true);
  });
});
