// /api/v1/pools/{pool}[/namespaces/{namespace}]/qos and …/images/{image}/qos: librbd's QoS limits as numbers
// with units, set where `rbd config pool|image set` sets them, reported with the source of each value
// (src/ceph/qos.ts; docs/qos.md).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MetadataLimitError } from '../../ceph/errors.js';
import { METADATA_MAX_BYTES, METADATA_MAX_KEYS } from '../../ceph/metadata.js';
import { Qos, type QosSettings } from '../../ceph/qos.js';
import { ApiError } from '../errors.js';
import { specOf } from '../paths.js';
import { imageParams, problems, scopeParams } from '../schemas/common.js';
import { qosPutBody, qosSchema } from '../schemas/qos.js';

const LEVELS = 'An image\'s value in effect is its own override, else its pool\'s, else the client configuration\'s default; '
  + '`source` says which. librbd has no per-namespace configuration: images in a namespace take the pool\'s values.';

/** An image's QoS overrides are metadata keys: at its metadata limits, 409 METADATA_LIMIT_EXCEEDED (nothing changed). */
function limitProblem(e: unknown): unknown {
  if (!(e instanceof MetadataLimitError)) return e;
  return new ApiError('METADATA_LIMIT_EXCEEDED', `Image ${e.target}'s QoS overrides are metadata keys, and its metadata would then `
    + `exceed its limits (${METADATA_MAX_KEYS} keys, ${METADATA_MAX_BYTES} bytes). Nothing was changed; delete metadata keys first.`,
  { limit: e.limit, maxKeys: METADATA_MAX_KEYS, maxBytes: METADATA_MAX_BYTES });
}

export const qosRoutes: FastifyPluginAsyncZod = async (app) => {
  const qos = new Qos(app.ceph);

  app.get('/images/:image/qos', {
    schema: {
      tags: ['qos'], summary: 'QoS limits in effect for an image', operationId: 'getImageQos',
      description: `Every rbd_qos_* option of librbd for this image. ${LEVELS}`,
      params: imageParams,
      response: { 200: qosSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => qos.image(specOf(req.params), req.params.image));

  app.put('/images/:image/qos', {
    schema: {
      tags: ['qos'], summary: "Replace an image's QoS overrides", operationId: 'putImageQos',
      description: 'Sets the image\'s own QoS (image metadata `conf_rbd_qos_*`, as `rbd config image set` does) and removes the '
        + 'overrides the body does not name; `{}` removes them all. Clients that have the image open apply the change at once. '
        + `Answers the QoS in effect afterwards. ${LEVELS}`,
      params: imageParams,
      body: qosPutBody,
      response: { 200: qosSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req) => qos.setImage(specOf(req.params), req.params.image, req.body as QosSettings).catch((e: unknown) => {
    throw limitProblem(e);
  }));

  app.delete('/images/:image/qos', {
    schema: {
      tags: ['qos'], summary: "Remove an image's QoS overrides", operationId: 'deleteImageQos',
      description: 'The image then takes its pool\'s QoS (or the defaults). 204 also when it had none.',
      params: imageParams,
      response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    await qos.setImage(specOf(req.params), req.params.image, {});
    return reply.code(204).send(null);
  });

  app.get('/qos', {
    schema: {
      tags: ['qos'], summary: 'QoS limits of a pool', operationId: 'getPoolQos',
      description: 'The QoS images of this pool (or namespace) take unless they have their own: the pool\'s overrides (`source: pool`) '
        + `and the defaults. ${LEVELS}`,
      params: scopeParams,
      response: { 200: qosSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => qos.pool(specOf(req.params)));

  app.put('/qos', {
    schema: {
      tags: ['qos'], summary: "Replace a pool's QoS overrides", operationId: 'putPoolQos',
      description: 'Sets the pool\'s QoS (pool metadata `conf_rbd_qos_*`, as `rbd config pool set` does) for every image of the pool '
        + 'and of its namespaces that has no override of its own, and removes the overrides the body does not name. Open images '
        + 'pick the change up. In a namespace: 501 NAMESPACE_QOS_NOT_SUPPORTED (librbd reads no per-namespace configuration).',
      params: scopeParams,
      body: qosPutBody,
      response: { 200: qosSchema, ...problems(400, 401, 403, 404, 501, 503, 504) },
    },
  }, async (req) => qos.setPool(specOf(req.params), req.body as QosSettings));

  app.delete('/qos', {
    schema: {
      tags: ['qos'], summary: "Remove a pool's QoS overrides", operationId: 'deletePoolQos',
      description: 'Images then take the defaults (unless they have their own). 204 also when it had none. In a namespace: 501 '
        + 'NAMESPACE_QOS_NOT_SUPPORTED.',
      params: scopeParams,
      response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 501, 503, 504) },
    },
  }, async (req, reply) => {
    await qos.setPool(specOf(req.params), {});
    return reply.code(204).send(null);
  });
};
