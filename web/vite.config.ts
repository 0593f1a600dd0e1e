import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const webRoot = path.dirname(fileURLToPath(import.meta.url));

/**
 * The staff web app: root web/, one page per app (web/mail/index.html now, web/console/ later),
 * built to dist/web with the assets under /assets/ (the runtime and CloudFront serve that folder
 * at the site's root). JSX goes through esbuild with Preact's automatic runtime: no Babel.
 * scripts/build-web.mjs runs this and then bundles the service worker beside the mail page.
 */
export default defineConfig({
  root: webRoot,
  base: '/',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.join(webRoot, '..', 'dist', 'web'),
    emptyOutDir: true,
    // Browsers staff use all have modules, dynamic import and modulepreload; no polyfill bytes.
    target: 'es2022',
    modulePreload: { polyfill: false },
    // The CSP has no 'unsafe-inline' for scripts; keep every asset a file, never a data: URL.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: { input: { mail: path.join(webRoot, 'mail', 'index.html') } },
  },
});
