// Sizes in requests: integer bytes, or a decimal number with a binary unit ("10GiB", "1.5 TiB").
// Responses always give integer bytes.

export const MAX_SIZE = Number.MAX_SAFE_INTEGER; // 8 PiB - 1: the largest byte count JSON numbers carry exactly

const UNITS: Record<string, bigint> = {
  B: 1n,
  KiB: 1n << 10n,
  MiB: 1n << 20n,
  GiB: 1n << 30n,
  TiB: 1n << 40n,
  PiB: 1n << 50n,
};
const DECIMAL_UNITS = /^(k|kb|m|mb|g|gb|t|tb|p|pb)$/i;

export const SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/;

export type SizeResult = { ok: true; bytes: number } | { ok: false; reason: string };

/** Parse a size. Never throws: the reason says what is wrong. */
export function parseSize(input: unknown): SizeResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: 'must be a finite number' };
    if (!Number.isInteger(input)) return { ok: false, reason: 'must be a whole number of bytes' };
    if (input <= 0) return { ok: false, reason: 'must be greater than zero' };
    if (input > MAX_SIZE) return { ok: false, reason: `must be at most ${MAX_SIZE} bytes` };
    return { ok: true, bytes: input };
  }
  if (typeof input !== 'string') return { ok: false, reason: 'must be a number of bytes or a string like "10GiB"' };
  if (input.length > 64) return { ok: false, reason: 'is too long' };
  const m = SIZE_PATTERN.exec(input);
  if (!m) return { ok: false, reason: `"${input}" is not a size: use bytes or a number with B, KiB, MiB, GiB, TiB or PiB` };
  const [, numberPart, unitPart] = m as unknown as [string, string, string];
  const unit = unitPart === '' ? 'B' : unitPart;
  const factor = UNITS[unit] ?? UNITS[Object.keys(UNITS).find((u) => u.toLowerCase() === unit.toLowerCase()) ?? ''];
  if (factor === undefined) {
    const hint = DECIMAL_UNITS.test(unit) ? ` (decimal units are ambiguous; use ${unit[0]!.toUpperCase()}iB)` : '';
    return { ok: false, reason: `unknown unit "${unit}"${hint}: use B, KiB, MiB, GiB, TiB or PiB` };
  }
  // exact arithmetic: digits × factor / 10^decimals must be a whole number
  const [whole, frac = ''] = numberPart.split('.') as [string, string?];
  const scaled = BigInt(whole + frac) * factor;
  const divisor = 10n ** BigInt(frac.length);
  if (scaled % divisor !== 0n) return { ok: false, reason: `"${input}" is not a whole number of bytes` };
  const bytes = scaled / divisor;
  if (bytes <= 0n) return { ok: false, reason: 'must be greater than zero' };
  if (bytes > BigInt(MAX_SIZE)) return { ok: false, reason: `must be at most ${MAX_SIZE} bytes` };
  return { ok: true, bytes: Number(bytes) };
}

/** "10737418240" → "10 GiB" (for messages). */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) { v /= 1024; i++; }
  return `${v} ${units[i]}`;
}
