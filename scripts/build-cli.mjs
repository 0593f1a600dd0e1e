#!/usr/bin/env node
// Bundles the `lifeboat` command (infra/local/cli-main.ts and what it imports) into dist/cli/
// with esbuild, so `npx lifeboat` starts in plain node instead of compiling TypeScript through
// tsx on every run. Packages stay in node_modules (better-sqlite3 is a native module), and each
// group of commands is a chunk of its own, loaded with the command: `status` loads neither
// SQLite nor the SMTP client. `npm install` runs this as `prepare`; bin/lifeboat.mjs runs it
// again whenever the bundle is missing or older than a file it was built from.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the bundle goes. */
export const CLI_OUT_DIR = path.join(root, 'dist', 'cli');

const ENTRY_SOURCE = 'infra/local/cli-main.ts';
const ENTRY_FILE = 'lifeboat.mjs';
/** The source files a bundle was built from, relative to the root: what makes it stale. */
const INPUTS_FILE = 'inputs.json';
/** A change here changes every bundle. */
const BUILD_SCRIPT = 'scripts/build-cli.mjs';

/**
 * Chunks of an earlier build are removed once this old: a command started just before a rebuild
 * loads its chunk within milliseconds, so a minute leaves it plenty.
 */
const STALE_CHUNK_MS = 60_000;

/** The bundle's entry point in `outDir`. */
export function cliEntry(outDir = CLI_OUT_DIR) {
  return path.join(outDir, ENTRY_FILE);
}

/**
 * Whether the bundle in `outDir` exists and is no older than every file it was built from (and
 * this script). Cheap enough for every run: one stat per source file.
 */
export function cliBundleIsFresh(outDir = CLI_OUT_DIR) {
  try {
    const builtAt = statSync(cliEntry(outDir)).mtimeMs;
    const inputs = JSON.parse(readFileSync(path.join(outDir, INPUTS_FILE), 'utf8'));
    for (const file of [...inputs, BUILD_SCRIPT]) {
      if (statSync(path.join(root, file)).mtimeMs > builtAt) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Writes a file whole or not at all: a temp file renamed into place, so a concurrent run never reads half of one. */
async function writeWhole(file, contents) {
  const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(temp, contents);
  await rename(temp, file);
}

/**
 * Builds the bundle into `outDir`: chunks first (their names are content hashes, so a command
 * running from the previous bundle still finds its own), then the list of inputs, then the entry
 * point, dated to when the build started so that a source saved during the build counts as newer.
 * @returns the entry point and esbuild's metafile (inputs, outputs and their imports)
 */
export async function buildCli({ outDir = CLI_OUT_DIR } = {}) {
  const { build } = await import('esbuild');
  const startedAt = new Date();
  const result = await build({
    absWorkingDir: root,
    entryPoints: { lifeboat: ENTRY_SOURCE },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  await mkdir(outDir, { recursive: true });
  const entry = cliEntry(outDir);
  const written = new Set();
  for (const file of result.outputFiles) {
    written.add(path.basename(file.path));
    if (file.path !== entry) await writeWhole(file.path, file.contents);
  }
  await writeWhole(
    path.join(outDir, INPUTS_FILE),
    JSON.stringify(Object.keys(result.metafile.inputs), null, 2),
  );
  const entryOutput = result.outputFiles.find((f) => f.path === entry);
  if (!entryOutput) throw new Error(`esbuild wrote no ${ENTRY_FILE}`);
  await writeWhole(entry, entryOutput.contents);
  await utimes(entry, startedAt, startedAt);
  for (const name of readdirSync(outDir)) {
    if (!name.startsWith('chunk-') || written.has(name)) continue;
    const file = path.join(outDir, name);
    const age = Date.now() - (await stat(file)).mtimeMs;
    if (age > STALE_CHUNK_MS) await rm(file, { force: true });
  }
  return { entry, metafile: result.metafile };
}

/** Whether an error is esbuild missing (installed without dev dependencies). */
export function isEsbuildMissing(err) {
  return err?.code === 'ERR_MODULE_NOT_FOUND' && /'esbuild'/.test(String(err.message));
}

// Run as a script (`npm install`'s prepare): build, or say why not without failing the install.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildCli();
  } catch (err) {
    if (!isEsbuildMissing(err)) throw err;
    console.warn(
      'lifeboat: esbuild is not installed (npm ci --omit=dev): `npx lifeboat` runs its TypeScript through tsx',
    );
  }
}
