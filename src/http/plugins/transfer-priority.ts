// Transfers yield to other requests (src/ceph/content/budget.ts): every API request that is not a transfer —
// anything but the image content routes (downloads and uploads) — tells the transfer budget when it starts and
// ends, so that transfers keep TRANSFER_IO_LIMIT I/Os in flight while such requests are served and up to
// TRANSFER_IO_BURST when only transfers are. Probes, metrics and the documentation are not counted (a scrape
// every few seconds would keep transfers at the lower budget for nothing).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { foregroundStarted } from '../../ceph/content/budget.js';
import { API_PREFIX } from '../paths.js';

const ends = new WeakMap<FastifyRequest, () => void>();

/** Is this request a transfer (an image's content, downloaded or uploaded)? */
const isTransfer = (url: string | undefined): boolean => url !== undefined && url.endsWith('/content');

async function transferPriority(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url;
    if (route === undefined || !route.startsWith(API_PREFIX) || isTransfer(route)) return;
    const end = foregroundStarted();
    ends.set(req, end);
    req.raw.once('close', end); // a client gone before the answer
  });
  const finish = async (req: FastifyRequest): Promise<void> => { ends.get(req)?.(); };
  app.addHook('onResponse', finish);
  app.addHook('onRequestAbort', finish);
}

export const transferPriorityPlugin = fp(transferPriority, { name: 'rbd-transfer-priority', fastify: '5.x' });
