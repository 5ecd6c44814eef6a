// The long operations of snapshots and clones, as tasks of the task engine (tasks/engine.ts):
//   snapshot.rollback  target {pool, namespace, image, snapshot}: rewrite the image as it was at the snapshot.
//                      Refused (IMAGE_IN_USE) while a client has the image open: librbd itself only refuses a
//                      client holding the exclusive lock, and rolling back under a mounted filesystem corrupts it.
//                      Interrupted → resume: rolling back to the same snapshot again gives the same image.
//   image.flatten      target {pool, namespace, image}: copy what the clone still reads from its parent, then
//                      detach it. Interrupted → resume: the resumed run first copies the parent's data into the
//                      clone with plain reads and writes (a librbd flatten after a killed one skips objects and
//                      loses data), then flattens; a flatten that finished before the runner died finds no
//                      parent and counts as done.
// Both run on the long-call budget (nativeLong) with the task's progress callback (never NULL), in an I/O
// context without the per-request deadline.
import { E } from '../native/errno.js';
import { rbdImage } from '../native/rbd-image.js';
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import { rbdClone } from '../native/rbd-clone.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { checkSnapshotName } from './clones.js';
import { CephError, check, TaskFailure } from './errors.js';
import { poolSpec } from './spec.js';
import { holdTaskImage } from './image-lock.js';
import { listWatchers } from './image-info.js';
import { withImageIn } from './open-image.js';
import type { TaskEngine } from './tasks/engine.js';
import { imageMissing, type TaskContext, type TaskSession } from './tasks/types.js';

export const ROLLBACK_ACTION = 'snapshot.rollback';
export const FLATTEN_ACTION = 'image.flatten';


/** Open `image` in the raw I/O context `io` for `fn`, always closing it; IMAGE_NOT_FOUND as a task failure. */
const withImage = <T>(io: Pointer, target: string, image: string, readOnly: boolean, fn: (img: Pointer) => Promise<T>): Promise<T> =>
  withImageIn(io, target, image, { readOnly }, fn, imageMissing(target));

/**
 * An I/O context of the task's pool spec without the per-request deadline (the session's withIoctxLong when it
 * has one), for `fn` with the raw pointer.
 */
function longIo<T>(session: TaskSession, spec: string, fn: (io: Pointer) => Promise<T>): Promise<T> {
  const open = session.withIoctxLong ? session.withIoctxLong.bind(session) : session.withIoctx.bind(session);
  return open(spec, (io) => io.use('task_io', fn));
}

/**
 * Read every object-sized block of the clone that still maps to its parent (up to the overlap) and write back
 * the blocks that are not all zeros, so that the clone holds its data itself. Progress 0–0.8; stops when the
 * task is cancelled.
 */
async function copyThroughParent(img: Pointer, target: string, ctx: TaskContext<Record<string, unknown>>): Promise<void> {
  const overlap: [number | bigint] = [0];
  const rc = await native<number>('rbd_get_overlap', rbdClone.getOverlap, img, overlap);
  if (rc === -E.ENOENT) return; // no parent (any more)
  check('image', 'rbd_get_overlap', rc, target);
  const size: [number | bigint] = [0];
  await nativeChecked('image', 'rbd_get_size', target, rbdImage.getSize, img, size);
  const end = Math.min(Number(overlap[0]), Number(size[0]));
  const step = 4 * 1024 * 1024;
  const buf = Buffer.alloc(step);
  for (let ofs = 0; ofs < end; ofs += step) {
    if (ctx.signal.aborted) throw new CephError('image', 'rbd_read', -E.ECANCELED, target);
    const len = Math.min(step, end - ofs);
    const got = Number(await nativeLong('image', 'rbd_read', target, rbdImage.read, img, ofs, len, buf));
    const block = buf.subarray(0, got);
    if (!isZero(block)) {
      const put = Number(await nativeLong('image', 'rbd_write', target, rbdImage.write, img, ofs, got, block));
      if (put !== got) throw new CephError('image', 'rbd_write', -E.EIO, `${target}: short write at ${ofs}`);
    }
    ctx.progress(0.8 * Math.min(1, (ofs + len) / end));
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8) {
    if (i + 8 <= b.length ? b.readBigUInt64LE(i) !== 0n : b.subarray(i).some((x) => x !== 0)) return false;
  }
  return true;
}

/** Both handlers work through the run's own client (ctx.session). */
export function registerSnapshotTasks(tasks: TaskEngine): void {
  tasks.register<Record<string, unknown>>({
    action: ROLLBACK_ACTION,
    interrupted: 'resume',
    run: async (ctx: TaskContext<Record<string, unknown>>) => {
      const { pool, namespace, image, snapshot } = ctx.task.target;
      const target = `${poolSpec(pool, namespace)}/${image}`;
      if (!snapshot) throw new TaskFailure('VALIDATION_FAILED', 'a rollback task needs target.snapshot');
      checkSnapshotName('rbd_snap_rollback_with_progress', snapshot, target);
      return holdTaskImage(ctx.session, ctx.task, () => longIo(ctx.session, poolSpec(pool, namespace), async (io) => {
        const watchers = (await withImage(io, target, image, true, (img) => listWatchers(img, target))).map((w) => w.address);
        if (watchers.length > 0) {
          throw new TaskFailure('IMAGE_IN_USE', `Image ${target} is open by ${watchers.length} client(s) (${watchers.join(', ')}); `
            + 'rolling back under them would corrupt what they see. Unmap or close it first.');
        }
        await withImage(io, target, image, false, async (img) => {
          try {
            await ctx.withProgress((cb) => nativeLong('snapshot', 'rbd_snap_rollback_with_progress', `${target}@${snapshot}`,
              rbdSnapshot.rollbackWithProgress, img, snapshot, cb, null));
          } catch (e) {
            if (e instanceof CephError && e.code === 'EROFS') {
              throw new TaskFailure('IMAGE_IN_USE', `Another client holds the exclusive lock of ${target}.`, e.code);
            }
            throw e;
          }
        });
        return { snapshot };
      }));
    },
  });
  tasks.register<Record<string, unknown>>({
    action: FLATTEN_ACTION,
    interrupted: 'resume',
    run: async (ctx: TaskContext<Record<string, unknown>>) => {
      const { pool, namespace, image } = ctx.task.target;
      const target = `${poolSpec(pool, namespace)}/${image}`;
      return holdTaskImage(ctx.session, ctx.task, () => longIo(ctx.session, poolSpec(pool, namespace), async (io) => withImage(io, target, image, false, async (img) => {
        // A flatten after a flatten whose process was killed mid-way loses data: librbd's copy-up skips some
        // objects, and once the parent is detached those blocks read as zeros. Seen with the rbd CLI's flatten
        // too (snapshots-kill.test.ts; Ceph 16.2.15), while reads through the parent were still right. So a
        // resumed flatten first copies the parent's data into the clone itself, object by object, with plain
        // reads (which read through to the parent correctly) and writes; librbd's flatten then only detaches.
        let from = 0;
        if (ctx.attempt > 1) {
          await copyThroughParent(img, target, ctx);
          from = 0.8;
        }
        try {
          await ctx.withProgress((cb) => nativeLong('image', 'rbd_flatten_with_progress', target, rbdClone.flattenWithProgress, img, cb, null), { from, to: 1 });
        } catch (e) {
          // no parent (any more): an earlier run of this task, or another client, finished it
          if (e instanceof CephError && e.code === 'EINVAL') return { flattened: true, alreadyFlat: true, copiedThroughParent: from > 0 };
          throw e;
        }
        return { flattened: true, copiedThroughParent: from > 0 };
      })));
    },
  });
}
