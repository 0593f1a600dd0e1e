import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/ lives directly under it). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Real-world messages shared between projects; read in place, never copied into the repository. */
export const CORPUS_DIR = path.resolve(REPO_ROOT, '../shared/mail-corpus');

export interface CorpusMessage {
  /** Path relative to the corpus folder. */
  name: string;
  raw: Buffer;
}

/** Every `.eml` file under the corpus folder, sorted by path; `undefined` when the folder is absent. */
export async function loadCorpus(dir = CORPUS_DIR): Promise<CorpusMessage[] | undefined> {
  if (!existsSync(dir)) return undefined;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.eml'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
  return Promise.all(
    files.map(async (file) => ({ name: path.relative(dir, file), raw: await readFile(file) })),
  );
}

/** The note every corpus-based figure prints when the corpus is missing. */
export const CORPUS_MISSING = `mail corpus not found at ${CORPUS_DIR}`;
