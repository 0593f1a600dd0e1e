import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import {
  DELIVER_MEMORY_MB,
  INGEST_MEMORY_MB,
  MEMORY_HEADROOM,
  probeMemoryMb,
  SWEEP_MEMORY_MB,
} from '../infra/aws/function-memory.js';
import { runJsonChild } from './child-runtime.js';
import { REPO_ROOT } from './corpus.js';
import type { Workload } from './lambda-memory-child.js';
import type { Figure, FigureResult, Row } from './report.js';
import { CountingSink } from './sink.js';
import { fmtRatio } from './stats.js';

const CHILD = path.join(REPO_ROOT, 'bench/lambda-memory-child.ts');
const OUT_DIR = path.join(REPO_ROOT, 'bench/out/lambda-memory');

/** The stack's ESM bundles get a real `require` for CommonJS dependencies; the child does too. */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as lifeboatCreateRequire } from 'node:module'; const require = lifeboatCreateRequire(import.meta.url);";

/** Fresh processes per workload; the figure is the largest peak, as the setting must hold every run. */
const RUNS = 3;

/** Aim: the measured peak uses at most this share of the configured memory (the headroom kept). */
const AIM_SHARE = 1 / MEMORY_HEADROOM;

const MIB = 1024 * 1024;

interface Sample {
  initBytes: number;
  peakBytes: number;
}

/** Runs one workload; asynchronously, so the sink in this process keeps answering the child. */
function runChild(bundle: string, workload: Workload, port: number): Promise<Sample> {
  return runJsonChild<Sample>(
    [bundle, workload, String(port)],
    (stderr) => new Error(`${workload}: ${stderr.trim().split('\n')[0]}`),
  );
}

/** The functions and the workload whose peak each one's memory must hold. */
const FUNCTIONS: ReadonlyArray<{ fn: string; workload: Workload; configured: number; what: string }> = [
  { fn: 'ingest', workload: 'ingest', configured: INGEST_MEMORY_MB, what: 'parsing it' },
  { fn: 'deliver', workload: 'deliver', configured: DELIVER_MEMORY_MB, what: 'sending it' },
  { fn: 'probe', workload: 'handover', configured: probeMemoryMb(2), what: 'handing over 2 at once' },
  { fn: 'sweep', workload: 'sweep', configured: SWEEP_MEMORY_MB, what: 'sending 8 at once' },
];

/**
 * Lambda memory: each function's peak resident set on SES's largest message, in a fresh process
 * running the stack's kind of bundle, against the memory the stack gives the function.
 */
export async function measureLambdaMemory(): Promise<FigureResult> {
  await mkdir(OUT_DIR, { recursive: true });
  const bundle = path.join(OUT_DIR, 'child.mjs');
  await build({
    entryPoints: [CHILD],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    logLevel: 'error',
    banner: { js: CREATE_REQUIRE_BANNER },
    outfile: bundle,
  });
  const sink = await CountingSink.start();
  const rows: Row[] = [];
  let initMiB = 0;
  try {
    for (const { fn, workload, configured, what } of FUNCTIONS) {
      const samples: Sample[] = [];
      // One at a time: two children at once would share the machine's memory bandwidth and the sink.
      for (let run = 0; run < RUNS; run++) samples.push(await runChild(bundle, workload, sink.port));
      const peakMiB = Math.max(...samples.map((s) => s.peakBytes)) / MIB;
      initMiB = Math.max(initMiB, ...samples.map((s) => s.initBytes / MIB));
      const share = peakMiB / configured;
      rows.push({
        id: `memory.${fn}`,
        figure: `Lambda memory: ${fn}, peak resident set ${what} (SES's largest message, 40 MB)`,
        value: `${Math.round(peakMiB)} MB`,
        reference: `${configured} MB configured`,
        ratio: fmtRatio(share),
        aim: `≤ ${fmtRatio(AIM_SHARE)} of the setting`,
        verdict: share <= AIM_SHARE ? 'PASS' : 'MISS',
        data: { peakMiB, configuredMb: configured, runs: RUNS },
      });
    }
  } finally {
    await sink.close();
  }
  return {
    rows,
    notes: [
      `Lambda memory: each workload runs in a fresh \`node\` process (${process.versions.node} here; Lambda runs Node 22) from one esbuild bundle made as the stack makes a handler's, with the stores in memory, the largest message (40 MB, a base64 attachment) read the way the S3 adapter reads a download (chunks, their concatenation, a Buffer copy), and the real SMTP mailer sending to a local sink. The figure is the peak resident set (getrusage maxRSS) of ${RUNS} runs; a process holds about ${Math.round(initMiB)} MB after its imports. The settings in infra/aws/function-memory.ts are these peaks × ${MEMORY_HEADROOM}, rounded up to 64 MB.`,
    ],
  };
}

export const lambdaMemoryFigure: Figure = { name: 'lambda-memory', run: () => measureLambdaMemory() };
