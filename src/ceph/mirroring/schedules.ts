// Mirror-snapshot schedules: the mgr's rbd_support module takes a mirror snapshot of every snapshot-mode primary
// image at or below a level (pool, namespace, image) every interval (`rbd mirror snapshot schedule add|ls|rm|status`).
// Through rados_mgr_command; the level spec is the module's: "pool/", "pool/ns/", "pool/image", "pool/ns/image".
import { E } from '../../native/errno.js';
import type { CephSession } from '../connection.js';
import { CephError, MirroringDisabledError } from '../errors.js';
import { mgrCommand } from '../iostat.js';
import { splitPoolSpec } from '../spec.js';

/** An interval as the module takes it: a number of minutes (m), hours (h) or days (d). */
export const SCHEDULE_INTERVAL_PATTERN = /^[1-9][0-9]{0,5}[mhd]$/;
/** A start time as Pacific's module takes it: a time of day (the schedule's anchor), e.g. "02:30" or "02:30+01:00". */
export const SCHEDULE_START_PATTERN = /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?(Z|[+-]\d{2}:\d{2})?$/;

export interface MirrorSchedule {
  /** the level it is set at: the pool spec, and the image when image-level */
  level: { spec: string; image: string | null };
  interval: string;
  startTime: string | null;
}

export interface ScheduledSnapshot {
  image: string;
  /** when the next mirror snapshot is due (UTC) */
  scheduleTime: string;
}

/** The rbd_support level spec of a pool spec, optionally an image. */
export function levelSpec(spec: string, image?: string): string {
  const { pool, namespace } = splitPoolSpec(spec);
  if (image !== undefined) return namespace ? `${pool}/${namespace}/${image}` : `${pool}/${image}`;
  return namespace ? `${pool}/${namespace}/` : `${pool}/`;
}

export class MirrorSchedules {
  constructor(private readonly conn: CephSession) {}

  /** The schedules set exactly at this level (not the ones above or below it). */
  async list(spec: string, image?: string): Promise<MirrorSchedule[]> {
    const level = levelSpec(spec, image);
    const out = await this.command({ prefix: 'rbd mirror snapshot schedule list', level_spec: level }, level);
    let parsed: Record<string, { name?: string; schedule?: { interval?: string; start_time?: string | null }[] }> = {};
    try {
      parsed = out.trim() ? JSON.parse(out) as typeof parsed : {};
    } catch {
      parsed = {};
    }
    const items: MirrorSchedule[] = [];
    for (const entry of Object.values(parsed)) {
      if ((entry.name ?? '') !== level) continue;
      for (const s of entry.schedule ?? []) {
        if (typeof s.interval !== 'string') continue;
        items.push({ level: { spec, image: image ?? null }, interval: s.interval, startTime: s.start_time ?? null });
      }
    }
    return items;
  }

  /** Add a schedule at this level (adding one that exists changes nothing); the level's schedules after. */
  async add(spec: string, image: string | undefined, interval: string, startTime?: string): Promise<MirrorSchedule[]> {
    const level = levelSpec(spec, image);
    await this.command({ prefix: 'rbd mirror snapshot schedule add', level_spec: level, interval, ...(startTime ? { start_time: startTime } : {}) }, level);
    return this.list(spec, image);
  }

  /** Remove a schedule (every one of the level without `interval`); false when there was none. */
  async remove(spec: string, image: string | undefined, interval?: string, startTime?: string): Promise<boolean> {
    const level = levelSpec(spec, image);
    const before = await this.list(spec, image);
    // start times are compared by the module (it answers them in its own spelling, "02:30:00+00:00"); without
    // one, every schedule of the interval goes (the module removes only the one whose start time it is given)
    const match = before.filter((s) => interval === undefined || s.interval === interval);
    if (match.length === 0) return false;
    const targets = startTime !== undefined ? [{ interval: match[0]!.interval, startTime }] : match;
    for (const t of targets) {
      await this.command({
        prefix: 'rbd mirror snapshot schedule remove', level_spec: level, interval: t.interval,
        ...(t.startTime !== null ? { start_time: t.startTime } : {}),
      }, level);
    }
    return true;
  }

  /** The images at or below this level with a mirror snapshot due, and when. */
  async status(spec: string, image?: string): Promise<ScheduledSnapshot[]> {
    const level = levelSpec(spec, image);
    const out = await this.command({ prefix: 'rbd mirror snapshot schedule status', level_spec: level }, level);
    let parsed: { scheduled_images?: { image?: string; schedule_time?: string }[] } = {};
    try {
      parsed = out.trim() ? JSON.parse(out) as typeof parsed : {};
    } catch {
      parsed = {};
    }
    return (parsed.scheduled_images ?? []).map((s) => ({
      image: s.image ?? '',
      scheduleTime: s.schedule_time ? `${s.schedule_time.replace(' ', 'T')}Z` : '',
    }));
  }

  private async command(command: Record<string, unknown>, level: string): Promise<string> {
    try {
      return (await mgrCommand(this.conn, command)).out;
    } catch (e) {
      // the module answers EINVAL "Invalid level spec L: image x does not exist" / "namespace ns is not in mirror image mode"
      const why = e instanceof CephError && e.code === 'EINVAL' ? e.target ?? '' : '';
      const missing = /: (pool|namespace|image) .* does not exist/.exec(why);
      if (missing) {
        const subject = missing[1] === 'pool' ? 'pool' : missing[1] === 'namespace' ? 'namespace' : 'image';
        throw new CephError(subject, String(command.prefix), -E.ENOENT, level.replace(/\/$/, ''));
      }
      if (/not in mirror image mode|mirroring is disabled/.test(why)) throw new MirroringDisabledError(level.replace(/\/$/, ''), 'pool');
      throw e;
    }
  }
}
