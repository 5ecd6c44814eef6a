// The monitor stops mid-run: requests fail within the configured timeout with 503/504, /readyz turns 503,
// and when the monitor returns the service recovers by itself within 10 s. The manager killed while tasks are
// queued and running: they finish (the task engine does not need the mgr), before and after it comes back.
// Runs on a cluster of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { buildApp } from '../../src/http/app.js';
import type { FastifyInstance } from 'fastify';
import { ownCluster } from '../helpers/own-cluster.js';

const cluster = ownCluster('faults', 3360, 6860);
const OP_TIMEOUT_S = 3;
const DEADLINE_MS = OP_TIMEOUT_S * 1500;
let ceph: CephClient;
let app: FastifyInstance;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster.up();
  ceph = new CephClient({
    confFile: cluster.conf, clientId: 'rbdapi-pools', keyring: cluster.keyring('rbdapi-pools'),
    mountTimeout: OP_TIMEOUT_S, monOpTimeout: OP_TIMEOUT_S, osdOpTimeout: OP_TIMEOUT_S,
    operationTimeoutMs: DEADLINE_MS, backoffMinMs: 200, backoffMaxMs: 1000,
  });
  await ceph.ready();
  app = await buildApp({ ceph, settings: { readyCacheMs: 200, readyTimeoutMs: 1000 } });
  await app.ready();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await ceph?.close();
  try { cluster.up(); } finally { cluster.down(); }
});

async function timed(url: string, method: 'GET' | 'PUT' = 'GET', body?: unknown) {
  const started = performance.now();
  const r = await app.inject({
    method, url,
    ...(body ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: r.statusCode, ms: performance.now() - started, code: r.statusCode >= 400 ? r.json().code as string : undefined };
}

describe('monitor stopped and restarted under load', () => {
  it('fails fast with 503/504, readyz 503, then recovers within 10 s without a restart', async () => {
    expect((await timed('/readyz')).status).toBe(200);
    expect((await timed('/api/v1/pools')).status).toBe(200);
    expect((await timed('/api/v1/pools/rbd/images/before', 'PUT', { size: '1MiB' })).status).toBe(201);

    cluster.killMon();
    const stoppedAt = performance.now();

    // load while the monitor is gone: pool listings (mon commands) and image work (OSD + mon)
    const during = await Promise.all([
      ...Array.from({ length: 8 }, () => timed('/api/v1/pools')),
      ...Array.from({ length: 8 }, (_, i) => timed(`/api/v1/pools/rbd/images/during-${i}`, 'PUT', { size: '1MiB' })),
      ...Array.from({ length: 8 }, () => timed('/api/v1/pools/rbd/images?details=true')),
    ]);
    const statuses = during.map((d) => d.status);
    console.log('while the monitor is down:', JSON.stringify(during.map((d) => `${d.status}${d.code ? ` ${d.code}` : ''} ${Math.round(d.ms)}ms`)));
    // every request answered within the deadline (plus scheduling slack), none hung
    for (const d of during) expect(d.ms).toBeLessThan(DEADLINE_MS + 2000);
    // pool listings need the monitor: they must fail, with 503 or 504 only
    for (const d of during.slice(0, 8)) {
      expect([503, 504]).toContain(d.status);
      expect(d.code).toBe(d.status === 504 ? 'CEPH_TIMEOUT' : 'CEPH_UNAVAILABLE');
    }
    for (const s of statuses) expect([200, 201, 503, 504]).toContain(s);

    // readiness turns 503 (a cached check with a short timeout)
    let ready = 200;
    for (let i = 0; i < 20 && ready === 200; i++) {
      ready = (await timed('/readyz')).status;
      if (ready === 200) await sleep(250);
    }
    expect(ready).toBe(503);
    const readyz = await timed('/readyz');
    expect(readyz.ms).toBeLessThan(1500);
    expect((await timed('/healthz')).status).toBe(200);
    console.log(`monitor down for ${Math.round(performance.now() - stoppedAt)} ms before restart`);

    // the monitor returns: the service recovers by itself
    cluster.up();
    const back = performance.now();
    let recovered = -1;
    while (performance.now() - back < 30_000) {
      const [r, p] = await Promise.all([timed('/readyz'), timed('/api/v1/pools')]);
      if (r.status === 200 && p.status === 200) {
        recovered = performance.now() - back;
        break;
      }
      await sleep(200);
    }
    console.log(`recovered ${Math.round(recovered)} ms after the monitor was back`);
    expect(recovered).toBeGreaterThanOrEqual(0);
    expect(recovered).toBeLessThan(10_000);
    const after = await timed('/api/v1/pools/rbd/images/after', 'PUT', { size: '1MiB' });
    expect(after.status).toBe(201);
    // the images made or refused during the outage: each either exists complete or not at all
    const list = await app.inject({ method: 'GET', url: '/api/v1/pools/rbd/images?details=true&limit=1000' });
    expect(list.statusCode).toBe(200);
    for (const item of list.json().items as { name: string; size: number }[]) expect(item.size).toBe(1024 * 1024);
    const madeDuring = during.slice(8, 16).map((d, i) => ({ d, name: `during-${i}` }));
    const names = new Set((list.json().items as { name: string }[]).map((i) => i.name));
    for (const { d, name } of madeDuring) if (d.status === 201) expect(names.has(name)).toBe(true);
  }, 120_000);
});

describe('manager killed while tasks are queued and running', () => {
  it('the tasks finish while the mgr is down and after it is back; nothing is left', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `mgr-${i}`);
    // layering only (no object map): each removal trims every object of its 2 GiB, so they queue behind each other
    for (const n of names) {
      const r = await app.inject({ method: 'PUT', url: `/api/v1/pools/rbd/images/${n}`, payload: { size: '2GiB', features: ['layering'] } });
      expect(r.statusCode, r.body).toBe(201);
    }
    cluster.killMgr();
    const tasks: string[] = [];
    for (const n of names.slice(0, 3)) {
      const r = await app.inject({ method: 'DELETE', url: `/api/v1/pools/rbd/images/${n}` });
      expect(r.statusCode, r.body).toBe(204);
      tasks.push(/<([^>]+)>/.exec(String(r.headers.link))![1]!);
    }
    const waitAll = async (ids: string[]): Promise<{ state: string; action: string }[]> => {
      const until = Date.now() + 90_000;
      for (;;) {
        const states = await Promise.all(ids.map(async (id) => (await app.inject({ method: 'GET', url: id })).json() as { state: string; action: string }));
        if (states.every((t) => ['succeeded', 'failed', 'cancelled'].includes(t.state)) || Date.now() > until) return states;
        await sleep(250);
      }
    };
    // the mgr stays down until these end
    const whileDown = await waitAll(tasks);
    expect(whileDown.map((t) => t.state), JSON.stringify(whileDown)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // more removals queued, and the mgr restarted while they run
    const later: string[] = [];
    for (const n of names.slice(3)) {
      const r = await app.inject({ method: 'DELETE', url: `/api/v1/pools/rbd/images/${n}` });
      expect(r.statusCode, r.body).toBe(204);
      later.push(/<([^>]+)>/.exec(String(r.headers.link))![1]!);
    }
    cluster.up();
    const afterRestart = await waitAll(later);
    expect(afterRestart.map((t) => t.state), JSON.stringify(afterRestart)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const list = await app.inject({ method: 'GET', url: '/api/v1/pools/rbd/images?prefix=mgr-' });
    expect(list.json().items).toEqual([]);
    const trash = await app.inject({ method: 'GET', url: '/api/v1/pools/rbd/trash' });
    expect((trash.json().items as { name: string }[]).filter((e) => e.name.startsWith('mgr-'))).toEqual([]);
  }, 240_000);
});
