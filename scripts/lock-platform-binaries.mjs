#!/usr/bin/env node
// Records every platform-specific optional binary (Biome's, Rollup's, esbuild's …) in
// package-lock.json, so `npm ci` accepts the lock on any OS. npm writes these entries only when the
// registry it used serves every platform's package; a mirror that serves only this machine's
// leaves them out, and `npm ci` then refuses the lock as out of sync. Run after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = path ? `${path}/node_modules/${name}` : `node_modules/${name}`;
    const top = `node_modules/${name}`;
    if (packages[nested] || packages[top]) continue;
    packages[top] = { version, ...(meta.dev ? { dev: true } : {}), optional: true };
    added++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} platform binaries recorded`);
