// Disk usage of an image, computed as `rbd du` does (tools/rbd/action/DiskUsage.cc): for each snapshot in id
// order, the bytes that changed since the previous one (rbd_diff_iterate2 from it, whole objects, without the
// parent), then the same for the image since its last snapshot. With fast-diff enabled and valid, librbd
// reads object maps; otherwise it lists every object (slow on big images), so the walk is bounded by a deadline.
import { E } from '../native/errno.js';
import { RBD_FLAG, rbdImage, registerDiffCallback, unregisterCallback } from '../native/rbd-image.js';
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import { listSnapshotIds } from './clones.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check, UsageTimeoutError } from './errors.js';
import { FEATURE_BITS } from './features.js';
import { imageFlags } from './image-features.js';
import { withOpenImage } from './open-image.js';
import { toNumber } from '../native/memory.js';

export interface SnapshotUsage {
  name: string;
  id: number;
  provisionedBytes: number;
  /** bytes written between the previous snapshot (or the image's creation) and this one */
  usedBytes: number;
}

export interface ImageUsage {
  provisionedBytes: number;
  /** bytes written since the last snapshot (the image's own row of `rbd du`) */
  usedBytes: number;
  /** the image and all its snapshots (the <TOTAL> of `rbd du`) */
  totalUsedBytes: number;
  snapshots: SnapshotUsage[];
  /** true: counted in bytes; false: in whole objects, as `rbd du` counts */
  exact: boolean;
  /** fast-diff: object maps were read; scan: every object was listed (no valid fast-diff) */
  method: 'fast-diff' | 'scan';
  elapsedMs: number;
}

export interface UsageOptions {
  timeoutMs: number;
  /** count bytes rather than whole objects (always the slow path) */
  exact?: boolean;
}


/** The client's withIoctx without its per-operation deadline when it has one (this walk has its own). */
type LongSession = CephSession & { withIoctxLong?: CephSession['withIoctx'] };
const unboundedIoctx = (c: LongSession): CephSession['withIoctx'] => (c.withIoctxLong ?? c.withIoctx).bind(c);

export class ImageUsageReader {
  constructor(private readonly conn: CephSession) {}

  /**
   * The usage of one image. Rejects with UsageTimeoutError once `timeoutMs` has passed; librbd is then told
   * to stop at its next callback, and the image is closed once it has.
   */
  get(spec: string, image: string, opts: UsageOptions): Promise<ImageUsage> {
    const started = performance.now();
    const state = { cancelled: false, method: 'scan' as 'fast-diff' | 'scan' };
    const work = unboundedIoctx(this.conn)(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, (img) =>
      walk(img, `${spec}/${image}`, opts.exact === true, state)));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        state.cancelled = true;
        reject(new UsageTimeoutError(opts.timeoutMs, state.method));
      }, opts.timeoutMs);
    });
    work.catch(() => undefined); // an answer after the deadline is dropped
    return Promise.race([work, deadline]).then((u) => ({ ...u, elapsedMs: Math.round(performance.now() - started) }))
      .finally(() => clearTimeout(timer));
  }
}

async function walk(img: Pointer, target: string, exact: boolean, state: { cancelled: boolean; method: 'fast-diff' | 'scan' }):
  Promise<Omit<ImageUsage, 'elapsedMs'>> {
  const size: [number | bigint] = [0];
  await nativeChecked('image', 'rbd_get_size', target, rbdImage.getSize, img, size);
  const features: [number | bigint] = [0];
  await nativeChecked('image', 'rbd_get_features', target, rbdImage.getFeatures, img, features);
  const flags = await imageFlags(img, target);
  const fastDiff = (BigInt(features[0]) & FEATURE_BITS['fast-diff']) !== 0n
    && (flags & (RBD_FLAG.OBJECT_MAP_INVALID | RBD_FLAG.FAST_DIFF_INVALID)) === 0n;
  state.method = fastDiff && !exact ? 'fast-diff' : 'scan';

  // in id order (listSnapshotIds sorts them)
  const snaps = (await listSnapshotIds(img, target)).map((x) => ({ ...x, id: Number(x.id) }));
  const snapshots: SnapshotUsage[] = [];
  let previous: string | null = null;
  for (const s of snaps) {
    await nativeChecked('snapshot', 'rbd_snap_set', `${target}@${s.name}`, rbdSnapshot.set, img, s.name);
    const used = await diffBytes(img, `${target}@${s.name}`, previous, s.size, exact, state);
    snapshots.push({ name: s.name, id: s.id, provisionedBytes: s.size, usedBytes: used });
    previous = s.name;
  }
  if (snaps.length > 0) await nativeChecked('snapshot', 'rbd_snap_set', target, rbdSnapshot.set, img, null);
  const usedBytes = await diffBytes(img, target, previous, toNumber(size[0]), exact, state);
  return {
    provisionedBytes: toNumber(size[0]),
    usedBytes,
    totalUsedBytes: usedBytes + snapshots.reduce((a, s) => a + s.usedBytes, 0),
    snapshots,
    exact,
    method: state.method,
  };
}

/** Sum of the extents that exist in [0, len) since `from` (NULL = since creation). */
async function diffBytes(img: Pointer, target: string, from: string | null, len: number, exact: boolean,
  state: { cancelled: boolean }): Promise<number> {
  let total = 0;
  const cb = registerDiffCallback((_offset, length, exists) => {
    if (state.cancelled) return -E.ETIMEDOUT;
    if (exists) total += toNumber(length);
    return 0;
  });
  try {
    const rc = await native<number>('rbd_diff_iterate2', rbdImage.diffIterate2, img, from, 0, len, 0, exact ? 0 : 1, cb, null);
    if (state.cancelled) throw new CephError('image', 'rbd_diff_iterate2', -E.ETIMEDOUT, target);
    check('image', 'rbd_diff_iterate2', rc, target);
    return total;
  } finally {
    unregisterCallback(cb);
  }
}

