import { authenticate } from 'mailauth';
import type { VerdictStatus, Verdicts } from '../../lambdas/core/model.js';
import type { Resolver } from './resolver.js';

/** GTUBE, the standard anti-spam test string (SpamAssassin). */
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** The EICAR anti-virus test file's signature. */
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export interface VerdictInput {
  raw: Buffer;
  ip: string;
  helo: string;
  sender: string;
  mta: string;
  resolver: Resolver;
}

const fromResult = (result: string | undefined): VerdictStatus => {
  switch (result) {
    case 'pass':
      return 'PASS';
    case 'fail':
    case 'permerror':
      return 'FAIL';
    case 'temperror':
      return 'PROCESSING_FAILED';
    default:
      return 'GRAY';
  }
};

/** The spam and virus verdicts: FAIL for a message carrying the GTUBE or the EICAR test signature. */
export function computeTestSignatures(raw: Buffer): Pick<Verdicts, 'spam' | 'virus'> {
  return {
    spam: raw.includes(GTUBE, 0, 'latin1') ? 'FAIL' : 'PASS',
    virus: raw.includes(EICAR, 0, 'latin1') ? 'FAIL' : 'PASS',
  };
}

/**
 * What SES's receipt would say, computed locally: SPF, DKIM and DMARC with mailauth against the
 * injected resolver; spam and virus by the GTUBE and EICAR test signatures (there is no scanner
 * on a laptop, but the quarantine policy can still be exercised).
 */
export async function computeVerdicts(input: VerdictInput): Promise<Verdicts> {
  const base = computeTestSignatures(input.raw);
  try {
    const res = await authenticate(input.raw, {
      ip: input.ip,
      helo: input.helo,
      sender: input.sender,
      mta: input.mta,
      resolver: input.resolver,
      disableArc: true,
      disableBimi: true,
    });
    const dkimResults: string[] = (res.dkim?.results ?? []).map(
      (r: { status?: { result?: string } }) => r.status?.result ?? 'none',
    );
    const dkim = dkimResults.includes('pass')
      ? 'PASS'
      : dkimResults.some((r) => r === 'fail' || r === 'neutral')
        ? 'FAIL'
        : 'GRAY';
    const dmarc = res.dmarc ? fromResult(res.dmarc.status?.result) : 'GRAY';
    const p = res.dmarc ? res.dmarc.policy?.toUpperCase() : undefined;
    return {
      ...base,
      spf: fromResult(res.spf ? res.spf.status?.result : undefined),
      dkim,
      dmarc,
      dmarcPolicy: p === 'NONE' || p === 'QUARANTINE' || p === 'REJECT' ? p : undefined,
    };
  } catch {
    return { ...base, spf: 'PROCESSING_FAILED', dkim: 'PROCESSING_FAILED', dmarc: 'PROCESSING_FAILED' };
  }
}
