// Liveness, readiness and the OpenAPI document; open to everyone.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const healthSchema = z.object({ status: z.enum(['ok', 'unavailable']), reason: z.string().optional(), ceph: z.string().optional() });

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the process is running', operationId: 'healthz', security: [], response: { 200: healthSchema } },
    config: { public: true },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['health'], summary: 'Readiness: the Ceph cluster answers', operationId: 'readyz', security: [],
      response: { 200: healthSchema, 503: healthSchema },
    },
    config: { public: true },
  }, async (_req, reply) => {
    const r = await app.readiness.check();
    if (r.ready) return { status: 'ok' as const, ceph: app.ceph.state };
    return reply.code(503).header('retry-after', '5').send({ status: 'unavailable' as const, reason: r.reason, ceph: app.ceph.state });
  });
};
