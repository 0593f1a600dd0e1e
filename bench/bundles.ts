import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { analyzeMetafile, type BuildOptions, build, type Metafile } from 'esbuild';
import { REPO_ROOT } from './corpus.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio, median } from './stats.js';

/** Aim: each handler's bundle is at most this fraction of the naive bundle, in size and in init time. */
export const AIM_RATIO = 0.5;
/** Fresh `node` processes per bundle for the init time; the figure is their median. */
const INIT_RUNS = 7;

const HANDLERS_DIR = path.join(REPO_ROOT, 'lambdas/handlers');
const STACK_FUNCTION = path.join(REPO_ROOT, 'infra/aws/constructs/lifeboat-function.ts');
const OUT_DIR = path.join(REPO_ROOT, 'bench/out/bundles');

/**
 * esbuild's ESM output cannot `require` the Node built-ins that CommonJS dependencies ask for;
 * the stack gives its ESM bundles a real `require` with this banner, so the bench does too.
 */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as lifeboatCreateRequire } from 'node:module'; const require = lifeboatCreateRequire(import.meta.url);";

interface StackBundling {
  format: 'esm' | 'cjs';
  /** Where the choice came from, for the note. */
  source: string;
}

/** The output format the CDK stack bundles with; CommonJS when there is no stack yet. */
function stackBundling(): StackBundling {
  if (!existsSync(STACK_FUNCTION)) return { format: 'cjs', source: 'no infra/aws stack found: CommonJS' };
  const text = readFileSync(STACK_FUNCTION, 'utf8');
  const rel = path.relative(REPO_ROOT, STACK_FUNCTION);
  return /OutputFormat\.ESM/.test(text)
    ? { format: 'esm', source: `ESM, as ${rel} bundles` }
    : { format: 'cjs', source: `CommonJS, as ${rel} bundles` };
}

/** Handler entry files: every `.ts` in lambdas/handlers except declarations and tests. */
export function handlerEntries(): string[] {
  return readdirSync(HANDLERS_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !/\.(test|spec)\.ts$/.test(f))
    .sort()
    .map((f) => path.join(HANDLERS_DIR, f));
}

function commonOptions(format: 'esm' | 'cjs'): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target: 'node22',
    format,
    mainFields: ['module', 'main'],
    // Nothing external: the SDK version in nodejs22.x is not pinned, so the tested SDK ships.
    external: [],
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    logLevel: 'error',
    ...(format === 'esm' ? { banner: { js: CREATE_REQUIRE_BANNER } } : {}),
  };
}

interface Bundle {
  name: string;
  file: string;
  bytes: number;
  metafile: Metafile;
}

async function bundle(name: string, options: BuildOptions, ext: string): Promise<Bundle> {
  const dir = path.join(OUT_DIR, name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `index.${ext}`);
  const result = await build({ ...options, outfile: file });
  const metafile = result.metafile as Metafile;
  return { name, file, bytes: (await stat(file)).size, metafile };
}

/** The npm package an import path belongs to: `@aws-sdk/client-s3`, `nodemailer` … */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** Packages the project's own code imports (not those the packages pull in), across the given bundles. */
function directPackages(bundles: readonly Bundle[]): string[] {
  const found = new Set<string>();
  for (const b of bundles) {
    for (const [input, meta] of Object.entries(b.metafile.inputs)) {
      if (input.includes('node_modules/')) continue;
      for (const imp of meta.imports) {
        if (imp.external || !imp.original || imp.original.startsWith('.') || imp.original.startsWith('node:'))
          continue;
        if (imp.path.includes('node_modules/')) found.add(packageOf(imp.original));
      }
    }
  }
  return [...found].sort();
}

/** Bytes each package (or `(lifeboat)` for our own code) contributes to a bundle's output. */
function bytesByPackage(b: Bundle): Array<{ name: string; bytes: number }> {
  const totals = new Map<string, number>();
  for (const output of Object.values(b.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const at = input.lastIndexOf('node_modules/');
      const name = at === -1 ? '(lifeboat)' : packageOf(input.slice(at + 'node_modules/'.length));
      totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

interface InitSample {
  wallMs: number;
  cpuMs: number;
}

/**
 * Module init of a bundle: a fresh `node` process imports it and reports performance.now()
 * (and its own CPU time) around the dynamic import, so process start-up is not counted. With
 * `sourceMaps`, NODE_OPTIONS is what the stack sets on every function (`--enable-source-maps`),
 * so Node reads the bundle's source map at load as it does in Lambda.
 */
function initTime(file: string, sourceMaps: boolean): InitSample {
  const code =
    "const {performance}=await import('node:perf_hooks');const {pathToFileURL}=await import('node:url');" +
    'const c=process.cpuUsage();const t=performance.now();await import(pathToFileURL(process.argv[1]).href);' +
    'const w=performance.now()-t;const u=process.cpuUsage(c);' +
    'process.stdout.write(JSON.stringify({wallMs:w,cpuMs:(u.user+u.system)/1000}));';
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code, file], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : '',
      AWS_REGION: 'us-east-1',
    },
    timeout: 60_000,
  });
  if (child.status !== 0) throw new Error(`importing ${file} failed: ${child.stderr.trim().slice(0, 400)}`);
  return JSON.parse(child.stdout) as InitSample;
}

/** Packages bundled more than once (the same name from different node_modules folders). */
function duplicates(b: Bundle): Array<{ name: string; copies: string[] }> {
  const byName = new Map<string, Set<string>>();
  for (const input of Object.keys(b.metafile.inputs)) {
    const at = input.lastIndexOf('node_modules/');
    if (at === -1) continue;
    const name = packageOf(input.slice(at + 'node_modules/'.length));
    const copy = input.slice(0, at + 'node_modules/'.length + name.length);
    let copies = byName.get(name);
    if (!copies) {
      copies = new Set();
      byName.set(name, copies);
    }
    copies.add(copy);
  }
  return [...byName]
    .filter(([, copies]) => copies.size > 1)
    .map(([name, copies]) => ({ name, copies: [...copies].sort() }));
}

const kb = (bytes: number) => bytes / 1024;

/**
 * Figure 3: each Lambda handler bundled the way the CDK stack bundles it, against one naive
 * bundle of the same handlers and every package they use, imported wholesale, not minified and
 * not tree-shaken. Size on disk, and module init time in a fresh process.
 */
export async function measureBundles(): Promise<FigureResult> {
  const stack = stackBundling();
  const ext = stack.format === 'esm' ? 'mjs' : 'cjs';
  await rm(OUT_DIR, { recursive: true, force: true });
  const entries = handlerEntries();
  const handlers: Bundle[] = [];
  for (const entry of entries) {
    const name = path.basename(entry, '.ts');
    handlers.push(
      await bundle(
        name,
        { ...commonOptions(stack.format), entryPoints: [entry], minify: true, treeShaking: true },
        ext,
      ),
    );
  }

  const packages = directPackages(handlers);
  const naiveSource = [
    ...entries.map((e, i) => `import * as handler${i} from ${JSON.stringify(e)};`),
    ...packages.map((p, i) => `import * as package${i} from ${JSON.stringify(p)};`),
    `export const modules = [${[...entries.map((_, i) => `handler${i}`), ...packages.map((_, i) => `package${i}`)].join(', ')}];`,
  ].join('\n');
  const naiveDir = path.join(OUT_DIR, 'naive');
  await mkdir(naiveDir, { recursive: true });
  const naiveEntry = path.join(naiveDir, 'entry.mjs');
  await writeFile(naiveEntry, `${naiveSource}\n`);
  const naive = await bundle(
    'naive',
    { ...commonOptions(stack.format), entryPoints: [naiveEntry], minify: false, treeShaking: false },
    ext,
  );

  // Round-robin, so a noisy moment on the machine spreads over every bundle instead of one.
  const all = [...handlers, naive];
  const samples = new Map<string, { deployed: InitSample[]; noMaps: InitSample[] }>(
    all.map((b) => [b.name, { deployed: [], noMaps: [] }]),
  );
  for (let run = 0; run < INIT_RUNS; run++) {
    for (const b of all) {
      const s = samples.get(b.name);
      s?.deployed.push(initTime(b.file, true));
      s?.noMaps.push(initTime(b.file, false));
    }
  }
  const initOf = (b: Bundle, mode: 'deployed' | 'noMaps' = 'deployed', key: keyof InitSample = 'wallMs') =>
    median((samples.get(b.name)?.[mode] ?? []).map((x) => x[key]));
  // The verdict uses CPU time: on a machine with other load, wall time also counts waiting for a core.
  const naiveInit = initOf(naive, 'deployed', 'cpuMs');
  const naiveWall = initOf(naive);

  const rows: Row[] = [];
  const notes: string[] = [];
  for (const h of handlers) {
    const sizeRatio = h.bytes / naive.bytes;
    const init = initOf(h, 'deployed', 'cpuMs');
    const initRatio = init / naiveInit;
    const top = bytesByPackage(h).slice(0, 6);
    rows.push({
      id: `bundle.${h.name}.size`,
      figure: `Bundle size: ${h.name}`,
      value: fmt(kb(h.bytes), 'KB'),
      reference: `naive bundle ${fmt(kb(naive.bytes), 'KB')}`,
      ratio: fmtRatio(sizeRatio),
      aim: `≤ ${AIM_RATIO}× naive`,
      verdict: sizeRatio <= AIM_RATIO ? 'PASS' : 'MISS',
      data: { bytes: h.bytes, naiveBytes: naive.bytes, ratio: sizeRatio, topPackages: top },
    });
    rows.push({
      id: `bundle.${h.name}.init`,
      figure: `Module init: ${h.name} (CPU; wall)`,
      value: `${fmt(init, 'ms')}; ${fmt(initOf(h), 'ms')}`,
      reference: `naive bundle ${fmt(naiveInit, 'ms')}; ${fmt(naiveWall, 'ms')}`,
      ratio: fmtRatio(initRatio),
      aim: `≤ ${AIM_RATIO}× naive`,
      verdict: initRatio <= AIM_RATIO ? 'PASS' : 'MISS',
      data: {
        cpuMedianMs: init,
        wallMedianMs: initOf(h),
        withoutSourceMaps: { cpuMedianMs: initOf(h, 'noMaps', 'cpuMs'), wallMedianMs: initOf(h, 'noMaps') },
        samples: samples.get(h.name),
        naiveCpuMedianMs: naiveInit,
        naiveWallMedianMs: naiveWall,
        ratio: initRatio,
      },
    });
    const heavy = top.map((p) => `${p.name} ${fmt(kb(p.bytes), 'KB')}`).join(', ');
    const dupes = duplicates(h);
    const dupeText =
      dupes.length === 0
        ? ''
        : ` Bundled more than once: ${dupes.map((d) => `${d.name} ×${d.copies.length} (${d.copies.join(', ')})`).join('; ')}.`;
    notes.push(`Bundle ${h.name}: biggest packages in the output: ${heavy}.${dupeText}`);
    if (sizeRatio > AIM_RATIO || initRatio > AIM_RATIO) {
      const analysis = await analyzeMetafile(h.metafile, { verbose: false });
      const lines = analysis
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(0, 16)
        .map((l) => l.replace(/ {3,}/g, '  ').trimEnd());
      notes.push(
        `Bundle ${h.name} misses the aim; biggest inputs (esbuild analyzeMetafile):\n\n\`\`\`\n${lines.join('\n')}\n\`\`\``,
      );
    }
  }
  const cpu = (b: Bundle, mode: 'deployed' | 'noMaps') => fmt(initOf(b, mode, 'cpuMs'));
  const mapCost = [...handlers, naive]
    .map((b) => `${b.name} ${cpu(b, 'noMaps')} → ${cpu(b, 'deployed')}`)
    .join(', ');
  notes.unshift(
    `Source maps: the stack sets NODE_OPTIONS=--enable-source-maps, and Node then reads each bundle's source map as it loads. Median CPU time of the import without → with it, ms: ${mapCost}.`,
  );
  notes.unshift(
    `Bundles: esbuild ${stack.source} (\`lambdas/handlers/*.ts\`): platform node, target node22, mainFields module,main, minify, tree-shaking, nothing external (the AWS SDK v3 is bundled), external source map. The naive bundle is one ${stack.format.toUpperCase()} bundle whose entry does \`import * as\` of every handler and of every package the handlers' own code imports (${packages.join(', ')}) — the whole package, not the subpath the code uses — with the same esbuild settings but no minify and tree-shaking off. Init time: median of ${INIT_RUNS} fresh \`node\` processes, each timing \`await import(bundle)\` inside the process with process.cpuUsage() (CPU) and performance.now() (wall), with NODE_OPTIONS=--enable-source-maps as the stack sets. The ratio and verdict use CPU: loading a bundle is single-threaded work on files already in the page cache, so on an idle machine wall ≈ CPU, while on a busy one wall also counts waiting for a core (compare the load average above); Node ${process.versions.node} on this machine (Lambda runs Node 22 on ARM64 with a fraction of a vCPU at 512 MB, so absolute times there are higher).`,
  );
  return { rows, notes };
}

export const bundlesFigure: Figure = { name: 'bundles', run: measureBundles };
