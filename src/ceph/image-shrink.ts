// The `image.shrink` task: rbd_resize2 with allow_shrink, real progress, cancellable. PATCH starts it when a
// shrink is asked for (the management routes own PATCH): ceph.tasks.submit('image.shrink',
// {pool, namespace, image, imageId}, {size}). Growing stays synchronous (it is instant).
// Interrupted → resume: resizing to the same size again is idempotent (a shrink cut short has discarded
// part of the data beyond the new size, which the caller asked to discard anyway).
import { E } from '../native/errno.js';
import { rbdImage } from '../native/rbd-image.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { poolSpec } from './connection.js';
import { holdTaskImage } from './image-lock.js';
import { CephError } from './errors.js';
import type { TaskEngine } from './tasks/engine.js';
import { TaskFailure, type TaskContext } from './tasks/types.js';

export interface ShrinkParams { size: number }

export function registerImageShrink(tasks: TaskEngine): void {
  tasks.register<ShrinkParams>({
    action: 'image.shrink',
    interrupted: 'resume',
    run: async (ctx: TaskContext<ShrinkParams>) => {
      const { pool, namespace, image, imageId } = ctx.task.target;
      const size = ctx.params.size;
      const target = `${poolSpec(pool, namespace)}/${image}`;
      if (!Number.isSafeInteger(size) || size < 0) throw new TaskFailure('VALIDATION_FAILED', `size must be whole bytes, got ${String(size)}`);
      return holdTaskImage(ctx.session, ctx.task, () => ctx.io(async (p) => {
        const out: [Pointer | null] = [null];
        try {
          // by id when known: a rename (or a new image under the old name) does not redirect the shrink
          if (imageId) await nativeChecked('rbd_open_by_id', target, rbdImage.openById, p, imageId, out, null);
          else await nativeChecked('rbd_open', target, rbdImage.open, p, image, out, null);
        } catch (e) {
          if (e instanceof CephError && e.code === 'ENOENT') throw new TaskFailure('IMAGE_NOT_FOUND', `Image ${target} does not exist.`, e.code);
          throw e;
        }
        const img = out[0]!;
        try {
          const before: [number | bigint] = [0];
          await nativeChecked('rbd_get_size', target, rbdImage.getSize, img, before);
          if (Number(before[0]) < size) {
            throw new TaskFailure('VALIDATION_FAILED', `${target} is ${Number(before[0])} bytes, smaller than ${size}: not a shrink.`);
          }
          if (Number(before[0]) !== size) {
            await ctx.withProgress((cb) => nativeLong('rbd_resize2', target, rbdImage.resize2, img, size, true, cb, null));
          }
          return { previousSize: Number(before[0]), size };
        } finally {
          const rc = await native<number>('rbd_close', rbdImage.close, img);
          if (rc < 0 && rc !== -E.ENOENT) { /* the handle is gone either way */ }
        }
      }));
    },
  });
}
