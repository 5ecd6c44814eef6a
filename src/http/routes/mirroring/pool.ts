// /api/v1/pools/{pool}[/namespaces/{namespace}]/mirroring: the mirror mode of a pool (or namespace) and this
// cluster's site name, the status summary of its mirrored images, and its mirror-snapshot schedules. Changes
// need the admin scope: they decide what replicates to another cluster.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PoolMirrorings } from '../../../ceph/mirroring/pool.js';
import { MirrorSchedules } from '../../../ceph/mirroring/schedules.js';
import { ApiError } from '../../errors.js';
import { specOf } from '../../paths.js';
import { problems, scopeParams } from '../../schemas/common.js';
import {
  mirrorSummarySchema, poolMirroringBody, poolMirroringSchema, scheduleBody, scheduleDeleteQuery, scheduleListSchema, scheduleParams,
} from '../../schemas/mirroring.js';

export const poolMirroringRoutes: FastifyPluginAsyncZod = async (app) => {
  const pools = new PoolMirrorings(app.ceph);
  const schedules = new MirrorSchedules(app.ceph);

  app.get('/mirroring', {
    schema: {
      tags: ['mirroring'], summary: 'Mirror mode of a pool (or namespace) and this site\'s name', operationId: 'getPoolMirroring',
      params: scopeParams,
      response: { 200: poolMirroringSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => pools.get(specOf(req.params)));

  app.put('/mirroring', {
    schema: {
      tags: ['mirroring'], summary: 'Set the mirror mode (and this site\'s name)', operationId: 'putPoolMirroring',
      description: 'mode image: images are mirrored one by one (PUT …/images/{image}/mirroring); pool: every journaled '
        + 'image is. A namespace has a mode of its own (its pool must be mirrored too). Disabling needs every image\'s '
        + 'mirroring off first (409 otherwise). Needs the admin scope.',
      params: scopeParams,
      body: poolMirroringBody,
      response: { 200: poolMirroringSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req) => pools.set(specOf(req.params), req.body.mode, req.body.siteName));

  app.get('/mirroring/status', {
    schema: {
      tags: ['mirroring'], summary: 'Status summary of the mirrored images', operationId: 'getPoolMirroringStatus',
      description: 'Counts of mirrored images by replay state as the rbd-mirror daemons report them, image health (error when '
        + 'one is in error, warning when one is syncing, starting, stopping or unknown), and the daemons of this cluster.',
      params: scopeParams,
      response: { 200: mirrorSummarySchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => pools.summary(specOf(req.params)));

  app.get('/mirroring/schedules', {
    schema: {
      tags: ['mirroring'], summary: 'Mirror-snapshot schedules of a pool (or namespace)', operationId: 'listPoolMirrorSchedules',
      description: 'The schedules set at this level, and the images at or below it with a mirror snapshot due (the mgr\'s '
        + 'rbd_support module takes them). A namespace needs mirror mode image (409 MIRRORING_DISABLED otherwise).',
      params: scopeParams,
      response: { 200: scheduleListSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const [items, scheduled] = await Promise.all([schedules.list(spec), schedules.status(spec)]);
    return { items, scheduled };
  });

  app.post('/mirroring/schedules', {
    schema: {
      tags: ['mirroring'], summary: 'Add a mirror-snapshot schedule to a pool (or namespace)', operationId: 'addPoolMirrorSchedule',
      description: 'Every snapshot-mode primary image at or below this level gets a mirror snapshot every `interval` '
        + '(from `startTime`). Adding one that exists changes nothing. Needs the admin scope.',
      params: scopeParams,
      body: scheduleBody,
      response: { 201: scheduleListSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const items = await schedules.add(spec, undefined, req.body.interval, req.body.startTime);
    return reply.code(201).send({ items, scheduled: await schedules.status(spec) });
  });

  app.delete('/mirroring/schedules/:interval', {
    schema: {
      tags: ['mirroring'], summary: 'Remove a mirror-snapshot schedule of a pool (or namespace)', operationId: 'deletePoolMirrorSchedule',
      description: 'Needs the admin scope. 404 when no schedule of this interval (and start time) is set at this level.',
      params: scheduleParams,
      querystring: scheduleDeleteQuery,
      response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { scope: 'admin' },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    if (!await schedules.remove(spec, undefined, req.params.interval, req.query.startTime)) {
      throw new ApiError('NOT_FOUND', `${spec} has no mirror-snapshot schedule every ${req.params.interval}.`);
    }
    return reply.code(204).send(null);
  });
};
