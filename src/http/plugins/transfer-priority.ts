// Transfers yield to other requests (src/ceph/content/budget.ts): every API request that is not a transfer — a
// route without `config: { transfer: true }` (the image content routes, downloads and uploads, and the diff
// route, whose stream is a download) — tells the transfer budget when it starts and ends, so that transfers keep TRANSFER_IO_LIMIT I/Os in flight while such requests are served and up to
// TRANSFER_IO_BURST when only transfers are. Probes, metrics and the documentation are not counted (a scrape
// every few seconds would keep transfers at the lower budget for nothing).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { foregroundStarted } from '../../ceph/content/budget.js';
import { API_PREFIX } from '../paths.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the route moves image data (a download or an upload): it runs on the transfer budget and does not lower it */
    transfer?: boolean;
  }
}

const ends = new WeakMap<FastifyRequest, () => void>();

async function transferPriority(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url;
    if (route === undefined || !route.startsWith(API_PREFIX) || req.routeOptions.config.transfer) return;
    const end = foregroundStarted();
    ends.set(req, end);
    req.raw.once('close', end); // a client gone before the answer
  });
  const finish = async (req: FastifyRequest): Promise<void> => { ends.get(req)?.(); };
  app.addHook('onResponse', finish);
  app.addHook('onRequestAbort', finish);
}

export const transferPriorityPlugin = fp(transferPriority, { name: 'rbd-transfer-priority', fastify: '5.x' });
