// /api/v1/pools/{pool}/namespaces: list, create (idempotent PUT), delete. Everything else about a namespace
// (images, snapshots, trash, tasks) is served under /pools/{pool}/namespaces/{namespace}/… by registerScoped.
import { previewNamespaceDelete } from '../../ceph/dry-run.js';
import { dryRunQuery, dryRunSchema } from '../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError } from '../../ceph/errors.js';
import { Namespaces } from '../../ceph/namespaces.js';
import { startPurge } from '../../ceph/namespace-purge.js';
import { replyTask } from '../task-reply.js';
import { taskSchema } from '../schemas/tasks.js';
import { poolRbdStats } from '../../ceph/pool-stats.js';
import { allows } from '../auth.js';
import { ApiError } from '../errors.js';
import { scopePath } from '../paths.js';
import { poolParams, problems } from '../schemas/common.js';
import {
  namespaceCreateParams, namespaceDeleteParams, namespaceDeleteQuery, namespaceListQuery, namespaceListSchema, namespaceSchema,
} from '../schemas/namespaces.js';

export const namespaceRoutes: FastifyPluginAsyncZod = async (app) => {
  const namespaces = new Namespaces(app.ceph);

  app.get('/pools/:pool/namespaces', {
    schema: {
      tags: ['namespaces'], summary: 'List the RBD namespaces of a pool', operationId: 'listNamespaces',
      description: 'A token limited to some namespaces of the pool sees only those.',
      params: poolParams,
      querystring: namespaceListQuery,
      response: { 200: namespaceListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: { poolAccess: 'any' },
  }, async (req) => {
    const { pool } = req.params;
    const { principal } = req;
    const names = (await namespaces.list(pool)).filter((n) => !principal || allows(principal, pool, n));
    if (req.query.stats !== 'rbd') return { items: names.map((name) => ({ name, pool })) };
    // a namespace removed since the listing is left out
    const items = await Promise.all(names.map((name) => poolRbdStats(app.ceph, `${pool}/${name}`)
      .then((rbd) => ({ name, pool, rbd }), (e: unknown) => { if (isCephError(e, 'ENOENT')) return undefined; throw e; })));
    return { items: items.filter((i) => i !== undefined) };
  });

  app.get('/pools/:pool/namespaces/:namespace', {
    schema: {
      tags: ['namespaces'], summary: 'A namespace and its RBD statistics', operationId: 'getNamespace',
      params: namespaceDeleteParams,
      response: { 200: namespaceSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const { pool, namespace } = req.params;
    // librbd's statistics of a namespace that does not exist are zeros, not an error
    if (!(await namespaces.exists(pool, namespace))) throw new ApiError('NAMESPACE_NOT_FOUND', `Namespace ${pool}/${namespace} does not exist.`);
    return { name: namespace, pool, rbd: await poolRbdStats(app.ceph, `${pool}/${namespace}`) };
  });

  app.put('/pools/:pool/namespaces/:namespace', {
    schema: {
      tags: ['namespaces'], summary: 'Create a namespace (idempotent)', operationId: 'putNamespace',
      description: '201 when created, 200 when it already exists. Its images are then served under '
        + '`/pools/{pool}/namespaces/{namespace}/images`.',
      params: namespaceCreateParams,
      response: { 200: namespaceSchema, 201: namespaceSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const { pool, namespace } = req.params;
    const created = await namespaces.create(pool, namespace);
    return reply.code(created ? 201 : 200).header('location', scopePath(`${pool}/${namespace}`)).send({ name: namespace, pool });
  });

  app.delete('/pools/:pool/namespaces/:namespace', {
    schema: {
      tags: ['namespaces'], summary: 'Delete a namespace (with force=true: with everything in it, as a task)', operationId: 'deleteNamespace',
      description: 'Without `force`: deletes an empty namespace (204); refused with 409 NAMESPACE_NOT_EMPTY while it holds images, '
        + 'in its trash too. With `force=true&confirm={namespace}`: 202 with the `namespace.purge` task (`Location`), which removes '
        + 'its clones (deepest first), images with their snapshots (protected ones unprotected once their clones are gone), '
        + 'trash entries, then the namespace; progress per image; resumed by another replica if its runner dies. Refused up '
        + 'front with 409 NAMESPACE_HAS_FOREIGN_CLONES (naming them) when clones in other namespaces or pools have their '
        + 'parent here — nothing is flattened or removed — and 409 IMAGE_IN_USE when an image is open by a client. '
        + '`force=true` without the right `confirm`: 400 CONFIRMATION_REQUIRED. `dryRun=true`: 200 with what would be removed '
        + '(every image, snapshot and trash entry in it; no confirm needed), or, without force, the 409 the real call would answer.',
      params: namespaceDeleteParams,
      querystring: namespaceDeleteQuery.extend({ dryRun: dryRunQuery }),
      response: { 200: dryRunSchema, 202: taskSchema, 204: z.null().describe('deleted'), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const { pool, namespace } = req.params;
    if (req.query.dryRun) {
      const preview = await previewNamespaceDelete(app.ceph, pool, namespace);
      if (!req.query.force && (preview.images.length > 0 || preview.trashEntries.length > 0)) {
        throw new ApiError('NAMESPACE_NOT_EMPTY', `Namespace ${pool}/${namespace} still holds ${preview.images.length} image(s) and `
          + `${preview.trashEntries.length} trashed image(s): the real call would be refused (dry run: nothing changed).`,
        { images: preview.images.length, trashImages: preview.trashEntries.length, preview });
      }
      return reply.code(200).send(preview);
    }
    if (req.query.force) {
      if (req.query.confirm !== namespace) {
        throw new ApiError('CONFIRMATION_REQUIRED', `Deleting namespace ${pool}/${namespace} with force=true destroys every image in it: `
          + `repeat its name as ?confirm=${encodeURIComponent(namespace)}.`, { field: 'confirm' });
      }
      try {
        return replyTask(reply, (await startPurge(app.ceph, app.ceph.tasks, pool, namespace)).task);
      } catch (e) {
        if (isCephError(e, 'ENOENT') && e.subject === 'namespace') {
          throw new ApiError('NAMESPACE_NOT_FOUND', `Namespace ${pool}/${namespace} does not exist.`, {}, e);
        }
        throw e;
      }
    }
    try {
      await namespaces.remove(pool, namespace);
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.subject === 'namespace') {
        throw new ApiError('NAMESPACE_NOT_FOUND', `Namespace ${pool}/${namespace} does not exist.`, {}, e);
      }
      if (isCephError(e, 'EBUSY', 'ENOTEMPTY')) {
        const usage = await namespaces.usage(pool, namespace).catch(() => undefined);
        throw new ApiError('NAMESPACE_NOT_EMPTY',
          `Namespace ${pool}/${namespace} still holds ${usage ? `${usage.images} image(s) and ${usage.trashImages} trashed image(s)` : 'images'}; `
          + 'delete them (and purge its trash) first.', usage ? { images: usage.images, trashImages: usage.trashImages } : {}, e);
      }
      throw e;
    }
    return reply.code(204).send(null);
  });
};
