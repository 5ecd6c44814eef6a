// The extents of an image that exist (or changed since a snapshot), walked window by window with
// rbd_diff_iterate2, so that a download of any size holds the extents of one window at a time. Each window's
// walk is one call on the transfers' own budget (transferLimiter); librbd reports extents through a callback
// that koffi runs on the main thread, which stops the walk (a negative answer) once the transfer is cancelled.
import { E } from '../../native/errno.js';
import { rbdImage, registerDiffCallback, unregisterCallback } from '../../native/rbd-image.js';
import type { Pointer } from '../../native/types.js';
import { nativeTransfer } from '../call.js';
import { check } from '../errors.js';
import { toNumber } from '../../native/memory.js';

export interface Extent {
  offset: number;
  length: number;
  /** false: the extent was discarded (reads as zeros) since `from` */
  exists: boolean;
}

export interface WalkOptions {
  /** changes since this snapshot; null = everything allocated since the image was created */
  from: string | null;
  /** a clone's extents include what it reads from its parent (an export must; a diff between snapshots too, as rbd does) */
  includeParent: boolean;
  /** whole objects (fast with fast-diff: object maps are read) or exact byte extents (every object is listed) */
  wholeObject: boolean;
  /** bytes per rbd_diff_iterate2 call */
  window: number;
  /** the walk stops at the next callback once this answers true */
  cancelled: () => boolean;
}


/**
 * The extents in [start, end), in offset order, clipped to the range; adjacent extents of one kind merged. The
 * next window is walked while the caller works on this one's extents (an export-format 2 of a large sparse image
 * is hundreds of windows: walked one after the other, their latency added up to a quarter of the time); the
 * generator never ends with a walk in flight on `img`, so the caller may close it once the loop is done.
 */
export async function* walkExtents(img: Pointer, target: string, start: number, end: number, o: WalkOptions): AsyncGenerator<Extent> {
  const walk = async (w: number): Promise<Extent[] | undefined> => {
    const len = Math.min(o.window, end - w);
    const found: Extent[] = [];
    const cb = registerDiffCallback((offset, length, exists) => {
      if (o.cancelled()) return -E.ECANCELED;
      found.push({ offset: toNumber(offset), length: toNumber(length), exists: exists !== 0 });
      return 0;
    });
    try {
      const rc = await nativeTransfer<number>('rbd_diff_iterate2', rbdImage.diffIterate2, img, o.from, w, len,
        o.includeParent ? 1 : 0, o.wholeObject ? 1 : 0, cb, null);
      if (o.cancelled()) return undefined;
      check('image', 'rbd_diff_iterate2', rc, target);
    } finally {
      unregisterCallback(cb);
    }
    return found.sort((a, b) => a.offset - b.offset);
  };
  let next: Promise<Extent[] | undefined> | undefined = start < end ? walk(start) : undefined;
  try {
    for (let w = start; w < end; w += o.window) {
      const len = Math.min(o.window, end - w);
      const found = await next!;
      next = undefined;
      if (found === undefined) return;
      if (w + o.window < end && !o.cancelled()) {
        next = walk(w + o.window);
        next.catch(() => undefined); // awaited in the next turn, or in finally
      }
      let pending: Extent | undefined;
      for (const x of found) {
        // whole-object extents may reach past the window: clip to it (the next window reports the rest)
        const from = Math.max(x.offset, w);
        const to = Math.min(x.offset + x.length, w + len);
        if (to <= from) continue;
        if (pending && pending.exists === x.exists && pending.offset + pending.length >= from) {
          pending.length = Math.max(pending.length, to - pending.offset);
          continue;
        }
        if (pending) {
          // overlapping reports: never send a byte twice
          if (from < pending.offset + pending.length) pending.length = from - pending.offset;
          if (pending.length > 0) yield pending;
        }
        pending = { offset: from, length: to - from, exists: x.exists };
      }
      if (pending) yield pending;
    }
  } finally {
    // the caller stopped early (or failed): the walk ahead ends before the image may be closed
    await next?.catch(() => undefined);
  }
}

/** The default window: whole objects, about 256 MiB. */
export function windowFor(objectSize: number): number {
  return objectSize * Math.max(1, Math.floor(256 * 2 ** 20 / objectSize));
}
