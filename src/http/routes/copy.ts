// POST /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/copy → 202 + the `image.copy` task.
// The destination appears under its name only when the copy is complete (src/ceph/copy.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { COPY_ACTION, temporaryName, type CopyParams } from '../../ceph/copy.js';
import { poolSpec, splitPoolSpec } from '../../ceph/spec.js';
import { isMissingInScope } from '../../ceph/errors.js';
import { featureBits } from '../../ceph/features.js';
import { allows } from '../auth.js';
import { ApiError } from '../errors.js';
import { imagePath, specOf } from '../paths.js';
import { imageParams, problems } from '../schemas/common.js';
import { copyImageBody } from '../schemas/copy.js';
import { taskSchema } from '../schemas/tasks.js';
import { replyTask } from '../task-reply.js';
import { invalidField } from '../validation.js';

export const copyRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;

  app.post('/images/:image/copy', {
    schema: {
      tags: ['images'], summary: 'Copy an image (or deep-copy it with its snapshots)', operationId: 'copyImage',
      description: '202 with the `image.copy` task. The copy is made under a hidden name and appears under '
        + '`destination.name` only when complete; a failed, cancelled or interrupted copy leaves nothing behind. '
        + '409 IMAGE_EXISTS when the destination exists. A clone is flattened into its copy.',
      params: imageParams,
      body: copyImageBody,
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const src = specOf(req.params);
    const { image } = req.params;
    const { destination, snapshots, features, objectSize, dataPool } = req.body;
    const source = splitPoolSpec(src);
    const pool = destination.pool ?? source.pool;
    const namespace = destination.namespace ?? (pool === source.pool ? source.namespace : '');
    const dst = poolSpec(pool, namespace);
    if (req.principal && !allows(req.principal, pool, namespace)) {
      throw new ApiError('FORBIDDEN', `This token may not use ${namespace ? `namespace "${namespace}" of ` : ''}pool "${pool}" (destination).`);
    }
    if (dataPool !== undefined) {
      if (req.principal && !allows(req.principal, dataPool, namespace)) {
        throw new ApiError('FORBIDDEN', `This token may not use pool "${dataPool}" (dataPool).`);
      }
      if (!(await ceph.pools.exists(dataPool))) throw invalidField('body', 'dataPool', `pool "${dataPool}" does not exist`);
    }
    const info = await ceph.images.stat(src, image); // 404 for the source
    // 409 before starting; 404 POOL_NOT_FOUND / NAMESPACE_NOT_FOUND for the destination's scope
    const taken = await ceph.images.stat(dst, destination.name).then(() => true, (e: unknown) => {
      if (isMissingInScope(e)) return false;
      throw e;
    });
    if (taken) {
      throw new ApiError('IMAGE_EXISTS', `Image ${dst}/${destination.name} already exists.`,
        { location: imagePath(dst, destination.name) });
    }
    const params: CopyParams = {
      destination: { pool, namespace, name: destination.name },
      temporary: temporaryName(),
      snapshots,
      ...(features !== undefined ? { features: featureBits(features).toString() } : {}),
      order: Math.log2(objectSize ?? info.objectSize),
      ...(objectSize !== undefined && objectSize !== info.objectSize ? { stripeToObject: true } : {}),
      ...(dataPool !== undefined ? { dataPool } : {}),
    };
    const task = await ceph.tasks.submit(COPY_ACTION,
      { pool: source.pool, namespace: source.namespace, image, imageId: info.id }, params as unknown as Record<string, unknown>);
    return replyTask(reply, task);
  });
};
