/**
 * Lambda memory of each function, set from measured use: the peak resident set of the function's
 * work on SES's largest message (40 MB), bundled as the stack bundles it, in a fresh Node process
 * (`npm run bench -- lambda-memory`, which also checks these settings still hold it). A function must
 * hold its largest message, or the mail path fails on it; Lambda bills memory × duration, so every
 * megabyte over that is paid on every message.
 */

/** Peak resident set, MiB, measured by `npm run bench -- lambda-memory` (Node 20, December 2026). */
export const MEASURED_PEAK_MIB = {
  /** After the bundle's imports, before any work: the floor of every function. */
  init: 72,
  /** ingestMessage parsing the largest message (mailparser keeps its attachment while it parses). */
  ingest: 354,
  /** deliverMessage sending the largest message: the S3 read, the trace-header copy, the SMTP stream. */
  deliver: 269,
  /** Eight of them in flight at once, as the sweeper runs them. */
  deliverEightInFlight: 742,
} as const;

/** Memory over the measured peak: garbage collection timing and a newer Node vary the peak. */
export const MEMORY_HEADROOM = 1.25;

/** Lambda takes any size from 128 MB; whole 64 MB steps keep the settings readable. */
const MEMORY_STEP_MB = 64;
const LAMBDA_MIN_MEMORY_MB = 128;
const LAMBDA_MAX_MEMORY_MB = 10_240;

/** The sweeper attempts this many messages at once (sweepDue's default concurrency). */
export const SWEEP_MESSAGES_IN_FLIGHT = 8;

/** What each further message in flight adds to one delivery's peak, from the eight-at-once figure. */
export const EXTRA_MIB_PER_MESSAGE_IN_FLIGHT =
  (MEASURED_PEAK_MIB.deliverEightInFlight - MEASURED_PEAK_MIB.deliver) / (SWEEP_MESSAGES_IN_FLIGHT - 1);

/** The memory setting for a measured peak: the peak with headroom, rounded up to a 64 MB step. */
export function memoryForPeak(peakMiB: number): number {
  const mb = Math.ceil((peakMiB * MEMORY_HEADROOM) / MEMORY_STEP_MB) * MEMORY_STEP_MB;
  return Math.min(LAMBDA_MAX_MEMORY_MB, Math.max(LAMBDA_MIN_MEMORY_MB, mb));
}

/** The memory for a function that delivers `inFlight` of the largest messages at once. */
export function deliveringMemoryMb(inFlight: number): number {
  return memoryForPeak(MEASURED_PEAK_MIB.deliver + (inFlight - 1) * EXTRA_MIB_PER_MESSAGE_IN_FLIGHT);
}

/** ingest: 448 MB. */
export const INGEST_MEMORY_MB = memoryForPeak(MEASURED_PEAK_MIB.ingest);
/** deliver (one message a run): 384 MB. */
export const DELIVER_MEMORY_MB = deliveringMemoryMb(1);
/** sweep (eight at once): 960 MB. */
export const SWEEP_MEMORY_MB = deliveringMemoryMb(SWEEP_MESSAGES_IN_FLIGHT);

/**
 * The probe hands over `continuity.handover.concurrency` messages at once (448 MB at the default 2).
 * Its SMTP check and its store reads need far less.
 */
export function probeMemoryMb(handoverConcurrency: number): number {
  return deliveringMemoryMb(handoverConcurrency);
}

/**
 * The admin API reads records a page at a time and never raw mail: the init floor with room for a
 * page. Not lower, because memory also buys CPU, and the API answers an admin at night.
 */
export const API_MEMORY_MB = 512;
