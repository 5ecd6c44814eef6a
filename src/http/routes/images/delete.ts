// DELETE …/images/{image}: through the trash (the removal a task), or kept there with `keepFor`; refusals
// and leftovers are the Ceph layer's (src/ceph/provisioning).
import { previewImageDelete } from '../../../ceph/dry-run.js';
import { dryRunQuery, dryRunSchema } from '../../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { provisioning } from '../../../ceph/provisioning/index.js';
import { DURATION_HELP, parseDuration } from '../../duration.js';
import { invalidField } from '../../errors.js';
import { specOf, trashPath } from '../../paths.js';
import { imageParams, problems } from '../../schemas/common.js';
import { monitorLink } from '../../task-reply.js';

type App = Parameters<FastifyPluginAsyncZod>[0];

const keepForQuery = z.object({
  dryRun: dryRunQuery,
  keepFor: z.string().max(32).optional().describe(`keep the image in the trash, restorable, for this long instead of removing it: ${DURATION_HELP}`),
});

/** `?keepFor=`: seconds, undefined when absent; 400 when malformed or out of range. */
function parseKeepFor(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const s = parseDuration(value);
  if (s === undefined) throw invalidField('querystring', 'keepFor', `must be ${DURATION_HELP}`);
  return s;
}

export function deleteRoute(app: App): void {
  const provision = provisioning(app.ceph);
  app.delete('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Delete an image', operationId: 'deleteImage',
      description: 'Refused (409) while the image is open by a client or has snapshots, or is a member of an RBD group (CONFLICT); '
        + 'snapshots are never deleted silently. '
        + 'The image moves to the trash (its name is free at once) and its removal runs as a task: the answer carries '
        + '`Link: </api/v1/tasks/{id}>; rel="monitor"`. With `keepFor` (e.g. `30m`, `12h`, `7d`, `1y`; 1m to 1y) it stays '
        + 'in the trash, restorable, for that long (`Link: <…/trash/{id}>; rel="related"`). `dryRun=true`: 200 with what would be '
        + 'removed (the image, its bytes), refused as the real call would be, nothing changed.',
      params: imageParams,
      querystring: keepForQuery,
      response: { 204: z.null().describe('deleted'), 200: dryRunSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    if (req.query.dryRun) return reply.code(200).send(await previewImageDelete(app.ceph, spec, req.params.image));
    const out = await provision.remove(spec, req.params.image, parseKeepFor(req.query.keepFor));
    if (out.kind === 'trashed') {
      void reply.header('x-trash-id', out.entry.id);
      if (out.task) void reply.header('link', monitorLink(out.task.id));
      else if (out.queueError === undefined) void reply.header('link', `<${trashPath(spec, out.entry.id)}>; rel="related"`);
      else {
        // the image is deleted (in the trash, name free); its space comes back with the next trash purge
        const e = out.queueError;
        reply.log.warn({ err: e instanceof Error ? e.message : String(e), trashId: out.entry.id }, 'image moved to the trash; queueing its removal failed');
      }
    }
    return reply.code(204).send(null);
  });
}
