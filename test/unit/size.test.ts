// Sizes: Kubernetes quantities exactly as resource.Quantity reads them (whole bytes only), plain integers, and
// this API's KiB…PiB forms. Cases from Kubernetes' grammar and its edge cases (apimachinery quantity.go).
import { describe, expect, it } from 'vitest';
import { MAX_SIZE, parseSize } from '../../src/http/size.js';

const Ki = 1024;
const Mi = Ki ** 2;
const Gi = Ki ** 3;
const Ti = Ki ** 4;
const Pi = Ki ** 5;

const ACCEPTED: [unknown, number][] = [
  // plain integers
  [1, 1], [4096, 4096], ['1', 1], ['4096', 4096], ['007', 7], [MAX_SIZE, MAX_SIZE], [String(MAX_SIZE), MAX_SIZE],
  // binary SI
  ['1Ki', Ki], ['10Mi', 10 * Mi], ['10Gi', 10 * Gi], ['1Ti', Ti], ['7Pi', 7 * Pi], ['1.5Gi', 1.5 * Gi], ['.5Gi', Gi / 2],
  ['0.5Ki', 512], ['1.Gi', Gi], ['+1Gi', Gi], ['0.25Mi', Mi / 4],
  // decimal SI: k is lowercase, M is mega
  ['1k', 1000], ['10M', 10e6], ['10G', 1e10], ['1T', 1e12], ['2P', 2e15], ['1.5G', 1.5e9], ['1.1k', 1100], ['0.001G', 1e6],
  // m, u, n: fractions of a byte, whole only when they add up to whole bytes
  ['1000m', 1], ['5000000u', 5], ['3000000000n', 3],
  // decimal exponent; "1E" alone is exa, "1E3" is an exponent
  ['1e3', 1000], ['1E3', 1000], ['1e+3', 1000], ['1.5e3', 1500], ['12e6', 12e6], ['5000e-3', 5], ['1e15', 1e15],
  ['0.001E', 1e15],
  // this API's forms (case-insensitive) and surrounding blanks
  ['10GiB', 10 * Gi], ['512MiB', 512 * Mi], ['1.5 TiB', 1.5 * Ti], ['10gib', 10 * Gi], ['10B', 10], ['1PiB', Pi], [' 10Gi ', 10 * Gi],
];

const REFUSED: [unknown, RegExp][] = [
  // not whole bytes
  ['0.5', /not a whole number of bytes/], ['1m', /not a whole number of bytes/], ['1.0001k', /not a whole number/],
  ['1.0001Ki', /not a whole number/], ['1e-3', /not a whole number/], ['1n', /not a whole number/], [0.5, /whole number/],
  ['1e-400', /not a whole number/],
  // zero and negative
  ['0', /greater than zero/], ['0Gi', /greater than zero/], ['-1', /greater than zero/], ['-1Gi', /greater than zero/],
  ['-0', /greater than zero/], [0, /greater than zero/], [-1, /greater than zero/], ['0e9', /greater than zero/],
  // too large for JSON's exact integers
  ['1E', /at most/], ['8Ei', /at most/], ['8Pi', /at most/], ['1e16', /at most/], ['1e999999999999', /at most/], [2 ** 60, /at most/],
  // not quantities: case matters, no "K", no "GB"
  ['10K', /unknown unit "K".*did you mean k = 10\^3 bytes, or Ki/], ['10GB', /unknown unit "GB".*did you mean G = 10\^9/],
  ['10g', /unknown unit "g"/], ['10gi', /unknown unit "gi"/], ['10KB', /unknown unit/], ['1e', /unknown unit "e"/],
  ['1x', /unknown unit "x"/], ['1 e3', /unknown unit "e3"/], ['1e3Gi', /unknown unit/], ['0x10', /unknown unit "x10"/],
  // not numbers
  ['', /not a size/], ['.', /not a size/], ['+', /not a size/], ['Gi', /not a size/], ['1,5Gi', /unknown unit/],
  ['x'.repeat(65), /too long/], [null, /must be a number/], [true, /must be a number/], [[], /must be a number/],
  [Number.NaN, /finite/], [Number.POSITIVE_INFINITY, /finite/],
];

describe('parseSize', () => {
  it.each(ACCEPTED)('%j is %d bytes', (input, bytes) => {
    expect(parseSize(input)).toEqual({ ok: true, bytes });
  });
  it.each(REFUSED)('%j is refused (%s)', (input, reason) => {
    const r = parseSize(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
  it('is exact far beyond floating point: 2^53 − 1 bytes spelled with a fraction', () => {
    expect(parseSize('9007199254740.991k')).toEqual({ ok: true, bytes: MAX_SIZE });
    expect(parseSize('9007199254740.9915k')).toMatchObject({ ok: false });
  });
});
