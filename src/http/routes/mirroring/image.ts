// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/mirroring: one image's mirroring — enable or disable
// (journal or snapshot mode), its global status on every site, promote / demote / resync, mirror snapshots and
// the image's mirror-snapshot schedules. A namespace-scoped token reaches only its namespace's images.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ImageMirrorings } from '../../../ceph/mirroring/image.js';
import { MirrorSchedules } from '../../../ceph/mirroring/schedules.js';
import { ApiError } from '../../errors.js';
import { specOf } from '../../paths.js';
import { imageParams, problems } from '../../schemas/common.js';
import {
  imageMirroringBody, imageMirroringPut, imageMirroringSchema, imageMirrorStatusSchema, imageScheduleParams, mirrorSnapshotSchema,
  promoteQuery, scheduleBody, scheduleDeleteQuery, scheduleListSchema,
} from '../../schemas/mirroring.js';

export const imageMirroringRoutes: FastifyPluginAsyncZod = async (app) => {
  const images = new ImageMirrorings(app.ceph);
  const schedules = new MirrorSchedules(app.ceph);
  const roleProblems = problems(400, 401, 403, 404, 409, 503, 504);

  app.put('/images/:image/mirroring', {
    schema: {
      tags: ['mirroring'], summary: 'Enable or disable the mirroring of an image', operationId: 'putImageMirroring',
      description: 'enabled: true mirrors the image in `mode` (snapshot by default; journal switches on exclusive-lock, then '
        + 'journaling, when they are off). Its pool (namespace) must have mirror mode image — or pool, for journal mode — '
        + '(409 MIRRORING_DISABLED). An image mirrored in the other mode is 409 MIRROR_MODE_CONFLICT (disable it first). '
        + 'enabled: false stops mirroring (a non-primary image needs force: true). `changed` says whether anything changed.',
      params: imageParams,
      body: imageMirroringBody,
      response: { 200: imageMirroringPut, ...roleProblems },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    if (req.body.enabled) return images.enable(spec, image, req.body.mode);
    const changed = await images.disable(spec, image, req.body.force);
    return { mirroring: null, changed };
  });

  app.get('/images/:image/mirroring', {
    schema: {
      tags: ['mirroring'], summary: 'Mirroring status of an image on every site', operationId: 'getImageMirroring',
      description: 'Its mode and role here, and every site\'s replay state as the rbd-mirror daemons report it (`up`: the '
        + 'site\'s daemon reports; `lastUpdate`; snapshot mode: `secondsBehind`, journal mode: `entriesBehind`). A frozen or '
        + 'lost site shows as up: false or a stale lastUpdate. 409 MIRRORING_DISABLED for an image that is not mirrored.',
      params: imageParams,
      response: { 200: imageMirrorStatusSchema, ...roleProblems },
    },
  }, async (req) => images.status(specOf(req.params), req.params.image));

  app.post('/images/:image/mirroring/promote', {
    schema: {
      tags: ['mirroring'], summary: 'Promote the image to primary on this site', operationId: 'promoteImage',
      description: 'Planned failover: demote on the other site first and wait until this site\'s status shows it replayed '
        + '(409 MIRROR_PEER_PRIMARY otherwise). force=true promotes anyway (unplanned failover, the other site is down). '
        + '409 MIRROR_IMAGE_PRIMARY when it is already primary here.',
      params: imageParams,
      querystring: promoteQuery,
      response: { 200: imageMirroringSchema, ...roleProblems },
    },
  }, async (req) => images.promote(specOf(req.params), req.params.image, req.query.force));

  app.post('/images/:image/mirroring/demote', {
    schema: {
      tags: ['mirroring'], summary: 'Demote the image to non-primary on this site', operationId: 'demoteImage',
      description: 'It becomes read-only here; the other site may then promote its copy. 409 MIRROR_IMAGE_NOT_PRIMARY when it is not primary here.',
      params: imageParams,
      response: { 200: imageMirroringSchema, ...roleProblems },
    },
  }, async (req) => images.demote(specOf(req.params), req.params.image));

  app.post('/images/:image/mirroring/resync', {
    schema: {
      tags: ['mirroring'], summary: 'Resync a non-primary image from the primary', operationId: 'resyncImage',
      description: 'After an unplanned failover: demote the old primary, then resync it — the rbd-mirror daemon here deletes '
        + 'and re-copies it from the other site. 409 MIRROR_IMAGE_PRIMARY for a primary image.',
      params: imageParams,
      response: { 202: imageMirroringSchema, ...roleProblems },
    },
  }, async (req, reply) => reply.code(202).send(await images.resync(specOf(req.params), req.params.image)));

  app.post('/images/:image/mirroring/snapshots', {
    schema: {
      tags: ['mirroring'], summary: 'Take a mirror snapshot now', operationId: 'createMirrorSnapshot',
      description: 'Snapshot mode: what the image holds now is replicated to the peers. 409 MIRROR_MODE_CONFLICT in journal '
        + 'mode, MIRROR_IMAGE_NOT_PRIMARY on the non-primary site.',
      params: imageParams,
      response: { 201: mirrorSnapshotSchema, ...roleProblems },
    },
  }, async (req, reply) => reply.code(201).send(await images.createSnapshot(specOf(req.params), req.params.image)));

  app.get('/images/:image/mirroring/schedules', {
    schema: {
      tags: ['mirroring'], summary: 'Mirror-snapshot schedules of an image', operationId: 'listImageMirrorSchedules',
      params: imageParams,
      response: { 200: scheduleListSchema, ...roleProblems },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const [items, scheduled] = await Promise.all([schedules.list(spec, req.params.image), schedules.status(spec, req.params.image)]);
    return { items, scheduled };
  });

  app.post('/images/:image/mirroring/schedules', {
    schema: {
      tags: ['mirroring'], summary: 'Add a mirror-snapshot schedule to an image', operationId: 'addImageMirrorSchedule',
      params: imageParams,
      body: scheduleBody,
      response: { 201: scheduleListSchema, ...roleProblems },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const items = await schedules.add(spec, req.params.image, req.body.interval, req.body.startTime);
    return reply.code(201).send({ items, scheduled: await schedules.status(spec, req.params.image) });
  });

  app.delete('/images/:image/mirroring/schedules/:interval', {
    schema: {
      tags: ['mirroring'], summary: 'Remove a mirror-snapshot schedule of an image', operationId: 'deleteImageMirrorSchedule',
      params: imageScheduleParams,
      querystring: scheduleDeleteQuery,
      response: { 204: z.null().describe('removed'), ...roleProblems },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    if (!await schedules.remove(spec, req.params.image, req.params.interval, req.query.startTime)) {
      throw new ApiError('NOT_FOUND', `${spec}/${req.params.image} has no mirror-snapshot schedule every ${req.params.interval}.`);
    }
    return reply.code(204).send(null);
  });
};
