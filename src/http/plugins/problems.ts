// Every error answer is application/problem+json (RFC 9457) with a stable code and the request id.
import type { FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ApiError, toApiError, toProblem } from '../errors.js';

export function registerProblems(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    let api: ApiError;
    let unexpected: boolean;
    if (hasZodFastifySchemaValidationErrors(err)) {
      const errors = err.validation.map((v) => ({
        in: err.validationContext ?? 'request',
        path: v.instancePath.replace(/^\//, '').replace(/\//g, '.'),
        message: v.message ?? 'is not valid',
      }));
      const detail = errors.map((e) => `${e.in}${e.path ? `.${e.path}` : ''}: ${e.message}`).join('; ');
      api = new ApiError('VALIDATION_FAILED', detail.slice(0, 2000), { errors });
      unexpected = false;
    } else {
      ({ api, unexpected } = toApiError(err));
    }
    req.outcome = { code: api.code, errno: api.ceph?.code };
    if (unexpected) req.log.error({ err }, 'unexpected error');
    else if (api.status >= 500) req.log.warn({ code: api.code, errno: api.ceph?.code, op: api.ceph?.op }, api.detail);
    else req.log.debug({ code: api.code, errno: api.ceph?.code }, api.detail);
    if (api.code === 'CEPH_BUSY' || api.code === 'CEPH_UNAVAILABLE' || api.code === 'SHUTTING_DOWN') reply.header('retry-after', '1');
    if (api.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="rbd-rest-api"');
    return reply.code(api.status).type('application/problem+json').send(toProblem(api, req.url, req.id));
  });

  app.setNotFoundHandler((req, reply) => {
    const api = new ApiError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}.`);
    return reply.code(404).type('application/problem+json').send(toProblem(api, req.url, req.id));
  });
}
