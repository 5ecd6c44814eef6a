// Every error answer is application/problem+json (RFC 9457) with a stable code and the request id —
// including what the framework answers by itself: a bad URL (frameworkErrors), a socket-level client error
// (clientError: 400/408/431, written by hand), a wrong method (405 with Allow). Each of those also gets an
// access-log line and a metric here, since no route hook runs for them.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError, toApiError, toProblem, type ErrorCode } from '../errors.js';
import { invalidField, validationDetail, validationErrors } from '../validation.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const methodLabel = (m: string | undefined): string => (m && METHODS.has(m) ? m : 'OTHER');

/**
 * Fastify's `frameworkErrors`: a URL whose percent-encoding is not valid UTF-8 (400), a path parameter over
 * the limit (414). No hooks run for these, so the request id, the access-log line and the metric are here.
 */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  {
    const api = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new ApiError('URI_TOO_LONG', 'A path segment is longer than 4096 characters; no resource has such a name.')
      : err.code === 'FST_ERR_BAD_URL'
        ? invalidField('url', '', 'is not valid: a percent-encoded part is not valid UTF-8 (or a "%" is not followed by two hex digits)')
        : new ApiError('INTERNAL_ERROR', 'The request could not be routed.');
    const started = performance.now();
    req.outcome = { code: api.code };
    void reply.code(api.status).header('x-request-id', req.id).type('application/problem+json')
      .send(toProblem(api, req.url.slice(0, 256), req.id));
    req.server.metrics.observeHttp(methodLabel(req.method), undefined, api.status, (performance.now() - started) / 1000);
    req.log.info({ method: req.method, url: req.url.split('?')[0]!.slice(0, 256), status: api.status, code: api.code, durationMs: 0 }, 'request');
    req.server.auditUnrouted?.({ requestId: req.id, method: req.method, url: req.url, source: req.ip, status: api.status, code: api.code,
      authorization: req.headers.authorization });
  }
}

/**
 * Node's `clientError` (the request could not even be parsed): answer problem+json by hand on the socket,
 * log it and count it. Connection resets need no answer.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let code: ErrorCode;
    let detail: string;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      code = 'REQUEST_TIMEOUT';
      detail = 'The request (headers and body) did not arrive in time.';
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      code = 'HEADERS_TOO_LARGE';
      detail = 'The request line and headers are larger than the server accepts (16 KiB).';
    } else {
      code = 'MALFORMED_REQUEST';
      detail = 'The request is not valid HTTP/1.1.';
    }
    const id = randomUUID();
    const api = new ApiError(code, detail);
    const body = JSON.stringify(toProblem(api, undefined, id));
    this.metrics.observeHttp('OTHER', undefined, api.status, 0);
    this.log.info({ reqId: id, status: api.status, code, errno: err.code, msg: 'request' }, 'request');
    // the audit trail wants a refused mutation too: its method, URL and token from the routed request whose body
    // never came (timed out, or the client closed mid-body), else from the bytes Node could not parse
    const pending = (socket as { _httpMessage?: { req?: IncomingMessage } })._httpMessage?.req;
    const raw = (err as { rawPacket?: unknown }).rawPacket;
    const head = Buffer.isBuffer(raw) ? raw.subarray(0, 65_536).toString('latin1') : '';
    const requestLine = pending?.method && pending.url ? [pending.method, pending.url] : /^([A-Z]+) (\S+)/.exec(head)?.slice(1);
    if (requestLine && this.auditUnrouted) {
      this.auditUnrouted({ requestId: id, method: requestLine[0]!, url: requestLine[1]!, source: socket.remoteAddress ?? '', status: api.status,
        code, raw: pending, authorization: pending ? pending.headers.authorization : /\r?\nauthorization:[ \t]*([^\r\n]*)/i.exec(head)?.[1] });
    }
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${api.status} ${api.title}\r\nContent-Type: application/problem+json\r\n`
        + `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy(err);
  }
}

/** The query parameters a route takes, to name them when one it does not take is given. */
function queryKeys(req: FastifyRequest): string[] {
  const schema = (req.routeOptions.schema as { querystring?: unknown } | undefined)?.querystring;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

async function problems(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err, req, reply) => {
    let api: ApiError;
    let unexpected: boolean;
    if (hasZodFastifySchemaValidationErrors(err)) {
      // each error names the field and the reason (src/http/validation.ts); bounded: a request with 1,500 bad
      // query keys must not get a 29 KB answer
      const part = err.validationContext ?? 'request';
      const errors = validationErrors(part, err.validation, part === 'querystring' ? queryKeys(req) : undefined);
      const detail = validationDetail(errors);
      api = new ApiError('VALIDATION_FAILED', detail, { errors });
      unexpected = false;
    } else {
      ({ api, unexpected } = toApiError(err));
      // a static file outside Swagger UI's folder (/docs/static/../..): nothing is there, 404
      const status = (err as { statusCode?: number }).statusCode;
      if (req.url.startsWith('/docs/') && (status === 403 || status === 400) && !hasZodFastifySchemaValidationErrors(err)) {
        api = new ApiError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]!.slice(0, 256)}.`);
      }
    }
    req.outcome = { code: api.code, errno: api.ceph?.code };
    if (unexpected) req.log.error({ err }, 'unexpected error');
    else if (api.status >= 500) req.log.warn({ code: api.code, errno: api.ceph?.code, op: api.ceph?.op }, api.detail);
    else req.log.debug({ code: api.code, errno: api.ceph?.code }, api.detail);
    if (api.code === 'CEPH_BUSY' || api.code === 'CEPH_UNAVAILABLE' || api.code === 'SHUTTING_DOWN') reply.header('retry-after', '1');
    if (api.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="rbd-rest-api"');
    return reply.code(api.status).type('application/problem+json').send(toProblem(api, req.url.slice(0, 512), req.id));
  });

  // from app.close() on, a request that still arrives (keep-alive) is told so, as problem+json
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onRequest', async () => {
    if (closing) throw new ApiError('SHUTTING_DOWN', 'The service is shutting down; retry (another instance will answer).');
  });

  // every route's method and path, to tell "no such path" (404) from "not with this method" (405 + Allow)
  const routes: { methods: string[]; pattern: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    const source = route.url.split('/').map((seg) => {
      if (seg === '*') return '.*';
      if (seg.startsWith(':')) return '[^/]+';
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }).join('/');
    routes.push({ methods, pattern: new RegExp(`^${source}/?$`) });
  });
  const allowedMethods = (path: string): string[] => {
    const allowed = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    return [...allowed].sort();
  };

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = allowedMethods(path);
    if (allowed.length > 0 && !allowed.includes(req.method)) {
      const api = new ApiError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path.slice(0, 256)}; allowed: ${allowed.join(', ')}.`,
        { allowed });
      req.outcome = { code: api.code };
      return reply.code(405).header('allow', allowed.join(', ')).type('application/problem+json')
        .send(toProblem(api, path.slice(0, 256), req.id));
    }
    const api = new ApiError('NOT_FOUND', `No route ${req.method} ${path.slice(0, 256)}.`);
    req.outcome = { code: api.code };
    return reply.code(404).type('application/problem+json').send(toProblem(api, req.url.slice(0, 256), req.id));
  });
}

export const problemsPlugin = fp(problems, { name: 'rbd-problems', fastify: '5.x', dependencies: ['rbd-core'] });
