import type { Logger } from '../ports.js';

/** One JSON object per line, as CloudWatch Logs Insights reads it. Fields must never hold mail content. */
export function jsonLogger(
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => console.log(l),
): Logger {
  const emit = (level: string, message: string, fields?: Record<string, unknown>) =>
    write(JSON.stringify({ level, message, time: new Date().toISOString(), ...base, ...fields }));
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything (tests and benchmarks). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
