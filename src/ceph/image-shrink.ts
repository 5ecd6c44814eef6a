// The `image.shrink` task: rbd_resize2 with allow_shrink, real progress, cancellable. PATCH starts it when a
// shrink is asked for (the management routes own PATCH): ceph.tasks.submit('image.shrink',
// {pool, namespace, image, imageId}, {size}). Growing stays synchronous (it is instant).
// Interrupted → resume: resizing to the same size again is idempotent (a shrink cut short has discarded
// part of the data beyond the new size, which the caller asked to discard anyway).
import { rbdImage } from '../native/rbd-image.js';
import { nativeChecked, nativeLong } from './call.js';
import { poolSpec } from './spec.js';
import { holdTaskImage } from './image-lock.js';
import { withImageIn } from './open-image.js';
import type { TaskEngine } from './tasks/engine.js';
import { imageMissing, type TaskContext } from './tasks/types.js';
import { TaskFailure } from './errors.js';

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
      // by id when known: a rename (or a new image under the old name) does not redirect the shrink
      return holdTaskImage(ctx.session, ctx.task, () => ctx.io((p) => withImageIn(p, target, image, { byId: imageId || undefined }, async (img) => {
        const before: [number | bigint] = [0];
        await nativeChecked('image', 'rbd_get_size', target, rbdImage.getSize, img, before);
        if (Number(before[0]) < size) {
          throw new TaskFailure('VALIDATION_FAILED', `${target} is ${Number(before[0])} bytes, smaller than ${size}: not a shrink.`);
        }
        if (Number(before[0]) !== size) {
          await ctx.withProgress((cb) => nativeLong('image', 'rbd_resize2', target, rbdImage.resize2, img, size, true, cb, null));
        }
        return { previousSize: Number(before[0]), size };
      }, imageMissing(target))));
    },
  });
}
