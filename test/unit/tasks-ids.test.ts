// Pure parts of the task engine and the trash routes: ids, index keys (newest first), keepFor durations.
import { describe, expect, it } from 'vitest';
import { idOfKey, indexKey, isIndexKey, newTaskId, parseTaskId } from '../../src/ceph/tasks/store.js';
import { parseDuration } from '../../src/http/duration.js';

describe('task ids and index keys', () => {
  it('an id carries its pool id and creation time', () => {
    const id = newTaskId(182, Date.UTC(2026, 10, 30, 19, 48));
    expect(id).toMatch(/^182-[0-9a-z]{9}-[0-9a-f]{8}$/);
    expect(parseTaskId(id)).toEqual({ poolId: 182, createdMs: Date.UTC(2026, 10, 30, 19, 48) });
    for (const bad of ['', '182', '182-abc-00000000', 'x-000000001-00000000', '182-000000001-0000000g', ' 182-000000001-00000000', '99999999999-000000001-00000000']) {
      expect(parseTaskId(bad), bad).toBeUndefined();
    }
  });

  it('index keys sort newest first and give the id back', () => {
    const older = newTaskId(5, 1_000_000);
    const newer = newTaskId(5, 2_000_000);
    const otherPool = newTaskId(77, 1_500_000);
    const keys = [indexKey(older), indexKey(newer), indexKey(otherPool)].sort();
    expect(keys.map(idOfKey)).toEqual([newer, otherPool, older]);
    expect(keys.every(isIndexKey)).toBe(true);
    expect(isIndexKey('0000000000000.1-2-3')).toBe(false);
  });
});

describe('keepFor durations', () => {
  it('accepts 1m to 1y with m, h, d, w, y', () => {
    expect(parseDuration('1m')).toBe(60);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('12h')).toBe(43_200);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('52w')).toBe(31_449_600);
    expect(parseDuration('1y')).toBe(31_536_000);
    expect(parseDuration('365d')).toBe(31_536_000);
  });
  it('refuses everything else', () => {
    for (const bad of ['', '0m', '1s', '60s', '366d', '2y', '53w', '8761h', '1.5h', '7D', ' 7d', '7d ', '+7d', '07d', 'P7D', '1e2m', '١d', '9999999d']) {
      expect(parseDuration(bad), bad).toBeUndefined();
    }
  });
});
