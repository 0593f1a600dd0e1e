import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// Postfix installs its commands in sbin, which a non-login PATH often leaves out.
const SBIN_DIRECTORIES = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable on PATH or in the sbin directories, or `undefined`. */
export function findExecutable(name: string): string | undefined {
  const directories = [...(process.env.PATH ?? '').split(delimiter), ...SBIN_DIRECTORIES];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** True when the tests run in CI, where a missing e2e dependency is a failure, not a skip. */
export function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}
