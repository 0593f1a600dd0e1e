import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type HtmlTagDescriptor, type Plugin } from 'vite';

const webRoot = path.dirname(fileURLToPath(import.meta.url));

/**
 * Fails the build when zod reaches the browser bundle: the app imports the API's schemas as types
 * only (and constants from modules without zod), so a value import from schemas.ts, which would
 * add about 25 KB of gzip JavaScript to every page load, is caught here instead of in the bench.
 */
function noValidatorInTheBrowser(): Plugin {
  return {
    name: 'lifeboat:no-zod-in-browser',
    apply: 'build',
    load(id) {
      if (/[\\/]node_modules[\\/]zod[\\/]/.test(id)) {
        this.error(
          `zod was imported into the web app (${id}): import the API's schemas with "import type", and constants from a module without zod`,
        );
      }
      return null;
    },
  };
}

/**
 * The head both pages share, added to each page's own (its title, stylesheet and script): the
 * viewport for phones, colours that follow the system, no referrer, no favicon request, and the
 * app's settings asked for with the script, since the app fetches them before anything else.
 */
function sharedHead(): Plugin {
  const meta = (name: string, content: string): HtmlTagDescriptor => ({
    tag: 'meta',
    attrs: { name, content },
    injectTo: 'head-prepend',
  });
  return {
    name: 'lifeboat:shared-head',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { charset: 'utf-8' }, injectTo: 'head-prepend' },
      meta('viewport', 'width=device-width, initial-scale=1, viewport-fit=cover'),
      meta('color-scheme', 'light dark'),
      meta('referrer', 'no-referrer'),
      { tag: 'link', attrs: { rel: 'icon', href: 'data:,' }, injectTo: 'head-prepend' },
      {
        tag: 'link',
        attrs: { rel: 'preload', href: '/app-config.json', as: 'fetch', crossorigin: 'anonymous' },
        injectTo: 'head-prepend',
      },
    ],
  };
}

/**
 * The staff web app: root web/, one page per app (web/mail/index.html, web/console/index.html),
 * built to dist/web with the assets under /assets/ (the runtime and CloudFront serve that folder
 * at the site's root). JSX goes through esbuild with Preact's automatic runtime: no Babel.
 * scripts/build-web.mjs runs this and then bundles the service worker beside the mail page.
 */
export default defineConfig({
  root: webRoot,
  base: '/',
  publicDir: false,
  plugins: [noValidatorInTheBrowser(), sharedHead()],
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
    rollupOptions: {
      input: {
        mail: path.join(webRoot, 'mail', 'index.html'),
        console: path.join(webRoot, 'console', 'index.html'),
      },
    },
  },
});
