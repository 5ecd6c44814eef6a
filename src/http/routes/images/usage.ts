// GET /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/usage: disk usage like `rbd du`, bounded by
// a timeout (it is never part of listings: without fast-diff it lists every object of the image).
// GET …/images/{image}/iostat and GET /api/v1/pools/{pool}[/namespaces/{namespace}]/iostat: I/O rates per image
// from the mgr (`rbd perf image stats`).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ImageIostatReader } from '../../../ceph/iostat.js';
import { ImageUsageReader } from '../../../ceph/usage.js';
import { visibleTo } from '../../auth.js';
import { isCephError, UsageTimeoutError } from '../../../ceph/errors.js';
import { ApiError } from '../../errors.js';
import { specOf } from '../../paths.js';
import { imageParams, problems, scopeParams } from '../../schemas/common.js';
import { imageIostatReportSchema, imageUsageSchema, iostatQuery, poolIostatSchema, usageQuery } from '../../schemas/usage.js';

export const imageUsageRoutes: FastifyPluginAsyncZod = async (app) => {
  const usage = new ImageUsageReader(app.ceph);
  const iostat = new ImageIostatReader(app.ceph);
  app.addHook('onClose', async () => iostat.close());
  /** The mgr's answers: EAGAIN while rbd_support starts (or after a failover), ENOENT for a pool gone meanwhile. */
  const fromMgr = async <T>(spec: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (isCephError(e, 'EAGAIN') && e.kind === 'ceph') {
        throw new ApiError('CEPH_UNAVAILABLE', 'The mgr\'s rbd_support module is not ready; retry in a few seconds.', {}, e);
      }
      if (isCephError(e, 'ENOENT') && e.subject === 'cluster') {
        throw new ApiError('NOT_FOUND', `The mgr does not know ${spec} (deleted meanwhile?).`, {}, e);
      }
      throw e;
    }
  };

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

  app.get('/images/:image/iostat', {
    schema: {
      tags: ['images'], summary: 'I/O rates of an image', operationId: 'getImageIostat',
      description: 'Read/write operations and bytes per second and latency per operation, from the mgr (`rbd perf image '
        + 'stats`). The first request registers the mgr\'s query and answers `ready: false` with zeros; poll (every few '
        + 'seconds): the service keeps the query alive while it is polled.',
      params: imageParams,
      response: { 200: imageIostatReportSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    await app.ceph.images.stat(spec, req.params.image); // 404 for a missing image
    return fromMgr(spec, () => iostat.image(spec, req.params.image));
  });

  app.get('/iostat', {
    schema: {
      tags: ['pools'], summary: 'The busiest images of a pool (or namespace)', operationId: 'getPoolIostat',
      description: 'The top 64 images by `sortBy`, with their I/O rates, from the mgr (`rbd perf image stats`); under '
        + '/pools/{pool} every namespace of the pool counts (a token sees only the images of namespaces it may use). The '
        + 'first request answers `ready: false`; keep polling.',
      params: scopeParams,
      querystring: iostatQuery,
      response: { 200: poolIostatSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: { poolAccess: 'any' },
  }, async (req) => {
    const spec = specOf(req.params);
    await app.ceph.withIoctx(spec, async () => undefined); // 404 for a missing pool or namespace
    const report = await fromMgr(spec, () => iostat.pool(spec, req.query.sortBy));
    const items = visibleTo(req.principal, report.items).shown;
    return { ...report, sortBy: req.query.sortBy, items };
  });
};
