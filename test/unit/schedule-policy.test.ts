// The slot arithmetic and retention of schedules (src/ceph/schedules/policy.ts, store.ts): pure functions.
import { describe, expect, it } from 'vitest';
import { ScheduleInvalidError } from '../../src/ceph/errors.js';
import { dueSlot, everyMs, gridOf, nextRun, offsetOf, retained, slotOfName, snapshotDef, snapshotName } from '../../src/ceph/schedules/policy.js';
import { DONE_KEPT, isDone, withDone } from '../../src/ceph/schedules/store.js';

const H = 3_600_000;
const D = 24 * H;
const t = (iso: string) => Date.parse(iso);

describe('schedule policy', () => {
  it('parses intervals and refuses bad ones naming the field', () => {
    expect(everyMs('1h', 60_000)).toBe(H);
    expect(everyMs('2s', 1000)).toBe(2000);
    for (const bad of ['1', 'h', '0h', '1.5h', '30s', '400d']) {
      expect(() => everyMs(bad, 60_000)).toThrow(ScheduleInvalidError);
    }
    const e = (() => { try { snapshotDef({ every: '1h', keep: { daily: -1 } }, 60_000, 0); } catch (x) { return x as ScheduleInvalidError; } })();
    expect(e?.field).toBe('keep.daily');
    expect(() => snapshotDef({ every: '1h', keep: {} }, 60_000, 0)).toThrow(/keep/);
    expect(() => snapshotDef({ every: '1h', keep: { latest: 1 }, timezone: 'Nowhere/None' }, 60_000, 0)).toThrow(/timezone/);
    expect(() => snapshotDef({ every: '1h', keep: { latest: 1 }, at: '25:00' }, 60_000, 0)).toThrow(/at/);
  });

  it('names a slot and reads the slot back from the name, only with the prefix', () => {
    const s = t('2026-12-07T05:00:00Z');
    expect(snapshotName('sched', s)).toBe('sched-20261207T050000Z');
    expect(slotOfName('sched', 'sched-20261207T050000Z')).toBe(s);
    expect(slotOfName('sched', 'other-20261207T050000Z')).toBeUndefined();
    expect(slotOfName('sched', 'sched-20261307T050000Z')).toBeUndefined();
    expect(slotOfName('sched', 'sched-20261207T050000Zx')).toBeUndefined();
  });

  it('puts slots on the grid of `at` in the timezone; an image runs at a stable offset within the window', () => {
    const g = gridOf({ every: '1d', at: '02:30', timezone: 'Europe/Berlin' }, t('2026-12-07T12:00:00Z'));
    // 02:30 in Berlin in winter is 01:30 UTC
    expect(new Date(dueSlot(g, 0, t('2026-12-07T12:00:00Z'))).toISOString()).toBe('2026-12-07T01:30:00.000Z');
    expect(g.windowMs).toBe(H);
    const off = offsetOf('rbd/vol1', g.windowMs);
    expect(off).toBe(offsetOf('rbd/vol1', g.windowMs));
    expect(off).toBeGreaterThanOrEqual(0);
    expect(off).toBeLessThan(H);
    // before its offset, an image's due slot is the previous day's
    expect(dueSlot(g, off, t('2026-12-07T01:30:00Z') + off - 1)).toBe(t('2026-12-06T01:30:00Z'));
    expect(nextRun(g, off, t('2026-12-07T01:30:00Z') + off)).toBe(t('2026-12-08T01:30:00Z') + off);
    // spread: many images take many offsets
    const hourly = gridOf({ every: '1h' }, 0);
    expect(new Set(Array.from({ length: 100 }, (_, i) => offsetOf(`p/img${i}`, hourly.windowMs))).size).toBeGreaterThan(90);
  });

  it('retention keeps the union of latest and the newest of each period', () => {
    const slots = Array.from({ length: 24 * 40 }, (_, i) => t('2026-11-01T00:00:00Z') + i * H); // hourly, 40 days
    const newest = slots[slots.length - 1]!;
    expect([...retained(slots, { latest: 3 }, 'UTC')].sort()).toEqual(slots.slice(-3).sort());
    const daily = retained(slots, { daily: 3 }, 'UTC');
    expect([...daily].sort((a, b) => a - b)).toEqual([newest - 2 * D, newest - D, newest]);
    const monthly = [...retained(slots, { monthly: 2 }, 'UTC')].sort((a, b) => a - b);
    expect(monthly.map((s) => new Date(s).toISOString())).toEqual(['2026-11-30T23:00:00.000Z', new Date(newest).toISOString()]);
    const weekly = [...retained(slots, { weekly: 2 }, 'UTC')].sort((a, b) => a - b);
    expect(new Date(weekly[0]!).toISOString()).toBe('2026-12-06T23:00:00.000Z'); // Sunday, the end of ISO week 49
    const both = retained(slots, { latest: 2, daily: 2 }, 'UTC');
    expect(both.size).toBe(3); // the newest is in both sets
    // days in another timezone end at another hour
    const tokyo = [...retained(slots, { daily: 2 }, 'Asia/Tokyo')].sort((a, b) => a - b);
    expect(new Date(tokyo[0]!).getUTCHours()).toBe(14);
  });

  it('remembers the slots taken, newest first and bounded; an older slot than all of them counts as done', () => {
    let st = withDone(undefined, 2000, { slot: '', at: '', outcome: 'taken' });
    st = withDone(st, 1000, { slot: '', at: '', outcome: 'taken' });
    expect(st.done).toEqual([2000, 1000]);
    expect(isDone(st, 1000)).toBe(true);
    expect(isDone(st, 500)).toBe(false); // a late slot still runs while the state is not full
    for (let i = 3; i < 3 + DONE_KEPT; i++) st = withDone(st, i * 1000, { slot: '', at: '', outcome: 'taken' });
    expect(st.done).toHaveLength(DONE_KEPT);
    expect(isDone(st, 1000)).toBe(true);
  });
});
