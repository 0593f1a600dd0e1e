/**
 * Which of a flow series' buckets the charts draw. The API answers every bucket of the range asked
 * for, empty ones as zeros; on a gateway that has run for twenty minutes, a six-hour chart would
 * squeeze all there is against its right edge. So the charts start at the first bucket with
 * anything in it (a little before, so a line has somewhere to rise from) when that leaves less than
 * the whole range; the range's end stays, since quiet minutes up to now are news too.
 */
import type { FlowPoint } from '../../../lambdas/console/schemas.js';

/** The fewest buckets a chart draws: fewer leave a line with no shape on a phone's width. */
export const MIN_VISIBLE_BUCKETS = 10;

/** Whether a bucket holds anything a chart draws: mail, a sample, or a queue depth. */
export function hasData(p: FlowPoint): boolean {
  return (
    p.accepted + p.delivered + p.deferred + p.failed > 0 ||
    p.latencySeconds.count + p.smtpMs.count + p.probeRttSeconds.count > 0 ||
    p.depth !== null
  );
}

/** The buckets to draw: from just before the first with data to the last, or all of them. */
export function visiblePoints(points: readonly FlowPoint[]): FlowPoint[] {
  const first = points.findIndex(hasData);
  if (first < 0) return [...points];
  const start = Math.max(0, Math.min(first - 1, points.length - MIN_VISIBLE_BUCKETS));
  return points.slice(start);
}
