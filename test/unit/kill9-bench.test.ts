import { describe, expect, it } from 'vitest';
import { countDuplicates } from '../../bench/kill9.js';

const copy = (messageId: string, gatewayId: string) => ({ messageId, gatewayId });

describe('countDuplicates', () => {
  it('counts nothing when every Message-ID arrived once', () => {
    expect(countDuplicates([copy('<a@x>', 'g1'), copy('<b@x>', 'g2')])).toEqual({
      resent: 0,
      storedTwice: 0,
    });
  });

  it('counts a stored message that reached the primary twice as resent', () => {
    expect(countDuplicates([copy('<a@x>', 'g1'), copy('<a@x>', 'g1'), copy('<a@x>', 'g1')])).toEqual({
      resent: 2,
      storedTwice: 0,
    });
  });

  it('counts a Message-ID stored under a second gateway id as stored twice', () => {
    expect(countDuplicates([copy('<a@x>', 'g1'), copy('<a@x>', 'g2')])).toEqual({
      resent: 0,
      storedTwice: 1,
    });
  });

  it('counts both causes on one message apart', () => {
    expect(countDuplicates([copy('<a@x>', 'g1'), copy('<a@x>', 'g2'), copy('<a@x>', 'g2')])).toEqual({
      resent: 1,
      storedTwice: 1,
    });
  });
});
