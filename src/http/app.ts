// The Fastify application factory: everything but listening and process signals (see src/main.ts).
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  hasZodFastifySchemaValidationErrors, jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { CephClient } from '../ceph/client.js';
import { allowsPool, allowsScope, bearerToken, type Principal, type Scope, type TokenStore } from './auth.js';
import { ApiError, toApiError, toProblem } from './errors.js';
import { Metrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/images.js';
import { poolRoutes } from './routes/pools.js';
import { API_PREFIX } from './paths.js';

export interface AppSettings {
  detailsConcurrency: number;
  bodyLimit: number;
  readyCacheMs: number;
  readyTimeoutMs: number;
}

export interface AppOptions {
  ceph: CephClient;
  settings?: Partial<AppSettings>;
  /** pino options, or false for no logs (tests) */
  logger?: FastifyServerOptions['logger'];
  /** a ready pino logger (the service's own); takes precedence over `logger` */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  version?: string;
  /** bearer tokens; undefined = authentication off (development only) */
  auth?: TokenStore;
}

declare module 'fastify' {
  interface FastifyInstance {
    ceph: CephClient;
    settings: AppSettings;
    readiness: Readiness;
    metrics: Metrics;
  }
  interface FastifyRequest {
    /** who sent the request, when authentication is on */
    principal: Principal | undefined;
    /** the error code and errno of the answer, for the access log */
    outcome: { code: string; errno?: string | undefined } | undefined;
  }
  interface FastifyContextConfig {
    /** reachable without a token */
    public?: boolean;
    /** the scope a token needs; default: read for GET/HEAD, write otherwise */
    scope?: Scope;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Log redaction: nothing secret ever reaches a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]',
  'headers.authorization', '*.token', '*.keyring', '*.key', '*.password',
];

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const settings: AppSettings = {
    detailsConcurrency: 8, bodyLimit: 64 * 1024, readyCacheMs: 2000, readyTimeoutMs: 2000, ...opts.settings,
  };
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? false }),
    bodyLimit: settings.bodyLimit,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 4096, ignoreTrailingSlash: true },
    return503OnClosing: true,
    // one access-log line per request, written in onResponse below (with route, status, duration, errno)
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('ceph', opts.ceph);
  app.decorate('settings', settings);
  app.decorate('readiness', new Readiness(opts.ceph, settings.readyCacheMs, settings.readyTimeoutMs));

  // JSON bodies; an empty body is "no body" (curl -X DELETE -H 'content-type: application/json' is common)
  // JSON only (application/json or any +json type); text/plain and anything else get 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/([\w.-]+\+)?json$/, { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError('VALIDATION_FAILED', 'The request body is not valid JSON.'), undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // while shutting down, every answer closes its connection so keep-alive clients let the server stop
  app.addHook('onSend', async (_req, reply) => {
    if (app.readiness.isDraining) reply.header('connection', 'close');
  });

  const metrics = new Metrics(opts.ceph);
  app.decorate('metrics', metrics);
  app.decorateRequest('outcome', undefined);
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
  app.addHook('onClose', async () => metrics.close());

  // Swagger UI's own routes (HTML, scripts) are public; the API behind its Authorize button is not.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...(route.config ?? {}), public: true };
  });

  app.decorateRequest('principal', undefined);
  const tokens = opts.auth;
  if (tokens) {
    app.addHook('onRequest', async (req) => {
      const config = req.routeOptions.config;
      if (config?.public) return;
      const token = bearerToken(req.headers.authorization);
      if (token === undefined) throw new ApiError('UNAUTHORIZED', 'This API needs a token: send "Authorization: Bearer <token>".');
      const principal = tokens.authenticate(token);
      if (!principal) throw new ApiError('UNAUTHORIZED', 'The token is not valid.');
      req.principal = principal;
      req.log = req.log.child({ principal: principal.name });
      const needed: Scope = config?.scope ?? (req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write');
      if (!allowsScope(principal, needed)) {
        throw new ApiError('FORBIDDEN', `This token's scope is "${principal.scope}"; this operation needs "${needed}".`,
          { requiredScope: needed });
      }
      const pool = (req.params as { pool?: unknown } | undefined)?.pool;
      if (typeof pool === 'string' && !allowsPool(principal, pool)) {
        throw new ApiError('FORBIDDEN', `This token may not use pool "${pool}".`);
      }
    });
  }

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

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'rbd-rest-api',
        description: 'Ceph RBD pools and images over REST. Errors are application/problem+json with a stable `code`.',
        version: opts.version ?? '0.1.0',
      },
      tags: [
        { name: 'pools', description: 'Ceph pools' },
        { name: 'images', description: 'RBD images' },
        { name: 'health', description: 'Probes' },
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (when authentication is on)' } },
      },
      security: [{ bearerAuth: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true } });

  await app.register(healthRoutes);
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  app.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_req, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()));
  await app.register(poolRoutes, { prefix: API_PREFIX });
  await app.register(imageRoutes, { prefix: API_PREFIX });
  return app;
}
