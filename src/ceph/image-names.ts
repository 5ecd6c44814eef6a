// The names of a pool's images in byte order (rbd_list2): the older listing (pools.ts' counts, tests); pages of
// images are read from the directory (image-directory.ts).
import { rbdPool } from '../native/rbd-pool.js';
import type { Pointer } from '../native/types.js';
import { decodeImageSpecId, decodeImageSpecNames, imageSpecArray } from '../native/memory.js';
import { E } from '../native/errno.js';
import { native } from './call.js';
import { CephError, check } from './errors.js';
import type { ImageSpec } from './image-info.js';

/** Byte-order comparison (stable across locales; the order pagination cursors rely on). */
export function compareNames(a: string, b: string): number {
  // UTF-8 byte order is code point order. JS compares UTF-16 code units, which differs only where a
  // surrogate (a code point above U+FFFF) meets a unit in U+E000–U+FFFF: handle that case, no allocation.
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length - b.length;
}

/** rbd_list2 with the ERANGE retry (on -ERANGE, *max_images holds the count needed); see listPicking. */
export async function listImages<T extends { page: readonly string[] }>(io: Pointer, pool: string,
  pick: ((sortedNames: readonly string[]) => T) | undefined): Promise<{ names: string[]; chosen: T | undefined; picked: ImageSpec[] }> {
  let capacity = 1024;
  for (let attempt = 0; attempt < 8; attempt++) {
    const buf = imageSpecArray(capacity);
    const count: [number] = [capacity];
    const rc = await native<number>('rbd_list2', rbdPool.list2, io, buf, count);
    if (rc === -E.ERANGE) {
      capacity = Math.max(count[0], capacity * 2);
      continue;
    }
    check('image', 'rbd_list2', rc, pool);
    try {
      const names = decodeImageSpecNames(buf, count[0]);
      if (!pick) return { names: names.sort(compareNames), chosen: undefined, picked: [] };
      // rbd_list2 answers in directory (name) order, so the names are usually sorted already: then a name's
      // entry in buf is found by binary search; otherwise remember each name's entry before sorting
      const position = isSorted(names) ? undefined : new Map(names.map((n, i) => [n, i]));
      if (position) names.sort(compareNames);
      const entry = (name: string): number | undefined => position ? position.get(name) : sortedIndexOf(names, name);
      const chosen = pick(names);
      const picked = chosen.page.flatMap((name) => {
        const i = entry(name);
        return i === undefined ? [] : [{ name, id: decodeImageSpecId(buf, i) }];
      });
      return { names, chosen, picked };
    } finally {
      rbdPool.imageSpecListCleanup(buf, count[0]); // frees the strings librbd strdup()ed, not buf
    }
  }
  throw new CephError('image', 'rbd_list2', -E.ERANGE, `${pool}: image list kept growing`);
}

function isSorted(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++) if (compareNames(names[i - 1]!, names[i]!) > 0) return false;
  return true;
}

/** Index of `name` in byte-order-sorted `names`, or undefined. */
function sortedIndexOf(names: readonly string[], name: string): number | undefined {
  let lo = 0, hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareNames(names[mid]!, name);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return undefined;
}
