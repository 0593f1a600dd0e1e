// Starts a worker thread whose module is TypeScript (`process.argv[2]`, a file URL) through tsx,
// as `npm start` runs the runtime: on Node 20 a worker does not inherit its parent's `--import
// tsx` hooks. Plain JavaScript so that it runs before any loader; tsx is found from here.
import { tsImport } from 'tsx/esm/api';

const entry = process.argv[2];
if (!entry) throw new Error('ts-worker.mjs: the worker module URL is its first argument');
await tsImport(entry, import.meta.url);
