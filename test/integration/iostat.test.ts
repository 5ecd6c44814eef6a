// I/O statistics from the mgr: the first request registers the query (ready: false), then an image under load
// shows up with write rates; per-image and per-pool views; namespace tokens see only their images.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { parseStats } from '../../src/ceph/iostat.js';
import { TokenStore } from '../../src/http/auth.js';
import { json, testApp, type TestApp } from '../helpers/app.js';
import { clusterDir, connect, makePool } from '../helpers/cluster.js';

const ALL = 'iostat-all-0123456789abcdef0123';
const TENANT = 'iostat-tenant-0123456789abcdef';
let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
const benches: ChildProcess[] = [];
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

function bench(spec: string): ChildProcess {
  const dir = clusterDir();
  const child = spawn('rbd', ['-c', `${dir}/ceph.conf`, '--id', 'admin', '--keyring', `${dir}/ceph.client.admin.keyring`,
    'bench', '--io-type', 'write', '--io-size', '4K', '--io-threads', '2', '--io-total', '4G', '--io-pattern', 'rand',
    // load enough to be reported, throttled by librbd's QoS so that it does not take an OSD core from the other
    // test files running beside this one while the mgr's query warms up
    '--rbd_qos_iops_limit', '200', spec], { stdio: 'ignore' });
  benches.push(child);
  return child;
}

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'iostat');
  t = await testApp('rbdapi', { auth: TokenStore.parse(`${ALL} write * all\n${TENANT} read ${pool.name}/tenant tenant\n`) });
  for (const [url, name] of [[`/api/v1/pools/${pool.name}/images`, 'busy'], [`/api/v1/pools/${pool.name}/images`, 'idle']] as const) {
    expect((await t.app.inject({ method: 'POST', url, ...json({ name, size: '256MiB' }), headers: { 'content-type': 'application/json', ...auth(ALL) } })).statusCode).toBe(201);
  }
});

afterAll(async () => {
  for (const b of benches) if (b.exitCode === null) b.kill('SIGKILL');
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

describe('iostat', () => {
  it('parses the mgr report (pool descriptors with namespaces)', () => {
    const r = parseStats(JSON.stringify({
      timestamp: 1796068691, stat_descriptors: ['write_ops', 'read_ops', 'write_bytes', 'read_bytes', 'write_latency', 'read_latency'],
      pool_descriptors: { 0: 'p', 1: 'p/ns' }, stats: [{ '0/a': [10, 1, 40960, 4096, 5000, 7000] }, { '1/b': [2, 0, 8192, 0, 100, 0] }],
    }));
    expect(r.items).toEqual([
      { pool: 'p', namespace: '', image: 'a', writeOps: 10, readOps: 1, writeBytes: 40960, readBytes: 4096, writeLatencyNs: 5000, readLatencyNs: 7000 },
      { pool: 'p', namespace: 'ns', image: 'b', writeOps: 2, readOps: 0, writeBytes: 8192, readBytes: 0, writeLatencyNs: 100, readLatencyNs: 0 },
    ]);
    expect(parseStats('').items).toEqual([]);
  });

  it('the first request is not ready; under load the busy image shows write rates, the idle one is not listed', async () => {
    const first = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/iostat`, headers: auth(ALL) });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ ready: false, sortBy: 'write_ops', items: [] });
    bench(`${pool.name}/busy`);
    const end = Date.now() + 90_000;
    let report: { ready: boolean; items: { image: string; writeOps: number; writeBytes: number; writeLatencyNs: number }[] } = { ready: false, items: [] };
    while (Date.now() < end) {
      report = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/iostat?sortBy=write_ops`, headers: auth(ALL) })).json();
      if (report.items.some((i) => i.image === 'busy')) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(report.ready).toBe(true);
    const busy = report.items.find((i) => i.image === 'busy')!;
    expect(busy.writeOps).toBeGreaterThan(0);
    expect(busy.writeBytes).toBeGreaterThan(0);
    expect(busy.writeLatencyNs).toBeGreaterThan(0);
    expect(report.items.find((i) => i.image === 'idle')).toBeUndefined();

    const one = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/busy/iostat`, headers: auth(ALL) });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ ready: true, listed: true, stats: { pool: pool.name, namespace: '', image: 'busy' } });
    expect(one.json().stats.writeOps).toBeGreaterThan(0);
    const idle = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/idle/iostat`, headers: auth(ALL) });
    expect(idle.json()).toMatchObject({ listed: false, stats: { image: 'idle', writeOps: 0 } });
    for (const b of benches) if (b.exitCode === null) b.kill('SIGKILL');
  }, 120_000);

  it('a namespace token sees no images of other namespaces; 403 in the default namespace', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/iostat`, headers: auth(TENANT) });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().items).toEqual([]);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/busy/iostat`, headers: auth(TENANT) })).statusCode).toBe(403);
  });

  it('400 for an unknown sortBy; 404 for missing pools, namespaces and images', async () => {
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/iostat?sortBy=iops`, headers: auth(ALL) })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools/no-such-pool-io/iostat', headers: auth(ALL) })).json().code).toBe('POOL_NOT_FOUND');
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/nope/iostat`, headers: auth(ALL) })).json().code).toBe('NAMESPACE_NOT_FOUND');
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/nope/iostat`, headers: auth(ALL) })).json().code).toBe('IMAGE_NOT_FOUND');
  });
});
