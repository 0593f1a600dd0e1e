/**
 * The markers the server's HTML sanitiser (lambdas/core/html-sanitise.ts) leaves for remote
 * content it held back, and the web app's renderer (web/src/mail/render.ts) reads. This module
 * imports nothing, so the browser bundle takes these names without zod.
 */

/**
 * Attributes in a read's `html` that hold a remote image back until the user allows it for the
 * message: the server's sanitiser moves `src`, `srcset`, `background` and remote CSS declarations
 * into them, and the web app's renderer puts them back only when allowed.
 */
export const REMOTE_ATTRIBUTES = {
  src: 'data-lifeboat-remote-src',
  srcset: 'data-lifeboat-remote-srcset',
  background: 'data-lifeboat-remote-background',
  style: 'data-lifeboat-remote-style',
} as const;
/** Marks the `<style media="not all">` sheet of rules with remote `url()`s, applied only when allowed. */
export const REMOTE_SHEET_ATTRIBUTE = 'data-lifeboat-remote';
