import type { Metafile } from 'esbuild';

/** The repository's root folder. */
export declare const root: string;
/** Where the bundle goes. */
export declare const CLI_OUT_DIR: string;
/** The bundle's entry point in `outDir`. */
export declare function cliEntry(outDir?: string): string;
/** Whether the bundle in `outDir` exists and is no older than every file it was built from. */
export declare function cliBundleIsFresh(outDir?: string): boolean;
/** Builds the bundle into `outDir`. */
export declare function buildCli(options?: {
  outDir?: string;
}): Promise<{ entry: string; metafile: Metafile }>;
/** Whether an error is esbuild missing (installed without dev dependencies). */
export declare function isEsbuildMissing(err: unknown): boolean;
