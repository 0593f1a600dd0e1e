/**
 * The server's layer of defence against hostile HTML mail. The read endpoint returns only what
 * this module lets through; the web app sanitises again with DOMPurify and shows the result in a
 * sandboxed, script-less iframe under its own CSP (web/src/mail/render.ts). Two layers built on two
 * different parsers, so one parser's blind spot is not the other's.
 *
 * What it removes, and why (each pinned by a message in test/fixtures/hostile/):
 * - Anything that runs script or loads a document: script, iframe, frame, object, embed, applet,
 *   svg and math (script, `<use href>`, animate/set, foreignObject, maction), template, noscript
 *   and the other raw-text elements whose parsing differs between a sanitiser and a browser
 *   (the classic mutation-XSS carriers), event-handler attributes and every attribute not on
 *   the allowlist (srcdoc, formaction, ping …).
 * - What acts on the page or sends data: forms and their controls, meta (refresh), base (which
 *   would re-point every relative link), link (stylesheet, prefetch, dns-prefetch).
 * - URLs other than http, https, mailto and tel in links; `javascript:`, `vbscript:` and
 *   `data:` never survive (a `data:` image of a raster type that cannot carry script is kept).
 * - CSS that runs or reaches out: `@import`, `@font-face` and every at-rule but media, supports
 *   and keyframes; `expression()`, `behavior`, `-moz-binding`; any declaration with a CSS escape
 *   (`u\72l(` is `url(`) or a function that takes a URL as a bare string (image-set …).
 *
 * What it rewrites:
 * - `cid:` references become the signed links of the message's embedded images.
 * - Remote images are not fetched until the user allows them for the message (a fetched image
 *   tells the sender the mail was opened, from where and when): `src`, `srcset` and `background`
 *   move to `data-lifeboat-remote-*`, remote CSS `url()` declarations move to
 *   `data-lifeboat-remote-style` (or, in a style sheet, to a second sheet that matches no media,
 *   `<style media="not all" data-lifeboat-remote>`), and they are counted. Remote URLs in a rule
 *   whose selector matches on attribute values (CSS exfiltration) are dropped outright.
 * - Every link opens in a new tab with `rel="noopener noreferrer"`.
 */
import postcss, { type AtRule, type Declaration, type Root, type Rule } from 'postcss';
import sanitizeHtml from 'sanitize-html';
import { REMOTE_ATTRIBUTES, REMOTE_SHEET_ATTRIBUTE } from '../webmail/schemas.js';

/**
 * Longest HTML returned after sanitising: the input is already cut to this (MAX_BODY_CHARS),
 * and escaping may lengthen it; a Lambda response is capped at 6 MB.
 */
export const MAX_SANITISED_HTML_CHARS = 2 * 1024 * 1024;
/**
 * Deepest element nesting kept: browsers stop nesting at 512 anyway, and a hostile message of
 * a million nested tags costs the parser's stack nothing past this.
 */
export const MAX_NESTING = 256;
/**
 * Deepest nesting, as a quick scan of the tags estimates it, that is parsed at all. htmlparser2
 * keeps its stack of open elements with `unshift`, so parsing costs the square of the depth:
 * 80,000 unclosed `<b>` take seconds. Real mail nests a few dozen deep.
 */
export const MAX_SCANNED_DEPTH = 4096;
/** Longest style sheet kept, per `<style>` element: newsletters' are a few tens of KB. */
export const MAX_STYLE_SHEET_CHARS = 256 * 1024;
/** Longest URL kept in an attribute or `url()`: a real link is far shorter; a longer one is an attack or a blob. */
export const MAX_URL_CHARS = 8 * 1024;
/** Longest `data:` image kept: a small embedded logo. Anything larger belongs in an attachment. */
export const MAX_DATA_IMAGE_CHARS = 256 * 1024;

export { REMOTE_ATTRIBUTES, REMOTE_SHEET_ATTRIBUTE };

export interface SanitiseOptions {
  /** Signed links to the message's embedded images, by Content-ID (no angle brackets). */
  inlineImages: Readonly<Record<string, string>>;
}

export interface SanitisedHtml {
  html: string;
  /** Remote images and CSS `url()`s held back (not fetched) until the user allows them. */
  remoteImages: number;
  /** The output was cut to MAX_SANITISED_HTML_CHARS. */
  truncated: boolean;
}

const ALLOWED_TAGS = [
  ...['address', 'article', 'aside', 'footer', 'header', 'main', 'nav', 'section', 'hgroup'],
  ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'div', 'span', 'br', 'hr', 'wbr', 'pre', 'blockquote'],
  ...['dd', 'dl', 'dt', 'figcaption', 'figure', 'li', 'ol', 'ul', 'menu'],
  ...['a', 'abbr', 'b', 'bdi', 'bdo', 'cite', 'code', 'data', 'dfn', 'em', 'i', 'kbd', 'mark', 'q'],
  ...['rp', 'rt', 'ruby', 's', 'samp', 'small', 'strong', 'sub', 'sup', 'time', 'u', 'var'],
  ...['big', 'center', 'del', 'font', 'ins', 'strike', 'tt'],
  ...['caption', 'col', 'colgroup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr'],
  'img',
  'style',
];

/**
 * Disallowed elements dropped with everything inside them, not just their tag: active content,
 * the foreign (SVG, MathML) and raw-text elements a browser parses differently from htmlparser2,
 * and controls whose text means nothing outside a form.
 */
const DROPPED_WITH_CONTENT = [
  ...['script', 'noscript', 'template', 'iframe', 'frame', 'frameset', 'noframes', 'object', 'embed'],
  ...['applet', 'svg', 'math', 'xmp', 'plaintext', 'noembed', 'title', 'textarea', 'select', 'option'],
  ...['datalist', 'canvas', 'audio', 'video', 'map', 'dialog', 'portal'],
];

const LAYOUT_ATTRIBUTES = ['align', 'valign', 'bgcolor', 'width', 'height', 'border'];
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  '*': [
    'class',
    'id',
    'style',
    'title',
    'dir',
    'lang',
    'align',
    'valign',
    'bgcolor',
    REMOTE_ATTRIBUTES.style,
  ],
  a: ['href', 'name', 'target', 'rel'],
  img: ['src', 'srcset', 'alt', 'width', 'height', 'border', 'hspace', 'vspace', 'sizes'],
  font: ['color', 'face', 'size'],
  table: [...LAYOUT_ATTRIBUTES, 'cellpadding', 'cellspacing', 'summary', 'background', 'rules', 'frame'],
  tr: [...LAYOUT_ATTRIBUTES, 'background'],
  td: [...LAYOUT_ATTRIBUTES, 'background', 'colspan', 'rowspan', 'nowrap', 'scope', 'headers', 'abbr'],
  th: [...LAYOUT_ATTRIBUTES, 'background', 'colspan', 'rowspan', 'nowrap', 'scope', 'headers', 'abbr'],
  div: [...LAYOUT_ATTRIBUTES, 'background'],
  col: [...LAYOUT_ATTRIBUTES, 'span'],
  colgroup: [...LAYOUT_ATTRIBUTES, 'span'],
  ol: ['start', 'type', 'reversed'],
  ul: ['type'],
  li: ['value', 'type'],
  hr: [...LAYOUT_ATTRIBUTES, 'size', 'noshade', 'color'],
  time: ['datetime'],
  data: ['value'],
  bdo: ['dir'],
};
for (const tag of ['img', 'table', 'tr', 'td', 'th', 'div']) {
  ALLOWED_ATTRIBUTES[tag]?.push(
    REMOTE_ATTRIBUTES.src,
    REMOTE_ATTRIBUTES.srcset,
    REMOTE_ATTRIBUTES.background,
  );
}

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:', 'tel:']);
/** Raster types only: an SVG image can carry script. The same list as INLINE_IMAGE_TYPES. */
const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$/i;
/** Characters a URL may keep, so it can sit quoted in CSS and in an attribute and mean one thing. */
const URL_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/** What one attribute or `url()` value is. */
type UrlKind = { kind: 'local'; url: string } | { kind: 'remote'; url: string } | { kind: 'drop' };

function classifyImageUrl(raw: string, inline: Readonly<Record<string, string>>): UrlKind {
  const value = raw.trim();
  if (value.length > MAX_DATA_IMAGE_CHARS) return { kind: 'drop' };
  if (/^cid:/i.test(value)) {
    const id = value.slice(4);
    let decoded = id;
    try {
      decoded = decodeURIComponent(id);
    } catch {
      // RFC 2392 says %-encoded; a malformed one is looked up as it is.
    }
    const url = inline[decoded] ?? inline[id] ?? inline[decoded.replace(/^<|>$/g, '')];
    return url === undefined ? { kind: 'drop' } : { kind: 'local', url };
  }
  if (DATA_IMAGE.test(value)) return { kind: 'local', url: value.replace(/\s+/g, '') };
  if (value.length > MAX_URL_CHARS) return { kind: 'drop' };
  // Protocol-relative URLs are remote too: the iframe would resolve them against the app's scheme.
  const absolute = value.startsWith('//') ? `https:${value}` : value;
  if (!/^https?:\/\//i.test(absolute) || !URL_CHARS.test(absolute)) return { kind: 'drop' };
  try {
    return { kind: 'remote', url: new URL(absolute).href };
  } catch {
    return { kind: 'drop' };
  }
}

function safeLink(raw: string): string | undefined {
  const value = raw.trim();
  if (value.length > MAX_URL_CHARS) return undefined;
  try {
    // No base: a relative link would resolve against the app's own origin, so it is dropped.
    const url = new URL(value);
    return LINK_SCHEMES.has(url.protocol) ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a srcset into [url, descriptor] pairs, as the HTML standard's parser reads it. */
function srcsetCandidates(raw: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < raw.length) {
    while (i < raw.length && /[\s,]/.test(raw[i] as string)) i++;
    let url = '';
    while (i < raw.length && !/\s/.test(raw[i] as string)) url += raw[i++];
    if (!url) break;
    let descriptor = '';
    if (url.endsWith(',')) url = url.replace(/,+$/, '');
    else {
      while (i < raw.length && raw[i] !== ',') descriptor += raw[i++];
    }
    out.push([url, descriptor.trim()]);
  }
  return out;
}

/** srcset candidates: every one must be a remote or local image; any other makes the attribute go. */
function classifySrcset(raw: string, inline: Readonly<Record<string, string>>): UrlKind[] | undefined {
  const out: UrlKind[] = [];
  for (const [url, descriptor] of srcsetCandidates(raw)) {
    if (!/^(?:\d+(?:\.\d+)?[wx])?$/.test(descriptor)) return undefined;
    const kind = classifyImageUrl(url, inline);
    if (kind.kind === 'drop') return undefined;
    out.push({ ...kind, url: `${kind.url} ${descriptor}`.trim() });
  }
  return out.length ? out : undefined;
}

/** Declarations that run code in old engines or carry a URL in a form `url()` checks miss. */
const DANGEROUS_PROPERTY = /^(?:behavior|-ms-behavior|-moz-binding|src)$/i;
const DANGEROUS_VALUE =
  /\\|expression\s*\(|javascript:|vbscript:|-moz-binding|(?:^|[^a-z-])(?:-[a-z]+-)?(?:image-set|image|cross-fade|element|src)\s*\(/i;
const URL_FUNCTION = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)/gi;
const AT_RULES_KEPT = new Set(['media', 'supports', 'keyframes', '-webkit-keyframes']);
/** `[attr=value]`, `[attr^=…]` …: a selector that tests attribute values, the tool of CSS exfiltration. */
const ATTRIBUTE_VALUE_SELECTOR = /\[[^\]]*[~|^$*]?=/;

interface CssDecision {
  /** The declaration's value with local URLs rewritten, or undefined to drop it. */
  value?: string;
  /** Remote URLs it held (the value is then wanted only once the user allows them). */
  remote: number;
}

function judgeDeclaration(
  prop: string,
  value: string,
  inline: Readonly<Record<string, string>>,
): CssDecision {
  if (DANGEROUS_PROPERTY.test(prop) || DANGEROUS_VALUE.test(value)) return { remote: 0 };
  let remote = 0;
  let dropped = false;
  const rewritten = value.replace(URL_FUNCTION, (_m, dq?: string, sq?: string, bare?: string) => {
    const kind = classifyImageUrl(dq ?? sq ?? bare ?? '', inline);
    if (kind.kind === 'drop') {
      dropped = true;
      return 'none';
    }
    if (kind.kind === 'remote') remote++;
    return `url("${kind.url}")`;
  });
  // A `url(` the pattern did not take whole (unbalanced, nested) is not guessed at.
  if (dropped || /url\(/i.test(rewritten.replace(/url\("[^"]*"\)/gi, ''))) return { remote: 0 };
  return { value: rewritten, remote };
}

/** Inline `style`: kept declarations, and the remote ones apart. */
function sanitiseStyleAttribute(
  css: string,
  inline: Readonly<Record<string, string>>,
): { style: string; remoteStyle: string; remote: number } {
  let root: Root;
  try {
    root = postcss.parse(`x{${css}}`);
  } catch {
    return { style: '', remoteStyle: '', remote: 0 };
  }
  const local: string[] = [];
  const remoteDecls: string[] = [];
  let remote = 0;
  const rule = root.first;
  if (rule?.type !== 'rule') return { style: '', remoteStyle: '', remote: 0 };
  rule.each((node) => {
    if (node.type !== 'decl') return;
    const decision = judgeDeclaration(node.prop, node.value, inline);
    if (decision.value === undefined) return;
    const text = `${node.prop}:${decision.value}${node.important ? ' !important' : ''}`;
    if (decision.remote) {
      remote += decision.remote;
      remoteDecls.push(text);
    } else local.push(text);
  });
  return { style: local.join(';'), remoteStyle: remoteDecls.join(';'), remote };
}

/** A `<style>` sheet: the local sheet and the sheet of remote `url()` rules. */
function sanitiseStyleSheet(
  css: string,
  inline: Readonly<Record<string, string>>,
): { local: string; remote: string; count: number } {
  if (css.length > MAX_STYLE_SHEET_CHARS) return { local: '', remote: '', count: 0 };
  let root: Root;
  try {
    root = postcss.parse(css);
  } catch {
    return { local: '', remote: '', count: 0 };
  }
  let count = 0;
  root.walkComments((c) => {
    c.remove();
  });
  root.walkAtRules((at: AtRule) => {
    if (!AT_RULES_KEPT.has(at.name.toLowerCase()) || at.params.includes('\\')) at.remove();
  });
  const remoteRoot = root.clone();
  // Walk both trees in step: the same declarations in the same order.
  const localDecls: Declaration[] = [];
  const remoteDecls: Declaration[] = [];
  root.walkDecls((d) => {
    localDecls.push(d);
  });
  remoteRoot.walkDecls((d) => {
    remoteDecls.push(d);
  });
  localDecls.forEach((d, i) => {
    const twin = remoteDecls[i] as Declaration;
    const decision = judgeDeclaration(d.prop, d.value, inline);
    const parent = d.parent as Rule | AtRule | undefined;
    const exfiltration =
      parent?.type === 'rule' && ATTRIBUTE_VALUE_SELECTOR.test((parent as Rule).selector ?? '');
    if (decision.value === undefined || (decision.remote > 0 && exfiltration)) {
      d.remove();
      twin.remove();
    } else if (decision.remote > 0) {
      count += decision.remote;
      d.remove();
      twin.value = decision.value;
    } else {
      d.value = decision.value;
      twin.remove();
    }
  });
  const prune = (tree: Root) => {
    // Innermost first, so an @media left with only empty rules goes too.
    const containers: Array<Rule | AtRule> = [];
    tree.walk((n) => {
      if (n.type === 'rule' || n.type === 'atrule') containers.push(n);
    });
    for (const n of containers.reverse()) if (!n.nodes?.length) n.remove();
  };
  prune(root);
  prune(remoteRoot);
  // `<` never reaches the output, so nothing in a sheet can close the element (`</style>`).
  const text = (tree: Root) => tree.toString().replace(/</g, '\\3c ');
  return { local: text(root), remote: text(remoteRoot), count };
}

/** Elements a browser closes without an end tag (so an unclosed one adds no depth) and void elements. */
const SELF_CLOSING = new Set(
  ['p', 'li', 'td', 'th', 'tr', 'dt', 'dd', 'option', 'optgroup', 'tbody', 'thead', 'tfoot', 'colgroup']
    .concat(['rp', 'rt', 'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta'])
    .concat(['param', 'source', 'track', 'wbr', 'basefont', 'bgsound', 'frame', 'keygen', 'image']),
);

/** The deepest nesting of elements, estimated from the tags alone (an upper bound for sane markup). */
export function estimateDepth(html: string): number {
  let depth = 0;
  let max = 0;
  for (const m of html.matchAll(/<(\/?)([A-Za-z][^\s/>]*)/g)) {
    const name = (m[2] as string).toLowerCase();
    if (SELF_CLOSING.has(name)) continue;
    if (m[1]) depth = Math.max(0, depth - 1);
    else if (++depth > max) max = depth;
  }
  return max;
}

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function sanitiseOnce(html: string, options: SanitiseOptions): { html: string; remoteImages: number } {
  const inline = options.inlineImages;
  let remoteImages = 0;
  const out = sanitizeHtml(html, {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: ALLOWED_ATTRIBUTES,
    // The URL checks are ours (transformTags below); these are the library's own, as a second net.
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowProtocolRelative: false,
    nonTextTags: DROPPED_WITH_CONTENT,
    disallowedTagsMode: 'discard',
    // Style sheets are parsed and filtered here, after the markup (see sanitiseStyleSheet).
    allowVulnerableTags: true,
    parseStyleAttributes: false,
    nestingLimit: MAX_NESTING,
    transformTags: {
      // The body's colours and background belong to the message; a div keeps them in the frame.
      body: (_tag, attribs) => ({ tagName: 'div', attribs }),
      '*': (tagName, attribs) => {
        const a: Record<string, string> = {};
        for (const [name, value] of Object.entries(attribs)) {
          // The sender's own markers would let remote URLs past the count.
          if (name.startsWith('data-lifeboat')) continue;
          a[name] = value;
        }
        if (tagName === 'a') {
          const href = a.href === undefined ? undefined : safeLink(a.href);
          delete a.href;
          if (href !== undefined) {
            a.href = href;
            a.target = '_blank';
            a.rel = 'noopener noreferrer';
          } else {
            delete a.target;
            delete a.rel;
          }
        }
        if (tagName === 'img') {
          let remote = false;
          if (a.src !== undefined) {
            const kind = classifyImageUrl(a.src, inline);
            delete a.src;
            if (kind.kind === 'local') a.src = kind.url;
            else if (kind.kind === 'remote') {
              a[REMOTE_ATTRIBUTES.src] = kind.url;
              remote = true;
            }
          }
          if (a.srcset !== undefined) {
            const kinds = classifySrcset(a.srcset, inline);
            delete a.srcset;
            if (kinds?.some((k) => k.kind === 'remote')) {
              a[REMOTE_ATTRIBUTES.srcset] = kinds.map((k) => (k.kind === 'drop' ? '' : k.url)).join(', ');
              remote = true;
            } else if (kinds) a.srcset = kinds.map((k) => (k.kind === 'drop' ? '' : k.url)).join(', ');
          }
          if (remote) remoteImages++;
        }
        if (a.background !== undefined) {
          const kind = classifyImageUrl(a.background, inline);
          delete a.background;
          if (kind.kind === 'local') a.background = kind.url;
          else if (kind.kind === 'remote') {
            a[REMOTE_ATTRIBUTES.background] = kind.url;
            remoteImages++;
          }
        }
        // Without a function or an escape, a declaration can neither load nor run anything:
        // most of a newsletter's thousands of style attributes skip the CSS parser.
        if (a.style !== undefined && /[(\\]/.test(a.style)) {
          const s = sanitiseStyleAttribute(a.style, inline);
          delete a.style;
          if (s.style) a.style = s.style;
          if (s.remoteStyle) {
            a[REMOTE_ATTRIBUTES.style] = s.remoteStyle;
            remoteImages += s.remote;
          }
        }
        if (tagName === 'style') return { tagName, attribs: {} };
        return { tagName, attribs: a };
      },
    },
  });
  // sanitize-html passes an allowed <style>'s text through as it is; every other text is
  // escaped, so `<style>` and `</style>` in its output are always the element's own tags.
  const html2 = out.replace(/<style>([\s\S]*?)<\/style>/g, (_m, css: string) => {
    const sheet = sanitiseStyleSheet(css, inline);
    remoteImages += sheet.count;
    return (
      (sheet.local.trim() ? `<style>${sheet.local}</style>` : '') +
      (sheet.remote.trim()
        ? `<style media="not all" ${REMOTE_SHEET_ATTRIBUTE}="">${sheet.remote}</style>`
        : '')
    );
  });
  return { html: html2, remoteImages };
}

/**
 * Sanitises an HTML mail body for reading: only formatting survives, links open in a new tab
 * without opener or referrer, embedded images point at their signed links, and remote images
 * are held back and counted (see the module's comment for the full list). Never throws: what
 * it cannot make sense of, it drops.
 */
export function sanitiseMailHtml(html: string, options: SanitiseOptions): SanitisedHtml {
  if (estimateDepth(html) > MAX_SCANNED_DEPTH) {
    // Not markup anyone wrote to be read: shown as its source, as text, rather than parsed.
    const shown = html.slice(0, Math.floor(MAX_SANITISED_HTML_CHARS / 5));
    return {
      html: `<pre>${escapeText(shown)}</pre>`,
      remoteImages: 0,
      truncated: shown.length < html.length,
    };
  }
  const result = sanitiseOnce(html, options);
  if (result.html.length <= MAX_SANITISED_HTML_CHARS) return { ...result, truncated: false };
  // Escaping made it longer than a response may carry: cut, and drop a tag cut in half (`<` is
  // escaped in text, attribute values and style sheets, so the last `<` starts a tag). An element
  // left open runs to the end, which parses harmlessly; the renderer sanitises it again. The
  // count still includes remote images past the cut.
  let cut = result.html.slice(0, MAX_SANITISED_HTML_CHARS);
  const lastTag = cut.lastIndexOf('<');
  if (lastTag >= 0 && cut.indexOf('>', lastTag) < 0) cut = cut.slice(0, lastTag);
  return { html: cut, remoteImages: result.remoteImages, truncated: true };
}
