// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/metadata[/{key}] and …/config (the librbd
// settings in effect for an image, which conf_<option> metadata keys override: per-image QoS and the like).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError, MetadataEntryTooLargeError, MetadataLimitError } from '../../ceph/errors.js';
import { ImageMetadata, METADATA_MAX_BYTES, METADATA_MAX_KEYS } from '../../ceph/metadata.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { ApiError } from '../errors.js';
import { PAGE_BYTES } from '../page-bytes.js';
import { imagePath, specOf } from '../paths.js';
import { listingLimiter } from '../scan-limit.js';
import { imageParams, problems } from '../schemas/common.js';
import {
  configListSchema, metadataEntrySchema, metadataKeyParams, metadataListQuery, metadataPutBody, metadataPutParams, metadataSchema,
} from '../schemas/metadata.js';
import { CONFIG_KEY_PREFIX, configValueProblem } from '../../ceph/image-config.js';
import { invalidField } from '../validation.js';

/** 409 METADATA_LIMIT_EXCEEDED / METADATA_TOO_LARGE for the limit errors of src/ceph/metadata.ts; others unchanged. */
function limitProblem(e: unknown): unknown {
  if (e instanceof MetadataLimitError) {
    const detail = e.limit === 'keys'
      ? `Image ${e.target} would hold ${e.keys} metadata keys; an image may hold at most ${METADATA_MAX_KEYS}. Nothing was changed; delete keys first.`
      : `Image ${e.target}'s metadata would take at least ${e.bytes} bytes (as GET …/metadata answers it); an image may hold at most `
        + `${METADATA_MAX_BYTES}. Nothing was changed; delete keys or shorten values first.`;
    return new ApiError('METADATA_LIMIT_EXCEEDED', detail, { limit: e.limit, maxKeys: METADATA_MAX_KEYS, maxBytes: METADATA_MAX_BYTES });
  }
  if (e instanceof MetadataEntryTooLargeError) {
    return new ApiError('METADATA_TOO_LARGE', `${e.message}: it was written outside the API (e.g. rbd image-meta set); read it with the rbd CLI.`,
      { ...(e.key !== undefined ? { key: e.key } : {}), bytes: e.bytes, maxBytes: METADATA_MAX_BYTES });
  }
  return e;
}

export const metadataRoutes: FastifyPluginAsyncZod = async (app) => {
  const metadata = new ImageMetadata(app.ceph);
  const pages = listingLimiter(app.ceph);

  const keyMissing = (spec: string, image: string, key: string, e: unknown): ApiError =>
    new ApiError('METADATA_KEY_NOT_FOUND', `Image ${spec}/${image} has no metadata key "${key}".`, { key },
      isCephError(e) ? e : undefined);

  app.get('/images/:image/metadata', {
    schema: {
      tags: ['metadata'], summary: 'Every metadata key of an image', operationId: 'listImageMetadata',
      description: `A JSON object of keys and values, in key order. An image holds at most ${METADATA_MAX_KEYS} keys and `
        + `${METADATA_MAX_BYTES} bytes of this object (PUT refuses more: 409 METADATA_LIMIT_EXCEEDED), so one answer holds it all. `
        + `A page is bounded by \`limit\` keys and ${PAGE_BYTES} bytes, and reads no more than that from Ceph: when more keys `
        + 'follow (a smaller `limit`, or metadata written outside the API beyond the limits), the answer has a '
        + '`Link: <…?cursor=…>; rel="next"` header for the next page. A value larger than a page (only the rbd CLI can '
        + 'write one) is 409 METADATA_TOO_LARGE. Listings are read a few at a time per replica; beyond the queue 503 '
        + 'CEPH_BUSY with Retry-After.',
      params: imageParams,
      querystring: metadataListQuery,
      response: { 200: metadataSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const { limit, cursor } = req.query;
    let after: string | undefined;
    if (cursor !== undefined) {
      after = decodeCursor(cursor);
      if (after === undefined || after.includes('\0')) {
        throw invalidField('querystring', 'cursor', 'is not valid: pass the cursor of the Link header of a previous page');
      }
    }
    const page = await pages.limit(() => metadata.page(spec, image, { after, limit, maxBytes: PAGE_BYTES })).catch((e: unknown) => {
      throw limitProblem(e);
    });
    if (page.more && page.last !== undefined) {
      reply.header('link', `<${imagePath(spec, image)}/metadata?limit=${limit}&cursor=${encodeCursor(page.last)}>; rel="next"`);
    }
    return Object.fromEntries(page.entries);
  });

  app.get('/images/:image/metadata/:key', {
    schema: {
      tags: ['metadata'], summary: 'One metadata key of an image', operationId: 'getImageMetadata',
      params: metadataKeyParams,
      response: { 200: metadataEntrySchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const { image, key } = req.params;
    try {
      return { key, value: await metadata.get(spec, image, key) };
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.subject === 'metadataKey') throw keyMissing(spec, image, key, e);
      throw limitProblem(e);
    }
  });

  app.put('/images/:image/metadata/:key', {
    schema: {
      tags: ['metadata'], summary: 'Set a metadata key of an image', operationId: 'putImageMetadata',
      description: '201 when the key is new, 200 when it was replaced. `conf_<option>` keys set a librbd option for '
        + 'this image (per-image QoS: `conf_rbd_qos_iops_limit`, `conf_rbd_qos_bps_limit`, …): the option must be one '
        + 'librbd knows (see `GET …/config`) and the value of its type, or the answer is 400. An image holds at most '
        + `${METADATA_MAX_KEYS} keys and ${METADATA_MAX_BYTES} bytes of metadata (measured as GET …/metadata answers it: `
        + 'the UTF-8 bytes of the JSON object, for plain text the keys\' and values\' bytes plus 6 per key); a PUT that '
        + 'would pass either is 409 METADATA_LIMIT_EXCEEDED (`limit`: "keys" or "bytes") and changes nothing.',
      params: metadataPutParams,
      body: metadataPutBody,
      response: { 200: metadataEntrySchema, 201: metadataEntrySchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, key } = req.params;
    const { value } = req.body;
    if (key.startsWith(CONFIG_KEY_PREFIX)) {
      const option = key.slice(CONFIG_KEY_PREFIX.length);
      const known = (await metadata.configOptions(spec, image)).find((o) => o.name === option);
      if (!known) {
        throw invalidField('params', 'key',
          `"${option}" is not a librbd option an image can override (GET ${imagePath(spec, image)}/config lists them)`, { key });
      }
      const problem = configValueProblem(known.type, value);
      if (problem) {
        throw invalidField('body', 'value', `the value of ${key} ${problem} (${known.name} is of type ${known.type})`,
          { key, valueType: known.type });
      }
    }
    const created = await metadata.set(spec, image, key, value).catch((e: unknown) => { throw limitProblem(e); });
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
      if (isCephError(e, 'ENOENT') && e.subject === 'metadataKey') throw keyMissing(spec, image, key, e);
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
