// Durations in query parameters (DELETE …/images/{image}?keepFor=7d): a whole number and one unit,
// m (minutes), h (hours), d (days), w (weeks), y (years of 365 days); from 1 minute to 1 year.
export const DURATION_PATTERN = /^([1-9][0-9]{0,6})(m|h|d|w|y)$/;
const UNIT_SECONDS: Record<string, number> = { m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };
export const MIN_KEEP_SECONDS = 60;
export const MAX_KEEP_SECONDS = 31_536_000;
export const DURATION_HELP = 'a whole number and a unit: m (minutes), h (hours), d (days), w (weeks), y (365 days), '
  + 'from 1m to 1y, e.g. "30m", "12h", "7d", "1y"';

/** Seconds, or undefined when `text` is not a duration in range. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return seconds >= MIN_KEEP_SECONDS && seconds <= MAX_KEEP_SECONDS ? seconds : undefined;
}
