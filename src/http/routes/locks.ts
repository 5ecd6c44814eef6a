// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/locks and …/images/{image}/sparsify: fixing a
// stuck image from the console (issue 24).
//   GET    …/locks                      the exclusive lock's owner(s), the advisory lockers and the watchers
//   DELETE …/locks?confirm={image}      (admin) fence the owners (blocklist) and break the locks — never this
//                                       service's own clients (409 LOCK_HELD_BY_SERVICE)
//   POST   …/sparsify {sparseSize?}     a task (202 + Location); 409 IMAGE_IN_USE while a client has it open
// The protocols are in src/ceph/image-locks.ts and src/ceph/sparsify.ts (docs/locks.md).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ImageLocks } from '../../ceph/image-locks.js';
import { SPARSIFY_ACTION } from '../../ceph/sparsify.js';
import { ApiError } from '../errors.js';
import { specOf } from '../paths.js';
import { imageInUse } from '../replies.js';
import { imageParams, problems } from '../schemas/common.js';
import { breakLocksQuery, breakLocksSchema, imageLocksSchema, SPARSE_SIZE_DEFAULT, sparsifyBody } from '../schemas/locks.js';
import { taskSchema } from '../schemas/tasks.js';
import { replyTask } from '../task-reply.js';
import { invalidField } from '../validation.js';

export const lockRoutes: FastifyPluginAsyncZod = async (app) => {
  const locks = new ImageLocks(app.ceph);

  app.get('/images/:image/locks', {
    schema: {
      tags: ['images'], summary: 'The locks of an image: exclusive-lock owners, lockers, watchers', operationId: 'getImageLocks',
      description: 'The exclusive lock\'s owner(s) (the client that writes; librbd names it by its client address, matched '
        + 'to a watcher for its `client.<id>`), the lock entries on the image header (`rbd lock ls`: librbd\'s own entry '
        + 'of the exclusive lock, `managed`, and advisory locks) and the clients that have the image open. `service: true` '
        + 'marks this service\'s own clients. An owner without a watcher is a client that died holding the lock.',
      params: imageParams,
      response: { 200: imageLocksSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => locks.get(specOf(req.params), req.params.image));

  app.delete('/images/:image/locks', {
    schema: {
      tags: ['images'], summary: 'Fence the lock owner and break the locks (admin)', operationId: 'breakImageLocks',
      description: 'Blocklists (`ceph osd blocklist add`, the cluster\'s default expiry) the client address of every lock '
        + 'owner and advisory locker, waits until the cluster map that fences them is current, then breaks the exclusive '
        + 'lock (`rbd_lock_break`) and the advisory locks. A fenced client can no longer write to any image — it must '
        + 'reconnect (a new address). Needs `?confirm=<image name>` (400 CONFIRMATION_REQUIRED) and the admin scope. '
        + 'Refused with 409 LOCK_HELD_BY_SERVICE when a lock is held by this service\'s own client (one of its tasks), '
        + 'and 409 LOCK_OWNER_CHANGED when another client took the lock meanwhile. An image without locks answers 200 '
        + 'with nothing broken.',
      params: imageParams,
      querystring: breakLocksQuery,
      response: { 200: breakLocksSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    if (req.query.confirm !== image) {
      throw new ApiError('CONFIRMATION_REQUIRED', `Breaking the locks of ${spec}/${image} fences (blocklists) their owners' clients `
        + `everywhere; repeat with ?confirm=${encodeURIComponent(image)}.`);
    }
    return locks.break(spec, image);
  });

  app.post('/images/:image/sparsify', {
    schema: {
      tags: ['images'], summary: 'Reclaim the space of zeroed blocks (a task)', operationId: 'sparsifyImage',
      description: 'Deallocates the runs of zeros of at least `sparseSize` bytes (aligned) and the objects that hold only '
        + 'zeros (`rbd sparsify`). Refused with 409 IMAGE_IN_USE while a client has the image open (checked now and again '
        + 'when the task starts). Answers 202 with the task (`Location: /api/v1/tasks/{id}`): progress, cancel, and a '
        + 'result with the usage before and after (`rbd du`, whole objects) and `reclaimedBytes`.',
      params: imageParams,
      body: sparsifyBody.nullable().optional(),
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const sparseSize = req.body?.sparseSize ?? SPARSE_SIZE_DEFAULT;
    const info = await app.ceph.images.stat(spec, image);
    if (sparseSize > info.objectSize) {
      throw invalidField('body', 'sparseSize', `${sparseSize} is larger than the image's object size (${info.objectSize} bytes)`);
    }
    const watchers = info.watchers ?? [];
    if (watchers.length > 0) {
      throw imageInUse(spec, image, watchers, 'before sparsifying', undefined, await locks.owners(spec, image).catch(() => []));
    }
    const task = await app.ceph.tasks.submit(SPARSIFY_ACTION,
      { pool: req.params.pool, namespace: req.params.namespace ?? '', image, imageId: info.id }, { sparseSize });
    return replyTask(reply, task);
  });
};
