#!/usr/bin/env node
// Builds the staff web app (web/, Vite) into dist/web, with the mail page's service worker at
// dist/web/mail/sw.js listing the files it keeps. `npm install` runs this as part of `prepare`;
// `npm start` runs it with --if-stale, which costs a walk of web/ and builds only when a source
// (or this script, or the API's shapes) is newer than the last build.
//
// The build goes to a folder beside dist/web and is renamed into place, so a running `npm start`
// serving dist/web never serves half of one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the app is built: the runtime serves it at the site's root (/mail/, /assets/). */
export const WEB_OUT_DIR = path.join(root, 'dist', 'web');

/** Written last; its time is when the build started, so a source saved during the build counts as newer. */
const STAMP_FILE = '.built';

/** What a build is made from besides web/: the APIs' shapes (type-checked by the app) and this script. */
const OTHER_INPUTS = ['lambdas/webmail/schemas.ts', 'scripts/build-web.mjs', 'package-lock.json'];

/** Folders the app also imports from: the admin API's shapes and constants for the console. */
const OTHER_FOLDERS = ['lambdas/console'];

/** The newest modification time among the app's sources. */
function newestInput() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else newest = Math.max(newest, statSync(file).mtimeMs);
    }
  };
  walk(path.join(root, 'web'));
  for (const dir of OTHER_FOLDERS) {
    try {
      walk(path.join(root, dir));
    } catch {
      // Not there: nothing to compare.
    }
  }
  for (const f of OTHER_INPUTS) {
    try {
      newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
    } catch {
      // Not there (an install without a lock file): nothing to compare.
    }
  }
  return newest;
}

/** Whether dist/web exists and is no older than every source it was built from. */
export function webBuildIsFresh(outDir = WEB_OUT_DIR) {
  try {
    const builtAt = statSync(path.join(outDir, STAMP_FILE)).mtimeMs;
    readFileSync(path.join(outDir, 'mail', 'index.html'));
    return newestInput() <= builtAt;
  } catch {
    return false;
  }
}

/** Every file under `dir`, as site paths (`/assets/x.js`). */
async function sitePaths(dir, prefix) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await sitePaths(path.join(dir, entry.name), p)));
    else out.push(p);
  }
  return out;
}

/**
 * Builds the app into `outDir`: Vite for the pages and their assets, then esbuild for the
 * service worker, whose cache name is a hash of the asset names (they carry content hashes).
 * @returns the files written, as site paths
 */
export async function buildWeb({ outDir = WEB_OUT_DIR } = {}) {
  const { build } = await import('vite');
  const esbuild = await import('esbuild');
  const startedAt = new Date();
  const temp = `${outDir}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  // A production build whoever calls it: under a test runner NODE_ENV is 'test', and Vite would
  // then keep the libraries' development code and set import.meta.env.PROD false.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(root, 'web', 'vite.config.ts'),
      configLoader: 'runner',
      mode: 'production',
      logLevel: 'warn',
      build: { outDir: temp, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  const assets = (await sitePaths(path.join(temp, 'assets'), '/assets')).sort();
  const { createHash } = await import('node:crypto');
  const version = createHash('sha256').update(assets.join('\n')).digest('hex').slice(0, 12);
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['web/src/mail/sw.ts'],
    outfile: path.join(temp, 'mail', 'sw.js'),
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    define: { __SHELL_FILES__: JSON.stringify(assets), __SHELL_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
  });
  await writeFile(path.join(temp, STAMP_FILE), `${startedAt.toISOString()}\n`);
  await utimes(path.join(temp, STAMP_FILE), startedAt, startedAt);
  // Swap: the old build moves aside, the new one takes its name, the old one goes.
  await mkdir(path.dirname(outDir), { recursive: true });
  const old = `${outDir}.old-${process.pid}`;
  await rename(outDir, old).catch((err) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(temp, outDir);
  await rm(old, { recursive: true, force: true });
  return [...assets, '/mail/index.html', '/mail/sw.js'];
}

/** Whether an error is Vite or esbuild missing (installed without dev dependencies). */
function isBuilderMissing(err) {
  return err?.code === 'ERR_MODULE_NOT_FOUND' && /'(vite|esbuild)'/.test(String(err.message));
}

// Run as a script: `node scripts/build-web.mjs [--if-stale]`.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (!(ifStale && webBuildIsFresh())) {
    try {
      const t0 = performance.now();
      await buildWeb();
      if (ifStale) console.log(`lifeboat: web app rebuilt in ${Math.round(performance.now() - t0)} ms`);
    } catch (err) {
      if (!isBuilderMissing(err)) throw err;
      console.warn('lifeboat: Vite is not installed (npm ci --omit=dev): the web app is not built');
    }
  }
}
