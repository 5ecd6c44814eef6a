// The trash's tasks: image.remove (a DELETE's removal, recorded before its move: trash.ts moveImage),
// trash.remove (DELETE /trash/{id}) and trash.purge (also run by the purge schedules), and removeEntry, the one
// removal of an entry they and the namespace purge share.
import { E } from '../native/errno.js';
import { RBD_TRASH_IMAGE_SOURCE, rbdTrash } from '../native/rbd-trash.js';
import { nativeLong } from './call.js';
import { CephError, isCephError, TaskFailure } from './errors.js';
import { holdForTask, trashKey } from './image-lock.js';
import { directoryName } from './rbd-objects.js';
import { finishInterruptedMove, retryAfterInterruptedMove } from './trash-moves.js';
import { listTrash, TRASH_ID_PATTERN } from './trash.js';
import type { TaskEngine } from './tasks/engine.js';
import type { TaskContext } from './tasks/types.js';
import { poolSpec } from './spec.js';
import { toNumber } from '../native/memory.js';

interface RemoveParams { id: string; force?: boolean }

/** How long an image.remove task whose image is still listed waits for a live move into the trash (see runRemove). */
const LIVE_MOVE_WAIT_MS = 10_000;


/** The handlers of image.remove, trash.remove and trash.purge (tasks/handlers.ts registers them). */
export function registerTrashTasks(tasks: TaskEngine): void {
  const remove = (action: string) => ({ action, run: runRemove, interrupted: 'resume' as const });
  tasks.register<RemoveParams>(remove('image.remove'));
  tasks.register<RemoveParams>(remove('trash.remove'));
  tasks.register<Record<string, never>>({ action: 'trash.purge', run: runTrashPurge, interrupted: 'resume' });
}

async function runRemove(ctx: TaskContext<RemoveParams>): Promise<Record<string, unknown>> {
  const { id, force } = ctx.params;
  const { pool, namespace } = ctx.task.target;
  const spec = poolSpec(pool, namespace);
  const target = `${spec} trash ${id}`;
  if (!TRASH_ID_PATTERN.test(id)) throw new TaskFailure('TRASH_ENTRY_NOT_FOUND', `${target}: not an image id`);
  const remove = () => holdForTask(ctx.session, ctx.task.id, [trashKey(spec, id)], () => removeEntry(ctx, target, id, force ?? false));
  const listedAs = () => ctx.session.withIoctx(spec, (io) => directoryName(io, spec, id)).catch(() => undefined);
  let waited = false;
  for (const started = Date.now(); ;) {
    try {
      await remove();
      return { id, removed: true };
    } catch (e) {
      if (!isCephError(e, 'ENOENT')) throw removeFailure(e, target);
      // the image is still listed under its id: its DELETE recorded this task and then died before the move,
      // or is still moving it (a slow cluster: given LIVE_MOVE_WAIT_MS), or it was restored meanwhile —
      // nothing was removed, and nothing may be
      const listed = await listedAs();
      if (listed !== undefined) {
        if (Date.now() - started < LIVE_MOVE_WAIT_MS && !ctx.signal.aborted) {
          await new Promise((r) => setTimeout(r, 1000));
          waited = true;
          continue;
        }
        throw new TaskFailure('TRASH_ENTRY_NOT_FOUND', `${target}: the image is not in the trash (it is listed as ${spec}/${listed}: never moved, or restored); nothing was removed.`, e.code);
      }
      // a resumed run whose entry is gone: the previous runner finished the removal before it died (or, after
      // a wait, the image was moved and removed by another request meanwhile)
      if (ctx.attempt > 1 || waited) return { id, removed: true, resumed: true };
      throw removeFailure(e, target);
    }
  }
}

/** Remove every entry whose deferment ended (trash.purge, and the purge schedules: schedules/tasks.ts). */
export async function runTrashPurge(ctx: TaskContext<Record<string, never>>): Promise<{ removed: number; removedIds: string[]; skipped: { id: string; name: string; code: string; detail: string }[] }> {
  const { pool, namespace } = ctx.task.target;
  const spec = poolSpec(pool, namespace);
  const nowSec = Math.floor(Date.now() / 1000);
  const all = await ctx.io((p) => listTrash(p, spec));
  const due = all.filter((e) => (e.source === RBD_TRASH_IMAGE_SOURCE.USER || e.source === RBD_TRASH_IMAGE_SOURCE.USER_PARENT)
    && toNumber(e.deferment_end_time) <= nowSec && e.id);
  const removed: string[] = [];
  const skipped: { id: string; name: string; code: string; detail: string }[] = [];
  for (let i = 0; i < due.length; i++) {
    if (ctx.signal.aborted) throw new CephError('trashEntry', 'trash_purge', -E.ECANCELED, spec);
    const e = due[i]!;
    const target = `${spec} trash ${e.id}`;
    try {
      await holdForTask(ctx.session, ctx.task.id, [trashKey(spec, e.id!)], () => removeEntry(ctx, target, e.id!, false, { from: i / due.length, to: (i + 1) / due.length }));
      removed.push(e.id!);
    } catch (err) {
      if (isCephError(err, 'ECANCELED') || ctx.signal.aborted) throw err;
      if (isCephError(err, 'ENOENT')) continue; // removed by someone else meanwhile
      const f = removeFailure(err, target);
      if (!(f instanceof TaskFailure)) throw err;
      skipped.push({ id: e.id!, name: e.name ?? '', code: f.code, detail: f.detail });
    }
    ctx.progress((i + 1) / due.length);
  }
  return { removed: removed.length, removedIds: removed.slice(0, 1000), skipped };
}

/**
 * rbd_trash_remove_with_progress. On a resumed run (the previous runner died), EBUSY is most likely the dead
 * runner's own watch on the image, which the OSDs drop after osd_client_watch_timeout (30 s): retried for up to
 * 60 s before it counts as "in use".
 */
export async function removeEntry(ctx: TaskContext<unknown>, target: string, id: string, force: boolean,
  range?: { from: number; to: number }): Promise<void> {
  const started = Date.now();
  const spec = poolSpec(ctx.task.target.pool, ctx.task.target.namespace);
  for (;;) {
    try {
      await retryAfterInterruptedMove(
        () => ctx.io((p) => ctx.withProgress((cb) =>
          nativeLong('trashEntry', 'rbd_trash_remove_with_progress', target, rbdTrash.removeWithProgress, p, id, force, cb, null), range)),
        async () => !ctx.signal.aborted && await ctx.session.withIoctx(spec, (io) => finishInterruptedMove(io, spec, id)));
      return;
    } catch (e) {
      if (!isCephError(e, 'EBUSY') || ctx.attempt < 2 || ctx.signal.aborted || Date.now() - started > 60_000) throw e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** librbd's refusals of a trash removal, as stable task error codes. */
function removeFailure(e: unknown, target: string): unknown {
  if (!(e instanceof CephError) || e.kind !== 'ceph') return e;
  switch (e.code) {
    case 'ENOENT': return new TaskFailure('TRASH_ENTRY_NOT_FOUND', `${target} does not exist.`, e.code);
    case 'EPERM': return new TaskFailure('TRASH_DEFERRED', `${target} is deferred; remove it with force.`, e.code);
    case 'ENOTEMPTY': return new TaskFailure('IMAGE_HAS_SNAPSHOTS', `${target} has snapshots; restore it and delete them first.`, e.code);
    case 'EBUSY': return new TaskFailure('IMAGE_IN_USE', `${target} is still open by a client (or being restored).`, e.code);
    case 'EUCLEAN': return new TaskFailure('OPERATION_IN_PROGRESS', `${target} is still being moved to the trash.`, e.code);
    default: return e;
  }
}
