// The Fastify application factory: settings, the plugins (src/http/plugins/) and the routes (src/http/routes/).
// Listening and process signals are src/main.ts's.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { Logger } from 'pino';
import type { CephClient } from '../ceph/client.js';
import type { TokenStore } from './auth.js';
import { accessLogPlugin } from './plugins/access-log.js';
import { auditPlugin } from './plugins/audit.js';
import { refusalAuditPlugin } from './plugins/audit-refused.js';
import { authenticationPlugin } from './plugins/authentication.js';
import { clientCertificatesPlugin } from './plugins/client-certificates.js';
import { corePlugin, type AppSettings } from './plugins/core.js';
import { corsPlugin } from './plugins/cors.js';
import { authFailureLimitPlugin, rateLimitPlugin, type RateLimitSettings } from './plugins/rate-limit.js';
import { jsonBodyPlugin } from './plugins/json-body.js';
import { openApiPlugin } from './plugins/openapi.js';
import { clientErrorHandler, frameworkErrorHandler, problemsPlugin } from './plugins/problems.js';
import { strictQueryPlugin } from './plugins/strict-query.js';
import { requestDeadlinePlugin } from './plugins/request-deadline.js';
import { transferPriorityPlugin } from './plugins/transfer-priority.js';
import { safeRetriesPlugin } from './plugins/safe-retries.js';
import { healthRoutes } from './routes/health.js';
import { imageListRoutes } from './routes/images/list.js';
import { imageRoutes } from './routes/images/index.js';
import { poolRoutes } from './routes/pools.js';
import { namespaceRoutes } from './routes/namespaces.js';
import { metadataRoutes } from './routes/metadata.js';
import { qosRoutes } from './routes/qos.js';
import { imageUsageRoutes } from './routes/images/usage.js';
import { copyRoutes } from './routes/copy.js';
import { migrationRoutes } from './routes/migration.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { cloneRoutes } from './routes/clones.js';
import { lockRoutes } from './routes/locks.js';
import { taskRoutes } from './routes/tasks.js';
import { trashRoutes } from './routes/trash.js';
import { scheduleRoutes } from './routes/schedules.js';
import { contentImportRoutes, DEFAULT_IMPORT_SETTINGS } from './routes/content/import.js';
import { clusterRoutes } from './routes/cluster.js';
import { contentExportRoutes } from './routes/content/export.js';
import { imageMirroringRoutes } from './routes/mirroring/image.js';
import { mirrorPeerRoutes } from './routes/mirroring/peers.js';
import { poolMirroringRoutes } from './routes/mirroring/pool.js';
import { API_PREFIX, registerScoped } from './paths.js';

export type { AppSettings };

export interface AppOptions {
  ceph: CephClient;
  settings?: Partial<AppSettings>;
  /** pino options, or false for no logs (tests) */
  logger?: FastifyServerOptions['logger'];
  /** a ready pino logger (the service's own); takes precedence over `logger` */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  version?: string;
  /** how long a request may take to arrive whole, body included (uploads exempt); default 30 s (tests shorten it) */
  requestDeadlineMs?: number;
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

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Log redaction: nothing secret ever reaches a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]',
  'headers.authorization', '*.token', '*.keyring', '*.key', '*.password',
];

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const settings: AppSettings = {
    detailsConcurrency: 8, bodyLimit: 64 * 1024, readyCacheMs: 2000, readyTimeoutMs: 2000, import: DEFAULT_IMPORT_SETTINGS, ...opts.settings,
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
    // a request closing down is answered problem+json 503 SHUTTING_DOWN by plugins/problems.ts' hook
    return503OnClosing: false,
    // what the framework answers by itself is problem+json too, logged and counted (plugins/problems.ts)
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // a request must arrive whole within 30 s (408): plugins/request-deadline.ts keeps that deadline, uploads
    // exempt (Node's own requestTimeout cannot exempt one); headers alone within 30 s (Node's headersTimeout,
    // set below); a socket silent for 120 s is closed
    requestTimeout: 0,
    connectionTimeout: 120_000,
    // one access-log line per request, written by plugins/access-log.ts (with route, status, duration, errno)
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.server.headersTimeout = 30_000;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // the order is the order of the hooks: CORS answers preflights before authentication; the failed-token limit
  // comes before the token check, the request limit after it (keyed by the token's name); the audit, problems
  // and OpenAPI plugins watch routes being added, so they come before the routes
  await app.register(corePlugin, { ceph: opts.ceph, settings });
  await app.register(jsonBodyPlugin);
  await app.register(requestDeadlinePlugin, { deadlineMs: opts.requestDeadlineMs });
  await app.register(transferPriorityPlugin);
  await app.register(accessLogPlugin);
  if (opts.corsOrigins?.length) await app.register(corsPlugin, { origins: opts.corsOrigins });
  if (opts.https?.requestCert) await app.register(clientCertificatesPlugin);
  if (opts.auth && opts.rateLimit && opts.rateLimit.perSecond > 0) await app.register(authFailureLimitPlugin, { tokens: opts.auth });
  if (opts.auth) await app.register(authenticationPlugin, { tokens: opts.auth });
  if (opts.rateLimit) await app.register(rateLimitPlugin, opts.rateLimit);
  if (opts.audit) {
    await app.register(auditPlugin, { audit: opts.audit });
    await app.register(refusalAuditPlugin, { audit: opts.audit, tokens: opts.auth });
  }
  await app.register(problemsPlugin);
  await app.register(strictQueryPlugin); // before any route: unknown query parameters are 400 on every route
  await app.register(safeRetriesPlugin); // before any route: ETag, If-Match, Idempotency-Key (it recognises routes as they are added)
  await app.register(openApiPlugin, { version: opts.version ?? '0.1.0' });

  await app.register(healthRoutes);
  app.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_req, reply) =>
    reply.type(app.metrics.contentType).send(await app.metrics.render()));
  await app.register(poolRoutes, { prefix: API_PREFIX });
  await app.register(namespaceRoutes, { prefix: API_PREFIX });
  await registerScoped(app, imageListRoutes);
  await registerScoped(app, imageRoutes);
  await registerScoped(app, metadataRoutes);
  await registerScoped(app, qosRoutes);
  await registerScoped(app, imageUsageRoutes);
  await registerScoped(app, copyRoutes);
  await registerScoped(app, migrationRoutes);
  await registerScoped(app, snapshotRoutes);
  await registerScoped(app, cloneRoutes);
  await registerScoped(app, lockRoutes);
  await app.register(taskRoutes, { prefix: API_PREFIX });
  await registerScoped(app, trashRoutes);
  await registerScoped(app, scheduleRoutes);
  await registerScoped(app, contentImportRoutes(settings.import));
  await app.register(clusterRoutes, { prefix: API_PREFIX, version: opts.version ?? '0.1.0' });
  await registerScoped(app, contentExportRoutes);
  await registerScoped(app, poolMirroringRoutes);
  await app.register(mirrorPeerRoutes, { prefix: API_PREFIX });
  await registerScoped(app, imageMirroringRoutes);
  return app;
}
