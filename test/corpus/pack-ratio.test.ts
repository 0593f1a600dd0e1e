import { describe, expect, it } from 'vitest';
import { MEASURED_PACK_RATIOS, workedMonth } from '../../bench/aws-cost.js';
import { CORPUS_MISSING, loadCorpus } from '../../bench/corpus.js';
import { measurePackRatios } from '../../bench/pack-ratio.js';

/**
 * The worked month prices packed raw mail at MEASURED_PACK_RATIOS; this packs the shared corpus
 * again, each message as the packer packs it, and fails when the ratios the month uses are no
 * longer what packing gives.
 */
describe('measurePackRatios', () => {
  it('packs the corpus to the ratios the worked month prices, small and large mail apart', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const measured = measurePackRatios(corpus.map((m) => m.raw));
    expect(measured.small.messages + measured.large.messages).toBe(corpus.length);
    expect({ small: measured.small.ratio, large: measured.large.ratio }).toEqual(MEASURED_PACK_RATIOS);
  });

  it('prices mail that packs worse as a dearer month', () => {
    const glacier = (m: ReturnType<typeof workedMonth>) =>
      m.items.find((i) => i.item.startsWith('S3 Glacier Instant Retrieval'))?.usd ?? 0;
    const worse = workedMonth(undefined, undefined, undefined, { ...MEASURED_PACK_RATIOS, large: 0.75 });
    expect(glacier(worse)).toBeGreaterThan(glacier(workedMonth()));
  });
});
