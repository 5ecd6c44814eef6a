// The Fastify application factory: settings, the plugins (src/http/plugins/) and the routes (src/http/routes/).
// Listening and process signals are src/main.ts's.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { Logger } from 'pino';
import type { CephClient } from '../ceph/client.js';
import type { Principal, Scope, TokenStore } from './auth.js';
import { Metrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { registerAccessLog } from './plugins/access-log.js';
import { registerAudit } from './plugins/audit.js';
import { registerRefusalAudit } from './plugins/audit-refused.js';
import { registerAuthentication } from './plugins/authentication.js';
import { registerCors } from './plugins/cors.js';
import { registerAuthFailureLimit, registerRateLimit, type RateLimitSettings } from './plugins/rate-limit.js';
import { requireClientCertificates } from './tls.js';
import { registerJsonBody } from './plugins/json-body.js';
import { registerOpenApi } from './plugins/openapi.js';
import { clientErrorHandler, frameworkErrorHandler, registerProblems } from './plugins/problems.js';
import { healthRoutes } from './routes/health.js';
import { imageListRoutes } from './routes/image-list.js';
import { imageRoutes } from './routes/images.js';
import { poolRoutes } from './routes/pools.js';
import { namespaceRoutes } from './routes/namespaces.js';
import { metadataRoutes } from './routes/metadata.js';
import { imageUsageRoutes } from './routes/image-usage.js';
import { copyRoutes } from './routes/copy.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { cloneRoutes } from './routes/clones.js';
import { taskRoutes } from './routes/tasks.js';
import { trashRoutes } from './routes/trash.js';
import { contentExportRoutes } from './routes/content/export.js';
import { API_PREFIX, registerScoped } from './paths.js';

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
  /** origins allowed to call the API from a browser (CORS_ORIGINS); undefined = no CORS headers */
  corsOrigins?: readonly string[];
  /** requests per second per token (per address without auth); undefined or perSecond 0 = no limit */
  rateLimit?: RateLimitSettings;
  /** the audit logger (one line per mutating request and task transition); undefined = no audit trail */
  audit?: Logger;
  /** HTTPS server options (src/http/tls.ts httpsOptions); with `requestCert`, API routes need a client certificate */
  https?: HttpsServerOptions;
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
    ...(opts.https ? { https: opts.https } : {}),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 4096, ignoreTrailingSlash: true },
    // a request closing down is answered problem+json 503 SHUTTING_DOWN by registerProblems' hook
    return503OnClosing: false,
    // what the framework answers by itself is problem+json too, logged and counted (plugins/problems.ts)
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // a request must arrive whole (headers and body) within 30 s (408); a socket silent for 120 s is closed
    requestTimeout: 30_000,
    connectionTimeout: 120_000,
    // one access-log line per request, written in onResponse below (with route, status, duration, errno)
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('ceph', opts.ceph);
  app.decorate('settings', settings);
  app.decorate('readiness', new Readiness(opts.ceph, settings.readyCacheMs, settings.readyTimeoutMs));
  app.decorateRequest('outcome', undefined);
  app.decorateRequest('principal', undefined);

  const metrics = new Metrics(opts.ceph);
  app.decorate('metrics', metrics);
  app.addHook('onClose', async () => metrics.close());

  registerJsonBody(app);
  registerAccessLog(app, metrics);
  // CORS answers preflights in onRequest, so it must come before authentication
  if (opts.corsOrigins?.length) await registerCors(app, opts.corsOrigins);
  if (opts.https?.requestCert) requireClientCertificates(app);
  // token guessing: an address with too many 401s gets 429 before the token check (valid tokens still pass)
  if (opts.auth && opts.rateLimit && opts.rateLimit.perSecond > 0) registerAuthFailureLimit(app, opts.auth);
  if (opts.auth) registerAuthentication(app, opts.auth);
  // after authentication (keyed by the token's name), before any route is added (it hooks each route)
  if (opts.rateLimit) await registerRateLimit(app, opts.rateLimit);
  if (opts.audit) {
    registerAudit(app, opts.audit);
    registerRefusalAudit(app, opts.audit, opts.auth); // what no route hook sees: refused before routing, bodies that never came
  }
  registerProblems(app);
  await registerOpenApi(app, opts.version ?? '0.1.0');

  await app.register(healthRoutes);
  app.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_req, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()));
  await app.register(poolRoutes, { prefix: API_PREFIX });
  await app.register(namespaceRoutes, { prefix: API_PREFIX });
  await registerScoped(app, imageListRoutes);
  await registerScoped(app, imageRoutes);
  await registerScoped(app, metadataRoutes);
  await registerScoped(app, imageUsageRoutes);
  await registerScoped(app, copyRoutes);
  await registerScoped(app, snapshotRoutes);
  await registerScoped(app, cloneRoutes);
  await app.register(taskRoutes, { prefix: API_PREFIX });
  await registerScoped(app, trashRoutes);
  await registerScoped(app, contentExportRoutes);
  return app;
}
