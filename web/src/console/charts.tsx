/**
 * The mail flow charts, drawn with uPlot (small, canvas, no dependencies): this module and uPlot
 * are a chunk of their own that only the status view loads. Each chart is a figure with a text
 * summary for screen readers; thresholds from the config are dashed lines on the charts they
 * judge. Colours come from the page's own variables, so dark mode follows the system.
 */
import 'uplot/dist/uPlot.min.css';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { DeliveryState, FlowPoint, FlowSeries } from '../../../lambdas/console/schemas.js';
import { visiblePoints } from './flow-window.js';

export interface ChartsProps {
  series: FlowSeries;
}

/** Line colours readable on the light and the dark background alike. */
const COLOURS = {
  accepted: '#3b82f6',
  delivered: '#16a34a',
  deferred: '#d97706',
  failed: '#dc2626',
  p50: '#0891b2',
  p95: '#7c3aed',
  smtp: '#db2777',
  threshold: '#dc2626',
  queued: '#3b82f6',
  delivering: '#0891b2',
  held: '#7c3aed',
  quarantined: '#6b7280',
} as const;

const CHART_HEIGHT = 180;

interface Line {
  label: string;
  values: (number | null)[];
  colour: string;
  dash?: number[];
}

interface ChartSpec {
  id: string;
  title: string;
  /** What the chart says, in one sentence, for screen readers and as its caption's second line. */
  summary: string;
  unit: string;
  lines: Line[];
  log?: boolean;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function Chart(props: { spec: ChartSpec; times: number[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { spec, times } = props;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fg = cssVar('--fg-2', '#5b6470');
    const grid = cssVar('--line', '#dde2e8');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: spec.log ? { distr: 3 } : { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [
        { ...axis },
        { ...axis, size: 52, values: (_u, ticks) => ticks.map((t) => `${fmt(t)}${spec.unit}`) },
      ],
      series: [
        {},
        ...spec.lines.map((l) => ({
          label: l.label,
          stroke: l.colour,
          width: l.dash ? 1.5 : 2,
          ...(l.dash ? { dash: l.dash } : {}),
          // A value with no neighbour draws no line: a dot shows it (a lone busy minute on a quiet day).
          points: { show: hasLoneValue(l.values), size: 6 },
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${fmt(v)}${spec.unit}`),
        })),
      ],
    };
    const data = [times, ...spec.lines.map((l) => l.values)] as uPlot.AlignedData;
    plot.current?.destroy();
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: CHART_HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [spec, times]);

  return (
    <figure class="chart" aria-labelledby={`${spec.id}-t`} aria-describedby={`${spec.id}-s`}>
      <figcaption>
        <strong id={`${spec.id}-t`}>{spec.title}</strong>
        <span id={`${spec.id}-s`} class="muted small block">
          {spec.summary}
        </span>
      </figcaption>
      <div ref={box} class="chart-box" aria-hidden="true" />
    </figure>
  );
}

/** Whether a value stands between gaps (or the ends), so a line through it would not show. */
function hasLoneValue(values: (number | null)[]): boolean {
  return values.some(
    (v, i) => v !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null,
  );
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (Math.abs(v) < 1) return String(Math.round(v * 100) / 100);
  return String(Math.round(v * 10) / 10);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const max = (xs: (number | null)[]) => xs.reduce<number>((a, b) => (b !== null && b > a ? b : a), 0);

/** The charts' data from the series: one array per line, a threshold as a constant line. */
export function chartSpecs(series: FlowSeries): ChartSpec[] {
  const pts = series.points;
  const t = series.thresholds;
  const col = (f: (p: FlowPoint) => number | null) => pts.map(f);
  const flat = (v: number) => pts.map(() => v);
  const accepted = col((p) => p.accepted);
  const delivered = col((p) => p.delivered);
  const deferred = col((p) => p.deferred);
  const failed = col((p) => p.failed);
  const totalOf = (xs: (number | null)[]) => sum(xs.map((x) => x ?? 0));
  const share = col((p) => {
    const n = p.delivered + p.deferred + p.failed;
    return n === 0 ? null : Math.round(((p.deferred + p.failed) / n) * 1000) / 10;
  });
  const latP50 = col((p) => p.latencySeconds.p50);
  const latP95 = col((p) => p.latencySeconds.p95);
  const smtpP95 = col((p) => (p.smtpMs.p95 === null ? null : p.smtpMs.p95 / 1000));
  const rttP50 = col((p) => p.probeRttSeconds.p50);
  const rttP95 = col((p) => p.probeRttSeconds.p95);
  const depthStates: DeliveryState[] = ['queued', 'delivering', 'deferred', 'held', 'failed', 'quarantined'];
  const depth = depthStates.map((s) => ({ s, values: col((p) => (p.depth ? p.depth[s] : null)) }));
  const lastDepth = [...pts].reverse().find((p) => p.depth)?.depth ?? null;
  const specs: ChartSpec[] = [
    {
      id: 'flow',
      title: 'Mail flow (deliveries per bucket)',
      // Accepted mail is counted from the records once its minute has ended, so its line trails the others.
      summary: `${totalOf(delivered)} delivered, ${totalOf(deferred)} deferred and ${totalOf(failed)} failed in this range; ${totalOf(accepted)} accepted, counted a minute or two after each minute ends.`,
      unit: '',
      lines: [
        { label: 'Accepted', values: accepted, colour: COLOURS.accepted },
        { label: 'Delivered', values: delivered, colour: COLOURS.delivered },
        { label: 'Deferred', values: deferred, colour: COLOURS.deferred },
        { label: 'Failed', values: failed, colour: COLOURS.failed },
      ],
    },
    {
      id: 'share',
      title: 'Attempts not delivered (%)',
      summary: `At most ${fmt(max(share))} % of attempts in one bucket were deferred or failed; probes page at ${Math.round(t.failureRatio * 100)} % over ${t.windowMinutes} minutes.`,
      unit: '%',
      lines: [
        { label: 'Not delivered', values: share, colour: COLOURS.deferred },
        { label: 'Threshold', values: flat(t.failureRatio * 100), colour: COLOURS.threshold, dash: [6, 4] },
      ],
    },
    {
      id: 'latency',
      title: 'Delivery latency and SMTP time (seconds)',
      summary: `Receipt to the primary's reply: p95 at most ${fmt(max(latP95))} s. SMTP transaction p95 at most ${fmt(max(smtpP95))} s; probes page at ${t.smtpP95Seconds} s.`,
      unit: ' s',
      lines: [
        { label: 'Latency p50', values: latP50, colour: COLOURS.p50 },
        { label: 'Latency p95', values: latP95, colour: COLOURS.p95 },
        { label: 'SMTP p95', values: smtpP95, colour: COLOURS.smtp },
        { label: 'SMTP threshold', values: flat(t.smtpP95Seconds), colour: COLOURS.threshold, dash: [6, 4] },
      ],
    },
    {
      id: 'rtt',
      title: 'Round-trip probe (seconds)',
      summary:
        t.roundTripTimeoutSeconds === null
          ? 'No round-trip probe is configured.'
          : `Round trips p95 at most ${fmt(max(rttP95))} s; a probe not back in ${t.roundTripTimeoutSeconds} s fails.`,
      unit: ' s',
      lines: [
        { label: 'p50', values: rttP50, colour: COLOURS.p50 },
        { label: 'p95', values: rttP95, colour: COLOURS.p95 },
        ...(t.roundTripTimeoutSeconds === null
          ? []
          : [
              {
                label: 'Timeout',
                values: flat(t.roundTripTimeoutSeconds),
                colour: COLOURS.threshold,
                dash: [6, 4],
              },
            ]),
      ],
    },
    {
      id: 'depth',
      title: 'Queue depth by state',
      summary: lastDepth
        ? `Last sample: ${depthStates.map((s) => `${lastDepth[s]} ${s}`).join(', ')}.`
        : 'No probe round sampled the queue in this range.',
      unit: '',
      lines: depth.map((d) => ({
        label: d.s[0]?.toUpperCase() + d.s.slice(1),
        values: d.values,
        colour: COLOURS[d.s as keyof typeof COLOURS] ?? '#888',
      })),
    },
  ];
  return specs;
}

export function FlowCharts(props: ChartsProps) {
  // Built once per answer: a chart is drawn again only when its data changes, not on every render.
  // The x range fits the data when there is less of it than the range asked for (flow-window.ts).
  const series = useMemo(
    () => ({ ...props.series, points: visiblePoints(props.series.points) }),
    [props.series],
  );
  const times = useMemo(() => series.points.map((p) => Date.parse(p.start) / 1000), [series]);
  const specs = useMemo(() => chartSpecs(series), [series]);
  return (
    <div class="charts">
      {specs.map((s) => (
        <Chart key={s.id} spec={s} times={times} />
      ))}
    </div>
  );
}
