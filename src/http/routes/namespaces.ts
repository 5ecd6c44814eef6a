// /api/v1/pools/{pool}/namespaces: list, create (idempotent PUT), delete. Everything else about a namespace
// (images, snapshots, trash, tasks) is served under /pools/{pool}/namespaces/{namespace}/… by registerScoped.
import { previewNamespaceDelete } from '../../ceph/dry-run.js';
import { dryRunQuery, dryRunSchema } from '../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError } from '../../ceph/errors.js';
import { Namespaces } from '../../ceph/namespaces.js';
import { poolRbdStats } from '../../ceph/pool-stats.js';
import { allows } from '../auth.js';
import { ApiError } from '../errors.js';
import { scopePath } from '../paths.js';
import { poolParams, problems } from '../schemas/common.js';
import {
  namespaceCreateParams, namespaceDeleteParams, namespaceListQuery, namespaceListSchema, namespaceSchema,
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
      tags: ['namespaces'], summary: 'Delete an empty namespace', operationId: 'deleteNamespace',
      description: 'Refused with 409 NAMESPACE_NOT_EMPTY while the namespace holds images, in its trash too. `dryRun=true`: 200 with '
        + 'what would be removed, or the same 409 (with the preview: every image, snapshot and trash entry in it).',
      params: namespaceDeleteParams,
      querystring: z.object({ dryRun: dryRunQuery }),
      response: { 204: z.null().describe('deleted'), 200: dryRunSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const { pool, namespace } = req.params;
    if (req.query.dryRun) {
      const preview = await previewNamespaceDelete(app.ceph, pool, namespace);
      if (preview.images.length > 0 || preview.trashEntries.length > 0) {
        throw new ApiError('NAMESPACE_NOT_EMPTY', `Namespace ${pool}/${namespace} still holds ${preview.images.length} image(s) and `
          + `${preview.trashEntries.length} trashed image(s): the real call would be refused (dry run: nothing changed).`,
        { images: preview.images.length, trashImages: preview.trashEntries.length, preview });
      }
      return reply.code(200).send(preview);
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
