/**
 * `npm run bench`: measures Lifeboat on this machine against its references and prints one
 * markdown table (for the README), then writes the same results to bench/out/latest.json.
 *
 *   npm run bench                       every figure
 *   npm run bench -- bundles ingest-cpu only these figures
 *   npm run bench -- --profile          also profile the pipeline and the hand-over and say where their CPU went
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { awsCostFigure } from './aws-cost.js';
import { bundlesFigure } from './bundles.js';
import { detectionFigure } from './continuity-detection.js';
import { handoverFigure } from './continuity-handover.js';
import { REPO_ROOT } from './corpus.js';
import { ingestCpuFigure } from './ingest-cpu.js';
import { kill9Figure } from './kill9.js';
import { lambdaDurationsFigure } from './lambda-durations.js';
import { lambdaMemoryFigure } from './lambda-memory.js';
import { pipelineFigure } from './pipeline.js';
import { queueCostsFigure } from './queue-costs.js';
import { replayFigure } from './replay.js';
import { type BenchOptions, errorRow, type Figure, type Row, renderTable } from './report.js';
import { webAppFigure } from './web-app.js';
import { webmailApiFigure } from './webmail-api.js';
import { webmailSendFigure } from './webmail-send.js';

/** Table order. A new figure is one module returning rows, added here. */
const FIGURES: readonly Figure[] = [
  pipelineFigure,
  ingestCpuFigure,
  bundlesFigure,
  detectionFigure,
  handoverFigure,
  replayFigure,
  queueCostsFigure,
  kill9Figure,
  lambdaMemoryFigure,
  lambdaDurationsFigure,
  awsCostFigure,
  webmailApiFigure,
  webmailSendFigure,
  webAppFigure,
];

const OUT_FILE = path.join(REPO_ROOT, 'bench/out/latest.json');

function parseArgs(argv: readonly string[]): { options: BenchOptions; figures: readonly Figure[] } {
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !FIGURES.some((f) => f.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown figure ${unknown.join(', ')}; figures are ${FIGURES.map((f) => f.name).join(', ')}`,
    );
  }
  const flags = argv.filter((a) => a.startsWith('--'));
  const badFlags = flags.filter((f) => f !== '--profile');
  if (badFlags.length > 0)
    throw new Error(`unknown option ${badFlags.join(', ')}; the only option is --profile`);
  return {
    options: { profile: flags.includes('--profile') },
    figures: names.length === 0 ? FIGURES : FIGURES.filter((f) => names.includes(f.name)),
  };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

async function main(): Promise<void> {
  const { options, figures } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const started = performance.now();
  const host = machine();
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const figure of figures) {
    process.stderr.write(`bench: ${figure.name}…\n`);
    const t0 = performance.now();
    try {
      const result = await figure.run(options);
      rows.push(...result.rows);
      notes.push(...result.notes);
    } catch (err) {
      rows.push(errorRow(figure.name, figure.name, err));
      notes.push(`${figure.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    process.stderr.write(`bench: ${figure.name} took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const durationMs = performance.now() - started;

  const header = `Measured ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${host.cpus} × ${host.cpuModel}, ${host.memoryGiB} GiB, Node ${host.node}; load average at start ${host.loadAverage.join(' / ')}.`;
  const text = [header, '', renderTable(rows), '', ...notes.map((n) => `- ${n}`)].join('\n');
  process.stdout.write(`${text}\n`);

  await mkdir(path.dirname(OUT_FILE), { recursive: true });
  await writeFile(
    OUT_FILE,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), durationMs, machine: host, options, rows, notes }, null, 2)}\n`,
  );
  process.stderr.write(
    `bench: wrote ${path.relative(process.cwd(), OUT_FILE)} in ${(durationMs / 1000).toFixed(0)} s\n`,
  );
  if (rows.some((r) => r.verdict === 'ERROR')) process.exitCode = 1;
}

// Ctrl-C: exit through process.exit so exit hooks run (the Postfix harness stops its instance in one).
process.once('SIGINT', () => process.exit(130));
await main();
