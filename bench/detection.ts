import type { Figure, FigureResult } from './report.js';

/**
 * Figure 4a, to be measured: how many probe intervals pass between the primary going down and
 * the first page to an admin. Replace the placeholder with a run that stops a Postfix primary,
 * lets the probes run on a manual clock, and counts intervals until the notifier is called.
 */
export async function measureDetection(): Promise<FigureResult> {
  return {
    rows: [
      {
        id: 'detection.intervals',
        figure: 'Detection time (primary down → first page), in probe intervals',
        value: 'not measured yet',
        reference: '—',
        ratio: '—',
        aim: '—',
        verdict: 'PENDING',
      },
    ],
    notes: [],
  };
}

export const detectionFigure: Figure = { name: 'detection', run: measureDetection };
