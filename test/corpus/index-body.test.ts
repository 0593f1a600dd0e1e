import { describe, expect, it } from 'vitest';
import { CORPUS_MISSING, loadCorpus } from '../../bench/corpus.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import {
  indexRequestJson,
  indexRequestSchema,
  MAX_INDEX_REQUEST_BYTES,
} from '../../lambdas/adapters/sqs-index-requests.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type { MessageRecord } from '../../lambdas/core/model.js';
import { docFor } from '../../lambdas/core/search/indexer.js';
import { readMessage, summariseMessage } from '../../lambdas/core/summarise.js';
import { passVerdicts, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

/**
 * Ingest parses a message once, for its record and its index body, and the index request carries
 * the body when it fits in one SQS chunk; the indexer reads and parses the raw message for any
 * other. Over the shared corpus, each message's index entry must be the same either way.
 */
describe('the index body parsed at ingest', () => {
  it('gives every corpus message the index entry a parse of its raw message gives, through the queue too', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const store = new MemoryStore();
    const blobs = new MemoryBlobs();
    const deps = { store, blobs, config: testConfig(), clock: new ManualClock(), log: silentLogger };
    let carried = 0;
    for (const [i, m] of corpus.entries()) {
      const rawKey = `raw/c${i}`;
      blobs.objects.set(rawKey, m.raw);
      const result = await ingestMessage(
        {
          messageId: `c${i}`,
          rawKey,
          envelopeFrom: 'sender@example.org',
          recipients: ['alice@example.com'],
          receivedAt: '2026-11-22T10:00:00.000Z',
          verdicts: passVerdicts,
        },
        deps,
      );
      const record = (await store.getMessage(`c${i}`)) as MessageRecord;
      const fromRaw = await docFor({ blobs }, record);
      expect(result.index, m.name).toBeDefined();
      expect(await docFor({ blobs }, record, result.index), m.name).toEqual(fromRaw);

      const request = indexRequestSchema.parse(
        JSON.parse(indexRequestJson(record.id, 'alice@example.com', result.index)),
      );
      if (request.body) {
        carried++;
        expect(await docFor({ blobs }, record, request.body), m.name).toEqual(fromRaw);
      }
    }
    // Most mail travels with its body; what does not (long text past one byte a character) is read again.
    expect(carried).toBeGreaterThan(corpus.length * 0.9);
  }, 120_000);

  it('leaves each corpus message the summary the summary parse alone gives it', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const differs: string[] = [];
    for (const m of corpus) {
      const alone = await summariseMessage(m.raw);
      const { summary } = await readMessage(m.raw);
      // A Date header that cannot be read is taken as the time of the parse (mailparser).
      if (JSON.stringify({ ...alone, date: null }) !== JSON.stringify({ ...summary, date: null })) {
        differs.push(m.name);
      }
    }
    // An HTML part beside the text (not its alternative): the reading parse converts it, so the
    // snippet starts with its words where the summary parse had the next part's.
    expect(differs).toEqual(['enmime/dsn__testdata__simple_dsn_with_html.raw.eml']);
  }, 120_000);

  it('keeps a request with its body within one 64 KB chunk', () => {
    const text = '\u4e2d'.repeat(30_000); // 90 KB in UTF-8
    const body = { text, attachmentNames: [] };
    expect(JSON.parse(indexRequestJson('m1', 'a@example.com', body))).toEqual({
      messageId: 'm1',
      address: 'a@example.com',
    });
    const short = { text: text.slice(0, 1000), attachmentNames: ['a.pdf'] };
    const json = indexRequestJson('m1', 'a@example.com', short);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_INDEX_REQUEST_BYTES);
    expect(JSON.parse(json).body).toEqual(short);
  });
});
