// QoS as a resource (src/ceph/qos.ts): image and pool levels written where `rbd config image|pool set` writes
// them (checked with the rbd CLI), each value reported with its source, namespaces taking the pool's, and a
// limit that actually throttles a librbd client (rbd bench against a limited and an unlimited image).
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { radosSync as rados, rbdSync as rbd } from '../helpers/cli.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { native } from '../../src/ceph/call.js';
import { withOpenImage } from '../../src/ceph/open-image.js';
import { rbdMetadata } from '../../src/native/rbd-metadata.js';

const it = usePoolApp({ prefix: 'qos', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;
let conn: CephConnection;

const cliConfig = (spec: string, level: 'image' | 'pool'): Record<string, { value: string; source: string }> => Object.fromEntries(
  (JSON.parse(rbd('config', level, 'list', '--format', 'json', spec)) as { name: string; value: string; source: string }[])
    .filter((o) => o.name.startsWith('rbd_qos_')).map((o) => [o.name, { value: o.value, source: o.source }]));

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  base = `/api/v1/pools/${pool.name}`;
  expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/ns` })).statusCode).toBe(201);
  for (const [scope, name] of [[base, 'a'], [base, 'b'], [`${base}/namespaces/ns`, 'c']] as const) {
    const r = await t.app.inject({ method: 'POST', url: `${scope}/images`, ...json({ name, size: '64MiB' }) });
    expect(r.statusCode, r.body).toBe(201);
  }
});

describe('QoS', () => {
  it('image level: PUT sets conf_rbd_qos_* (units parsed), reports sources, replaces, DELETE removes', async () => {
    const put = await t.app.inject({ method: 'PUT', url: `${base}/images/a/qos`,
      ...json({ iopsLimit: 1000, bpsLimit: '100MiB', writeBpsLimit: '1G', writeIopsBurst: 2000, writeIopsLimit: 500, writeIopsBurstSeconds: 3 }) });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({
      iopsLimit: { value: 1000, source: 'image' }, bpsLimit: { value: 100 * 2 ** 20, source: 'image' },
      writeBpsLimit: { value: 1e9, source: 'image' }, writeIopsBurst: { value: 2000, source: 'image' },
      writeIopsBurstSeconds: { value: 3, source: 'image' }, readIopsLimit: { value: 0, source: 'default' },
      iopsBurstSeconds: { value: 1, source: 'default' },
    });
    expect(Object.keys(put.json() as object)).toHaveLength(18);
    // where `rbd config image set` writes, as the CLI reads it
    expect(rbd('image-meta', 'get', `${pool.name}/a`, 'conf_rbd_qos_bps_limit').trim()).toBe(String(100 * 2 ** 20));
    expect(cliConfig(`${pool.name}/a`, 'image').rbd_qos_iops_limit).toEqual({ value: '1000', source: 'image' });
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/a/qos` })).json()).toEqual(put.json());

    // PUT replaces: what it does not name is removed
    const replaced = await t.app.inject({ method: 'PUT', url: `${base}/images/a/qos`, ...json({ iopsLimit: 0 }) });
    expect(replaced.json()).toMatchObject({ iopsLimit: { value: 0, source: 'image' }, bpsLimit: { value: 0, source: 'default' } });
    expect(() => rbd('image-meta', 'get', `${pool.name}/a`, 'conf_rbd_qos_bps_limit')).toThrow();
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/a/qos` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/a/qos` })).statusCode).toBe(204);
    expect(cliConfig(`${pool.name}/a`, 'image').rbd_qos_iops_limit).toEqual({ value: '0', source: 'config' });
    expect(rbd('image-meta', 'list', `${pool.name}/a`)).not.toMatch(/conf_/);
  });

  it('pool level: images without their own take it, namespaces too; a namespace of its own is 501', async () => {
    const put = await t.app.inject({ method: 'PUT', url: `${base}/qos`, ...json({ iopsLimit: 300, readBpsLimit: '10Mi' }) });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ iopsLimit: { value: 300, source: 'pool' }, readBpsLimit: { value: 10 * 2 ** 20, source: 'pool' } });
    expect(cliConfig(pool.name, 'pool').rbd_qos_iops_limit).toEqual({ value: '300', source: 'pool' });
    await t.app.inject({ method: 'PUT', url: `${base}/images/b/qos`, ...json({ iopsLimit: 50 }) });
    const a = (await t.app.inject({ method: 'GET', url: `${base}/images/a/qos` })).json();
    const b = (await t.app.inject({ method: 'GET', url: `${base}/images/b/qos` })).json();
    const c = (await t.app.inject({ method: 'GET', url: `${base}/namespaces/ns/images/c/qos` })).json();
    expect(a.iopsLimit).toEqual({ value: 300, source: 'pool' });
    expect(b.iopsLimit).toEqual({ value: 50, source: 'image' });
    expect(b.readBpsLimit).toEqual({ value: 10 * 2 ** 20, source: 'pool' });
    expect(c.iopsLimit).toEqual({ value: 300, source: 'pool' });
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/ns/qos` })).json().iopsLimit).toEqual({ value: 300, source: 'pool' });
    const ns = await t.app.inject({ method: 'PUT', url: `${base}/namespaces/ns/qos`, ...json({ iopsLimit: 10 }) });
    expect(ns.statusCode).toBe(501);
    expect(ns.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(ns.json()).toMatchObject({ code: 'NAMESPACE_QOS_NOT_SUPPORTED', namespace: 'ns' });
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/nope/qos` })).json().code).toBe('NAMESPACE_NOT_FOUND');
    // why: librbd reads overrides from the pool's default namespace only; a conf_ key in the namespace's own
    // rbd_info (where rbd_pool_metadata_set on a namespaced I/O context would write it) changes nothing
    rados('-p', pool.name, '-N', 'ns', 'setomapval', 'rbd_info', 'conf_rbd_qos_iops_limit', '7');
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/ns/images/c/qos` })).json().iopsLimit).toEqual({ value: 300, source: 'pool' });
    expect(cliConfig(`${pool.name}/ns/c`, 'image').rbd_qos_iops_limit).toEqual({ value: '300', source: 'pool' });

    expect((await t.app.inject({ method: 'PUT', url: `${base}/qos`, ...json({ iopsLimit: 200 }) })).json().readBpsLimit)
      .toEqual({ value: 0, source: 'default' });
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/qos` })).statusCode).toBe(204);
    expect(cliConfig(pool.name, 'pool').rbd_qos_iops_limit).toEqual({ value: '0', source: 'config' });
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/a/qos` })).json().iopsLimit).toEqual({ value: 0, source: 'default' });
    await t.app.inject({ method: 'DELETE', url: `${base}/images/b/qos` });
  });

  it('bad values are 400 naming the field and the reason; a missing image is 404', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ bpsLimit: '10Gx' }, 'body.bpsLimit', /unknown unit "Gx"/],
      [{ iopsLimit: -1 }, 'body.iopsLimit', /0 \(no limit\) or more/],
      [{ iopsLimit: 1.5 }, 'body.iopsLimit', /whole number/],
      [{ iopsBurstSeconds: 0 }, 'body.iopsBurstSeconds', /at least 1/],
      [{ iopsLimit: 100, iopsBurst: 50 }, 'body.iopsBurst', /at least iopsLimit/],
      [{ iopsLimt: 100 }, 'body', /iopsLimt/],
    ];
    for (const [body, field, reason] of cases) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/images/a/qos`, ...json(body) });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.body, JSON.stringify(body)).toContain(field);
      expect(r.json().detail, JSON.stringify(body)).toMatch(reason);
    }
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/nope/qos` })).json().code).toBe('IMAGE_NOT_FOUND');
    // QoS overrides are metadata keys: an image at its metadata limit (filled with the CLI) refuses them, unchanged
    // (written straight through librbd, as the rbd CLI would, past the API's own limit checks)
    expect((await t.app.inject({ method: 'POST', url: `${base}/images`, ...json({ name: 'full', size: '4MiB' }) })).statusCode).toBe(201);
    await conn.withIoctx(pool.name, (io) => withOpenImage(io, pool.name, 'full', {}, async (img) => {
      for (let i = 0; i < 9; i++) expect(await native('rbd_metadata_set', rbdMetadata.set, img, `fill${i}`, 'x'.repeat(120_000))).toBe(0);
    }));
    const full = await t.app.inject({ method: 'PUT', url: `${base}/images/full/qos`, ...json({ iopsLimit: 10 }) });
    expect(full.statusCode, full.body).toBe(409);
    expect(full.json()).toMatchObject({ code: 'METADATA_LIMIT_EXCEEDED', limit: 'bytes' });
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/full/qos` })).json().iopsLimit).toEqual({ value: 0, source: 'default' });
  });

  it('a limit throttles a librbd client: rbd bench at 50 IOPS limited vs unlimited', async () => {
    // the same writes on two images; rbd bench opens each with its QoS (librbd applies conf_ metadata at open)
    expect((await t.app.inject({ method: 'PUT', url: `${base}/images/a/qos`, ...json({ writeIopsLimit: 50 }) })).statusCode).toBe(200);
    const bench = (image: string, ops: number): number => {
      const out = rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-threads', '8', '--io-total', `${ops * 4}K`,
        '--io-pattern', 'rand', `${pool.name}/${image}`);
      const m = /elapsed:\s*([\d.]+)\s+ops:\s*(\d+)\s+ops\/sec:\s*([\d.]+)/.exec(out);
      if (!m) throw new Error(`rbd bench: ${out}`);
      return Number(m[3]);
    };
    const limited = bench('a', 150); // 3 s at the limit
    const unlimited = bench('b', 600);
    console.log(`rbd bench 4K writes: limited ${limited.toFixed(0)} IOPS (limit 50), unlimited ${unlimited.toFixed(0)} IOPS`);
    expect(limited).toBeLessThanOrEqual(65);
    expect(unlimited).toBeGreaterThan(2 * limited);
  });
});
