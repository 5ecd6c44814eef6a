// Moves into the trash that were interrupted between librbd's steps (the mover killed): how they are told from a
// live move and finished, keyed by the entry's id. Used by every path that meets such an entry (trash-tasks.ts:
// removal and purge, and so the namespace purge; trash.ts: restore, a retried DELETE; copy.ts: a temporary's
// cleanup).
import { radosObject } from '../native/rados-object.js';
import { E } from '../native/errno.js';
import { native } from './call.js';
import { CephError, isCephError } from './errors.js';
import type { Handle } from './handle.js';
import { readImageId } from './image-directory.js';
import { readTrashState, removeDirectoryEntry, setTrashState, TRASH_STATE } from './rbd-objects.js';

/** A move into the trash that has not finished after this long was interrupted (a live one takes milliseconds). */
export const STALE_MOVE_MS = 5000;

/**
 * Finish what an interrupted rbd_trash_move left (its client killed between librbd's steps): librbd adds the
 * entry in state MOVING, removes rbd_id.<name>, removes the directory entry, then sets the state NORMAL; an entry
 * left in MOVING is refused by rbd_trash_remove and rbd_trash_restore (EUCLEAN) for ever. librbd finishes it
 * only through rbd_trash_move(name) — which moves whatever image holds that name NOW. Here the same steps,
 * keyed by the entry's id: the id object only while it names this image, the directory entry only while it maps
 * name ↔ id, then the state, only from MOVING (cls compare-and-set). A MOVING entry younger than STALE_MOVE_MS
 * is waited for (a live move, e.g. by an rbd CLI); every step is idempotent, so one racing a live mover is harmless.
 * true when the entry was in MOVING and now is not (retry the operation); false when it was not in MOVING.
 */
export async function finishInterruptedMove(io: Handle<'rados_ioctx_t'>, spec: string, id: string): Promise<boolean> {
  const firstSeen = Date.now();
  for (let polls = 0; ; polls++) {
    const entry = await readTrashState(io, spec, id);
    // not (or no longer) moving: a retry is worth it only when it was moving (a live move finished meanwhile)
    if (!entry || entry.state !== TRASH_STATE.MOVING) return polls > 0;
    // stale by the entry's deletion time (the mover's clock) or by how long it has been seen here (a mover's
    // clock ahead of this one's)
    const age = Math.max(Date.now() - entry.deletedAtMs, Date.now() - firstSeen);
    if (age >= STALE_MOVE_MS) {
      if (await readImageId(io, entry.name, `${spec}/${entry.name}`) === id) {
        const rc = await io.use('rados_remove', (p) => native<number>('rados_remove', radosObject.remove, p, `rbd_id.${entry.name}`));
        if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_remove', rc, `rbd_id.${entry.name}`);
      }
      await removeDirectoryEntry(io, entry.name, id);
      await setTrashState(io, spec, id, TRASH_STATE.NORMAL, TRASH_STATE.MOVING);
      return true;
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, STALE_MOVE_MS - age)));
  }
}

/**
 * `call`, a removal or restore of trash entry `id`, run once more after finishInterruptedMove when librbd refuses
 * it with one of `codes` (EUCLEAN: the entry is still MOVING; librbd 16.2's restore answers EBUSY there) and
 * `finish` (finishInterruptedMove on the entry, or false to leave it) found a move to finish. The one place the
 * removal tasks, restore and copy's cleanup meet an entry an interrupted move left.
 */
export async function retryAfterInterruptedMove<T>(call: () => Promise<T>, finish: () => Promise<boolean>,
  codes: readonly string[] = ['EUCLEAN']): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (isCephError(e, ...codes) && await finish()) return call();
    throw e;
  }
}
