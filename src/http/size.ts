// Sizes in requests: integer bytes, a Kubernetes quantity ("10Gi", "10G", "1.5Gi", "1e9", "+512Mi") exactly as
// Kubernetes' resource.Quantity reads it, or a number with a binary unit ("10GiB", "1.5 TiB", as before).
// Whole bytes only: "0.5", "1m" or "1.1k" are refused rather than rounded. Responses always give integer bytes.
//
// Kubernetes' grammar (k8s.io/apimachinery/pkg/api/resource, Quantity):
//   <quantity> ::= <sign>? <number> <suffix>      <number> ::= <digits> | <digits>. | .<digits> | <digits>.<digits>
//   <suffix>   ::= <binarySI> | <decimalSI> | <decimalExponent>
//   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei                (2^10 … 2^60)
//   <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E    (10^-9 … 10^18; case matters: m is milli, M mega)
//   <decimalExponent> ::= e <sign>? <digits> | E <sign>? <digits>   ("1E" alone is 1 exa; "1E3" is 1000)
// So "10G" is 10^10 bytes here as in Kubernetes — unlike the rbd CLI, where G means GiB.

export const MAX_SIZE = Number.MAX_SAFE_INTEGER; // 8 PiB - 1: the largest byte count JSON numbers carry exactly

/** value = mantissa × 2^binary × 10^decimal */
interface Factor { binary: number; decimal: number }

const KUBERNETES_SUFFIXES: Record<string, Factor> = {
  Ki: { binary: 10, decimal: 0 }, Mi: { binary: 20, decimal: 0 }, Gi: { binary: 30, decimal: 0 },
  Ti: { binary: 40, decimal: 0 }, Pi: { binary: 50, decimal: 0 }, Ei: { binary: 60, decimal: 0 },
  n: { binary: 0, decimal: -9 }, u: { binary: 0, decimal: -6 }, m: { binary: 0, decimal: -3 },
  k: { binary: 0, decimal: 3 }, M: { binary: 0, decimal: 6 }, G: { binary: 0, decimal: 9 },
  T: { binary: 0, decimal: 12 }, P: { binary: 0, decimal: 15 }, E: { binary: 0, decimal: 18 },
};
/** This API's own forms, before Kubernetes quantities were taken: case-insensitive ("10gib"). */
const BYTE_UNITS: Record<string, Factor> = {
  b: { binary: 0, decimal: 0 }, kib: { binary: 10, decimal: 0 }, mib: { binary: 20, decimal: 0 },
  gib: { binary: 30, decimal: 0 }, tib: { binary: 40, decimal: 0 }, pib: { binary: 50, decimal: 0 }, eib: { binary: 60, decimal: 0 },
};
const UNITS_TEXT = 'Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), k, M, G, T, P, E (powers of 1000), KiB…PiB or B';

export const SIZE_PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(.*)$/s;
const EXPONENT = /^[eE]([+-]?\d+)$/;
/** Beyond these, the value is zero, too large, or not whole, without computing 10^exponent. */
const MAX_EXPONENT = 400;

export type SizeResult = { ok: true; bytes: number } | { ok: false; reason: string };

/** A hint for a unit that is not a quantity's suffix but looks like one meant. */
function unitHint(unit: string): string {
  const first = unit[0]!.toUpperCase();
  const letter = 'KMGTPE'.includes(first) ? first : undefined;
  if (!letter) return '';
  const decimal = letter === 'K' ? 'k' : letter;
  const power = 'KMGTPE'.indexOf(letter) + 1;
  return ` (did you mean ${decimal} = 10^${power * 3} bytes, or ${letter}i / ${letter}iB = 2^${power * 10} bytes?)`;
}

/** Parse a size. Never throws: the reason says what is wrong (without naming the field: the caller does). */
export function parseSize(input: unknown): SizeResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: 'must be a finite number' };
    if (!Number.isInteger(input)) return { ok: false, reason: 'must be a whole number of bytes' };
    if (input <= 0) return { ok: false, reason: 'must be greater than zero' };
    if (input > MAX_SIZE) return { ok: false, reason: `must be at most ${MAX_SIZE} bytes` };
    return { ok: true, bytes: input };
  }
  if (typeof input !== 'string') return { ok: false, reason: 'must be a number of bytes or a string like "10Gi" or "10GiB"' };
  if (input.length > 64) return { ok: false, reason: 'is too long (64 characters at most)' };
  const text = input.trim();
  const m = SIZE_PATTERN.exec(text);
  const [, sign = '', whole = '', frac = '', rest = ''] = m ?? [];
  if (!m || whole + frac === '') {
    return { ok: false, reason: `"${input}" is not a size: use bytes, a Kubernetes quantity like "10Gi" or "10G", or "10GiB"` };
  }
  let factor: Factor | undefined;
  const exponent = EXPONENT.exec(rest);
  if (exponent) {
    const e = Number(exponent[1]);
    factor = { binary: 0, decimal: Number.isSafeInteger(e) ? Math.max(-MAX_EXPONENT, Math.min(MAX_EXPONENT, e)) : (e > 0 ? MAX_EXPONENT : -MAX_EXPONENT) };
  } else {
    const unit = rest.trimStart();
    factor = unit === '' ? { binary: 0, decimal: 0 } : KUBERNETES_SUFFIXES[unit] ?? BYTE_UNITS[unit.toLowerCase()];
    if (!factor) return { ok: false, reason: `unknown unit "${unit}"${unitHint(unit)}: use ${UNITS_TEXT}` };
  }
  // exact arithmetic: digits × 2^binary × 10^(decimal − fraction digits) must be a whole number
  const digits = BigInt(whole + frac);
  if (digits === 0n) return { ok: false, reason: 'must be greater than zero' };
  if (sign === '-') return { ok: false, reason: 'must be greater than zero' };
  const scale = factor.decimal - frac.length;
  if (scale >= MAX_EXPONENT) return { ok: false, reason: `must be at most ${MAX_SIZE} bytes` };
  const numerator = digits << BigInt(factor.binary);
  let bytes: bigint;
  if (scale >= 0) {
    bytes = numerator * 10n ** BigInt(scale);
  } else {
    const divisor = 10n ** BigInt(-scale);
    if (numerator % divisor !== 0n) return { ok: false, reason: `"${input}" is not a whole number of bytes` };
    bytes = numerator / divisor;
  }
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
