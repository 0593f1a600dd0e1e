import type { Metrics } from '../ports.js';

/** Namespace of Lifeboat's own metrics (the alarms in infra/aws/constructs/monitoring.ts read it). */
export const METRIC_NAMESPACE = 'Lifeboat';

/** One CloudWatch Embedded Metric Format line: a count with no dimensions. */
export function emfCountLine(name: string, value: number, timestamp: number): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        { Namespace: METRIC_NAMESPACE, Dimensions: [[]], Metrics: [{ Name: name, Unit: 'Count' }] },
      ],
    },
    [name]: value,
  });
}

/**
 * Metrics as Embedded Metric Format lines on stdout, which Lambda sends to CloudWatch Logs and
 * CloudWatch turns into metrics: no PutMetricData call, no extra permission.
 */
export function emfMetrics(
  emit: (line: string) => void = (line) => console.log(line),
  now: () => number = Date.now,
): Metrics {
  return {
    count(name, value) {
      emit(emfCountLine(name, value, now()));
    },
  };
}
