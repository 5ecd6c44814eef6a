// Liveness, readiness and the OpenAPI document; open to everyone.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError, toProblem } from '../errors.js';
import { problemSchema } from '../schemas/common.js';

const healthSchema = z.object({ status: z.enum(['ok', 'unavailable']), reason: z.string().optional(), ceph: z.string().optional() });

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the process is running', operationId: 'healthz', security: [], response: { 200: healthSchema } },
    config: { public: true },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['health'], summary: 'Readiness: the Ceph cluster answers', operationId: 'readyz', security: [],
      description: '503 (a problem document, `Retry-After: 5`) while the Ceph cluster does not answer, every Ceph call slot is '
        + 'held by a stuck call, or the service is shutting down: `code` CEPH_UNAVAILABLE or SHUTTING_DOWN, `reason` and `ceph` '
        + '(the connection state) say why.',
      response: { 200: healthSchema, 503: problemSchema },
    },
    config: { public: true },
  }, async (req, reply) => {
    const r = await app.readiness.check();
    if (r.ready) return { status: 'ok' as const, ceph: app.ceph.state };
    // sent here rather than thrown: a probe's 503 is its answer, not an error to log at every probe
    const reason = r.reason ?? 'not ready';
    const api = reason === 'shutting down'
      ? new ApiError('SHUTTING_DOWN', 'The service is shutting down.', { reason, ceph: app.ceph.state })
      : new ApiError('CEPH_UNAVAILABLE', `Not ready: ${reason}.`, { reason, ceph: app.ceph.state });
    return reply.code(503).type('application/problem+json').header('retry-after', '5').send(toProblem(api, req.url.slice(0, 512), req.id));
  });
};
