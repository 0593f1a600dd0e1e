/**
 * The HTML-mail renderer: the only place the web app turns mail HTML into markup. It is the
 * second of two independent layers. The API has already sanitised the body with sanitize-html
 * (lambdas/core/html-sanitise.ts); this module sanitises it again with DOMPurify, a different
 * parser (the browser's own), and wraps it in a document for an iframe that the reading pane
 * sandboxes without `allow-scripts` and without `allow-same-origin`. Each layer alone keeps
 * hostile mail inert; the hostile messages in test/fixtures/hostile/ are rendered through both
 * in Chromium by test/e2e/hostile-html.test.ts, which asserts on the network and on script
 * canaries, not on the DOM alone.
 *
 * Threats and what stops them here:
 * - Script (script elements, event handlers, `javascript:` and `data:` URLs, SVG and MathML
 *   tricks, mutation XSS): an allowlist of formatting elements and attributes, no SVG or MathML
 *   profile, links kept only for http, https, mailto and tel; then `script-src 'none'` in the
 *   document's CSP; then the sandbox, which runs no script whatever gets through.
 * - Tracking and exfiltration by fetching (remote images, CSS `url()`, `@import`, fonts,
 *   prefetch): remote images stay in their `data-lifeboat-remote-*` markers until the user
 *   allows them for this message, remote CSS `url()`s become `none`, and the CSP allows images
 *   only from the signed links' origins and `data:` (plus http and https once allowed), fonts,
 *   frames, media and connections from nowhere.
 * - Phishing by form or redirect: no form, control, meta, base or link element survives, and the
 *   CSP has `form-action 'none'`; links open in a new tab (`<base target="_blank">` and on each
 *   link) with `noopener noreferrer`, and the referrer policy is no-referrer.
 * - Navigation of the app: the sandbox has no `allow-top-navigation`; popups (links) escape the
 *   sandbox so the linked site works, and never get an opener.
 */
import DOMPurify from 'dompurify';
import { REMOTE_ATTRIBUTES, REMOTE_SHEET_ATTRIBUTE } from '../../../lambdas/webmail/remote-markers.js';

export interface RenderOptions {
  /** The user allowed remote images for this message. */
  allowRemote: boolean;
  /** Signed links for embedded images, by Content-ID. */
  inlineImages: Record<string, string>;
}

export interface RenderedMessage {
  /** A whole HTML document for the iframe's `srcdoc`. */
  srcdoc: string;
  /** Remote images (and CSS `url()`s) held back; 0 when there were none or they were allowed. */
  remoteBlocked: number;
}

/** The same formatting elements the server keeps; anything else is dropped with DOMPurify's defaults. */
const ALLOWED_TAGS = (
  'address article aside footer header main nav section hgroup h1 h2 h3 h4 h5 h6 p div span br hr wbr ' +
  'pre blockquote dd dl dt figcaption figure li ol ul menu a abbr b bdi bdo cite code data dfn em i kbd ' +
  'mark q rp rt ruby s samp small strong sub sup time u var big center del font ins strike tt caption ' +
  'col colgroup table tbody td tfoot th thead tr img style'
).split(' ');
const ALLOWED_ATTR = (
  'class id style title dir lang align valign bgcolor width height border href name target rel src ' +
  'srcset alt hspace vspace sizes color face size cellpadding cellspacing summary background rules ' +
  'frame colspan rowspan nowrap scope headers abbr span start type reversed value noshade datetime media'
)
  .split(' ')
  .concat(Object.values(REMOTE_ATTRIBUTES), REMOTE_SHEET_ATTRIBUTE);

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:', 'tel:']);
/** Raster types only: an SVG image can carry script. */
const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]*$/i;
/** CSS that runs code in old engines, escapes (`u\72l(` is `url(`), or loads by other means than `url()`. */
const DANGEROUS_CSS =
  /expression\s*\(|javascript:|vbscript:|-moz-binding|behavior\s*:|@import|@font-face|@namespace|image-set\s*\(|cross-fade\s*\(|element\s*\(|src\s*\(|:[^;{}]*\\/i;
const CSS_URL = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)/gi;

interface Context {
  allowRemote: boolean;
  /** Content-ID → absolute signed link. */
  inline: Map<string, string>;
  /** The signed links themselves, which may already be in the HTML (the server put them there). */
  signed: Set<string>;
  blocked: number;
}

type Judged = { kind: 'local' | 'remote'; url: string } | { kind: 'drop' };

function judgeImage(raw: string, ctx: Context): Judged {
  const value = raw.trim();
  if (/^cid:/i.test(value)) {
    let id = value.slice(4);
    try {
      id = decodeURIComponent(id);
    } catch {
      // looked up as written
    }
    const url = ctx.inline.get(id.replace(/^<|>$/g, ''));
    return url ? { kind: 'local', url } : { kind: 'drop' };
  }
  if (DATA_IMAGE.test(value)) return { kind: 'local', url: value };
  let url: URL;
  try {
    url = new URL(value, document.baseURI);
  } catch {
    return { kind: 'drop' };
  }
  if (ctx.signed.has(url.href)) return { kind: 'local', url: url.href };
  // Only absolute http(s) URLs are remote images; a relative one would hit the app's own origin.
  if ((url.protocol === 'https:' || url.protocol === 'http:') && /^(?:https?:)?\/\//i.test(value)) {
    return { kind: 'remote', url: url.href };
  }
  return { kind: 'drop' };
}

/** Sets `attr` from an image URL (or a srcset), or holds it back in its marker, or drops it. */
function placeImage(
  el: Element,
  attr: 'src' | 'background' | 'srcset',
  value: string,
  ctx: Context,
): boolean {
  const marker = REMOTE_ATTRIBUTES[attr];
  el.removeAttribute(attr);
  el.removeAttribute(marker);
  const parts =
    attr === 'srcset'
      ? value
          .split(/,\s+/)
          .map((c) => c.trim().split(/\s+/))
          .filter((c) => c[0])
      : [[value]];
  const judged = parts.map(([url = '', ...rest]) => ({ j: judgeImage(url, ctx), rest: rest.join(' ') }));
  if (!judged.length || judged.some(({ j }) => j.kind === 'drop')) return false;
  const text = judged.map(({ j, rest }) => `${(j as { url: string }).url} ${rest}`.trim()).join(', ');
  if (judged.some(({ j }) => j.kind === 'remote') && !ctx.allowRemote) {
    el.setAttribute(marker, text);
    return true;
  }
  el.setAttribute(attr, text);
  return false;
}

/** CSS with local URLs in place and remote ones `none` (counted) unless allowed; '' when it is not safe. */
function scrubCss(css: string, ctx: Context): string {
  const text = css.replace(/\/\*[\s\S]*?\*\//g, '');
  if (DANGEROUS_CSS.test(text) || text.includes('<')) return '';
  return text.replace(CSS_URL, (_m, dq?: string, sq?: string, bare?: string) => {
    const j = judgeImage(dq ?? sq ?? bare ?? '', ctx);
    if (j.kind === 'drop') return 'none';
    if (j.kind === 'remote' && !ctx.allowRemote) {
      ctx.blocked++;
      return 'none';
    }
    return `url("${j.url.replace(/["\\\n]/g, '')}")`;
  });
}

function urlCount(css: string): number {
  return css.match(/url\(/gi)?.length ?? 0;
}

/** DOMPurify's hook: what the server layer does to attributes, done again on the browser's parse. */
function fixAttributes(el: Element, ctx: Context): void {
  const tag = el.tagName.toLowerCase();
  if (tag === 'a') {
    const href = el.getAttribute('href');
    el.removeAttribute('href');
    el.removeAttribute('target');
    el.removeAttribute('rel');
    if (href !== null) {
      try {
        // No base: a relative link would point into the app itself.
        const url = new URL(href.trim());
        if (LINK_SCHEMES.has(url.protocol)) {
          el.setAttribute('href', url.href);
          el.setAttribute('target', '_blank');
          el.setAttribute('rel', 'noopener noreferrer');
        }
      } catch {
        // not a URL: the text stays, the link goes
      }
    }
  } else el.removeAttribute('href');
  let held = false;
  for (const attr of ['src', 'srcset', 'background'] as const) {
    const value = el.getAttribute(attr) ?? el.getAttribute(REMOTE_ATTRIBUTES[attr]);
    if (value === null) continue;
    if (attr !== 'background' && tag !== 'img') {
      el.removeAttribute(attr);
      el.removeAttribute(REMOTE_ATTRIBUTES[attr]);
      continue;
    }
    if (placeImage(el, attr, value, ctx) && (attr === 'background' || !held)) {
      ctx.blocked++;
      held = attr !== 'background';
    }
  }
  const style = el.getAttribute('style');
  const remoteStyle = el.getAttribute(REMOTE_ATTRIBUTES.style);
  el.removeAttribute('style');
  el.removeAttribute(REMOTE_ATTRIBUTES.style);
  let css = style === null ? '' : scrubCss(style, ctx);
  if (remoteStyle !== null) {
    if (ctx.allowRemote) css = [css, scrubCss(remoteStyle, ctx)].filter(Boolean).join(';');
    else {
      ctx.blocked += urlCount(remoteStyle);
      el.setAttribute(REMOTE_ATTRIBUTES.style, remoteStyle);
    }
  }
  if (css) el.setAttribute('style', css);
}

/** Style sheets: scrubbed, and the sheet of remote rules applied only when allowed. */
function fixStyleSheet(el: HTMLStyleElement, ctx: Context): void {
  const remote = el.hasAttribute(REMOTE_SHEET_ATTRIBUTE);
  for (const a of Array.from(el.attributes)) el.removeAttribute(a.name);
  if (remote && !ctx.allowRemote) {
    ctx.blocked += urlCount(el.textContent ?? '');
    el.remove();
    return;
  }
  const css = scrubCss(el.textContent ?? '', ctx);
  if (css.trim()) el.textContent = css;
  else el.remove();
}

function cspOrigins(ctx: Context): string {
  const origins = new Set<string>();
  for (const url of ctx.signed) origins.add(new URL(url).origin);
  return [...origins].join(' ');
}

/** Defaults for the message document: readable on a phone, images never wider than the pane. */
const BASE_STYLE =
  'html{color-scheme:light}body{margin:12px;font:15px/1.45 system-ui,sans-serif;color:#111;background:#fff;' +
  'overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}pre{white-space:pre-wrap}';

/**
 * Sanitises an HTML mail body (already sanitised by the API) and wraps it in a whole document
 * for the reading pane's sandboxed iframe `srcdoc`, with a CSP of its own as the first element.
 * Remote images load only when `allowRemote`; otherwise `remoteBlocked` says how many wait.
 */
export function buildMessageDocument(html: string, options: RenderOptions): RenderedMessage {
  const inline = new Map<string, string>();
  for (const [cid, url] of Object.entries(options.inlineImages)) {
    try {
      inline.set(cid, new URL(url, document.baseURI).href);
    } catch {
      // a link the API did not make: no image
    }
  }
  const ctx: Context = {
    allowRemote: options.allowRemote,
    inline,
    signed: new Set(inline.values()),
    blocked: 0,
  };
  const purify = DOMPurify(window);
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeType === 1) fixAttributes(node as Element, ctx);
  });
  const body = purify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    // Values that are not URLs (CSS, srcsets) and that fixAttributes checks itself.
    ADD_URI_SAFE_ATTR: [REMOTE_ATTRIBUTES.style, REMOTE_ATTRIBUTES.srcset, 'srcset'],
    // A style sheet first in the body would otherwise be dropped as if it were in a head.
    FORCE_BODY: true,
    RETURN_DOM: true,
  }) as HTMLElement;
  for (const sheet of Array.from(body.querySelectorAll('style'))) fixStyleSheet(sheet, ctx);
  // Allowed remote images load over https only, as the app's own CSP has it: a plain-http image
  // would tell everyone on the wire who opened what, and this document's policy must not rest on
  // the one a srcdoc frame inherits.
  const imgSrc = [cspOrigins(ctx), 'data:', options.allowRemote ? 'https:' : ''].filter(Boolean).join(' ');
  // 'self' is nothing in a sandboxed srcdoc (its origin is opaque); the signed links' origins are named.
  const csp = [
    "default-src 'none'",
    "script-src 'none'",
    "object-src 'none'",
    "style-src 'unsafe-inline'",
    `img-src ${imgSrc}`,
    "font-src 'none'",
    "media-src 'none'",
    "frame-src 'none'",
    "child-src 'none'",
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
  const srcdoc =
    `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="${csp}">` +
    '<meta name="referrer" content="no-referrer"><base target="_blank">' +
    `<style>${BASE_STYLE}</style></head><body>${body.innerHTML}</body></html>`;
  return { srcdoc, remoteBlocked: options.allowRemote ? 0 : ctx.blocked };
}
