import type { Logger } from '../../lambdas/ports.js';

/** Readable one-line logs for a terminal. Like the JSON logger, it prints ids and codes, never content. */
export function consoleLogger(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Logger {
  const emit = (level: string, message: string, fields?: Record<string, unknown>) => {
    const time = new Date().toISOString().slice(11, 19);
    const rest = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';
    write(`${time} ${level.padEnd(5)} ${message}${rest ? `  ${rest}` : ''}`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
