import type { Figure, FigureResult } from './report.js';

/**
 * Figure 4b, to be measured: messages per second handed over to a primary that comes back,
 * against Postfix flushing the same backlog with `postqueue -f` (PostfixInstance.flush()).
 */
export async function measureHandover(): Promise<FigureResult> {
  return {
    rows: [
      {
        id: 'handover.throughput',
        figure: 'Hand-over throughput vs Postfix `postqueue -f`',
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

export const handoverFigure: Figure = { name: 'handover', run: measureHandover };
