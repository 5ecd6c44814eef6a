// Copying an image (HEAD only, rbd_copy_with_progress4) or deep-copying it with every snapshot
// (rbd_deep_copy_with_progress), as the `image.copy` task. The copy is made under a hidden temporary name
// (`.rbdapi-copy-<random>`: the API refuses names starting with '.', so no user can collide with it) and
// renamed to its final name only when complete; a failed, cancelled or interrupted copy removes the temporary
// (its snapshots first), so the destination name never shows a half-made image. Copies are standalone: a
// clone is flattened into its copy.
import { randomBytes } from 'node:crypto';
import { E } from '../native/errno.js';
import { noProgress } from '../native/progress.js';
import { rbdImage } from '../native/rbd-image.js';
import { RBD_SNAP_REMOVE, rbdSnapshot } from '../native/rbd-snapshot.js';
import { rbdTrash } from '../native/rbd-trash.js';
import type { Pointer } from '../native/types.js';
import { native, nativeLong } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, check, isCephError, isMissingScope, TaskFailure } from './errors.js';
import type { Handle } from './handle.js';
import type { TaskEngine } from './tasks/engine.js';
import { type TaskContext } from './tasks/types.js';
import { listSnapshotIds } from './clones.js';
import { holdForTask, imageKey } from './image-lock.js';
import { withImageOptions } from './image-options.js';
import { PoolGuard } from './pool-guard.js';
import { COPY_TEMP_PREFIX, isServiceTemporary } from './image-directory.js';
import { withImageIn, withOpenImage, isOpenFailure } from './open-image.js';
import { listTrash } from './trash.js';
import { finishInterruptedMove, retryAfterInterruptedMove } from './trash-moves.js';
import { poolSpec } from './spec.js';

export const COPY_ACTION = 'image.copy';
export const TEMP_PREFIX = COPY_TEMP_PREFIX;

export interface CopyDestination { pool: string; namespace: string; name: string }

export interface CopyParams {
  destination: CopyDestination;
  /** the hidden name the copy is made under */
  temporary: string;
  /** deep copy: every snapshot too */
  snapshots: boolean;
  /** feature bits as a decimal string (JSON has no 64-bit integers); default: librbd's choice */
  features?: string | undefined;
  order?: number | undefined;
  /** a new object size was asked for: plain striping (stripe unit = object size, count 1) */
  stripeToObject?: boolean | undefined;
  dataPool?: string | undefined;
}

/** A new temporary name for a copy. */
export function temporaryName(): string {
  return `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
}

type LongSession = CephSession & { withIoctxLong?: CephSession['withIoctx'] };
const unboundedIoctx = (c: LongSession): CephSession['withIoctx'] => (c.withIoctxLong ?? c.withIoctx).bind(c);

/** Register the `image.copy` handler on the task engine (it works through the run's own client, ctx.session). */
export function registerImageCopy(tasks: TaskEngine): void {
  tasks.register<CopyParams>({
    action: COPY_ACTION,
    run: (ctx) => runCopy(ctx.session, ctx),
    // the rename of the temporary is the one step that cannot be undone: until then a cancel always takes effect
    commitPoint: true,
    // a copy cut short is not resumed: remove what it made, the task ends INTERRUPTED
    interrupted: async (ctx) => { await removeTemporary(ctx.session, ctx.params); },
  });
}

async function runCopy(session: CephSession, ctx: TaskContext<CopyParams>): Promise<Record<string, unknown>> {
  const { pool, namespace, image, imageId } = ctx.task.target;
  const src = poolSpec(pool, namespace);
  const p = ctx.params;
  const dst = poolSpec(p.destination.pool, p.destination.namespace);
  if (!p.temporary.startsWith(TEMP_PREFIX)) throw new TaskFailure('VALIDATION_FAILED', 'bad temporary name');
  try {
    await unboundedIoctx(session)(dst, (destIo) => ctx.io(async (srcIo) => {
      // by id when known: a rename of the source while queued does not redirect the copy
      await withImageIn(srcIo, `${src}/${image}`, image, { readOnly: true, byId: imageId || undefined },
        (img) => copyInto(ctx, img, destIo, `${dst}/${p.temporary}`, p));
    }));
    if (ctx.signal.aborted) throw new TaskFailure('CANCELLED', 'The copy was cancelled.');
    await ctx.commit();
    // the destination name's mutation lock: a create, restore or rename into that name runs before or after,
    // never between librbd's rename steps (docs/concurrency.md)
    await holdForTask(session, ctx.task.id, [imageKey(dst, p.destination.name)], () => unboundedIoctx(session)(dst, (io) => io.use('rbd_rename', async (d) => {
      const rc = await native<number>('rbd_rename', rbdImage.rename, d, p.temporary, p.destination.name);
      if (rc === -E.EEXIST) {
        throw new TaskFailure('IMAGE_EXISTS', `Image ${dst}/${p.destination.name} was created while the copy ran; the copy was discarded.`, 'EEXIST');
      }
      check('image', 'rbd_rename', rc, `${dst}/${p.destination.name}`);
    })));
  } catch (e) {
    await removeTemporary(session, p).catch(() => undefined);
    if (isCephError(e, 'ENOENT') && (e.op === 'rbd_open_read_only' || e.op === 'rbd_open_by_id_read_only')) {
      throw new TaskFailure('IMAGE_NOT_FOUND', `Image ${src}/${image} does not exist (any more).`, 'ENOENT');
    }
    throw e;
  }
  return { destination: { ...p.destination }, snapshots: p.snapshots };
}


async function copyInto(ctx: TaskContext<CopyParams>, img: Pointer, destIo: Handle<'rados_ioctx_t'>, target: string, p: CopyParams): Promise<void> {
  await destIo.use(p.snapshots ? 'rbd_deep_copy_with_progress' : 'rbd_copy_with_progress4', async (d) => {
    // librbd keeps the source's stripe unit otherwise, which a smaller object size cannot hold (EINVAL)
    const striping = p.stripeToObject && p.order !== undefined ? { stripeUnit: 2 ** p.order, stripeCount: 1 } : {};
    await withImageOptions({
      format: 2, features: p.features !== undefined ? BigInt(p.features) : undefined, order: p.order, ...striping,
      dataPool: p.dataPool,
      // standalone: a clone's deep copy does not keep the parent link (rbd_copy flattens as well)
      flatten: p.snapshots,
    }, async (o) => {
      if (p.snapshots) {
        await ctx.withProgress((cb) => nativeLong('image', 'rbd_deep_copy_with_progress', target, rbdImage.deepCopyWithProgress, img, d, tempName(target), o, cb, null));
      } else {
        await ctx.withProgress((cb) => nativeLong('image', 'rbd_copy_with_progress4', target, rbdImage.copyWithProgress4, img, d, tempName(target), o, cb, null, 4096));
      }
    });
  });
}

const tempName = (target: string): string => target.slice(target.lastIndexOf('/') + 1);

/** Where a temporary image is (a copy's, or an import's: content/import.ts). */
export type TemporaryParams = Pick<CopyParams, 'destination' | 'temporary'>;

/**
 * Remove a copy's (or an import's) temporary image, snapshots first (a deep copy and an export-format 2 import
 * have them). Nothing to do when it does not exist (never made, or already removed).
 */
export async function removeTemporary(session: CephSession, p: TemporaryParams): Promise<boolean> {
  if (!p.temporary || !isServiceTemporary(p.temporary)) return false;
  const dst = poolSpec(p.destination.pool, p.destination.namespace);
  const guard = new PoolGuard(session);
  let removed: boolean;
  try {
    removed = await removeTemporaryOnce(session, guard, p, dst);
  } catch (e) {
    // the destination pool or namespace is gone (deleted while the copy ran): nothing of the copy is left
    if (isMissingScope(e)) return false;
    throw e;
  }
  // trust the objects, not the return codes: a name still listed, an id object or a trash entry still there
  // means the cleanup is not done, and the task engine runs it again later instead of ending the task. And
  // look again 3 s later: a CI run saw a directory entry of the temporary come back after a check that found
  // none, while the cleanup still used rbd_remove (whose failure path restores the image under its name).
  // Rare and slow path: 3 s more for a copy that failed or was cut short
  for (const wait of [0, 3000]) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    const left = await guard.nameState(dst, p.temporary);
    if (left.kind !== 'absent') {
      throw new CephError('image', 'copy_cleanup', -E.EAGAIN, `${dst}/${p.temporary} (${left.kind}: still ${JSON.stringify(left)})`);
    }
    const trashed = await trashIdsNamed(session, dst, p.temporary);
    if (trashed.length > 0) throw new CephError('image', 'copy_cleanup', -E.EAGAIN, `${dst}/${p.temporary} (still in the trash: ${trashed.join(', ')})`);
  }
  return removed;
}

/**
 * One pass of the cleanup. librbd's rbd_remove is not used: it moves the image to the trash, removes it
 * from there, and when that fails for an expected reason (EBUSY: a watcher, such as the killed runner's
 * that the OSDs have not dropped yet; ENOTEMPTY; EMLINK) it restores the image into the directory under
 * its name — a directory entry coming back after this cleanup looked, which a CI run saw once. Here a whole
 * temporary is moved to the trash (rbd_trash_move), and every trash entry under the temporary's name is
 * removed by id (its snapshots first); a removal that fails leaves the entry in the trash, hidden from the
 * name, and the engine runs the cleanup again. Nothing here adds a directory entry.
 */
async function removeTemporaryOnce(session: CephSession, guard: PoolGuard, p: TemporaryParams, dst: string): Promise<boolean> {
  return unboundedIoctx(session)(dst, async (io) => {
    let removed = false;
    const state = await guard.nameState(dst, p.temporary);
    if (state.kind === 'whole') {
      // snapshots first: a deep copy has them, and an image with snapshots cannot be removed from the trash
      await withOpenImage(io, dst, p.temporary, {}, (img) => removeSnapshots(img, `${dst}/${p.temporary}`))
        .catch((e: unknown) => { if (!(isCephError(e, 'ENOENT') && isOpenFailure(e))) throw e; });
      const rc = await io.use('rbd_trash_move', (d) => native<number>('rbd_trash_move', rbdTrash.move, d, p.temporary, 0));
      if (rc < 0 && rc !== -E.ENOENT) check('image', 'rbd_trash_move', rc, `${dst}/${p.temporary}`);
      removed = true;
    }
    for (const id of await trashIdsNamed(session, dst, p.temporary)) {
      const target = `${dst}/${p.temporary} (trash ${id})`;
      await io.use('rbd_trash_remove', async (d) => {
        const out: [Pointer | null] = [null];
        const rc = await native<number>('rbd_open_by_id', rbdImage.openById, d, id, out, null);
        if (rc === 0) {
          try { await removeSnapshots(out[0]!, target); } finally { await native('rbd_close', rbdImage.close, out[0]!); }
        } else if (rc !== -E.ENOENT) {
          check('image', 'rbd_open_by_id', rc, target);
        }
        // the runner was killed inside the move above: finished by id, then removed
        return retryAfterInterruptedMove(
          () => nativeLong('trashEntry', 'rbd_trash_remove_with_progress', target, rbdTrash.removeWithProgress, d, id, true, noProgress, null),
          () => finishInterruptedMove(io, dst, id),
        ).catch((e: unknown) => {
          if (isCephError(e, 'ENOENT')) return 0;
          throw e;
        });
      });
      removed = true;
    }
    // a half-made or half-removed name (a runner that died inside librbd's create, trash move or removal):
    // its stray id object, and a directory entry whose image header is gone
    // (twice at most: the id object of a name the directory still lists goes once the entry is gone)
    for (let pass = 0; pass < 2; pass++) {
      const left = await guard.nameState(dst, p.temporary);
      if (left.kind !== 'dangling') break;
      await guard.removeStrayId(dst, p.temporary, left);
      removed = true;
    }
    return removed;
  });
}

/** Ids of the trash entries named `name` (one rbd_trash_list: the trash of a pool is small, and this path rare). */
async function trashIdsNamed(session: CephSession, spec: string, name: string): Promise<string[]> {
  return session.withIoctx(spec, (io) => io.use('rbd_trash_list', async (d) =>
    (await listTrash(d, spec)).filter((t) => t.name === name && t.id !== null).map((t) => t.id!)));
}

async function removeSnapshots(img: Pointer, target: string): Promise<void> {
  for (const snap of await snapshotNames(img, target)) {
    await nativeLong('snapshot', 'rbd_snap_remove2', `${target}@${snap}`, rbdSnapshot.remove2, img, snap,
      RBD_SNAP_REMOVE.UNPROTECT | RBD_SNAP_REMOVE.FLATTEN, noProgress, null);
  }
}

async function snapshotNames(img: Pointer, target: string): Promise<string[]> {
  return (await listSnapshotIds(img, target)).map((x) => x.name).filter((n) => n !== '');
}
