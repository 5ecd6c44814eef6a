// The long operations of snapshots and clones, as tasks of the task engine (tasks.ts):
//   snapshot.rollback  target {pool, namespace, image, snapshot}: rewrite the image as it was at the snapshot.
//                      Refused (IMAGE_IN_USE) while a client has the image open: librbd itself only refuses a
//                      client holding the exclusive lock, and rolling back under a mounted filesystem corrupts it.
//                      Interrupted → resume: rolling back to the same snapshot again gives the same image.
//   image.flatten      target {pool, namespace, image}: copy what the clone still reads from its parent, then
//                      detach it. Interrupted → resume: librbd copies only what is still missing; a flatten that
//                      finished before the runner died finds no parent (EINVAL) and counts as done.
// Both run on the long-call budget (nativeLong) with the task's progress callback (never NULL), in an I/O
// context without the per-request deadline.
import { E } from '../native/errno.js';
import { decodeWatchers, watcherArray } from '../native/memory.js';
import { rbd } from '../native/rbd.js';
import { rbdClones } from '../native/rbd-clones.js';
import { rbdSnapshots } from '../native/rbd-snapshots.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { checkSnapshotName } from './clones.js';
import { CephError, check } from './errors.js';
import { TaskFailure, type TaskContext, type TaskEngine, type TaskSession } from './tasks.js';

export const ROLLBACK_ACTION = 'snapshot.rollback';
export const FLATTEN_ACTION = 'image.flatten';

const specText = (pool: string, namespace: string): string => (namespace ? `${pool}/${namespace}` : pool);

/** Open `image` in the raw I/O context `io` for `fn`, always closing it; IMAGE_NOT_FOUND as a task failure. */
async function withImage<T>(io: Pointer, target: string, image: string, readOnly: boolean, fn: (img: Pointer) => Promise<T>): Promise<T> {
  const out: [Pointer | null] = [null];
  const op = readOnly ? 'rbd_open_read_only' : 'rbd_open';
  try {
    await nativeChecked(op, target, readOnly ? rbd.openReadOnly : rbd.open, io, image, out, null);
  } catch (e) {
    if (e instanceof CephError && e.code === 'ENOENT') throw new TaskFailure('IMAGE_NOT_FOUND', `Image ${target} does not exist.`, e.code);
    throw e;
  }
  try {
    return await fn(out[0]!);
  } finally {
    await native('rbd_close', rbd.close, out[0]!);
  }
}

/** Clients that have the image open (a read-only handle registers no watch of its own). */
export async function watcherAddresses(img: Pointer, target: string): Promise<string[]> {
  let capacity = 8;
  for (let attempt = 0; attempt < 8; attempt++) {
    const buf = watcherArray(capacity);
    const count: [number] = [capacity];
    const rc = await native<number>('rbd_watchers_list', rbd.watchersList, img, buf, count);
    if (rc === -E.ERANGE) { capacity = Math.max(count[0], capacity * 2); continue; }
    check('rbd_watchers_list', rc, target);
    try {
      return decodeWatchers(buf, count[0]).map((w) => w.addr);
    } finally {
      rbd.watchersListCleanup(buf, count[0]);
    }
  }
  throw new CephError('rbd_watchers_list', -E.ERANGE, target);
}

/**
 * An I/O context of the task's pool spec without the per-request deadline (the session's withIoctxLong when it
 * has one), for `fn` with the raw pointer.
 */
function longIo<T>(session: TaskSession, spec: string, fn: (io: Pointer) => Promise<T>): Promise<T> {
  const open = session.withIoctxLong ? session.withIoctxLong.bind(session) : session.withIoctx.bind(session);
  return open(spec, (io) => io.use('task_io', fn));
}

export function registerSnapshotTasks(tasks: TaskEngine, session: TaskSession): void {
  if (!tasks.hasHandler(ROLLBACK_ACTION)) {
    tasks.register<Record<string, unknown>>({
      action: ROLLBACK_ACTION,
      interrupted: 'resume',
      run: async (ctx: TaskContext<Record<string, unknown>>) => {
        const { pool, namespace, image, snapshot } = ctx.task.target;
        const target = `${specText(pool, namespace)}/${image}`;
        if (!snapshot) throw new TaskFailure('VALIDATION_FAILED', 'a rollback task needs target.snapshot');
        checkSnapshotName('rbd_snap_rollback_with_progress', snapshot, target);
        return longIo(session, specText(pool, namespace), async (io) => {
          const watchers = await withImage(io, target, image, true, (img) => watcherAddresses(img, target));
          if (watchers.length > 0) {
            throw new TaskFailure('IMAGE_IN_USE', `Image ${target} is open by ${watchers.length} client(s) (${watchers.join(', ')}); `
              + 'rolling back under them would corrupt what they see. Unmap or close it first.');
          }
          await withImage(io, target, image, false, async (img) => {
            try {
              await ctx.withProgress((cb) => nativeLong('rbd_snap_rollback_with_progress', `${target}@${snapshot}`,
                rbdSnapshots.rollbackWithProgress, img, snapshot, cb, null));
            } catch (e) {
              if (e instanceof CephError && e.code === 'EROFS') {
                throw new TaskFailure('IMAGE_IN_USE', `Another client holds the exclusive lock of ${target}.`, e.code);
              }
              throw e;
            }
          });
          return { snapshot };
        });
      },
    });
  }
  if (!tasks.hasHandler(FLATTEN_ACTION)) {
    tasks.register<Record<string, unknown>>({
      action: FLATTEN_ACTION,
      interrupted: 'resume',
      run: async (ctx: TaskContext<Record<string, unknown>>) => {
        const { pool, namespace, image } = ctx.task.target;
        const target = `${specText(pool, namespace)}/${image}`;
        return longIo(session, specText(pool, namespace), async (io) => withImage(io, target, image, false, async (img) => {
          try {
            await ctx.withProgress((cb) => nativeLong('rbd_flatten_with_progress', target, rbdClones.flattenWithProgress, img, cb, null));
          } catch (e) {
            // no parent (any more): an earlier run of this task, or another client, finished it
            if (e instanceof CephError && e.code === 'EINVAL') return { flattened: true, alreadyFlat: true };
            throw e;
          }
          return { flattened: true };
        }));
      },
    });
  }
}
