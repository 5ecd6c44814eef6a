// The request id (x-request-id in and out), one access-log line per request and the HTTP metrics.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

async function accessLog(app: FastifyInstance): Promise<void> {
  const { metrics } = app;
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // while shutting down, every answer closes its connection so keep-alive clients let the server stop
  app.addHook('onSend', async (_req, reply) => {
    if (app.readiness.isDraining) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.observeHttp(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    const line = {
      method: req.method,
      url: req.url.split('?')[0],
      route: req.routeOptions.url,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(req.outcome ? { code: req.outcome.code, errno: req.outcome.errno } : {}),
    };
    if (reply.statusCode >= 500) req.log.warn(line, 'request');
    else req.log.info(line, 'request');
  });
}

export const accessLogPlugin = fp(accessLog, { name: 'rbd-access-log', fastify: '5.x', dependencies: ['rbd-core'] });
