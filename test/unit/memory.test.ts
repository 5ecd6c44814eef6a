// Decoding what librados/librbd write into caller memory: NUL-separated name lists (rados_pool_list),
// NUL-terminated strings (rbd_get_id, rados_conf_get, rados_pool_reverse_lookup), zeroed struct arrays
// for rbd_list2 / rbd_watchers_list. No cluster: the arrays' real contents are checked in
// test/integration/ceph-core.test.ts, their layout in struct-layout.test.ts.
import { describe, expect, it } from 'vitest';
import {
  cString, decodeImageSpecId, decodeImageSpecNames, decodeWatchers, imageSpecArray, splitNulList, takeRadosBuffer, watcherArray,
} from '../../src/native/memory.js';
import { structLayouts } from '../../src/native/layout.js';

/** What rados_pool_list writes: each name NUL-terminated, then one more NUL; returns that length. */
function poolListBytes(names: string[], capacity: number): { buf: Buffer; needed: number } {
  const bytes = Buffer.from(names.map((n) => `${n}\0`).join('') + '\0', 'utf8');
  const buf = Buffer.alloc(capacity);
  if (bytes.length <= capacity) bytes.copy(buf);
  return { buf, needed: bytes.length };
}

describe('splitNulList (rados_pool_list output)', () => {
  it('splits a NUL-separated, double-NUL-terminated list', () => {
    const { buf, needed } = poolListBytes(['rbd', 'images', '.mgr'], 64);
    expect(splitNulList(buf, needed)).toEqual(['rbd', 'images', '.mgr']);
  });

  it('reads only the first `len` bytes, never stale bytes behind them', () => {
    const buf = Buffer.alloc(32);
    buf.write('old-pool-name-left-over\0', 0);
    buf.write('a\0b\0\0', 0); // a shorter answer written over a reused buffer
    expect(splitNulList(buf, 5)).toEqual(['a', 'b']);
  });

  it('an empty list (just the terminating NUL, or nothing) is []', () => {
    expect(splitNulList(Buffer.alloc(16), 1)).toEqual([]);
    expect(splitNulList(Buffer.alloc(16), 0)).toEqual([]);
    expect(splitNulList(Buffer.alloc(0), 0)).toEqual([]);
  });

  it('a `len` beyond the buffer is clamped (the caller retries with a bigger buffer)', () => {
    const { buf, needed } = poolListBytes(['p1', 'p2'], 7);
    expect(needed).toBe(7);
    expect(splitNulList(buf, 1000)).toEqual(['p1', 'p2']);
  });

  it('keeps multi-byte UTF-8 names intact and counts `len` in bytes', () => {
    const names = ['pöol', '池', 'ok'];
    const { buf, needed } = poolListBytes(names, 64);
    expect(needed).toBe(Buffer.byteLength(names.join('\0')) + 2);
    expect(splitNulList(buf, needed)).toEqual(names);
  });

  it('the retry contract Pools.listNames relies on: a short buffer yields a larger `needed`', () => {
    const names = Array.from({ length: 40 }, (_, i) => `pool-with-a-long-name-${i}`);
    const short = poolListBytes(names, 256);
    expect(short.needed).toBeGreaterThan(256);
    const retry = poolListBytes(names, short.needed + 64);
    expect(splitNulList(retry.buf, retry.needed)).toEqual(names);
  });
});

describe('cString', () => {
  it('stops at the first NUL', () => {
    const buf = Buffer.alloc(64);
    buf.write('10a7d6b8b4567\0garbage');
    expect(cString(buf)).toBe('10a7d6b8b4567');
  });

  it('a buffer without NUL is read whole; an all-zero buffer is ""', () => {
    expect(cString(Buffer.from('abc'))).toBe('abc');
    expect(cString(Buffer.alloc(8))).toBe('');
    expect(cString(Buffer.alloc(0))).toBe('');
  });

  it('decodes UTF-8', () => {
    const buf = Buffer.alloc(16);
    buf.write('ímage\0');
    expect(cString(buf)).toBe('ímage');
  });
});

describe('struct arrays for rbd_list2 and rbd_watchers_list', () => {
  const layouts = structLayouts();
  const specSize = layouts.rbd_image_spec_t!.size;
  const watcherSize = layouts.rbd_image_watcher_t!.size;

  it('are zeroed and sized by the struct size koffi (and gcc) agree on', () => {
    const specs = imageSpecArray(1024);
    expect(specs.length).toBe(1024 * specSize);
    expect(specs.every((b) => b === 0)).toBe(true);
    const watchers = watcherArray(8);
    expect(watchers.length).toBe(8 * watcherSize);
    expect(watchers.every((b) => b === 0)).toBe(true);
  });

  it('are never empty, so C never gets a NULL array with a zero count', () => {
    expect(imageSpecArray(0).length).toBe(specSize);
    expect(watcherArray(0).length).toBe(watcherSize);
    expect(imageSpecArray(-3).length).toBe(specSize);
  });

  it('decode zero entries without touching memory', () => {
    expect(decodeImageSpecNames(imageSpecArray(0), 0)).toEqual([]);
    expect(decodeWatchers(watcherArray(0), 0)).toEqual([]);
  });

  it('zeroed entries (NULL char pointers) decode as null, not as a crash', () => {
    // librbd fills every entry it counts; a NULL pointer would only appear on a count mismatch
    const names = decodeImageSpecNames(imageSpecArray(2), 2);
    expect(names).toHaveLength(2);
    for (const n of names) expect(n ?? null).toBeNull();
    expect(decodeImageSpecId(imageSpecArray(2), 1) ?? null).toBeNull();
    const watchers = decodeWatchers(watcherArray(1), 1);
    expect(watchers[0]).toMatchObject({ addr: null });
    expect(Number(watchers[0]!.id)).toBe(0);
    expect(Number(watchers[0]!.cookie)).toBe(0);
  });
});

describe('takeRadosBuffer', () => {
  it('a NULL librados buffer reads as "" and is not freed', () => {
    expect(takeRadosBuffer(null, 0)).toBe('');
    expect(takeRadosBuffer(undefined, 10)).toBe('');
    expect(takeRadosBuffer(0n, 10)).toBe('');
  });
});
