import { describe, expect, it } from 'vitest';
import { CORPUS_PACK_RATIOS, PRICED_PACK_RATIOS, workedMonth } from '../../bench/aws-cost.js';
import { CORPUS_MISSING, loadCorpus } from '../../bench/corpus.js';
import { LARGE_BYTES, measureAttachmentPackRatio, measurePackRatios } from '../../bench/pack-ratio.js';

/**
 * The worked month prices packed raw mail at PRICED_PACK_RATIOS; this packs the shared corpus
 * again, each message as the packer packs it (and its small messages each with an incompressible
 * attachment, for large mail), and fails when the ratios the month uses are no longer what packing gives.
 */
describe('measurePackRatios', () => {
  it('packs the corpus to the ratios the worked month prices, small and large mail apart', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const measured = measurePackRatios(corpus.map((m) => m.raw));
    expect(measured.small.messages + measured.large.messages).toBe(corpus.length);
    expect({ small: measured.small.ratio, large: measured.large.ratio }).toEqual(CORPUS_PACK_RATIOS);
  });

  it('prices large mail as text around an already-compressed attachment packs, not as the corpus does', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const small = corpus.filter((m) => m.raw.length < LARGE_BYTES).map((m) => m.raw);
    const attachments = measureAttachmentPackRatio(small);
    expect(attachments.messages).toBe(small.length);
    expect(PRICED_PACK_RATIOS).toEqual({ small: CORPUS_PACK_RATIOS.small, large: attachments.ratio });
    // base64 of incompressible bytes: gzip takes back little more than base64's third.
    expect(attachments.ratio).toBeGreaterThan(CORPUS_PACK_RATIOS.large);
  });

  it('prices mail that packs worse as a dearer month', () => {
    const glacier = (m: ReturnType<typeof workedMonth>) =>
      m.items.find((i) => i.item.startsWith('S3 Glacier Instant Retrieval'))?.usd ?? 0;
    const worse = workedMonth(undefined, undefined, undefined, { ...PRICED_PACK_RATIOS, large: 0.9 });
    expect(glacier(worse)).toBeGreaterThan(glacier(workedMonth()));
  });
});
