/**
 * PLACEHOLDER for the HTML-mail renderer: the reading pane codes against this signature, and the
 * full renderer (with its threat comments and its hostile-message suite) replaces this file.
 *
 * What this minimal version already does: DOMPurify with its defaults (no script, no event
 * handlers, no javascript: URLs), forms and meta/base dropped, remote images blanked until the
 * user allows them (counted), `cid:` images put back from their signed links, links opened in a
 * new tab with no opener or referrer, and a CSP in the document with `script-src 'none'`. The
 * reading pane shows the result in an iframe sandboxed without scripts or same-origin.
 */
import DOMPurify from 'dompurify';

export interface RenderOptions {
  /** The user allowed remote images for this message. */
  allowRemote: boolean;
  /** Signed links for embedded images, by Content-ID. */
  inlineImages: Record<string, string>;
}

export interface RenderedMessage {
  /** A whole HTML document for the iframe's `srcdoc`. */
  srcdoc: string;
  /** Remote images (and other remote resources) held back; 0 when there were none or they were allowed. */
  remoteBlocked: number;
}

const REMOTE = /^\s*(https?:)?\/\//i;

/** Sanitises an HTML mail body and wraps it in a document for the sandboxed reading-pane iframe. */
export function buildMessageDocument(html: string, options: RenderOptions): RenderedMessage {
  let remoteBlocked = 0;
  const fragment = DOMPurify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['form', 'input', 'button', 'textarea', 'select', 'meta', 'base', 'link', 'style'],
    FORBID_ATTR: ['srcset', 'background', 'style'],
  });
  for (const img of Array.from(fragment.querySelectorAll('img'))) {
    const src = img.getAttribute('src') ?? '';
    if (/^cid:/i.test(src)) {
      const link = options.inlineImages[decodeURIComponent(src.slice(4)).replace(/^<|>$/g, '')];
      if (link) img.setAttribute('src', link);
      else img.removeAttribute('src');
    } else if (REMOTE.test(src) && !options.allowRemote) {
      remoteBlocked++;
      img.removeAttribute('src');
      img.setAttribute('alt', img.getAttribute('alt') ?? '');
    }
  }
  for (const a of Array.from(fragment.querySelectorAll('a'))) {
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
  }
  const body = document.createElement('div');
  body.append(fragment);
  const imgSrc = options.allowRemote ? 'https: http: data:' : 'data:';
  const inlineOrigins = Object.values(options.inlineImages)
    .map((u) => {
      try {
        return new URL(u, location.href).origin;
      } catch {
        return '';
      }
    })
    .filter((o) => o !== '');
  const csp = `default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src ${imgSrc} ${[...new Set(inlineOrigins)].join(' ')}; form-action 'none'`;
  const srcdoc = `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><meta name="referrer" content="no-referrer"><style>body{margin:12px;font:15px/1.45 system-ui,sans-serif;color:#111;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style></head><body>${body.innerHTML}</body></html>`;
  return { srcdoc, remoteBlocked };
}
