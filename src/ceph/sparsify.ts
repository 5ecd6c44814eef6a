// The `image.sparsify` task: rbd_sparsify_with_progress (deallocate the runs of zeros of at least `sparseSize`
// bytes, aligned, and the objects that hold only zeros), with real progress (never a NULL callback) and cancel.
// Target {pool, namespace, image, imageId}, params {sparseSize}.
// Refused (IMAGE_IN_USE) while another client has the image open: librbd would hand the work to the client that
// holds the exclusive lock, and a client that writes meanwhile races the zero detection (ceph-csi refuses it the
// same way). The route checks the watchers before it makes the task; the handler checks them again, holding the
// image (its mutation lock), right before it opens the image read-write.
// The result reports the disk usage before and after (usage.ts, as `rbd du` counts: whole objects) and the bytes
// reclaimed. Interrupted → resume: sparsifying again is idempotent; "before" is then what the resumed run saw.
// A run killed mid-way can leave a few object-map entries of objects it removed in librbd's "pending" state:
// the objects are gone and read as zeros, but fast-diff (`rbd du`, usage) still counts them (2–3 of 512 objects
// in sparsify.test.ts). Neither a second sparsify nor `rbd object-map rebuild`/`check` clears them (librbd
// 16.2.15, seen with the rbd CLI too); a write or discard of those blocks does. The result's `after` says so.
import { rbdImage } from '../native/rbd-image.js';
import { nativeLong } from './call.js';
import { TaskFailure } from './errors.js';
import { listWatchers } from './image-info.js';
import { readOnlyLockOwners } from './image-locks.js';
import { holdTaskImage } from './image-lock.js';
import { withImageIn } from './open-image.js';
import { poolSpec } from './spec.js';
import type { TaskEngine } from './tasks/engine.js';
import { imageMissing, type TaskContext } from './tasks/types.js';
import { ImageUsageReader, type ImageUsage } from './usage.js';

export const SPARSIFY_ACTION = 'image.sparsify';

export interface SparsifyParams { sparseSize: number }

/** How long each usage walk (before, after) may take; past it the figure is left out (null), the task goes on. */
const USAGE_TIMEOUT_MS = 60_000;

const usageFigures = (u: ImageUsage | null) => (u ? { usedBytes: u.usedBytes, totalUsedBytes: u.totalUsedBytes, method: u.method } : null);

export function registerSparsify(tasks: TaskEngine): void {
  tasks.register<SparsifyParams>({
    action: SPARSIFY_ACTION,
    interrupted: 'resume',
    run: async (ctx: TaskContext<SparsifyParams>) => {
      const { pool, namespace, image, imageId } = ctx.task.target;
      const spec = poolSpec(pool, namespace);
      const target = `${spec}/${image}`;
      const { sparseSize } = ctx.params;
      if (!Number.isSafeInteger(sparseSize) || sparseSize < 4096 || (sparseSize & (sparseSize - 1)) !== 0) {
        throw new TaskFailure('VALIDATION_FAILED', `sparseSize must be a power of two of at least 4096 bytes, got ${String(sparseSize)}`);
      }
      const usage = new ImageUsageReader(ctx.session);
      const measure = () => usage.get(spec, image, { timeoutMs: USAGE_TIMEOUT_MS }).catch(() => null);
      const byId = imageId || undefined;
      return holdTaskImage(ctx.session, ctx.task, () => ctx.io(async (io) => {
        // a read-only handle adds no watcher: what it lists are other clients
        const { watchers, owners } = await withImageIn(io, target, image, { readOnly: true, byId }, async (img) => {
          const w = await listWatchers(img, target);
          return { watchers: w, owners: w.length > 0 ? await readOnlyLockOwners(img, target) : [] };
        }, imageMissing(target));
        if (watchers.length > 0) {
          throw new TaskFailure('IMAGE_IN_USE', `Image ${target} is open by ${watchers.length} client(s) (${watchers.map((w) => w.address).join(', ')})`
            + `${owners.length ? `; the exclusive lock is held by ${owners.join(', ')}` : ''}: sparsifying under a writer races its writes. `
            + 'Unmap or close it first.');
        }
        const before = await measure();
        ctx.progress(0.05);
        await withImageIn(io, target, image, { byId }, (img) =>
          ctx.withProgress((cb) => nativeLong('image', 'rbd_sparsify_with_progress', target, rbdImage.sparsifyWithProgress, img, sparseSize, cb, null),
            { from: 0.05, to: 0.95 }), imageMissing(target));
        const after = await measure();
        return {
          sparseSize,
          before: usageFigures(before),
          after: usageFigures(after),
          reclaimedBytes: before && after ? Math.max(0, before.totalUsedBytes - after.totalUsedBytes) : null,
        };
      }));
    },
  });
}
