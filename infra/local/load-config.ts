import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type LifeboatConfig, parseConfig, parseConfigJson } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';

/** The file `npm start` reads unless LIFEBOAT_CONFIG_FILE names another. */
export const DEFAULT_CONFIG_FILE = 'lifeboat.config.json';

/** The demo setup: mail for example.com goes to a local demo primary that writes files. */
export function demoConfig(): LifeboatConfig {
  return parseConfig(
    {
      organisation: 'Demo (no config file)',
      domains: ['example.com'],
      routes: [
        {
          name: 'demo-primary',
          domains: ['example.com'],
          hosts: [{ host: '127.0.0.1', port: 2526 }],
          tls: 'none',
        },
      ],
      // Short intervals so an outage rehearsal shows its page within half a minute.
      queue: { sweepIntervalSeconds: 15, minBackoffSeconds: 30, maxBackoffSeconds: 300 },
      continuity: {
        probes: { intervalSeconds: 15 },
        paging: { adminPhones: ['+447700900123'], adminEmails: ['oncall@example.org'] },
        staff: { phones: ['+447700900456'] },
      },
      // Demo staff, each with a personal mobile (Ofcom's drama range) for the texted sign-in code.
      webmail: {
        users: [
          {
            id: 'alice',
            name: 'Alice Smith',
            addresses: ['alice@example.com', 'sales@example.com'],
            groups: ['lifeboat-admins'],
            phone: '+447700900101',
          },
          { id: 'bob', name: 'Bob Jones', addresses: ['bob@example.com'], phone: '+447700900102' },
          { id: 'carol', name: 'Carol White', addresses: ['carol@example.com'], phone: '+447700900103' },
        ],
      },
    },
    'demo config',
  );
}

export interface LoadedConfig {
  config: LifeboatConfig;
  /** The file read, or null for the demo config. */
  file: string | null;
}

/**
 * Loads the local runtime's config: LIFEBOAT_CONFIG_FILE, else ./lifeboat.config.json, else the
 * demo config. A file that exists but is wrong is an error, never a silent fallback to the demo.
 */
export function loadLocalConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LoadedConfig {
  const named = env.LIFEBOAT_CONFIG_FILE;
  const file = path.resolve(cwd, named ?? DEFAULT_CONFIG_FILE);
  if (!existsSync(file)) {
    if (named) throw new ConfigError('LIFEBOAT_CONFIG_FILE', [`names ${file}, which does not exist`]);
    return { config: demoConfig(), file: null };
  }
  let text: string;
  try {
    if (!statSync(file).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EISDIR'
        ? 'is a folder, not a JSON file'
        : `cannot be read (${code ?? (err as Error).message})`;
    throw new ConfigError(named ? 'LIFEBOAT_CONFIG_FILE' : file, [`${file} ${why}`]);
  }
  return { config: parseConfigJson(text, file), file };
}
