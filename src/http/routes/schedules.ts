// Schedules that run by themselves (src/ceph/schedules/, docs/schedules.md):
//   /api/v1/pools/{pool}[/namespaces/{namespace}]/snapshot-schedule            the pool's (every namespace) or a namespace's
//   /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/snapshot-schedule  one image's
//   /api/v1/pools/{pool}[/namespaces/{namespace}]/trash/purge-schedule         the trash purge of the pool (every namespace) or a namespace
// PUT sets (replaces) one, GET answers it with its next run and last outcome, DELETE removes it (the snapshots stay).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { SnapshotScope } from '../../ceph/schedules/index.js';
import { imageParams, problems, scopeParams } from '../schemas/common.js';
import { purgeScheduleBody, purgeScheduleSchema, snapshotScheduleBody, snapshotScheduleSchema } from '../schemas/schedules.js';

const scopeOf = (p: { namespace?: string | undefined; image?: string }): SnapshotScope =>
  p.image !== undefined ? { level: 'image', namespace: p.namespace ?? '', image: p.image }
    : p.namespace !== undefined ? { level: 'namespace', namespace: p.namespace } : { level: 'pool' };

const SNAP_DESC = 'Takes a snapshot of every image the schedule governs once per slot (every `every`, aligned to `at` in `timezone`), '
  + 'named `<prefix>-<slot in UTC, YYYYMMDDTHHMMSSZ>`, on whichever replica claims the slot: exactly one snapshot per image per slot '
  + 'however many replicas run. Images are spread over the interval (a stable offset per image). After downtime only the latest '
  + 'missed slot is taken. Retention then removes the schedule\'s own snapshots beyond `keep`, never one with clones (listed in '
  + '`retentionSkips`). The most specific schedule of an image wins: image, then namespace, then pool (every namespace).';

export const scheduleRoutes: FastifyPluginAsyncZod = async (app) => {
  const { schedules } = app.ceph;
  const answer = <T>(reply: FastifyReply, out: { created: boolean; status: T }): T => {
    reply.code(out.created ? 201 : 200);
    return out.status;
  };

  for (const [path, params, what, id] of [
    ['/snapshot-schedule', scopeParams, 'the pool (every namespace) or a namespace', 'SnapshotSchedule'],
    ['/images/:image/snapshot-schedule', imageParams, 'an image', 'ImageSnapshotSchedule'],
  ] as const) {
    app.put(path, {
      schema: {
        tags: ['schedules'], summary: `Set the snapshot schedule of ${what}`, operationId: `put${id}`,
        description: `${SNAP_DESC} 201 when it is new, 200 when it replaced one (an unchanged timing keeps its slots).`,
        params, body: snapshotScheduleBody,
        response: { 200: snapshotScheduleSchema, 201: snapshotScheduleSchema, ...problems(400, 401, 403, 404, 503, 504) },
      },
    }, async (req, reply) => answer(reply, await schedules.putSnapshot(req.params.pool, scopeOf(req.params), req.body)));

    app.get(path, {
      schema: {
        tags: ['schedules'], summary: `The snapshot schedule of ${what}`, operationId: `get${id}`,
        description: 'The schedule, its next slot (and an image\'s next run), the newest run of an image it governs, and the snapshots '
          + 'retention kept because they have clones. 404 SCHEDULE_NOT_FOUND when none is set at this level.',
        params, response: { 200: snapshotScheduleSchema, ...problems(400, 401, 403, 404, 503, 504) },
      },
    }, async (req) => schedules.getSnapshot(req.params.pool, scopeOf(req.params)));

    app.delete(path, {
      schema: {
        tags: ['schedules'], summary: `Remove the snapshot schedule of ${what}`, operationId: `delete${id}`,
        description: 'Stops taking snapshots at this level (a less specific schedule then governs); the snapshots taken stay. '
          + '404 SCHEDULE_NOT_FOUND when none is set.',
        params, response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 503, 504) },
      },
    }, async (req, reply) => {
      await schedules.deleteSnapshot(req.params.pool, scopeOf(req.params));
      return reply.code(204).send(null);
    });
  }

  const purgeDesc = 'Removes the trash entries whose deferment (`keepFor`) has ended, every `every`, without anyone calling purge: '
    + 'one purge task per namespace per slot, on whichever replica claims it. The pool\'s schedule covers every namespace; a '
    + 'namespace\'s own wins there.';
  app.put('/trash/purge-schedule', {
    schema: {
      tags: ['schedules'], summary: 'Set the trash purge schedule', operationId: 'putTrashPurgeSchedule',
      description: `${purgeDesc} 201 when it is new, 200 when it replaced one.`,
      params: scopeParams, body: purgeScheduleBody,
      response: { 200: purgeScheduleSchema, 201: purgeScheduleSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => answer(reply, await schedules.putPurge(req.params.pool, req.params.namespace, req.body)));

  app.get('/trash/purge-schedule', {
    schema: {
      tags: ['schedules'], summary: 'The trash purge schedule', operationId: 'getTrashPurgeSchedule',
      description: `${purgeDesc} Answers the next run and the last purge (its task and what it removed).`,
      params: scopeParams, response: { 200: purgeScheduleSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => schedules.getPurge(req.params.pool, req.params.namespace));

  app.delete('/trash/purge-schedule', {
    schema: {
      tags: ['schedules'], summary: 'Remove the trash purge schedule', operationId: 'deleteTrashPurgeSchedule',
      description: 'Expired entries then stay until a purge (POST …/trash/purge). 404 SCHEDULE_NOT_FOUND when none is set.',
      params: scopeParams, response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    await schedules.deletePurge(req.params.pool, req.params.namespace);
    return reply.code(204).send(null);
  });
};
