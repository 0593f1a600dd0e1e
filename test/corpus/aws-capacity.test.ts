import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capacityFigures, measureMailPath } from '../../bench/aws-capacity.js';
import { MEASURED_CAPACITY, workedMonth } from '../../bench/aws-cost.js';
import { CORPUS_MISSING, loadCorpus } from '../../bench/corpus.js';
import { type AwsEmulators, startAwsEmulators } from '../support/aws-emulators.js';

/**
 * The worked month prices DynamoDB and S3 from MEASURED_CAPACITY; this measures the mail path
 * again through the AWS adapters on dynalite and s3rver, so an adapter or core change that writes
 * more (or less) fails here until the month is priced from what the code now does.
 */
describe('measureMailPath', () => {
  let emulators: AwsEmulators;
  beforeAll(async () => {
    emulators = await startAwsEmulators();
  });
  afterAll(async () => {
    await emulators?.stop();
  });

  it('costs what the worked month prices, per message, probe round and sweep', async () => {
    const corpus = await loadCorpus();
    if (!corpus) throw new Error(CORPUS_MISSING);
    const measured = capacityFigures(
      await measureMailPath(
        emulators,
        corpus.map((m) => m.raw),
      ),
    );
    expect(measured).toEqual(MEASURED_CAPACITY);
  }, 120_000);

  it('prices more writes as a dearer month', () => {
    const more = {
      ...MEASURED_CAPACITY,
      writeUnitsPerMessage: { ...MEASURED_CAPACITY.writeUnitsPerMessage, 'state counters': 2 },
    };
    const writes = (m: ReturnType<typeof workedMonth>) =>
      m.items.find((i) => i.item === 'DynamoDB writes')?.usd ?? 0;
    const base = workedMonth();
    const dearer = workedMonth(undefined, undefined, more);
    // Two more units a message: 1.5 M messages × 2 × $0.625 per million.
    expect(writes(dearer) - writes(base)).toBeCloseTo(1.875, 3);
  });
});
