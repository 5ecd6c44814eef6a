// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/metadata[/{key}] and …/config (the librbd
// settings in effect for an image, which conf_<option> metadata keys override: per-image QoS and the like).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError } from '../../ceph/errors.js';
import { CONFIG_KEY_PREFIX, configValueProblem, ImageMetadata } from '../../ceph/metadata.js';
import { ApiError } from '../errors.js';
import { imagePath, specOf } from '../paths.js';
import { imageParams, problems } from '../schemas/common.js';
import {
  configListSchema, metadataEntrySchema, metadataKeyParams, metadataPutBody, metadataPutParams, metadataSchema,
} from '../schemas/metadata.js';

export const metadataRoutes: FastifyPluginAsyncZod = async (app) => {
  const metadata = new ImageMetadata(app.ceph);

  const keyMissing = (spec: string, image: string, key: string, e: unknown): ApiError =>
    new ApiError('METADATA_KEY_NOT_FOUND', `Image ${spec}/${image} has no metadata key "${key}".`, { key },
      isCephError(e) ? e : undefined);

  app.get('/images/:image/metadata', {
    schema: {
      tags: ['metadata'], summary: 'Every metadata key of an image', operationId: 'listImageMetadata',
      params: imageParams,
      response: { 200: metadataSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => metadata.list(specOf(req.params), req.params.image));

  app.get('/images/:image/metadata/:key', {
    schema: {
      tags: ['metadata'], summary: 'One metadata key of an image', operationId: 'getImageMetadata',
      params: metadataKeyParams,
      response: { 200: metadataEntrySchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const { image, key } = req.params;
    try {
      return { key, value: await metadata.get(spec, image, key) };
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.op === 'rbd_metadata_get') throw keyMissing(spec, image, key, e);
      throw e;
    }
  });

  app.put('/images/:image/metadata/:key', {
    schema: {
      tags: ['metadata'], summary: 'Set a metadata key of an image', operationId: 'putImageMetadata',
      description: '201 when the key is new, 200 when it was replaced. `conf_<option>` keys set a librbd option for '
        + 'this image (per-image QoS: `conf_rbd_qos_iops_limit`, `conf_rbd_qos_bps_limit`, …): the option must be one '
        + 'librbd knows (see `GET …/config`) and the value of its type, or the answer is 400.',
      params: metadataPutParams,
      body: metadataPutBody,
      response: { 200: metadataEntrySchema, 201: metadataEntrySchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, key } = req.params;
    const { value } = req.body;
    if (key.startsWith(CONFIG_KEY_PREFIX)) {
      const option = key.slice(CONFIG_KEY_PREFIX.length);
      const known = (await metadata.configOptions(spec, image)).find((o) => o.name === option);
      if (!known) {
        throw new ApiError('VALIDATION_FAILED',
          `"${option}" is not a librbd option an image can override (GET ${imagePath(spec, image)}/config lists them).`, { key });
      }
      const problem = configValueProblem(known.type, value);
      if (problem) {
        throw new ApiError('VALIDATION_FAILED', `The value of ${key} ${problem} (${known.name} is of type ${known.type}).`,
          { key, valueType: known.type });
      }
    }
    const created = await metadata.set(spec, image, key, value);
    return reply.code(created ? 201 : 200)
      .header('location', `${imagePath(spec, image)}/metadata/${encodeURIComponent(key)}`).send({ key, value });
  });

  app.delete('/images/:image/metadata/:key', {
    schema: {
      tags: ['metadata'], summary: 'Remove a metadata key of an image', operationId: 'deleteImageMetadata',
      params: metadataKeyParams,
      response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, key } = req.params;
    try {
      await metadata.remove(spec, image, key);
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.op === 'rbd_metadata_remove') throw keyMissing(spec, image, key, e);
      throw e;
    }
    return reply.code(204).send(null);
  });

  app.get('/images/:image/config', {
    schema: {
      tags: ['metadata'], summary: 'librbd settings in effect for an image', operationId: 'listImageConfig',
      description: 'Every librbd option an image can override with a `conf_<option>` metadata key, its value in effect '
        + 'and where that value comes from (`config`: the client configuration, `pool`, `image`).',
      params: imageParams,
      response: { 200: configListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => ({ items: await metadata.configOptions(specOf(req.params), req.params.image) }));
};
