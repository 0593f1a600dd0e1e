/**
 * A setting's value as the settings page shows it and as an admin types it. No browser API here:
 * the unit tests pin them.
 */
import type { SettingKind } from '../../../lambdas/console/settings.js';

/** A value as text: lists one per line, null as off, a secret as the server masked it. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return 'off';
  if (Array.isArray(v)) return v.length ? v.map(String).join(', ') : 'none';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** What an admin typed, as the value the setting's kind takes; a string that says what is wrong otherwise. */
export function parseValue(
  kind: SettingKind,
  text: string,
  off: boolean,
): { value: unknown } | { problem: string } {
  const t = text.trim();
  switch (kind) {
    case 'integer':
    case 'integer-or-null': {
      if (kind === 'integer-or-null' && off) return { value: null };
      return /^\d+$/.test(t) ? { value: Number(t) } : { problem: 'Type a whole number.' };
    }
    case 'number':
    case 'ratio': {
      const n = Number(t);
      if (t === '' || !Number.isFinite(n) || n < 0) return { problem: 'Type a number.' };
      if (kind === 'ratio' && n > 1) return { problem: 'Type a share between 0 and 1 (0.5 is half).' };
      return { value: n };
    }
    case 'phones':
    case 'emails':
    case 'strings':
      return {
        value: t
          .split(/[\n,;]+/)
          .map((s) => s.trim())
          .filter(Boolean),
      };
    case 'text':
      return t ? { value: t } : { problem: 'Type the text.' };
  }
}
