// Item 3 of the robustness issue: long work never starves short work. 16 deletes and shrinks of big images
// without object map (every object number is trimmed) run at once; meanwhile GET of an image and a page of
// names answer within 1 s, and /readyz stays 200. Also: a shrink through Images.resize (the long-call budget,
// a progress function that is C code, not a JS callback per object) works.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { nativeLoad } from '../../src/ceph/process.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'rob-long', key: 'admin' });
let t: TestApp;
let pool: TestPool;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
});

describe('long work vs short work', () => {
  it('a shrink through Images.resize runs on the long budget with a native progress function', async () => {
    const base = `/api/v1/pools/${pool.name}/images`;
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'sh', size: '8GiB', features: ['layering'] }) })).statusCode).toBe(201);
    rbd('bench', '--io-type', 'write', '--io-total', '8M', '--io-size', '4M', `${pool.name}/sh`);
    let longSeen = 0;
    const watch = setInterval(() => { longSeen = Math.max(longSeen, nativeLoad().longInFlight); }, 5);
    await t.ceph.images.resize(pool.name, 'sh', 1024 * 1024, true);
    clearInterval(watch);
    expect(longSeen).toBeGreaterThanOrEqual(1);
    const info = JSON.parse(rbd('info', '--format', 'json', `${pool.name}/sh`)) as { size: number };
    expect(info.size).toBe(1024 * 1024);
  }, 60_000);

  it('16 deletes and shrinks of 64 GiB images without object map: GET and a page still answer within 1 s', async () => {
    const base = `/api/v1/pools/${pool.name}/images`;
    for (let i = 0; i < 16; i++) {
      const r = await t.app.inject({ method: 'POST', url: base, ...json({ name: `big${i}`, size: '64GiB', features: ['layering'] }) });
      expect(r.statusCode).toBe(201);
    }
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'small', size: '1MiB' }) })).statusCode).toBe(201);
    const started = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0
      ? t.app.inject({ method: 'DELETE', url: `${base}/big${i}` })
      : t.app.inject({ method: 'PATCH', url: `${base}/big${i}`, ...json({ size: '1MiB', allowShrink: true }) }))));
    for (const r of started) expect([200, 202, 204], r.body).toContain(r.statusCode);
    const tasks = started.map((r) => r.headers.location).filter((l): l is string => typeof l === 'string' && l.includes('/tasks/'));

    // while they run: short requests keep answering fast
    let worstGet = 0, worstPage = 0, worstReady = 0, longMax = 0;
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      longMax = Math.max(longMax, nativeLoad().longInFlight);
      let t0 = performance.now();
      const g = await t.app.inject({ method: 'GET', url: `${base}/small` });
      worstGet = Math.max(worstGet, performance.now() - t0);
      expect(g.statusCode).toBe(200);
      t0 = performance.now();
      const p = await t.app.inject({ method: 'GET', url: `${base}?limit=100` });
      worstPage = Math.max(worstPage, performance.now() - t0);
      expect(p.statusCode).toBe(200);
      t0 = performance.now();
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      worstReady = Math.max(worstReady, performance.now() - t0);
      expect(ready.statusCode).toBe(200);
      await sleep(100);
    }
    console.log(`during 16 long operations: worst GET ${worstGet.toFixed(0)} ms, page ${worstPage.toFixed(0)} ms, readyz ${worstReady.toFixed(0)} ms; `
      + `long calls in flight up to ${longMax}`);
    // the long work really ran meanwhile (on the long budget)
    expect(longMax).toBeGreaterThanOrEqual(1);
    expect(worstGet).toBeLessThan(1000);
    expect(worstPage).toBeLessThan(1000);
    // let the tasks end before the pool goes
    for (const loc of tasks) {
      for (let i = 0; i < 240; i++) {
        const s = (await t.app.inject({ method: 'GET', url: loc })).json() as { state: string };
        if (['succeeded', 'failed', 'cancelled'].includes(s.state)) break;
        await sleep(500);
      }
    }
  }, 240_000);
});
