import { describe, expect, it } from 'vitest';
import { MAX_INDEXED_TEXT_CHARS } from '../../lambdas/core/search/mailbox-index.js';
import {
  collapseSnippet,
  readMessage,
  SNIPPET_CHARS,
  summariseMessage,
} from '../../lambdas/core/summarise.js';

/** The snippet as it was computed over the whole body, which collapseSnippet must match. */
const wholeBody = (body: string) => body.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_CHARS);

describe('collapseSnippet', () => {
  it('gives what collapsing the whole body gives, for bodies short, long and mostly space', () => {
    const bodies = [
      '',
      '   ',
      'Hello,\r\n\r\n  world.  ',
      `${'word '.repeat(2000)}end`,
      `${' \r\n\t'.repeat(3000)}late start ${'x'.repeat(300)}`,
      `${'a'.repeat(199)}${' '.repeat(5000)}b`,
      `${'a'.repeat(200)}${' '.repeat(5000)}`,
      `${'a'.repeat(1023)}\u{1F600}${'b '.repeat(500)}`,
      `${'\n'.repeat(1020)}${'ab '.repeat(100)}${'\n'.repeat(5000)}`,
    ];
    for (const body of bodies) expect(collapseSnippet(body)).toBe(wholeBody(body));
  });

  it('keeps the snippet to SNIPPET_CHARS characters', () => {
    expect(collapseSnippet('x'.repeat(10_000))).toHaveLength(SNIPPET_CHARS);
  });
});

describe('summariseMessage', () => {
  it('takes the snippet from the start of a long text body', async () => {
    const raw = Buffer.from(
      `From: a@example.org\r\nSubject: long\r\nContent-Type: text/plain\r\n\r\nFirst   line.\r\n\r\n${'More text. '.repeat(5000)}\r\n`,
    );
    const summary = await summariseMessage(raw);

    expect(summary.snippet.startsWith('First line. More text. More text.')).toBe(true);
    expect(summary.snippet).toHaveLength(SNIPPET_CHARS);
  });
});

describe('readMessage', () => {
  it('gives an HTML-only message the summary the summary parse gives, and its converted text for the index', async () => {
    const raw = Buffer.from(
      'From: a@example.org\r\nSubject: news\r\nContent-Type: text/html\r\n\r\n<p>Rates &amp; <a href="https://example.org/x">offers</a></p>\r\n',
    );
    const { summary, index } = await readMessage(raw);

    expect(summary).toEqual(await summariseMessage(raw));
    expect(index.text).toContain('Rates & offers');
  });

  it('cuts the index text to what the index keeps', async () => {
    const raw = Buffer.from(
      `From: a@example.org\r\nSubject: long\r\nContent-Type: text/plain\r\n\r\n${'word '.repeat(20_000)}\r\n`,
    );
    const { index } = await readMessage(raw);

    expect(index.text).toHaveLength(MAX_INDEXED_TEXT_CHARS);
  });
});
