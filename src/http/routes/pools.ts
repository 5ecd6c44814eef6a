// /api/v1/pools
import { previewPoolDelete } from '../../ceph/dry-run.js';
import { dryRunSchema } from '../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PoolWithStats } from '../../ceph/pools.js';
import { allows, allowsPool, seesPool, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { poolParams, problems } from '../schemas/common.js';
import { createPoolBody, deletePoolQuery, poolSchema } from '../schemas/pools.js';
import { listPoolsQuery, poolListWithRbdSchema, poolWithRbdSchema } from '../schemas/pool-stats.js';
import type { CephClient } from '../../ceph/client.js';
import { poolRbdStats, type PoolRbdStats } from '../../ceph/pool-stats.js';
import { poolPath } from '../paths.js';

const toPool = (p: PoolWithStats) => ({ ...p, createdAt: p.createdAt });

/** RBD statistics of a pool's default namespace, for RBD pools the caller may see whole; undefined otherwise. */
async function rbdStatsFor(ceph: CephClient, p: PoolWithStats, principal: Principal | undefined): Promise<PoolRbdStats | undefined> {
  if (!p.applications.includes('rbd') || (principal && !allows(principal, p.name, ''))) return undefined;
  return poolRbdStats(ceph, p.name).catch(() => undefined); // a pool deleted or not initialised meanwhile
}

export const poolRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;

  app.get('/pools', {
    schema: {
      tags: ['pools'], summary: 'List pools', operationId: 'listPools',
      querystring: listPoolsQuery,
      response: { 200: poolListWithRbdSchema, ...problems(400, 401, 403, 503, 504) },
    },
  }, async (req) => {
    const { principal } = req;
    const pools = await ceph.pools.list();
    // a token limited to some pools (or namespaces of them) sees only those pools
    const visible = pools.filter((p) => !principal || seesPool(principal, p.name)).map(toPool);
    if (req.query.stats !== 'rbd') return { items: visible };
    return { items: await Promise.all(visible.map(async (p) => ({ ...p, rbd: await rbdStatsFor(ceph, p, principal) }))) };
  });

  app.post('/pools', {
    schema: {
      tags: ['pools'], summary: 'Create a pool (ready for RBD images)', operationId: 'createPool',
      body: createPoolBody,
      response: { 201: poolSchema, ...problems(400, 401, 403, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    if (req.principal && !allowsPool(req.principal, req.body.name)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${req.body.name}".`);
    }
    const pool = await ceph.pools.create(req.body.name, { pgNum: req.body.pgNum, application: req.body.application });
    return reply.code(201).header('location', poolPath(pool.name)).send(toPool(pool));
  });

  app.get('/pools/:pool', {
    schema: {
      tags: ['pools'], summary: 'Get a pool', operationId: 'getPool',
      description: 'RBD pools carry `rbd`: image and snapshot counts and provisioned bytes of the default namespace and its trash.',
      params: poolParams,
      response: { 200: poolWithRbdSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    // a token for namespaces of the pool may see the pool (not the default namespace's statistics)
    config: { poolAccess: 'any' },
  }, async (req) => {
    const pool = toPool(await ceph.pools.get(req.params.pool));
    return { ...pool, rbd: await rbdStatsFor(ceph, pool, req.principal) };
  });

  app.delete('/pools/:pool', {
    schema: {
      tags: ['pools'],
      summary: 'Delete a pool',
      description: 'Destroys the pool and all its data. `confirm` must repeat the pool name; a pool that holds images '
        + 'is only deleted with `force=true`.',
      operationId: 'deletePool',
      params: poolParams,
      querystring: deletePoolQuery,
      response: { 204: z.null().describe('deleted'), 200: dryRunSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const { pool } = req.params;
    if (req.query.dryRun) {
      const preview = await previewPoolDelete(ceph, pool);
      if (!req.query.force && (preview.images.length > 0 || preview.trashEntries.length > 0)) {
        throw new ApiError('POOL_NOT_EMPTY', `Pool "${pool}" holds ${preview.images.length} image(s) and ${preview.trashEntries.length} trash entries; `
          + 'the real call would be refused without force=true (dry run: nothing changed).', { preview });
      }
      return reply.code(200).send(preview);
    }
    if (req.query.confirm !== pool) {
      throw new ApiError('CONFIRMATION_REQUIRED',
        `Deleting pool "${pool}" destroys all its data: repeat its name as ?confirm=${encodeURIComponent(pool)}.`);
    }
    if (req.query.force) {
      await ceph.pools.deleteForced(pool);
      return reply.code(204).send(null);
    }
    // without force: a marker refuses creates that race the emptiness check (src/ceph/pool-guard.ts)
    const found = await ceph.pools.deleteIfEmpty(pool);
    if (found) {
      const where = found.imagesIn !== undefined ? found.imagesIn : found.trashIn!;
      const ns = where === '' ? '' : ` (namespace "${where}")`;
      const imageCount = found.imagesIn === '' ? (await ceph.images.listNames(pool).catch(() => [])).length : undefined;
      throw new ApiError('POOL_NOT_EMPTY',
        `Pool "${pool}" holds ${found.imagesIn !== undefined ? `${imageCount ?? 'some'} image(s)` : 'images in the trash'}${ns}; `
        + 'delete them (and purge the trash) first, or pass force=true.',
        { ...(imageCount !== undefined ? { imageCount } : {}), hasImages: found.imagesIn !== undefined, hasTrash: found.trashIn !== undefined });
    }
    return reply.code(204).send(null);
  });
};
