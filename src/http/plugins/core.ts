// What every other plugin and route uses: the Ceph client (`app.ceph`), the settings, readiness and the
// metrics, and the request fields the plugins fill in (`req.principal`, `req.outcome`). Registered first;
// the other plugins name it in their `dependencies`.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { CephClient } from '../../ceph/client.js';
import type { Principal, Scope } from '../auth.js';
import { Metrics } from '../metrics.js';
import { Readiness } from '../readiness.js';
import type { ImportSettings } from '../routes/content/import.js';

export interface AppSettings {
  detailsConcurrency: number;
  bodyLimit: number;
  readyCacheMs: number;
  readyTimeoutMs: number;
  /** imports (PUT …/content): size limit, idle time, writes in flight */
  import: ImportSettings;
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
    /** an upload's figures for its audit line (routes/content/import.ts) */
    auditContent: Record<string, unknown> | undefined;
  }
  interface FastifyContextConfig {
    /** reachable without a token */
    public?: boolean;
    /** the scope a token needs; default: read for GET/HEAD, write otherwise */
    scope?: Scope;
  }
}

export interface CoreOptions {
  ceph: CephClient;
  settings: AppSettings;
}

async function core(app: FastifyInstance, opts: CoreOptions): Promise<void> {
  app.decorate('ceph', opts.ceph);
  app.decorate('settings', opts.settings);
  app.decorate('readiness', new Readiness(opts.ceph, opts.settings.readyCacheMs, opts.settings.readyTimeoutMs));
  app.decorateRequest('outcome', undefined);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('auditContent', undefined);
  const metrics = new Metrics(opts.ceph);
  app.decorate('metrics', metrics);
  app.addHook('onClose', async () => metrics.close());
}

export const corePlugin = fp(core, { name: 'rbd-core', fastify: '5.x' });
