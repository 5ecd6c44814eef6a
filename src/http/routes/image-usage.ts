// GET /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/usage: disk usage like `rbd du`, bounded by
// a timeout (it is never part of listings: without fast-diff it lists every object of the image).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ImageUsageReader, UsageTimeoutError } from '../../ceph/usage.js';
import { ApiError } from '../errors.js';
import { specOf } from '../paths.js';
import { imageParams, problems } from '../schemas/common.js';
import { imageUsageSchema, usageQuery } from '../schemas/usage.js';

export const imageUsageRoutes: FastifyPluginAsyncZod = async (app) => {
  const usage = new ImageUsageReader(app.ceph);

  app.get('/images/:image/usage', {
    schema: {
      tags: ['images'], summary: 'Disk usage of an image (like rbd du)', operationId: 'getImageUsage',
      description: 'Bytes written per snapshot and since the last snapshot, counted in whole objects as `rbd du` counts '
        + '(or in bytes with `exact=true`). With fast-diff enabled and valid the object maps are read (fast); otherwise '
        + 'every object is listed, which can be slow: the answer is 504 USAGE_TIMEOUT past `timeoutMs`.',
      params: imageParams,
      querystring: usageQuery,
      response: { 200: imageUsageSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    try {
      return await usage.get(spec, image, { timeoutMs: req.query.timeoutMs, exact: req.query.exact });
    } catch (e) {
      if (e instanceof UsageTimeoutError) {
        throw new ApiError('USAGE_TIMEOUT',
          `The disk usage of ${spec}/${image} was not computed within ${e.timeoutMs} ms (${e.method === 'scan'
            ? 'no valid fast-diff: every object is listed' : 'fast-diff'}); retry with a larger timeoutMs (at most 60000).`,
          { timeoutMs: e.timeoutMs, method: e.method });
      }
      throw e;
    }
  });
};
