// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}: create (create.ts), idempotent PUT (create.ts),
// get (get.ts), rename/resize/features (patch.ts), delete (delete.ts). The protocols behind them — the name's
// mutation lock, leftovers, the pool guard, clone intents — are the Ceph layer's (src/ceph/provisioning).
//
// The OpenAPI document lists component schemas in the order their modules are first evaluated: the first three
// imports keep that order as it was (tasks, snapshots, the PATCH schemas, then create.ts' ImageCreated).
import '../../schemas/tasks.js';
import '../../schemas/snapshots.js';
import { patchRoute } from './patch.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { allows } from '../../auth.js';
import { ApiError } from '../../errors.js';
import { specOf } from '../../paths.js';
import { createRoutes } from './create.js';
import { deleteRoute } from './delete.js';
import { getRoute } from './get.js';

export const imageRoutes: FastifyPluginAsyncZod = async (app) => {
  // A token limited to some pools may not resize or delete an image whose data live in a pool (its data
  // pool) the token may not use: those writes change or destroy data there. Checked once the route is known.
  app.addHook('preHandler', async (req) => {
    const principal = req.principal;
    if (!principal || principal.pools === undefined || (req.method !== 'PATCH' && req.method !== 'DELETE')) return;
    if (!req.routeOptions.url?.endsWith('/images/:image')) return;
    const params = req.params as { pool: string; namespace?: string; image: string };
    const info = await app.ceph.images.stat(specOf(params), params.image).catch(() => undefined);
    if (info?.dataPool && !allows(principal, info.dataPool, params.namespace)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${info.dataPool}", where the data of ${specOf(params)}/${params.image} live (its data pool).`);
    }
  });
  createRoutes(app); // POST /images, PUT /images/:image
  getRoute(app);
  patchRoute(app);
  deleteRoute(app);
};
