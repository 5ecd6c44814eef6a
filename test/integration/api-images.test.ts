// /api/v1/pools/{pool}/images on the real cluster: every route and error code of the contract.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { makePool, uniqueName } from '../helpers/cluster.js';
import { Images } from '../../src/ceph/images.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const it = usePoolApp({ prefix: 'api-img', key: 'rbdapi' });
let t: TestApp;
let admin: CephConnection;
let pool: TestPool;
let base: string;
const GiB = 1024 ** 3;

it.beforeAll(({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; admin = c;
  base = `/api/v1/pools/${pool.name}/images`;
});

const names = async (): Promise<string[]> => new Images(admin).listNames(pool.name);

describe('create (POST)', () => {
  it('201 with Location and the image in integer bytes; sizes accept binary units', async () => {
    const r = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'p1', size: '10GiB' }) });
    expect(r.statusCode).toBe(201);
    expect(r.headers.location).toBe(`${base}/p1`);
    const img = r.json();
    expect(img).toMatchObject({ name: 'p1', pool: pool.name, size: 10 * GiB, objectSize: 4 * 1024 * 1024, snapshotCount: 0, watchers: [] });
    expect(img.id).toMatch(/^[0-9a-f]+$/);
    expect(Date.now() - Date.parse(img.createdAt)).toBeLessThan(120_000);
    expect(img.features).toEqual(expect.arrayContaining(['layering', 'exclusive-lock']));
  });

  it('honours features, objectSize, striping and a data pool', async () => {
    const r = await t.app.inject({
      method: 'POST', url: base,
      ...json({ name: 'opts', size: '1GiB', features: ['layering'], objectSize: '8MiB', stripeUnit: '1MiB', stripeCount: 4 }),
    });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ objectSize: 8 * 1024 * 1024, order: 23, stripeUnit: 1024 * 1024, stripeCount: 4 });
    expect(r.json().features).toEqual(expect.arrayContaining(['layering', 'striping']));
    expect(r.json().features).not.toContain('exclusive-lock');

    const data = await makePool(admin, 'api-data');
    try {
      const d = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'with-data-pool', size: 1048576, dataPool: data.name }) });
      expect(d.statusCode, d.body).toBe(201);
      expect(d.json().dataPool).toBe(data.name);
      expect(d.json().features).toContain('data-pool');
      expect((await t.app.inject({ method: 'DELETE', url: `${base}/with-data-pool` })).statusCode).toBe(204);
    } finally {
      await data.remove();
    }
    const missing = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'no-data', size: 1048576, dataPool: 'nope-none' }) });
    expect(missing.statusCode).toBe(400);
  });

  it('409 IMAGE_EXISTS on a second POST', async () => {
    await t.app.inject({ method: 'POST', url: base, ...json({ name: 'dup', size: 1048576 }) });
    const r = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'dup', size: 1048576 }) });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'IMAGE_EXISTS', errno: 'EEXIST', status: 409 });
  });

  it('404 POOL_NOT_FOUND for a missing pool', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/pools/absent-pool-q/images', ...json({ name: 'x', size: 1048576 }) });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('POOL_NOT_FOUND');
  });

  it('400 for bad sizes, names and options — and the pool is unchanged', async () => {
    const before = await names();
    const bad: unknown[] = [
      { name: 'a', size: 0 }, { name: 'a', size: -1 }, { name: 'a', size: 1.5 }, { name: 'a', size: '1.5B' }, { name: 'a', size: 'ten' },
      { name: 'a', size: '10GB' }, { name: 'a', size: '99999999PiB' }, { name: 'a', size: 2 ** 60 }, { name: 'a', size: '' },
      { name: 'a', size: null }, { name: 'a', size: true }, { name: 'a' }, { size: 1048576 }, { name: '', size: 1 },
      { name: 'has space', size: 1 }, { name: 'slash/name', size: 1 }, { name: 'at@x', size: 1 }, { name: '-lead', size: 1 },
      { name: 'x'.repeat(129), size: 1 }, { name: 'a', size: 1, objectSize: '3MiB' }, { name: 'a', size: 1, objectSize: '64MiB' },
      { name: 'a', size: 1, objectSize: 1024 }, { name: 'a', size: 1, stripeUnit: '3MiB' }, { name: 'a', size: 1, features: ['warp-drive'] },
      { name: 'a', size: 1, features: ['object-map'] }, { name: 'a', size: 1, stripeCount: 0 }, { name: 'a', size: 1, unknown: true },
      [], 'text', 42,
    ];
    for (const body of bad) {
      const r = await t.app.inject({ method: 'POST', url: base, ...json(body) });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(typeof r.json().detail).toBe('string');
    }
    const garbage = await t.app.inject({ method: 'POST', url: base, payload: '{"name": "a", size', headers: { 'content-type': 'application/json' } });
    expect(garbage.statusCode).toBe(400);
    const wrongType = await t.app.inject({ method: 'POST', url: base, payload: 'name=a', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.statusCode).toBe(415);
    expect(wrongType.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await names()).toEqual(before);
  });
});

describe('idempotent PUT', () => {
  it('201 when created, 200 when identical, 409 IMAGE_SPEC_CONFLICT otherwise', async () => {
    const url = `${base}/vol-1`;
    const first = await t.app.inject({ method: 'PUT', url, ...json({ size: '2GiB', features: ['layering', 'exclusive-lock'] }) });
    expect(first.statusCode, first.body).toBe(201);
    const again = await t.app.inject({ method: 'PUT', url, ...json({ size: 2 * GiB, features: ['exclusive-lock', 'layering'] }) });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    const sizeOnly = await t.app.inject({ method: 'PUT', url, ...json({ size: '2048MiB' }) });
    expect(sizeOnly.statusCode).toBe(200);
    const bigger = await t.app.inject({ method: 'PUT', url, ...json({ size: '3GiB' }) });
    expect(bigger.statusCode).toBe(409);
    expect(bigger.json()).toMatchObject({ code: 'IMAGE_SPEC_CONFLICT' });
    const otherFeatures = await t.app.inject({ method: 'PUT', url, ...json({ size: '2GiB', features: ['layering'] }) });
    expect(otherFeatures.statusCode).toBe(409);
    const otherObject = await t.app.inject({ method: 'PUT', url, ...json({ size: '2GiB', objectSize: '8MiB' }) });
    expect(otherObject.statusCode).toBe(409);
    expect((await t.app.inject({ method: 'GET', url })).json().size).toBe(2 * GiB);
  });

  it('concurrent PUTs of one name make exactly one image', async () => {
    const url = `${base}/race-1`;
    const results = await Promise.all(Array.from({ length: 24 }, () =>
      t.app.inject({ method: 'PUT', url, ...json({ size: '1GiB' }) })));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(23);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    expect((await names()).filter((n) => n === 'race-1')).toHaveLength(1);
  });

  it('concurrent PUTs from two service instances (two Ceph clients) make exactly one image', async () => {
    const other = await testApp('rbdapi');
    try {
      const url = `${base}/race-2`;
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? other : t).app.inject({ method: 'PUT', url, ...json({ size: '1GiB' }) })));
      expect(results.map((r) => r.statusCode).filter((c) => c === 201)).toHaveLength(1);
      expect(results.every((r) => r.statusCode === 200 || r.statusCode === 201)).toBe(true);
      expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    } finally {
      await other.close();
    }
  });
});

describe('get, resize, delete', () => {
  it('GET 404 IMAGE_NOT_FOUND; POOL_NOT_FOUND for a missing pool', async () => {
    const r = await t.app.inject({ method: 'GET', url: `${base}/nothing-here` });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ code: 'IMAGE_NOT_FOUND', errno: 'ENOENT' });
    const p = await t.app.inject({ method: 'GET', url: '/api/v1/pools/absent-pool-q/images/x' });
    expect(p.json().code).toBe('POOL_NOT_FOUND');
  });

  it('PATCH grows; shrinking needs allowShrink', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/rs`, ...json({ size: '1GiB' }) });
    const grow = await t.app.inject({ method: 'PATCH', url: `${base}/rs`, ...json({ size: '3GiB' }) });
    expect(grow.statusCode).toBe(200);
    expect(grow.json().size).toBe(3 * GiB);
    const shrink = await t.app.inject({ method: 'PATCH', url: `${base}/rs`, ...json({ size: '1GiB' }) });
    expect(shrink.statusCode).toBe(409);
    expect(shrink.json()).toMatchObject({ code: 'SHRINK_NOT_ALLOWED', currentSize: 3 * GiB });
    expect((await t.app.inject({ method: 'GET', url: `${base}/rs` })).json().size).toBe(3 * GiB);
    const ok = await t.app.inject({ method: 'PATCH', url: `${base}/rs`, ...json({ size: '1GiB', allowShrink: true }) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().size).toBe(GiB);
    for (const body of [{ size: 0 }, { size: '1XB' }, {}, { size: '1GiB', allowShrink: 'yes' }]) {
      expect((await t.app.inject({ method: 'PATCH', url: `${base}/rs`, ...json(body) })).statusCode).toBe(400);
    }
    expect((await t.app.inject({ method: 'PATCH', url: `${base}/missing-rs`, ...json({ size: 1 }) })).statusCode).toBe(404);
  });

  it('DELETE 204, then 404', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/del`, ...json({ size: 1048576 }) });
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/del` })).statusCode).toBe(204);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/del` });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('IMAGE_NOT_FOUND');
  });

  it('DELETE 409 IMAGE_IN_USE naming the watchers while another client holds it open', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/held`, ...json({ size: 1048576 }) });
    const release = await new Images(admin).hold(pool.name, 'held');
    try {
      const shown = await t.app.inject({ method: 'GET', url: `${base}/held` });
      expect(shown.json().watchers.length).toBeGreaterThan(0);
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/held` });
      expect(r.statusCode).toBe(409);
      // the watchers are checked before the image moves to the trash (rbd_trash_move itself ignores them)
      expect(r.json()).toMatchObject({ code: 'IMAGE_IN_USE' });
      expect(r.json().watchers[0].address).toMatch(/\d+\.\d+\.\d+\.\d+:\d+/);
      expect(r.json().detail).toContain(r.json().watchers[0].address);
    } finally {
      await release();
    }
    expect(await names()).toContain('held');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/held` })).statusCode).toBe(204);
  });

  it('DELETE 409 IMAGE_HAS_SNAPSHOTS and keeps image and snapshots', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/snappy`, ...json({ size: 1048576 }) });
    const images = new Images(admin);
    await images.snapshotCreate(pool.name, 'snappy', 's1');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/snappy` });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'IMAGE_HAS_SNAPSHOTS', snapshotCount: 1 });
    expect((await t.app.inject({ method: 'GET', url: `${base}/snappy` })).json().snapshotCount).toBe(1);
    await images.snapshotRemove(pool.name, 'snappy', 's1');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/snappy` })).statusCode).toBe(204);
  });

  it('reaches existing images with unusual names through percent-encoding', async () => {
    const images = new Images(admin);
    for (const odd of ['with space', 'ünïcödé', 'semi;colon', 'q?mark', 'hash#tag', 'per%cent']) {
      await images.create(pool.name, odd, 1048576);
      const url = `${base}/${encodeURIComponent(odd)}`;
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode, odd).toBe(200);
      expect(r.json().name).toBe(odd);
      expect((await t.app.inject({ method: 'PUT', url, ...json({ size: 1048576 }) })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'PATCH', url, ...json({ size: 2097152 }) })).json().size).toBe(2097152);
      expect((await t.app.inject({ method: 'DELETE', url })).statusCode).toBe(204);
    }
    // creating such a name is refused
    const r = await t.app.inject({ method: 'PUT', url: `${base}/${encodeURIComponent('new name')}`, ...json({ size: 1 }) });
    expect(r.statusCode).toBe(400);
  });
});

describe('listing', () => {
  let listPool: { name: string; remove: () => Promise<void> };
  const made: string[] = [];
  beforeAll(async () => {
    listPool = await makePool(admin, 'api-list');
    const images = new Images(admin);
    for (let i = 0; i < 57; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, 57 - i) }, (_, k) => {
        const n = `img-${String(i + k).padStart(3, '0')}${(i + k) % 5 === 0 ? '-gold' : ''}`;
        made.push(n);
        return images.create(listPool.name, n, 1048576 * (1 + ((i + k) % 3)));
      }));
    }
    made.sort();
  });
  afterAll(async () => { await listPool.remove(); });

  it('pages through every image exactly once, sorted, with total and nextCursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?limit=10&total=true${q}` });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body.total).toBe(57);
      expect(body.items.length).toBeLessThanOrEqual(10);
      for (const it of body.items) expect(Object.keys(it)).toEqual(['name']);
      seen.push(...body.items.map((i: { name: string }) => i.name));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(6);
    expect(seen).toEqual(made);
  });

  it('no item lost or repeated when images are created and deleted between pages', async () => {
    const images = new Images(admin);
    const first = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?limit=20` })).json();
    await images.create(listPool.name, 'aaa-before-cursor', 1048576);
    await images.create(listPool.name, 'zzz-after-cursor', 1048576);
    const rest: string[] = [];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?limit=20&cursor=${cursor}` })).json();
      rest.push(...page.items.map((i: { name: string }) => i.name));
      cursor = page.nextCursor;
    }
    const all = [...first.items.map((i: { name: string }) => i.name), ...rest];
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((n) => made.includes(n))).toEqual(made);
    expect(all).toContain('zzz-after-cursor');
    await images.remove(listPool.name, 'aaa-before-cursor');
    await images.remove(listPool.name, 'zzz-after-cursor');
  });

  it('details=true reads only the page; search filters; default limit 100; limit bounds', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?details=true&search=GOLD&limit=5&total=true` });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.total).toBe(made.filter((n) => n.includes('gold')).length);
    expect(body.items).toHaveLength(5);
    expect(body.items[0]).toMatchObject({ pool: listPool.name, objectSize: 4194304 });
    expect(body.items[0].size).toBeGreaterThan(0);
    expect(body.items.every((i: { name: string }) => i.name.includes('gold'))).toBe(true);
    const all = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images` })).json();
    expect(all.items).toHaveLength(57);
    expect(all.nextCursor).toBeNull();
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'details=maybe', 'cursor=not-a-cursor', 'cursor=%00', 'bogus=1']) {
      const bad = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?${q}` });
      expect(bad.statusCode, q).toBe(400);
      expect(bad.json().code).toBe('VALIDATION_FAILED');
    }
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${listPool.name}/images?limit=1000` })).statusCode).toBe(200);
  });

  it('404 POOL_NOT_FOUND when listing a missing pool', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/pools/absent-pool-q/images' });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('POOL_NOT_FOUND');
  });
});

describe('unique names across tests', () => {
  it('uniqueName differs', () => { expect(uniqueName('a')).not.toBe(uniqueName('a')); });
});

describe('Prefer: return=minimal and listing weight', () => {
  it('POST and PUT with Prefer: return=minimal answer {name, pool, size} and create the full image', async () => {
    const headers = { 'content-type': 'application/json', prefer: 'handling=strict, return=minimal' };
    const p = await t.app.inject({ method: 'POST', url: base, payload: JSON.stringify({ name: 'min1', size: '3MiB' }), headers });
    expect(p.statusCode).toBe(201);
    expect(p.headers['preference-applied']).toBe('return=minimal');
    expect(p.headers.location).toBe(`${base}/min1`);
    expect(p.json()).toEqual({ name: 'min1', pool: pool.name, size: 3 * 1024 * 1024 });
    const u = await t.app.inject({ method: 'PUT', url: `${base}/min2`, payload: JSON.stringify({ size: '5MiB' }), headers });
    expect(u.statusCode).toBe(201);
    expect(u.json()).toEqual({ name: 'min2', pool: pool.name, size: 5 * 1024 * 1024 });
    // a repeat is a 200 with the full image: the spec had to be compared
    const again = await t.app.inject({ method: 'PUT', url: `${base}/min2`, payload: JSON.stringify({ size: '5MiB' }), headers });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ name: 'min2', size: 5 * 1024 * 1024, watchers: [] });
    const full = await t.app.inject({ method: 'GET', url: `${base}/min1` });
    expect(full.json()).toMatchObject({ size: 3 * 1024 * 1024, snapshotCount: 0, watchers: [] });
  });

  it('listings with details carry everything but watchers and mirroring (one OSD round trip per image each); GET of one image has them', async () => {
    const r = await t.app.inject({ method: 'GET', url: `${base}?details=true&search=min` });
    expect(r.statusCode).toBe(200);
    const items = r.json().items as Record<string, unknown>[];
    expect(items.map((i) => i.name)).toEqual(['min1', 'min2']);
    for (const i of items) {
      expect(i).toMatchObject({ pool: pool.name, objectSize: 4 * 1024 * 1024, snapshotCount: 0 });
      expect(typeof i.id).toBe('string');
      expect(i.watchers).toBeUndefined();
      expect(i.mirroring).toBeUndefined(); // only with ?mirroring= (the DR page's filter)
      // the listing reads headers, GET opens the image: the same answer but watchers, mirroring and the snapshot
      // limit (one more OSD read each, for one image only)
      const one = (await t.app.inject({ method: 'GET', url: `${base}/${String(i.name)}` })).json();
      expect(one.mirroring).toBeNull();
      expect(one.snapshotLimit).toBeNull();
      expect(i).toEqual({ ...one, watchers: undefined, mirroring: undefined, snapshotLimit: undefined });
    }
  });
});
