import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import {
  createDirectory,
  type Directory,
  type DirectoryUser,
  directoryFormat,
  loadDirectory,
  MAX_DIRECTORY_BYTES,
  parseDirectory,
  parseDirectoryText,
} from '../../lambdas/core/directory.js';
import { ConfigError, ValidationError } from '../../lambdas/core/errors.js';
import type { Logger, StaffAccount, StaffProvisioner } from '../../lambdas/ports.js';
import { PRIVATE_FILE_MODE } from './data-dir.js';
import type { CredentialStore } from './oidc-credentials.js';

/** How often the directory files are checked for changes made behind the runtime's back. */
export const DIRECTORY_CHECK_MS = 2000;

/** The users `lifeboat users` manages, in a data folder (0600). */
export function directoryJsonFile(dataDir: string): string {
  return path.join(dataDir, 'directory.json');
}

/** The local runtime's staff directory, kept current, and who may sign in. */
export interface LocalDirectory extends StaffProvisioner {
  /** The directory as it is now: the config's users, then those `lifeboat users` added or changed. */
  current(): Directory;
  /** Re-reads the files now if they changed. */
  refresh(): Promise<Directory>;
  /** Adds or updates several users at once: all of them, or none when one is refused. */
  upsertMany(users: DirectoryUser[]): Promise<{ created: number; updated: number }>;
  stop(): void;
}

export interface LocalDirectoryOptions {
  config: Pick<LifeboatConfig, 'domains' | 'webmail'>;
  /** The folder a relative `webmail.directoryFile` is read from (the config file's). */
  configDir: string;
  dataDir: string;
  credentials: CredentialStore;
  log: Logger;
  /** @default DIRECTORY_CHECK_MS; 0 turns the timer off */
  checkMs?: number;
}

/**
 * The staff directory of the local runtime: the config's `webmail.users` or `webmail.directoryFile`,
 * with `<dataDir>/directory.json` (what `lifeboat users` writes) on top, an entry there replacing
 * the config's entry of the same id. Both files are checked every two seconds, so an edit is
 * seen without a restart; a file that became invalid leaves the last good directory in place, with
 * an error in the log.
 */
export async function openLocalDirectory(options: LocalDirectoryOptions): Promise<LocalDirectory> {
  const own = directoryJsonFile(options.dataDir);
  const configFile =
    options.config.webmail.directoryFile === undefined
      ? undefined
      : path.resolve(options.configDir, options.config.webmail.directoryFile);
  const domains = options.config.domains;
  let base: readonly DirectoryUser[] = [];
  let added: DirectoryUser[] = [];
  let directory: Directory = createDirectory([]);
  let stamp = '';
  let writing: Promise<unknown> = Promise.resolve();

  const mtimeOf = async (file: string | undefined) => {
    if (!file) return '-';
    try {
      const s = await stat(file);
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  };

  async function readOwn(): Promise<DirectoryUser[]> {
    let text: string;
    try {
      text = await readFile(own, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return [...parseDirectoryText(text, 'json', { source: own, domains }).users];
  }

  /** Config users overlaid by id with `extra`, checked together (an address belongs to one user). */
  function merge(config: readonly DirectoryUser[], extra: readonly DirectoryUser[]): Directory {
    const byId = new Map(config.map((u) => [u.id, u]));
    for (const u of extra) byId.set(u.id, u);
    return parseDirectory([...byId.values()], { source: 'staff directory', domains });
  }

  async function load(): Promise<Directory> {
    const next = (await mtimeOf(configFile)) + (await mtimeOf(own));
    if (next === stamp) return directory;
    const fromConfig = await loadDirectory(options.config, async (file) => {
      const resolved = path.resolve(options.configDir, file);
      if ((await stat(resolved)).size > MAX_DIRECTORY_BYTES) {
        throw new Error(`larger than ${MAX_DIRECTORY_BYTES} bytes`);
      }
      return readFile(resolved, 'utf8');
    });
    const fromFile = await readOwn();
    directory = merge(fromConfig.users, fromFile);
    base = fromConfig.users;
    added = fromFile;
    stamp = next;
    return directory;
  }

  async function writeOwn(users: DirectoryUser[]): Promise<void> {
    const temp = `${own}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify({ users }, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, own);
    await chmod(own, PRIVATE_FILE_MODE);
  }

  await load();
  const checkMs = options.checkMs ?? DIRECTORY_CHECK_MS;
  const timer =
    checkMs > 0
      ? setInterval(() => {
          load().catch((err: Error) =>
            options.log.error('staff directory not reloaded; the last good one stays in use', {
              error: err.message,
            }),
          );
        }, checkMs)
      : null;
  timer?.unref();

  async function upsertMany(users: DirectoryUser[]): Promise<{ created: number; updated: number }> {
    const run = writing.then(async () => {
      await load();
      const next = new Map(added.map((u) => [u.id, u]));
      let created = 0;
      for (const u of users) {
        if (!directory.byId(u.id)) created++;
        next.set(u.id, u);
      }
      const list = [...next.values()];
      // Refused as a whole when any address would then belong to two users.
      try {
        merge(base, list);
      } catch (err) {
        if (err instanceof ConfigError) throw new ValidationError('users', err.problems);
        throw err;
      }
      await writeOwn(list);
      stamp = '';
      await load();
      return { created, updated: users.length - created };
    });
    writing = run.catch(() => {});
    return run;
  }

  return {
    current: () => directory,
    refresh: load,
    upsertMany,
    async upsert(user) {
      const parsed = parseDirectory([user], { source: 'user', domains }).users[0] as DirectoryUser;
      const { created } = await upsertMany([parsed]);
      return created ? 'created' : 'updated';
    },
    async list(): Promise<StaffAccount[]> {
      const withPassword = await options.credentials.ids();
      return (await load()).users.map((u) => ({
        id: u.id,
        name: u.name,
        addresses: [...u.addresses],
        groups: [...u.groups],
        phone: u.phone,
        ...(u.personalEmail ? { personalEmail: u.personalEmail } : {}),
        // A phone is the break-glass; a password alone is the corporate sign-in's stand-in.
        status: u.phone ? 'enrolled' : withPassword.has(u.id) ? 'federated-only' : 'invited',
      }));
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

/** The format of a directory file the CLI sends, from its name. */
export { directoryFormat };
