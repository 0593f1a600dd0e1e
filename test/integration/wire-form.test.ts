import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTraceHeader } from '../../lambdas/core/trace.js';
import { TestPrimary } from '../support/primary.js';
import { smtpWireForm, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

/**
 * Bytes the corpus does not have (bare CR, NUL, a line far over 998 characters) next to those it
 * has (bare LF, 8-bit, leading dots, no final newline). Built here on purpose: no real sender
 * would produce them together, and they pin what SMTP transport does to each.
 */
const awkward = Buffer.concat([
  Buffer.from('From: Edge Cases <edge@sender.example>\nTo: alice@example.com\r\n', 'latin1'),
  Buffer.from('Subject: wire form\rMessage-ID: <wire-form-1@sender.example>\n\n', 'latin1'),
  Buffer.from(`${'y'.repeat(2500)}\n`, 'latin1'),
  Buffer.from([0x4e, 0x55, 0x4c, 0x00, 0x0a]), // "NUL", a NUL byte, LF
  Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe, 0x0d, 0x0a]), // "café" in Latin-1, 0xff 0xfe, CRLF
  Buffer.from('.\n..two dots\n.one dot\r\n.', 'latin1'), // ends on a lone dot without a newline
]);

describe('the bytes SMTP transport delivers', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    rt = await startTestRuntime({ config: testConfig(primary) });
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  it('stores bare LF and bare CR as CRLF, adds a final CRLF and keeps every other byte', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: awkward });

    const stored = await rt.ctx.blobs.getRaw(`raw/${id}`);
    expect(stored.toString('latin1')).toBe(smtpWireForm(awkward).toString('latin1'));
    expect(stored.includes(Buffer.from([0x00]))).toBe(true);
    expect(stored.includes(Buffer.from(`${'y'.repeat(2500)}\r\n`))).toBe(true);
    expect(stored.subarray(-5).toString('latin1')).toBe('\r\n.\r\n');
  });

  it('hands the primary the trace header and the stored bytes, dots and all', async () => {
    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: awkward });

    const stored = await rt.ctx.blobs.getRaw(`raw/${id}`);
    const trace = buildTraceHeader({
      hostname: rt.config.hostname,
      messageId: id,
      recipients: ['alice@example.com'],
      now: rt.clock.now(),
    });
    expect(primary.copiesOf('<wire-form-1@sender.example>').map((t) => t.raw.toString('latin1'))).toEqual([
      Buffer.concat([trace, stored]).toString('latin1'),
    ]);
  });
});
