// Which requests lower the transfer budget (src/http/plugins/transfer-priority.ts): every API route but those
// marked `config: { transfer: true }` (content and diff); probes and other non-API routes do not count.
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { configureTransfers, currentIoLimit, transferSettings } from '../../src/ceph/content/budget.js';
import { transferPriorityPlugin } from '../../src/http/plugins/transfer-priority.js';
import { API_PREFIX } from '../../src/http/paths.js';

const before = { ...transferSettings };
afterEach(() => { configureTransfers(before); });

describe('transfer priority', () => {
  it('a request to an unmarked API route holds transfers to the limit while it runs; marked routes and probes do not', async () => {
    configureTransfers({ ioLimit: 2, ioBurst: 6, quietMs: 0 });
    const app = Fastify();
    await app.register(transferPriorityPlugin);
    const seen = async () => ({ limit: currentIoLimit() });
    app.get(`${API_PREFIX}/pools/:pool/images/:image/content`, { config: { transfer: true } }, seen);
    app.get(`${API_PREFIX}/pools/:pool/images/:image/diff`, { config: { transfer: true } }, seen);
    app.get(`${API_PREFIX}/pools/:pool/images/:image`, seen);
    app.get(`${API_PREFIX}/pools/:pool/images/:image/contents`, seen);
    app.get('/healthz', seen);
    const limit = async (url: string) => (await app.inject({ method: 'GET', url })).json().limit as number;
    expect(await limit(`${API_PREFIX}/pools/p/images/a/content`)).toBe(6);
    expect(await limit(`${API_PREFIX}/pools/p/images/a/diff?fromSnapshot=s&format=rbd-diff`)).toBe(6);
    expect(await limit('/healthz')).toBe(6);
    expect(await limit(`${API_PREFIX}/pools/p/images/a`)).toBe(2);
    expect(await limit(`${API_PREFIX}/pools/p/images/a/contents`)).toBe(2);
    await app.close();
  });
});
