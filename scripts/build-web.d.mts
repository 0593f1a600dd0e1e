/** The repository's root folder. */
export declare const root: string;
/** Where the app is built. */
export declare const WEB_OUT_DIR: string;
/** Whether dist/web exists and is no older than every source it was built from. */
export declare function webBuildIsFresh(outDir?: string): boolean;
/** Builds the app into `outDir`; returns the files written, as site paths. */
export declare function buildWeb(options?: { outDir?: string }): Promise<string[]>;
