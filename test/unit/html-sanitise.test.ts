import { readFileSync } from 'node:fs';
import { type ChildNode, type Element, isTag, isText } from 'domhandler';
import { parseDocument } from 'htmlparser2';
import { describe, expect, it } from 'vitest';
import {
  estimateDepth,
  MAX_SANITISED_HTML_CHARS,
  MAX_SCANNED_DEPTH,
  REMOTE_ATTRIBUTES,
  sanitiseMailHtml,
} from '../../lambdas/core/html-sanitise.js';
import { parseForReading } from '../../lambdas/core/mailbox.js';

const FIXTURES = new URL('../fixtures/hostile/', import.meta.url);
/** Where every hostile message's remote URLs point (the browser test maps it to a canary server). */
const CANARY = 'canary.example';

/** Elements and attributes the server's output may hold: anything else is a hole. */
const TAGS = new Set(
  (
    'address article aside footer header main nav section hgroup h1 h2 h3 h4 h5 h6 p div span br hr wbr ' +
    'pre blockquote dd dl dt figcaption figure li ol ul menu a abbr b bdi bdo cite code data dfn em i kbd ' +
    'mark q rp rt ruby s samp small strong sub sup time u var big center del font ins strike tt caption ' +
    'col colgroup table tbody td tfoot th thead tr img style'
  ).split(' '),
);
const ATTRIBUTES = new Set(
  (
    'class id style title dir lang align valign bgcolor width height border href name target rel src ' +
    'srcset alt hspace vspace sizes color face size cellpadding cellspacing summary background rules ' +
    'frame colspan rowspan nowrap scope headers abbr span start type reversed value noshade datetime ' +
    'media data-lifeboat-remote'
  )
    .split(' ')
    .concat(Object.values(REMOTE_ATTRIBUTES)),
);
const SIGNED = '/mail/api/files/signed-';

async function htmlOf(name: string): Promise<string> {
  const mail = await parseForReading(readFileSync(new URL(`${name}.eml`, FIXTURES)));
  if (!mail.html) throw new Error(`${name}.eml has no HTML body`);
  return mail.html;
}

/** Sanitises a fixture's HTML, with a stand-in signed link for each embedded image. */
async function sanitised(name: string) {
  const mail = await parseForReading(readFileSync(new URL(`${name}.eml`, FIXTURES)));
  const inlineImages: Record<string, string> = {};
  for (const a of mail.attachments) if (a.cid) inlineImages[a.cid] = `${SIGNED}${a.cid}`;
  const result = sanitiseMailHtml(await htmlOf(name), { inlineImages });
  return { ...result, elements: elementsOf(result.html), text: textOf(result.html) };
}

function walk(nodes: ChildNode[], visit: (n: ChildNode) => void): void {
  for (const n of nodes) {
    visit(n);
    if ('children' in n) walk(n.children as ChildNode[], visit);
  }
}

function elementsOf(html: string): Element[] {
  const out: Element[] = [];
  walk(parseDocument(html).children, (n) => {
    if (isTag(n)) out.push(n);
  });
  return out;
}

function textOf(html: string): string {
  let out = '';
  walk(parseDocument(html).children, (n) => {
    if (isText(n) && !(n.parent && isTag(n.parent) && n.parent.name === 'style')) out += n.data;
  });
  return out.replace(/\s+/g, ' ');
}

const byId = (elements: Element[], id: string) => elements.find((e) => e.attribs.id === id);

/**
 * What must hold for every hostile message: only allowlisted elements and attributes, links
 * that cannot run script and open a new tab without opener or referrer, images only from the
 * signed links or a raster data: URL, and the canary host nowhere but in held-back markers.
 */
function expectInert(result: { html: string; elements: Element[] }): void {
  for (const e of result.elements) {
    expect(TAGS, `<${e.name}>`).toContain(e.name);
    for (const [name, value] of Object.entries(e.attribs)) {
      expect(ATTRIBUTES, `<${e.name} ${name}>`).toContain(name);
      if (name === 'href') expect(value).toMatch(/^(?:https?:\/\/|mailto:|tel:)/);
      if (name === 'src' || name === 'background') {
        expect(value).toMatch(/^(?:\/mail\/api\/files\/|data:image\/(?:png|jpeg|gif|webp);base64,)/);
      }
      if (name === 'style') expect(value).not.toMatch(/url\(\s*["']?(?:https?:)?\/\//i);
      // A link may point anywhere (following it takes a click) and a title is text; no attribute
      // that loads something may name the canary.
      if (['src', 'srcset', 'background', 'style'].includes(name)) expect(value).not.toContain(CANARY);
    }
    if (e.name === 'a' && e.attribs.href !== undefined) {
      expect(e.attribs).toMatchObject({ target: '_blank', rel: 'noopener noreferrer' });
    }
    if (e.name === 'style') {
      const css = e.children.map((c) => (isText(c) ? c.data : '')).join('');
      expect(css).not.toMatch(/@import|@font-face|expression\(|behavior|binding|javascript:|<|\\(?!3c )/i);
      if (e.attribs['data-lifeboat-remote'] === undefined) expect(css).not.toContain(CANARY);
      else expect(e.attribs.media).toBe('not all');
    }
  }
}

describe('sanitiseMailHtml', () => {
  it('removes script elements and event handlers in every spelling, keeping the text around them', async () => {
    const r = await sanitised('script-tags');
    expectInert(r);
    expect(r.html).not.toMatch(/<script|\son\w+=/i);
    expect(r.elements.map((e) => e.name)).not.toContain('details');
    expect(r.text).toContain('the readable part: Quarterly numbers attached.');
    // The one remote image is held back, its onerror/onload gone.
    expect(r.remoteImages).toBe(1);
    expect(r.elements.filter((e) => e.attribs[REMOTE_ATTRIBUTES.src])).toHaveLength(1);
  });

  it('strips javascript:, vbscript: and data: links, and every link left opens a new tab without opener', async () => {
    const r = await sanitised('javascript-urls');
    expectInert(r);
    for (const id of ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'j9']) {
      expect(byId(r.elements, id)?.attribs, id).not.toHaveProperty('href');
    }
    expect(byId(r.elements, 'j8')?.attribs).toEqual({
      id: 'j8',
      href: `https://${CANARY}/clicked`,
      target: '_blank',
      rel: 'noopener noreferrer',
    });
    expect(byId(r.elements, 'j10')?.attribs.href).toBe('mailto:sales@example.com');
    expect(byId(r.elements, 'j11')?.attribs).not.toHaveProperty('ping');
    expect(r.elements.map((e) => e.name)).not.toContain('iframe');
    expect(byId(r.elements, 'j15')?.attribs).not.toHaveProperty('src');
    expect(byId(r.elements, 'j16')?.attribs).not.toHaveProperty('src');
  });

  it('drops SVG and MathML whole: script, use, animate, set, foreignObject and maction never reach the page', async () => {
    const r = await sanitised('svg-mathml');
    expectInert(r);
    expect(r.html).not.toContain(CANARY);
    expect(r.html).not.toMatch(/<(?:svg|math|use|animate|set|foreignObject|maction|mglyph|image)\b/i);
    expect(r.text).toContain('The readable part: logo above.');
    expect(r.remoteImages).toBe(0);
  });

  it('drops the raw-text and foreign elements behind mutation XSS, and its output parses the same again', async () => {
    const r = await sanitised('mutation-xss');
    expectInert(r);
    // Of all the img tags, only the one outside any trick survives, with no src left to fail.
    expect(r.elements.filter((e) => e.name === 'img').map((e) => e.attribs)).toEqual([{}]);
    // A title holding markup stays an attribute value, escaped on the way out.
    expect(r.elements.find((e) => e.name === 'a')?.attribs.title).toMatch(/^"><img src=x onerror=/);
    expect(r.html).toContain('title="&quot;&gt;&lt;img');
    // Sanitising the output again changes nothing: no markup that reads differently the second time.
    expect(sanitiseMailHtml(r.html, { inlineImages: {} }).html).toBe(r.html);
  });

  it('keeps a style sheet’s formatting and drops @import, @font-face, expressions, escapes and exfiltrating selectors', async () => {
    const r = await sanitised('css-exfiltration');
    expectInert(r);
    const sheets = r.elements.filter((e) => e.name === 'style');
    const cssOf = (e: Element) => e.children.map((c) => (isText(c) ? c.data : '')).join('');
    expect(sheets).toHaveLength(2);
    const [local, remote] = sheets.map(cssOf) as [string, string];
    expect(local.replace(/\s+/g, ' ').trim()).toBe('.hero { color: #123456; }');
    // Only the hero's background waits for consent; the attribute-selector rules are gone for good.
    expect(remote.replace(/\s+/g, ' ').trim()).toBe(
      `.hero { background: url("https://${CANARY}/hero.png") no-repeat; }`,
    );
    const styled = r.elements.find((e) => e.attribs.title === 'secret value');
    expect(styled?.attribs).toMatchObject({
      style: 'color:#654321',
      [REMOTE_ATTRIBUTES.style]: `background:url("https://${CANARY}/inline-style.png")`,
    });
    // A style attribute cannot close its rule and add another.
    expect(r.html).not.toContain('breakout.png');
    expect(r.remoteImages).toBe(3);
    expect(r.html).not.toMatch(/<link/);
  });

  it('holds back every remote image, counts them, and points cid: images at their signed links', async () => {
    const r = await sanitised('remote-images');
    expectInert(r);
    expect(byId(r.elements, 'r1')?.attribs[REMOTE_ATTRIBUTES.src]).toBe(`https://${CANARY}/banner.png`);
    expect(byId(r.elements, 'r2')?.attribs[REMOTE_ATTRIBUTES.src]).toBe(
      `https://${CANARY}/pixel.gif?u=alice`,
    );
    expect(byId(r.elements, 'r3')?.attribs[REMOTE_ATTRIBUTES.srcset]).toBe(
      `https://${CANARY}/photo-1x.png 1x, https://${CANARY}/photo-2x.png 2x`,
    );
    expect(byId(r.elements, 'r5')?.attribs.src).toBe(`${SIGNED}logo@hostile`);
    expect(byId(r.elements, 'r6')?.attribs.src).toMatch(/^data:image\/png;base64,/);
    expect(byId(r.elements, 'r7')?.attribs[REMOTE_ATTRIBUTES.src]).toBe(
      `https://${CANARY}/protocol-relative.png`,
    );
    expect(byId(r.elements, 'r8')?.attribs[REMOTE_ATTRIBUTES.src]).toBe(`http://${CANARY}/plain-http.png`);
    expect(r.elements.filter((e) => e.attribs[REMOTE_ATTRIBUTES.background]).map((e) => e.name)).toEqual([
      'table',
      'td',
    ]);
    // Two backgrounds and six images; <source>, <input type=image>, poster and audio are gone.
    expect(r.remoteImages).toBe(8);
    expect(r.html).not.toMatch(/source\.webp|input-image|poster|sound\.mp3/);
  });

  it('removes forms and every control, with the values they carried', async () => {
    const r = await sanitised('forms');
    expectInert(r);
    expect(r.html).not.toMatch(/<(?:form|input|button|select|option|textarea|label|isindex|keygen)\b/i);
    expect(r.html).not.toContain('hunter2');
    expect(r.html).not.toContain(CANARY);
    expect(r.text).toContain('The readable part: please confirm.');
  });

  it('removes meta refresh, base and link elements, and relative URLs a base would have re-pointed', async () => {
    const r = await sanitised('meta-base-link');
    expectInert(r);
    expect(r.html).not.toMatch(/<(?:meta|base|link)\b/i);
    expect(r.html).not.toContain(CANARY);
    expect(byId(r.elements, 'b1')?.attribs).not.toHaveProperty('href');
    expect(r.elements.find((e) => e.name === 'img')?.attribs).toEqual({ alt: 'relative image' });
  });

  it('removes object, embed, applet, portal and frames with their content', async () => {
    const r = await sanitised('objects');
    expectInert(r);
    expect(r.html).not.toContain(CANARY);
    expect(r.text.trim()).toBe('The readable part: plug-ins are gone.');
  });

  it('sanitises what a malformed MIME message yields without throwing', async () => {
    const r = await sanitised('malformed-mime');
    expectInert(r);
    expect(r.html).not.toMatch(/<script|onclick/i);
  });

  it('drops markers the sender wrote, so a remote URL cannot skip the count', () => {
    const r = sanitiseMailHtml(
      `<p ${REMOTE_ATTRIBUTES.src}="https://x.example/a.png" ${REMOTE_ATTRIBUTES.style}="background:url(https://x.example/b.png)">hi</p>`,
      { inlineImages: {} },
    );
    expect(r).toEqual({ html: '<p>hi</p>', remoteImages: 0, truncated: false });
  });

  it('points cid: references in style sheets and style attributes at the signed links', () => {
    const r = sanitiseMailHtml(
      '<style>.logo{background:url(cid:logo@x) no-repeat}</style><td style="background-image:url(\'cid:logo@x\')">',
      { inlineImages: { 'logo@x': `${SIGNED}logo` } },
    );
    expect(r.html).toBe(
      `<style>.logo{background:url("${SIGNED}logo") no-repeat}</style><td style="background-image:url(&quot;${SIGNED}logo&quot;)"></td>`,
    );
    expect(r.remoteImages).toBe(0);
  });

  it('drops a cid: reference to a part the message does not have', () => {
    expect(sanitiseMailHtml('<img src="cid:nothing@here" alt="x">', { inlineImages: {} }).html).toBe(
      '<img alt="x" />',
    );
  });

  it('shows markup nested past MAX_SCANNED_DEPTH as escaped source instead of parsing it', () => {
    const hostile = `${'<b>'.repeat(MAX_SCANNED_DEPTH + 1)}<img src=x onerror=alert(1)>`;
    expect(estimateDepth(hostile)).toBe(MAX_SCANNED_DEPTH + 1);
    // Paragraphs and cells close themselves, so a long unclosed list of them is not deep.
    expect(estimateDepth('<p>a'.repeat(10_000))).toBe(0);
    const r = sanitiseMailHtml(hostile, { inlineImages: {} });
    expect(r.html.startsWith('<pre>&lt;b&gt;&lt;b&gt;')).toBe(true);
    expect(elementsOf(r.html).map((e) => e.name)).toEqual(['pre']);
  });

  it('cuts output that escaping made too long for a response, never inside a tag', () => {
    const html = `${'<'.repeat(MAX_SANITISED_HTML_CHARS / 2)}<a href="https://example.com/${'x'.repeat(100)}">x</a>`;
    const r = sanitiseMailHtml(html, { inlineImages: {} });
    expect(r.truncated).toBe(true);
    expect(r.html.length).toBeLessThanOrEqual(MAX_SANITISED_HTML_CHARS);
    expect(r.html).not.toContain('<a');
    expect(r.html.endsWith('&lt;')).toBe(true);
  });
});
