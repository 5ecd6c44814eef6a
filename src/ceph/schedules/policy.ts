// What a schedule is and the arithmetic of its slots: the definition (validated here, the one place), the slot
// grid, the per-image offset that spreads a pool's images over the interval, the snapshot name of a slot, and
// retention (which of a schedule's snapshots a policy keeps). Pure functions: no Ceph, no clock of their own.
//
// The slot grid of a schedule: origin O = `at` (default 00:00:00) on Monday 1970-01-05 in the schedule's timezone
// (UTC default; the zone's offset at the time of the computation), slots S_k = O + k·every. An image runs slot
// S_k at S_k + offset(image), offset = hash(pool spec, image) mod W, with W = every, or min(every, 1 h) when `at`
// is given (the operator asked for a time of day). The snapshot of slot S_k is named `<prefix>-<S_k as
// YYYYMMDDTHHMMSSZ in UTC>`: the same name on every replica, whatever clock it has (docs/schedules.md).
import { createHash } from 'node:crypto';
import { ScheduleInvalidError } from '../errors.js';

export interface Keep { latest?: number; hourly?: number; daily?: number; weekly?: number; monthly?: number }
export const KEEP_KINDS = ['latest', 'hourly', 'daily', 'weekly', 'monthly'] as const;

/** A snapshot schedule as stored (and answered). */
export interface SnapshotScheduleDef {
  every: string;
  at?: string;
  keep: Keep;
  prefix: string;
  timezone: string;
  /** when it was set (ISO): slots before it are not taken */
  since: string;
}

/** A trash purge schedule as stored. */
export interface PurgeScheduleDef { every: string; since: string }

export const DEFAULT_PREFIX = 'sched';
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;
const EVERY_RE = /^([1-9][0-9]{0,6})(s|m|h|d|w)$/;
const AT_RE = /^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const MAX_EVERY_MS = 366 * 86_400_000;
const MAX_KEEP = 1000;
const HOUR = 3_600_000;

/** `every` in ms; ScheduleInvalidError naming the field when malformed, below `minMs` or above a year. */
export function everyMs(every: string, minMs: number, field = 'every'): number {
  const m = EVERY_RE.exec(every);
  if (!m) throw new ScheduleInvalidError(field, 'must be a whole number and a unit: s, m, h, d or w (e.g. "1h", "30m", "1d")');
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (ms < minMs) throw new ScheduleInvalidError(field, `must be at least ${minMs / 1000} s (SCHEDULE_MIN_INTERVAL)`);
  if (ms > MAX_EVERY_MS) throw new ScheduleInvalidError(field, 'must be at most 366d');
  return ms;
}

export function checkTimezone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ScheduleInvalidError('timezone', 'is not an IANA time zone (e.g. "UTC", "Europe/Berlin")');
  }
}

/** A validated definition from what a PUT sent (since = now). */
export function snapshotDef(input: { every: string; at?: string | undefined; keep: Keep; prefix?: string | undefined; timezone?: string | undefined },
  minMs: number, now: number): SnapshotScheduleDef {
  everyMs(input.every, minMs);
  if (input.at !== undefined && !AT_RE.test(input.at)) throw new ScheduleInvalidError('at', 'must be a time of day HH:MM or HH:MM:SS');
  const prefix = input.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_RE.test(prefix)) throw new ScheduleInvalidError('prefix', 'must be 1–48 letters, digits, ".", "_" or "-", starting with a letter or digit');
  const timezone = input.timezone ?? 'UTC';
  checkTimezone(timezone);
  const keep: Keep = {};
  for (const k of KEEP_KINDS) {
    const n = input.keep[k];
    if (n === undefined) continue;
    if (!Number.isInteger(n) || n < 0 || n > MAX_KEEP) throw new ScheduleInvalidError(`keep.${k}`, `must be a whole number from 0 to ${MAX_KEEP}`);
    if (n > 0) keep[k] = n;
  }
  if (Object.keys(keep).length === 0) throw new ScheduleInvalidError('keep', 'must keep at least one snapshot (latest, hourly, daily, weekly or monthly ≥ 1)');
  return { every: input.every, ...(input.at !== undefined ? { at: input.at } : {}), keep, prefix, timezone, since: new Date(now).toISOString() };
}

export function purgeDef(input: { every: string }, minMs: number, now: number): PurgeScheduleDef {
  everyMs(input.every, minMs);
  return { every: input.every, since: new Date(now).toISOString() };
}

// ------------------------------------------------------------------------------------------------ time zones

interface LocalParts { year: number; month: number; day: number; hour: number; minute: number; second: number }
const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(ms: number, tz: string): LocalParts {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(tz, f);
  }
  const out: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(ms))) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return { year: out.year!, month: out.month!, day: out.day!, hour: out.hour! % 24, minute: out.minute!, second: out.second! };
}

/** The zone's offset from UTC at `ms`, ms (local = UTC + offset). */
export function tzOffsetMs(tz: string, ms: number): number {
  const p = localParts(ms, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - (ms - (ms % 1000 + 1000) % 1000);
}

// ------------------------------------------------------------------------------------------------ slots

export interface Grid { everyMs: number; originMs: number; windowMs: number }

/** The slot grid of a definition, with the zone's offset at `now`. */
export function gridOf(def: { every: string; at?: string | undefined; timezone?: string | undefined }, now: number): Grid {
  const every = everyMs(def.every, 0);
  const m = def.at !== undefined ? AT_RE.exec(def.at) : null;
  const [h, mi, s] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0];
  const origin = Date.UTC(1970, 0, 5, h, mi, s) - tzOffsetMs(def.timezone ?? 'UTC', now);
  return { everyMs: every, originMs: origin, windowMs: m ? Math.min(every, HOUR) : every };
}

/** A stable offset in [0, window) for one image (by pool spec and name): spreads a pool's images over the interval. */
export function offsetOf(key: string, windowMs: number): number {
  const h = createHash('sha256').update(key).digest();
  const n = h.readUInt32BE(0) * 2 ** 21 + (h.readUInt32BE(4) >>> 11); // 53 bits
  // whole seconds when the window allows it, so slots and runs stay on second boundaries
  return windowMs >= 2000 ? (n % Math.floor(windowMs / 1000)) * 1000 : 0;
}

/** The latest slot whose run time (slot + offset) is at or before `now`. */
export function dueSlot(g: Grid, offset: number, now: number): number {
  const k = Math.floor((now - g.originMs - offset) / g.everyMs);
  return g.originMs + k * g.everyMs;
}

/** The next run time after `now` (slot + offset). */
export function nextRun(g: Grid, offset: number, now: number): number {
  return dueSlot(g, offset, now) + g.everyMs + offset;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `<prefix>-YYYYMMDDTHHMMSSZ` of a slot (UTC). */
export function snapshotName(prefix: string, slotMs: number): string {
  const d = new Date(slotMs);
  return `${prefix}-${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
}

const NAME_TAIL = /-([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$/;

/** The slot of a snapshot this schedule (prefix) named, or undefined for any other snapshot. */
export function slotOfName(prefix: string, name: string): number | undefined {
  if (!name.startsWith(`${prefix}-`) || name.length !== prefix.length + 17) return undefined;
  const m = NAME_TAIL.exec(name);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return snapshotName(prefix, ms) === name ? ms : undefined;
}

// ------------------------------------------------------------------------------------------------ retention

/** The ISO week of a local date: "YYYY-Www". */
function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const dow = (d.getUTCDay() + 6) % 7; // Monday 0
  d.setUTCDate(d.getUTCDate() - dow + 3); // the Thursday of this week decides its year
  const y = d.getUTCFullYear();
  const week = 1 + Math.floor((d.getTime() - Date.UTC(y, 0, 1)) / 604_800_000);
  return `${y}-W${pad(week)}`;
}

function bucketOf(kind: Exclude<keyof Keep, 'latest'>, slotMs: number, tz: string): string {
  const p = localParts(slotMs, tz);
  switch (kind) {
    case 'hourly': return `${p.year}-${p.month}-${p.day}T${p.hour}`;
    case 'daily': return `${p.year}-${p.month}-${p.day}`;
    case 'weekly': return isoWeek(p.year, p.month, p.day);
    case 'monthly': return `${p.year}-${p.month}`;
  }
}

/**
 * Which slots a policy keeps: the `latest` newest, and for each of hourly/daily/weekly/monthly n, the newest
 * snapshot of each of the n newest periods (in the schedule's timezone) that have one. The union of these.
 */
export function retained(slots: readonly number[], keep: Keep, tz: string): Set<number> {
  const newest = [...new Set(slots)].sort((a, b) => b - a);
  const out = new Set<number>(newest.slice(0, keep.latest ?? 0));
  for (const kind of ['hourly', 'daily', 'weekly', 'monthly'] as const) {
    const n = keep[kind] ?? 0;
    if (n <= 0) continue;
    const seen = new Set<string>();
    for (const s of newest) {
      const b = bucketOf(kind, s, tz);
      if (seen.has(b)) continue;
      if (seen.size >= n) break;
      seen.add(b);
      out.add(s);
    }
  }
  return out;
}
