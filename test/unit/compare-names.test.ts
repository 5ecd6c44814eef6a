// The name order used for sorting and cursors is UTF-8 byte order, computed without allocating.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareNames } from '../../src/ceph/image-names.js';

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe('compareNames', () => {
  it('agrees with Buffer.compare of the UTF-8 bytes for any strings, astral planes included', () => {
    const text = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string());
    fc.assert(fc.property(text, text, (a, b) => {
      expect(sign(compareNames(a, b))).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }), { numRuns: 5000 });
  });

  it('orders the cases where UTF-16 order differs from byte order', () => {
    const astral = '\u{1F600}'; // a surrogate pair in UTF-16, 4 bytes F0 9F 98 80 in UTF-8
    const privateUse = '\uE000'; // above the surrogates in UTF-16, EE 80 80 in UTF-8
    expect(astral < privateUse).toBe(true); // JS order
    expect(compareNames(astral, privateUse)).toBeGreaterThan(0); // byte order
    expect(['b', 'a', 'B', 'a-1', 'a.1', astral, privateUse].sort(compareNames)).toEqual(['B', 'a', 'a-1', 'a.1', 'b', privateUse, astral]);
  });
});
