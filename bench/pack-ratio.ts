/**
 * How much packing shrinks archived raw mail: each message gzipped as its own pack member, exactly
 * as the packer does (lambdas/core/raw-packs.ts `packMember`), the packed bytes over the original
 * bytes, apart for messages under 128 KB and for larger ones (mostly attachments, already
 * compressed or base64), the two classes the worked month prices (bench/aws-cost.ts).
 */
import { packMember } from '../lambdas/core/raw-packs.js';

/** The boundary the worked month splits mail at: S3's 128 KB minimum for Glacier IR. */
const LARGE_BYTES = 128 * 1024;

export interface PackRatioClass {
  messages: number;
  rawBytes: number;
  packedBytes: number;
  /** packedBytes ÷ rawBytes, to three decimals. */
  ratio: number;
}

export interface PackRatios {
  small: PackRatioClass;
  large: PackRatioClass;
}

/** Packs every message of `raws` as its own member and sums each size class. */
export function measurePackRatios(raws: readonly Buffer[]): PackRatios {
  const tally = () => ({ messages: 0, rawBytes: 0, packedBytes: 0, ratio: 0 });
  const out: PackRatios = { small: tally(), large: tally() };
  for (const raw of raws) {
    const c = raw.length >= LARGE_BYTES ? out.large : out.small;
    c.messages += 1;
    c.rawBytes += raw.length;
    c.packedBytes += packMember(raw).length;
  }
  for (const c of [out.small, out.large]) {
    c.ratio = c.rawBytes ? Math.round((c.packedBytes / c.rawBytes) * 1000) / 1000 : 1;
  }
  return out;
}
