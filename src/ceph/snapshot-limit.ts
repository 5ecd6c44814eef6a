// librbd's snapshot count limit of an image (rbd_snap_set_limit / rbd_snap_get_limit; `rbd snap limit set|clear`).
// librbd refuses a snapshot create beyond it with EDQUOT (SNAPSHOT_LIMIT_REACHED at the API) and a limit below
// the image's current snapshot count with ERANGE. "No limit" is UINT64_MAX both ways (`rbd snap limit clear`
// sets it; get answers it when none was set) and is null here.
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import type { Pointer } from '../native/types.js';
import { nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError } from './errors.js';
import { withOpenImage } from './open-image.js';
import { E } from '../native/errno.js';

const NO_LIMIT = 0xffffffffffffffffn;
/** the largest limit the API accepts (beyond it a limit means nothing: an image has far fewer snapshots) */
export const SNAPSHOT_LIMIT_MAX = 1_000_000;

/** The limit of an open image (one cls call to the OSD): null when none is set. */
export async function readSnapshotLimit(img: Pointer, target: string): Promise<number | null> {
  const out: [number | bigint] = [0];
  await nativeChecked('image', 'rbd_snap_get_limit', target, rbdSnapshot.getLimit, img, out);
  const v = BigInt(out[0]);
  return v === NO_LIMIT || v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
}

/**
 * Set (a whole number 0–SNAPSHOT_LIMIT_MAX) or clear (null) the limit of `spec`/`image`. ERANGE (subject
 * 'snapshot') when the image already has more snapshots than `limit`. The caller holds the image's mutation lock.
 */
export function setSnapshotLimit(session: CephSession, spec: string, image: string, limit: number | null): Promise<void> {
  const target = `${spec}/${image}`;
  if (limit !== null && (!Number.isSafeInteger(limit) || limit < 0 || limit > SNAPSHOT_LIMIT_MAX)) {
    return Promise.reject(new CephError('snapshot', 'rbd_snap_set_limit', -E.EINVAL, `${target}: limit ${limit} out of range`));
  }
  return session.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, async (img) => {
    await nativeChecked('snapshot', 'rbd_snap_set_limit', target, rbdSnapshot.setLimit, img, limit === null ? NO_LIMIT : BigInt(limit));
  }));
}
