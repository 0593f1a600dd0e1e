/** PASS/MISS against the aim; SKIP when the figure could not be taken here; PENDING when nothing exists to measure yet. */
export type Verdict = 'PASS' | 'MISS' | 'SKIP' | 'PENDING' | 'ERROR';

/** One line of the results table. Text columns are formatted for people; `data` keeps the raw numbers. */
export interface Row {
  /** Stable key for the JSON output, e.g. `bundle.ingest.size`. */
  id: string;
  /** What is measured, as shown in the table. */
  figure: string;
  /** Lifeboat's figure on this machine. */
  value: string;
  /** What it is compared to, measured in the same run (or why there is none). */
  reference: string;
  /** value ÷ reference, when both are numbers. */
  ratio: string;
  aim: string;
  verdict: Verdict;
  /** Raw numbers behind the row, for bench/out/latest.json. */
  data?: Record<string, unknown>;
}

/** What one figure module returns: its rows and the notes printed under the table. */
export interface FigureResult {
  rows: Row[];
  notes: string[];
}

/** Command-line switches every figure receives. */
export interface BenchOptions {
  /** `--profile`: also take a CPU profile where a figure supports it, and print where the time went. */
  profile: boolean;
}

export interface Figure {
  /** Short name, also accepted on the command line to run only some figures (`npm run bench -- bundles`). */
  name: string;
  run(options: BenchOptions): Promise<FigureResult>;
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A GitHub-flavoured markdown table of the rows, ready to paste into the README. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['Figure', 'Lifeboat', 'Reference', 'Ratio', 'Aim', 'Result'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = [r.figure, r.value, r.reference, r.ratio, r.aim, r.verdict];
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A row for a figure that could not run, with the reason in the reference column. */
export function errorRow(id: string, figure: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  return {
    id,
    figure,
    value: 'error',
    reference: message.split('\n')[0]?.slice(0, 160) ?? '',
    ratio: '—',
    aim: '—',
    verdict: 'ERROR',
    data: { error: message },
  };
}
