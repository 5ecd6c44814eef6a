// /api/v1/pools on the real cluster, with the least-privilege key the service is meant to run with.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { uniqueName } from '../helpers/cluster.js';

let t: TestApp;
const created: string[] = [];

beforeAll(async () => { t = await testApp('rbdapi-pools'); });
afterAll(async () => {
  for (const p of created) {
    await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${p}?confirm=${p}&force=true` });
  }
  await t.close();
});

async function createPool(name = uniqueName('api-pool')) {
  const r = await t.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name, pgNum: 8 }) });
  if (r.statusCode === 201) created.push(name);
  return { name, r };
}

describe('pools', () => {
  it('creates a pool ready for images: 201, Location, application rbd', async () => {
    const { name, r } = await createPool();
    expect(r.statusCode).toBe(201);
    expect(r.headers.location).toBe(`/api/v1/pools/${name}`);
    const body = r.json();
    expect(body).toMatchObject({ name, applications: ['rbd'], pgNum: 8, type: 'replicated' });
    expect(body.stats.objects).toBeGreaterThanOrEqual(0);
    // rbd_pool_init ran: images can be made at once
    const img = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${name}/images`, ...json({ name: 'first', size: '1GiB' }) });
    expect(img.statusCode).toBe(201);
  });

  it('lists pools with applications and stats', async () => {
    const { name } = await createPool();
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/pools' });
    expect(r.statusCode).toBe(200);
    const mine = r.json().items.find((p: { name: string }) => p.name === name);
    expect(mine).toMatchObject({ name, applications: ['rbd'] });
    expect(typeof mine.id).toBe('number');
    expect(mine.stats).toHaveProperty('storedBytes');
  });

  it('gets one pool; 404 POOL_NOT_FOUND for a missing one', async () => {
    const { name } = await createPool();
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${name}` })).json().name).toBe(name);
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/pools/no-such-pool-xyz' });
    expect(r.statusCode).toBe(404);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json()).toMatchObject({ status: 404, code: 'POOL_NOT_FOUND', errno: 'ENOENT' });
  });

  it('409 POOL_EXISTS on a second create', async () => {
    const { name } = await createPool();
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name }) });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'POOL_EXISTS', errno: 'EEXIST' });
  });

  it('rejects bad pool names and bodies with 400 before Ceph is called', async () => {
    for (const body of [{ name: '' }, { name: 'a/b' }, { name: '.hidden' }, { name: 'x'.repeat(64) }, { name: 'ok', pgNum: 0 },
      { name: 'ok', pgNum: 1.5 }, { name: 'ok', extra: 1 }, {}, { name: 7 }]) {
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/pools', ...json(body) });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().code).toBe('VALIDATION_FAILED');
    }
    const names = (await t.app.inject({ method: 'GET', url: '/api/v1/pools' })).json().items.map((p: { name: string }) => p.name);
    expect(names).not.toContain('ok');
  });

  it('DELETE needs ?confirm=<name>; refuses a pool with images unless force=true', async () => {
    const { name } = await createPool();
    for (const q of ['', '?confirm=', `?confirm=${name}x`, '?confirm=other']) {
      const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}${q}` });
      expect(r.statusCode).toBe(400);
      expect(r.json().code).toBe('CONFIRMATION_REQUIRED');
    }
    await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${name}/images/keep`, ...json({ size: 1048576 }) });
    const busy = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}` });
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({ code: 'POOL_NOT_EMPTY', imageCount: 1 });
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${name}` })).statusCode).toBe(200);
    const ok = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}&force=true` });
    expect(ok.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${name}` })).statusCode).toBe(404);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}` });
    expect(again.statusCode).toBe(404);
  });

  it('deletes an empty pool with confirmation', async () => {
    const { name } = await createPool();
    const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}` });
    expect(r.statusCode).toBe(204);
    expect(r.body).toBe('');
  });
});

describe('permissions', () => {
  it('403 PERMISSION_DENIED when the key may not create pools (images-only key)', async () => {
    const limited = await testApp('rbdapi');
    try {
      const name = uniqueName('denied');
      const r = await limited.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name }) });
      expect(r.statusCode).toBe(403);
      expect(r.json()).toMatchObject({ code: 'PERMISSION_DENIED' });
      expect(['EACCES', 'EPERM']).toContain(r.json().errno);
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${name}` })).statusCode).toBe(404);
    } finally {
      await limited.close();
    }
  });
});
