import { describe, it } from 'vitest';
import { isCi } from './executables.js';
import { postfixUnavailableReason } from './postfix.js';
import { swaksUnavailableReason } from './swaks.js';

export { isCi } from './executables.js';

/**
 * Like `describe`, but only when every requirement is met. `reasons` are the answers of
 * `*UnavailableReason()` helpers: `undefined` means available.
 *
 * Locally a missing requirement skips the suite and says why in its name. In CI (`CI` set) it
 * fails instead, so a broken CI image cannot pass by skipping the end-to-end tests.
 */
export function describeRequiring(reasons: (string | undefined)[], name: string, body: () => void): void {
  const missing = reasons.filter((reason): reason is string => reason !== undefined);
  if (missing.length === 0) {
    describe(name, body);
  } else if (isCi()) {
    describe(name, () => {
      it('has its end-to-end requirements installed', () => {
        throw new Error(`CI must provide: ${missing.join('; ')}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${missing.join('; ')})`, body);
  }
}

/** {@link describeRequiring} for tests that need a private Postfix instance and swaks. */
export function describeWithPostfix(name: string, body: () => void): void {
  describeRequiring([postfixUnavailableReason(), swaksUnavailableReason()], name, body);
}
