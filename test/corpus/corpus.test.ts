import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTraceHeader } from '../../lambdas/core/trace.js';
import { TestPrimary } from '../support/primary.js';
import {
  repoRoot,
  smtpWireForm,
  startTestRuntime,
  type TestRuntime,
  testConfig,
} from '../support/runtime.js';

/**
 * Real-world messages from other projects' test suites (see its SOURCES.md). They are read in
 * place and never copied into this repository.
 */
const CORPUS_DIR = path.resolve(repoRoot, '../shared/mail-corpus');
const present = existsSync(CORPUS_DIR);
const inCi = ['1', 'true', 'yes'].includes((process.env.CI ?? '').toLowerCase());

function listEml(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.eml'))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

interface Traits {
  bareLineEnds: boolean;
  noFinalNewline: boolean;
  dotLines: boolean;
  eightBit: boolean;
  nul: boolean;
  longLines: boolean;
  mboxFromLine: boolean;
}

function traitsOf(file: Buffer): Traits {
  const text = file.toString('latin1');
  const lines = text.split(/\r\n|\r|\n/);
  return {
    bareLineEnds: /(^|[^\r])\n|\r(?!\n)/.test(text),
    noFinalNewline: !text.endsWith('\n') && !text.endsWith('\r'),
    dotLines: lines.some((l) => l.startsWith('.')),
    eightBit: file.some((b) => b > 0x7f),
    nul: file.includes(0),
    longLines: lines.some((l) => l.length > 998),
    mboxFromLine: text.startsWith('From '),
  };
}

if (!present) {
  const why = `the mail corpus is expected at ${CORPUS_DIR} (../shared/mail-corpus beside the repository) and is absent`;
  describe('the mail corpus', () => {
    if (inCi) {
      it('is present', () => {
        throw new Error(why);
      });
    } else {
      process.stderr.write(`corpus: ${why}; skipped because CI is not set\n`);
      it.skip(`${why}; skipped because CI is not set`, () => {});
    }
  });
} else {
  const files = listEml(CORPUS_DIR);

  describe('the mail corpus through the gateway', () => {
    let primary: TestPrimary;
    let rt: TestRuntime;
    const parseErrors: Array<[string, string]> = [];
    const traits = new Map<string, Traits>();

    beforeAll(async () => {
      primary = await TestPrimary.start();
      rt = await startTestRuntime({ config: testConfig(primary) });
    });

    afterAll(async () => {
      await rt?.stop();
      await primary?.stop();
      const count = (k: keyof Traits) => [...traits.values()].filter((t) => t[k]).length;
      const lines = [
        `mail corpus: ${traits.size} of ${files.length} messages relayed`,
        `  parse errors (kept and relayed, parseError recorded): ${parseErrors.length}`,
        ...parseErrors.map(([f, e]) => `    ${f}: ${e}`),
        `  bare LF or CR line ends, sent as CRLF: ${count('bareLineEnds')}`,
        `  no final newline, CRLF added by SMTP: ${count('noFinalNewline')}`,
        `  lines starting with a dot (dot-stuffed on the wire): ${count('dotLines')}`,
        `  8-bit bytes: ${count('eightBit')}, NUL bytes: ${count('nul')}, lines over 998: ${count('longLines')}`,
        `  starting with an mbox "From " line (kept as is): ${count('mboxFromLine')}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

    it('finds messages to run', () => {
      expect(files.length).toBeGreaterThan(0);
    });

    // A few at a time, as SES would receive them; each test finds its own copy by the gateway's id.
    it.concurrent.for(files)('%s: accepted, recorded and relayed byte for byte', async (name, { expect }) => {
      const file = readFileSync(path.join(CORPUS_DIR, name));
      const wire = smtpWireForm(file);
      traits.set(name, traitsOf(file));

      const { id } = await rt.sendAndSettle({
        from: 'sender@corpus.example',
        to: ['corpus@example.com'],
        raw: file,
      });

      const message = await rt.message(id);
      expect(message, 'a Message record').toBeDefined();
      if (message?.parseError) parseErrors.push([name, message.parseError]);
      expect(message?.size).toBe(wire.length);

      const stored = await rt.ctx.blobs.getRaw(`raw/${id}`);
      expect(stored.equals(wire), 'the S3 object is the file in its SMTP wire form').toBe(true);

      expect(await rt.delivery(id, 'corpus@example.com')).toMatchObject({ state: 'delivered' });
      const copies = primary.transactions.filter((t) => t.gatewayId === id);
      expect(copies).toHaveLength(1);
      const trace = buildTraceHeader({
        hostname: rt.config.hostname,
        messageId: id,
        recipients: ['corpus@example.com'],
        now: rt.clock.now(),
      });
      const relayed = copies[0]?.raw ?? Buffer.alloc(0);
      expect(
        relayed.equals(Buffer.concat([trace, stored])),
        'the primary got the trace header + the S3 object',
      ).toBe(true);
    });
  });
}
