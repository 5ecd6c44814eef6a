// PATCH …/images/{image}: rename, resize and feature changes in one request, holding the name (and a rename's
// new name). Everything is validated before anything is applied; the changes then run as resize → features →
// rename (the name last, so a failure before it leaves the image where the caller knows it), and the answer says
// what was done.
import { z } from 'zod';
import { previewShrink, type Preview } from '../../../ceph/dry-run.js';
import { dryRunQuery, dryRunSchema } from '../../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { imageKey } from '../../../ceph/image-lock.js';
import { provisioning } from '../../../ceph/provisioning/index.js';
import { specOf } from '../../paths.js';
import { imageParams, problems } from '../../schemas/common.js';
import { patchImageBody, patchedImageSchema, patchTaskSchema } from '../../schemas/image-patch.js';
import type { CephClient } from '../../../ceph/client.js';
import { FeatureChangeError, isCephError, isMissingInScope } from '../../../ceph/errors.js';
import { ImageFeatures, INLINE_REBUILD_MAX_OBJECTS, planFeatureChange, REBUILD_ACTION, type FeaturePlan } from '../../../ceph/image-features.js';
import { finishInterruptedRename, renameImage } from '../../../ceph/rename.js';
import { ApiError, invalidField } from '../../errors.js';
import { setSnapshotLimit } from '../../../ceph/snapshot-limit.js';
import type { Principal } from '../../auth.js';
import { toImage } from '../../image-view.js';
import { imagePath } from '../../paths.js';
import { formatSize } from '../../size.js';
import type { PatchAppliedOutput, PatchedImage, PatchImageInput, PatchTaskAnswer } from '../../schemas/image-patch.js';
import { splitPoolSpec } from '../../../ceph/spec.js';
import { taskPath, taskView } from '../../task-reply.js';

export type PatchOutcome =
  | { status: 200; location?: string | undefined; body: PatchedImage }
  /** a shrink of an image without object map runs as the image.shrink task */
  | { status: 202; location: string; body: PatchTaskAnswer }
  /** `dryRun`: validated, nothing applied */
  | { status: 'dryRun'; preview: Preview };

/** the most object numbers a shrink of an image with an object map cuts off inline (~0.4 s); more is a task */
export const INLINE_SHRINK_MAX_OBJECTS = 262_144;

export async function patchImage(ceph: CephClient, spec: string, image: string, body: PatchImageInput, principal: Principal | undefined,
  dryRun = false): Promise<PatchOutcome> {
  const { name, size, allowShrink, features, snapshotLimit } = body;
  const current = await ceph.images.stat(spec, image);

  // 1. validate every change
  const rename = name !== undefined && name !== image ? name : undefined;
  if (rename !== undefined) {
    const taken = await ceph.images.stat(spec, rename).then((i) => i, (e: unknown) => {
      if (isMissingInScope(e)) return undefined;
      throw e;
    });
    // the same image under both names: a rename whose process died mid-way (its retry, typically). Finish or
    // undo it, then carry on as if it had completed or never started
    const half = taken?.id === current.id && !dryRun ? await finishInterruptedRename(ceph, spec, image, rename, current.id) : undefined;
    if (half === 'renamed') return renamedBefore(await patchImage(ceph, spec, rename, { ...body, name: undefined }, principal), spec, image, rename);
    if (half === 'in-progress') {
      throw new ApiError('OPERATION_IN_PROGRESS', `Image ${spec}/${image} is being renamed by another request; retry.`);
    }
    if (taken && half !== 'not-renamed') throw new ApiError('IMAGE_EXISTS', `Image ${spec}/${rename} already exists; nothing was changed.`, { name: rename });
  }
  const resize = size !== undefined && size !== current.size ? size : undefined;
  if (resize !== undefined && resize < current.size && !allowShrink) {
    throw new ApiError('SHRINK_NOT_ALLOWED',
      `Shrinking ${spec}/${image} from ${formatSize(current.size)} to ${formatSize(resize)} discards data; send allowShrink: true to do it.`,
      { currentSize: current.size, requestedSize: resize });
  }
  const limit = snapshotLimit !== undefined && snapshotLimit !== (current.snapshotLimit ?? null) ? { to: snapshotLimit } : undefined;
  if (limit && limit.to !== null && limit.to < current.snapshotCount) {
    throw invalidField('body', 'snapshotLimit', `${limit.to} is below the ${current.snapshotCount} snapshot(s) the image has; nothing was changed`);
  }
  let plan: FeaturePlan = { enable: [], disable: [] };
  if (features !== undefined) {
    try {
      plan = planFeatureChange(current.featureBits, features);
    } catch (e) {
      if (e instanceof FeatureChangeError) {
        throw new ApiError('FEATURE_NOT_CHANGEABLE', `${e.reason}; nothing was changed.`,
          { feature: e.feature, currentFeatures: current.features });
      }
      throw e;
    }
  }

  // a shrink walks every object without an object map to tell which exist: long, so a task. With an object map
  // librbd still visits every object number it cuts off (measured: 100 TiB → 1 GiB took 42 s, ~1.6 µs an
  // object), so a shrink that cuts off more than INLINE_SHRINK_MAX_OBJECTS is a task too
  const objectMapAfter = features !== undefined ? features.includes('object-map') : current.features.includes('object-map');
  const cutOff = resize !== undefined && resize < current.size
    ? Math.ceil(current.size / current.objectSize) - Math.ceil(resize / current.objectSize) : 0;
  const shrinkTask = resize !== undefined && resize < current.size && ceph.tasks.hasHandler('image.shrink')
    && (!objectMapAfter || cutOff > INLINE_SHRINK_MAX_OBJECTS);

  if (dryRun) {
    const preview = await previewShrink(ceph, spec, image, resize ?? current.size);
    return { status: 'dryRun', preview: resize !== undefined && resize < current.size ? preview : { ...preview, operation: 'patchImage', allocatedBytes: 0 } };
  }

  // 2. apply
  const applied: PatchAppliedOutput = { featuresEnabled: [], featuresDisabled: [], objectMapRebuilt: false };
  let rebuildTask = false;
  if (resize !== undefined && !shrinkTask) {
    await ceph.images.resize(spec, image, resize, allowShrink);
    applied.resized = { from: current.size, to: resize };
  }
  if (plan.enable.length > 0 || plan.disable.length > 0) {
    // an object map switched on is rebuilt here for small images, by a task for big ones
    rebuildTask = current.objects > INLINE_REBUILD_MAX_OBJECTS && ceph.tasks.hasHandler(REBUILD_ACTION);
    const done = await new ImageFeatures(ceph).apply(spec, image, plan, !rebuildTask);
    applied.featuresEnabled = done.enabled;
    applied.featuresDisabled = done.disabled;
    applied.objectMapRebuilt = done.objectMapRebuilt;
  }
  if (limit) {
    try {
      await setSnapshotLimit(ceph, spec, image, limit.to);
    } catch (e) {
      // a snapshot made meanwhile
      if (isCephError(e, 'ERANGE')) throw invalidField('body', 'snapshotLimit', `${limit.to} is below the image's snapshot count`);
      throw e;
    }
    applied.snapshotLimit = { from: current.snapshotLimit ?? null, to: limit.to };
  }
  let finalName = image;
  if (rename !== undefined) {
    try {
      await renameImage(ceph, spec, image, rename);
    } catch (e) {
      if (isCephError(e, 'EEXIST')) {
        throw new ApiError('IMAGE_EXISTS', `Image ${spec}/${rename} was created meanwhile; the other changes were applied.`,
          { name: rename, applied }, e);
      }
      throw e;
    }
    finalName = rename;
    applied.renamed = { from: image, to: rename };
  }
  if (shrinkTask && resize !== undefined) {
    const { pool, namespace } = splitPoolSpec(spec);
    const task = await ceph.tasks.submit('image.shrink', { pool, namespace, image: finalName, imageId: current.id }, { size: resize });
    return { status: 202, location: taskPath(task.id), body: { ...taskView(task), applied } };
  }
  if (rebuildTask && applied.featuresEnabled.includes('object-map')) {
    const { pool, namespace } = splitPoolSpec(spec);
    const task = await ceph.tasks.submit(REBUILD_ACTION, { pool, namespace, image: finalName, imageId: current.id }, {});
    return { status: 202, location: taskPath(task.id), body: { ...taskView(task), applied } };
  }
  const after = await ceph.images.stat(spec, finalName);
  return { status: 200, location: rename !== undefined ? imagePath(spec, finalName) : undefined, body: { ...toImage(after, principal), applied } };
}

/** The answer to a rename finished by removing what an interrupted one left: the rest of the PATCH, renamed. */
function renamedBefore(out: PatchOutcome, spec: string, from: string, to: string): PatchOutcome {
  if (out.status === 'dryRun') return out;
  out.body.applied.renamed = { from, to };
  return out.status === 200 ? { ...out, location: imagePath(spec, to) } : out;
}

export function patchRoute(app: Parameters<FastifyPluginAsyncZod>[0]): void {
  const { writes } = provisioning(app.ceph);
  app.patch('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Rename, resize, change the features or the snapshot limit of an image', operationId: 'updateImage',
      description: 'Any of `name` (rename in the same pool and namespace; 409 IMAGE_EXISTS when taken; the answer\'s '
        + '`Location` is the new URL), `size` (growing is always allowed; shrinking discards data beyond the new size and '
        + 'needs `allowShrink: true`) and `features` (the complete set wanted; 400 FEATURE_NOT_CHANGEABLE for what librbd '
        + 'cannot change at runtime) and `snapshotLimit` (librbd\'s snapshot count limit; null removes it; a snapshot create '
        + 'beyond it is 409 SNAPSHOT_LIMIT_REACHED). Every change is validated before any is applied; `applied` says what was done. '
        + 'A shrink of an image without object-map (or one that cuts off more than 262144 objects) runs as the `image.shrink` task, and the rebuild of an object map switched '
        + 'on for an image of more than 8192 objects as `image.object-map-rebuild`: 202 with the task (the other changes done). '
        + 'A rename is not idempotent by name: retried after it succeeded (a lost answer), it is 404 IMAGE_NOT_FOUND for the '
        + 'old name — GET the new one. A rename whose process died between librbd\'s steps (the image reachable under both '
        + 'names) is finished by the next PATCH asking for it: 200 with the image under the new name. `dryRun=true`: every change '
        + 'validated, none applied; 200 with what a shrink would cut off (`bytes`, `allocatedBytes`: the data among them).',
      params: imageParams,
      querystring: z.object({ dryRun: dryRunQuery }),
      body: patchImageBody,
      response: { 200: z.union([patchedImageSchema, dryRunSchema]), 202: patchTaskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => writes.run(specOf(req.params), req.params.image, async () => {
    const out = await patchImage(app.ceph, specOf(req.params), req.params.image, req.body, req.principal, req.query.dryRun);
    if (out.status === 'dryRun') return reply.code(200).send(out.preview);
    if (out.status === 202) return reply.code(202).header('location', out.location).send(out.body);
    if (out.location) void reply.header('location', out.location);
    return reply.code(200).send(out.body);
  }, req.body.name !== undefined ? [imageKey(specOf(req.params), req.body.name)] : [])); // a rename holds the new name too
}
