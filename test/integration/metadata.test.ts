// Image metadata and per-image librbd settings (QoS) on the real cluster, cross-checked with the rbd CLI.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { ImageMetadata } from '../../src/ceph/metadata.js';
import { json, type TestApp } from '../helpers/app.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'meta', key: 'rbdapi' });
let t: TestApp;
let conn: CephConnection;
let pool: TestPool;
let img: string;

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  const r = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, ...json({ name: 'm', size: '64MiB' }) });
  expect(r.statusCode).toBe(201);
  img = `/api/v1/pools/${pool.name}/images/m`;
});

describe('metadata', () => {
  it('round trip: PUT 201 then 200, GET all and one, DELETE 204 then 404 METADATA_KEY_NOT_FOUND', async () => {
    const put = await t.app.inject({ method: 'PUT', url: `${img}/metadata/owner`, ...json({ value: 'alice' }) });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json()).toEqual({ key: 'owner', value: 'alice' });
    expect(rbd('image-meta', 'get', `${pool.name}/m`, 'owner').trim()).toBe('alice');
    const again = await t.app.inject({ method: 'PUT', url: `${img}/metadata/owner`, ...json({ value: 'bob' }) });
    expect(again.statusCode).toBe(200);
    expect(rbd('image-meta', 'get', `${pool.name}/m`, 'owner').trim()).toBe('bob');
    // keys with reserved characters travel percent-encoded; values may be empty or any UTF-8
    expect((await t.app.inject({ method: 'PUT', url: `${img}/metadata/${encodeURIComponent('k8s.io/pvc')}`, ...json({ value: 'ns/claim ü' }) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'PUT', url: `${img}/metadata/empty`, ...json({ value: '' }) })).statusCode).toBe(201);
    const all = await t.app.inject({ method: 'GET', url: `${img}/metadata` });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({ owner: 'bob', 'k8s.io/pvc': 'ns/claim ü', empty: '' });
    const cli = JSON.parse(rbd('image-meta', 'list', '--format', 'json', `${pool.name}/m`)) as Record<string, string>;
    expect(cli).toEqual({ owner: 'bob', 'k8s.io/pvc': 'ns/claim ü', empty: '' });
    const one = await t.app.inject({ method: 'GET', url: `${img}/metadata/${encodeURIComponent('k8s.io/pvc')}` });
    expect(one.json()).toEqual({ key: 'k8s.io/pvc', value: 'ns/claim ü' });
    expect((await t.app.inject({ method: 'DELETE', url: `${img}/metadata/owner` })).statusCode).toBe(204);
    const gone = await t.app.inject({ method: 'DELETE', url: `${img}/metadata/owner` });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'METADATA_KEY_NOT_FOUND', key: 'owner' });
    const missing = await t.app.inject({ method: 'GET', url: `${img}/metadata/owner` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('METADATA_KEY_NOT_FOUND');
    expect(() => rbd('image-meta', 'get', `${pool.name}/m`, 'owner')).toThrow();
  });

  it('a value set with the CLI and one larger than the first buffer read back exactly', async () => {
    const big = 'x'.repeat(16384);
    expect((await t.app.inject({ method: 'PUT', url: `${img}/metadata/big`, ...json({ value: big }) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: `${img}/metadata/big` })).json().value).toBe(big);
    rbd('image-meta', 'set', `${pool.name}/m`, 'from-cli', 'hello world');
    expect((await t.app.inject({ method: 'GET', url: `${img}/metadata` })).json()).toMatchObject({ big, 'from-cli': 'hello world' });
  });

  it('more keys than one librbd page (300) are all listed', async () => {
    const r = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, ...json({ name: 'many', size: '4MiB' }) });
    expect(r.statusCode).toBe(201);
    const meta = new ImageMetadata(conn);
    // 20 writers at a time (one at a time took ~35 s on 2 cores)
    const keys = Array.from({ length: 300 }, (_, i) => i);
    for (let from = 0; from < keys.length; from += 20) {
      await Promise.all(keys.slice(from, from + 20).map((i) => meta.set(pool.name, 'many', `k${String(i).padStart(3, '0')}`, `v${i}`)));
    }
    const all = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/many/metadata` })).json() as Record<string, string>;
    expect(Object.keys(all)).toHaveLength(300);
    expect(all.k299).toBe('v299');
    expect(all.k000).toBe('v0');
  });

  it('bounds: bad keys and values are 400 and change nothing; a missing image is 404', async () => {
    const before = (await t.app.inject({ method: 'GET', url: `${img}/metadata` })).json();
    const cases: [string, unknown][] = [
      ['sp%20ace', { value: 'x' }],
      ['k'.repeat(257), { value: 'x' }],
      ['tab%09', { value: 'x' }],
      ['ok', { value: 'x'.repeat(16385) }],
      ['ok', { value: 'a\u0000b' }],
      ['ok', { value: 5 }],
      ['ok', {}],
      ['ok', { value: 'x', extra: 1 }],
      ['__proto__', { value: 'x' }],
    ];
    for (const [key, body] of cases) {
      const r = await t.app.inject({ method: 'PUT', url: `${img}/metadata/${key}`, ...json(body) });
      expect(r.statusCode, `${key} ${JSON.stringify(body).slice(0, 40)}`).toBe(400);
    }
    expect((await t.app.inject({ method: 'GET', url: `${img}/metadata` })).json()).toEqual(before);
    const noImage = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/images/nope/metadata/a`, ...json({ value: 'x' }) });
    expect(noImage.statusCode).toBe(404);
    expect(noImage.json().code).toBe('IMAGE_NOT_FOUND');
  });
});

describe('per-image librbd settings (conf_ keys, QoS)', () => {
  it('conf_rbd_qos_iops_limit takes effect for the image (rbd config image get)', async () => {
    const r = await t.app.inject({ method: 'PUT', url: `${img}/metadata/conf_rbd_qos_iops_limit`, ...json({ value: '100' }) });
    expect(r.statusCode, r.body).toBe(201);
    expect(rbd('config', 'image', 'get', `${pool.name}/m`, 'rbd_qos_iops_limit').trim()).toBe('100');
    const config = (await t.app.inject({ method: 'GET', url: `${img}/config` })).json();
    expect(config.items.find((o: { name: string }) => o.name === 'rbd_qos_iops_limit')).toEqual(
      { name: 'rbd_qos_iops_limit', value: '100', source: 'image', type: 'integer' });
    expect(config.items.length).toBeGreaterThan(50);
    expect((await t.app.inject({ method: 'PUT', url: `${img}/metadata/conf_rbd_cache`, ...json({ value: 'false' }) })).statusCode).toBe(201);
    expect(rbd('config', 'image', 'get', `${pool.name}/m`, 'rbd_cache').trim()).toBe('false');
    expect((await t.app.inject({ method: 'PUT', url: `${img}/metadata/conf_rbd_cache_max_dirty_age`, ...json({ value: '2.5' }) })).statusCode).toBe(201);
  });

  it('unknown options and values of the wrong type are 400 and not stored', async () => {
    const cases: [string, string][] = [
      ['conf_rbd_nonexistent_option', '1'],
      ['conf_', '1'],
      ['conf_rbd_qos_iops_limit', 'abc'],
      ['conf_rbd_qos_iops_limit', '-5'],
      ['conf_rbd_qos_iops_limit', '1.5'],
      ['conf_rbd_qos_bps_limit', '10 MB'],
      ['conf_rbd_cache', 'yes'],
      ['conf_rbd_cache_max_dirty_age', 'soon'],
      ['conf_osd_pool_default_size', '3'],
    ];
    for (const [key, value] of cases) {
      const r = await t.app.inject({ method: 'PUT', url: `${img}/metadata/${key}`, ...json({ value }) });
      expect(r.statusCode, `${key}=${value}: ${r.body}`).toBe(400);
      expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', type: 'urn:rbd-rest-api:problem:validation-failed', status: 400 });
    }
    const typed = await t.app.inject({ method: 'PUT', url: `${img}/metadata/conf_rbd_qos_iops_limit`, ...json({ value: 'abc' }) });
    expect(typed.json()).toMatchObject({ key: 'conf_rbd_qos_iops_limit', valueType: 'integer' });
    const cli = JSON.parse(rbd('image-meta', 'list', '--format', 'json', `${pool.name}/m`)) as Record<string, string>;
    expect(cli.conf_rbd_qos_iops_limit).toBe('100');
    expect(cli.conf_rbd_nonexistent_option).toBeUndefined();
    expect(cli.conf_osd_pool_default_size).toBeUndefined();
    // an enum-like string option librbd checks itself: a value it refuses is 400 too
    const bad = await t.app.inject({ method: 'PUT', url: `${img}/metadata/conf_rbd_cache_policy`, ...json({ value: 'nonsense' }) });
    expect(bad.statusCode).toBe(400);
  });
});
