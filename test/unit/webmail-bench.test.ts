import { describe, expect, it } from 'vitest';
import { DATASET_VERSION, datasetDir, queryMix } from '../../bench/webmail-api.js';
import { generateMailbox, seededRandom, zipfSampler } from '../../bench/webmail-data.js';
import { parseForReading } from '../../lambdas/core/mailbox.js';
import { parseSearchQuery } from '../../lambdas/core/search/query.js';

const spec = {
  address: 'staff@example.com',
  messages: 200,
  newest: new Date('2026-11-22T08:00:00Z'),
  spanDays: 28,
  seed: 7,
};

describe('zipfSampler', () => {
  it('draws low ranks far more often than high ones, and every draw in range', () => {
    const draw = zipfSampler(1000, 1.1, seededRandom(1));
    const counts = new Array<number>(1000).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const rank = draw();
      counts[rank] = (counts[rank] as number) + 1;
    }
    expect(counts).toHaveLength(1000);
    expect(counts[0]).toBeGreaterThan(10 * (counts[99] ?? 0));
  });
});

describe('generateMailbox', () => {
  it('gives the same mailbox for the same seed and another for another seed', () => {
    const a = [...generateMailbox(spec)].map((m) => m.raw.toString());
    const b = [...generateMailbox(spec)].map((m) => m.raw.toString());
    const c = [...generateMailbox({ ...spec, seed: 8 })].map((m) => m.raw.toString());
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('spreads the messages oldest first over the span, ending at the newest', () => {
    const times = [...generateMailbox(spec)].map((m) => Date.parse(m.receivedAt));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times.at(-1)).toBe(spec.newest.getTime());
    expect((spec.newest.getTime() - (times[0] as number)) / 86_400_000).toBeCloseTo(spec.spanDays, 0);
  });

  it('mixes plain and HTML mail, some with attachments, that parse as sent', async () => {
    const messages = [...generateMailbox(spec)];
    const html = messages.filter((m) => m.html).length;
    const attached = messages.filter((m) => m.attachmentNames.length > 0);
    expect(html).toBeGreaterThan(20);
    expect(html).toBeLessThan(120);
    expect(attached.length).toBeGreaterThan(10);
    const first = attached[0] as (typeof attached)[number];
    const parsed = await parseForReading(first.raw);
    expect(parsed.subject).toBe(first.subject);
    expect(parsed.attachments.map((a) => a.filename)).toEqual(first.attachmentNames);
    expect(parsed.text?.trim()).toBe(first.text.trim());
  });
});

describe('datasetDir and queryMix', () => {
  it('keys the kept dataset by its version and size', () => {
    expect(datasetDir(10_000, '/tmp')).toBe(`/tmp/lifeboat-bench-webmail-v${DATASET_VERSION}-10000`);
    expect(datasetDir(100_000, '/tmp')).not.toBe(datasetDir(10_000, '/tmp'));
  });

  it('makes only queries the search box accepts', () => {
    const queries = queryMix({
      topSender: 'alice.smith0',
      rareSender: 'judy.jones9',
      subjectWord: 'budget',
      rareWord: 'zine',
      phrase: 'the rotterdam lane',
    });
    expect(queries).toHaveLength(12);
    for (const q of queries) expect(() => parseSearchQuery(q)).not.toThrow();
  });
});
