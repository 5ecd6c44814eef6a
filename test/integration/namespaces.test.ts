// RBD namespaces on the real cluster: list/create/delete, isolation of images between namespaces and the
// default namespace, and tokens scoped to a namespace (pool/ns, pool/*). Cross-checked with the rbd CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const ADMIN = 'ns-admin-0123456789abcdef0123';
const TENANT_A = 'ns-tenant-a-0123456789abcdef01';
const TENANT_B = 'ns-tenant-b-0123456789abcdef01';
const TENANT_A_ADMIN = 'ns-tenant-a-admin-0123456789ab';
const ALL_NS = 'ns-all-namespaces-0123456789ab';
const OTHER_POOL = 'ns-other-pool-0123456789abcdef';

let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let other: { name: string; remove: () => Promise<void> };
let base: string;
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const jsonAs = (token: string, body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth(token) } });


beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'ns');
  other = await makePool(conn, 'ns-other');
  const tokens = TokenStore.parse([
    `${ADMIN} admin * operator`,
    `${TENANT_A} write ${pool.name}/tenant-a tenant-a`,
    `${TENANT_B} write ${pool.name}/tenant-b tenant-b`,
    `${TENANT_A_ADMIN} admin ${pool.name}/tenant-a tenant-a-admin`,
    `${ALL_NS} admin ${pool.name}/* tenants`,
    `${OTHER_POOL} admin ${other.name} other`,
  ].join('\n'));
  t = await testApp('rbdapi', { auth: tokens });
  base = `/api/v1/pools/${pool.name}`;
});

afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await other?.remove();
  await conn?.close();
});

describe('namespaces', () => {
  it('PUT creates (201, then 200), GET lists them sorted, the rbd CLI sees them', async () => {
    for (const ns of ['tenant-b', 'tenant-a']) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/namespaces/${ns}`, headers: auth(ADMIN) });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json()).toEqual({ name: ns, pool: pool.name });
      expect(r.headers.location).toBe(`${base}/namespaces/${ns}`);
    }
    const again = await t.app.inject({ method: 'PUT', url: `${base}/namespaces/tenant-a`, headers: auth(ADMIN) });
    expect(again.statusCode).toBe(200);
    const list = await t.app.inject({ method: 'GET', url: `${base}/namespaces`, headers: auth(ADMIN) });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((n: { name: string }) => n.name)).toEqual(['tenant-a', 'tenant-b']);
    const cli = JSON.parse(rbd('namespace', 'ls', '--format', 'json', pool.name)) as { name: string }[];
    expect(cli.map((n) => n.name).sort()).toEqual(['tenant-a', 'tenant-b']);
  });

  it('400 for names that are not safe (/, @, spaces, leading dot, too long) and nothing is created', async () => {
    for (const bad of ['a%2Fb', 'a@b', 'sp%20ace', '.hidden', '-x', 'x'.repeat(64)]) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/namespaces/${bad}`, headers: auth(ADMIN) });
      expect(r.statusCode, bad).toBe(400);
      expect(r.json().code).toBe('VALIDATION_FAILED');
    }
    const cli = JSON.parse(rbd('namespace', 'ls', '--format', 'json', pool.name)) as { name: string }[];
    expect(cli.map((n) => n.name).sort()).toEqual(['tenant-a', 'tenant-b']);
  });

  it('404 for a missing pool or namespace', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools/no-such-pool-ns/namespaces', headers: auth(ADMIN) })).json().code).toBe('POOL_NOT_FOUND');
    const d = await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/nope`, headers: auth(ADMIN) });
    expect(d.statusCode).toBe(404);
    expect(d.json().code).toBe('NAMESPACE_NOT_FOUND');
    const g = await t.app.inject({ method: 'GET', url: `${base}/namespaces/nope/images`, headers: auth(ADMIN) });
    expect(g.statusCode).toBe(404);
    expect(g.json().code).toBe('NAMESPACE_NOT_FOUND');
  });

  it('the same image name in two namespaces and the default one: three different images', async () => {
    const sizes: Record<string, number> = { '': 1 << 20, 'tenant-a': 2 << 20, 'tenant-b': 3 << 20 };
    for (const [ns, size] of Object.entries(sizes)) {
      const url = ns ? `${base}/namespaces/${ns}/images` : `${base}/images`;
      const r = await t.app.inject({ method: 'POST', url, ...jsonAs(ADMIN, { name: 'vol', size }) });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.headers.location).toBe(`${url}/vol`);
    }
    const ids = new Set<string>();
    for (const [ns, size] of Object.entries(sizes)) {
      const url = ns ? `${base}/namespaces/${ns}/images/vol` : `${base}/images/vol`;
      const r = await t.app.inject({ method: 'GET', url, headers: auth(ADMIN) });
      expect(r.statusCode).toBe(200);
      expect(r.json().size).toBe(size);
      ids.add(r.json().id);
      const info = JSON.parse(rbd('info', '--format', 'json', ...(ns ? ['--namespace', ns] : []), `${pool.name}/vol`)) as { size: number };
      expect(info.size).toBe(size);
    }
    expect(ids.size).toBe(3);
    // an image only in tenant-a is invisible from tenant-b and from the default namespace
    expect((await t.app.inject({ method: 'POST', url: `${base}/namespaces/tenant-a/images`, ...jsonAs(ADMIN, { name: 'only-a', size: 1 << 20 }) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-b/images/only-a`, headers: auth(ADMIN) })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/only-a`, headers: auth(ADMIN) })).statusCode).toBe(404);
    const defaultList = (await t.app.inject({ method: 'GET', url: `${base}/images`, headers: auth(ADMIN) })).json();
    expect(defaultList.items.map((i: { name: string }) => i.name)).toEqual(['vol']);
    const aList = (await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-a/images`, headers: auth(ADMIN) })).json();
    expect(aList.items.map((i: { name: string }) => i.name)).toEqual(['only-a', 'vol']);
  });

  it('DELETE of a namespace that holds images: 409 NAMESPACE_NOT_EMPTY with counts; once empty 204 and it is gone', async () => {
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/scratch`, headers: auth(ADMIN) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: `${base}/namespaces/scratch/images`, ...jsonAs(ADMIN, { name: 'x', size: 1 << 20 }) })).statusCode).toBe(201);
    // warm the I/O context cache for the namespace, so the delete must invalidate it
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/scratch/images`, headers: auth(ADMIN) })).statusCode).toBe(200);
    const busy = await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/scratch`, headers: auth(ADMIN) });
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({ code: 'NAMESPACE_NOT_EMPTY', images: 1, trashImages: 0 });
    // in the trash it still counts
    rbd('trash', 'mv', '--namespace', 'scratch', `${pool.name}/x`);
    const trashed = await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/scratch`, headers: auth(ADMIN) });
    expect(trashed.statusCode).toBe(409);
    expect(trashed.json()).toMatchObject({ code: 'NAMESPACE_NOT_EMPTY', images: 0, trashImages: 1 });
    rbd('trash', 'purge', '--namespace', 'scratch', pool.name);
    const d = await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/scratch`, headers: auth(ADMIN) });
    expect(d.statusCode, d.body).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: `${base}/namespaces/scratch/images`, headers: auth(ADMIN) });
    expect(after.statusCode).toBe(404);
    expect(after.json().code).toBe('NAMESPACE_NOT_FOUND');
    // made again: empty, usable
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/scratch`, headers: auth(ADMIN) })).statusCode).toBe(201);
    const fresh = await t.app.inject({ method: 'GET', url: `${base}/namespaces/scratch/images`, headers: auth(ADMIN) });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.json().items).toEqual([]);
  });
});

describe('tokens scoped to a namespace', () => {
  it('a pool/ns token works in its namespace only: 403 in the other namespace and in the default one', async () => {
    const mine = await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-a/images/vol`, headers: auth(TENANT_A) });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().size).toBe(2 << 20);
    const create = await t.app.inject({ method: 'POST', url: `${base}/namespaces/tenant-a/images`, ...jsonAs(TENANT_A, { name: 'a2', size: 1 << 20 }) });
    expect(create.statusCode).toBe(201);
    for (const [method, url] of [
      ['GET', `${base}/namespaces/tenant-b/images/vol`],
      ['GET', `${base}/namespaces/tenant-b/images`],
      ['DELETE', `${base}/namespaces/tenant-b/images/vol`],
      ['GET', `${base}/images/vol`],
      ['GET', `${base}/images`],
      ['POST', `${base}/images`],
      ['GET', `/api/v1/pools/${other.name}/images`],
    ] as const) {
      const r = await t.app.inject({ method, url, ...(method === 'POST' ? jsonAs(TENANT_A, { name: 'z', size: 1 << 20 }) : { headers: auth(TENANT_A) }) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.json().code).toBe('FORBIDDEN');
    }
    // B sees its own vol, not A's
    const b = await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-b/images`, headers: auth(TENANT_B) });
    expect(b.json().items.map((i: { name: string }) => i.name)).toEqual(['vol']);
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-a/images/a2`, headers: auth(TENANT_B) })).statusCode).toBe(403);
    // nothing leaked into the default namespace or tenant-b
    expect(rbd('ls', pool.name).trim().split('\n')).toEqual(['vol']);
    expect(rbd('ls', '--namespace', 'tenant-b', pool.name).trim().split('\n')).toEqual(['vol']);
  });

  it('GET /pools and namespace lists are filtered to what the token may use', async () => {
    const pools = (await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers: auth(TENANT_A) })).json();
    expect(pools.items.map((p: { name: string }) => p.name)).toEqual([pool.name]);
    const nsA = (await t.app.inject({ method: 'GET', url: `${base}/namespaces`, headers: auth(TENANT_A) })).json();
    expect(nsA.items.map((n: { name: string }) => n.name)).toEqual(['tenant-a']);
    const nsAll = (await t.app.inject({ method: 'GET', url: `${base}/namespaces`, headers: auth(ALL_NS) })).json();
    expect(nsAll.items.map((n: { name: string }) => n.name)).toEqual(['scratch', 'tenant-a', 'tenant-b']);
    const otherToken = await t.app.inject({ method: 'GET', url: `${base}/namespaces`, headers: auth(OTHER_POOL) });
    expect(otherToken.statusCode).toBe(403);
  });

  it('namespace creation needs admin scope and a grant for that namespace', async () => {
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/tenant-c`, headers: auth(TENANT_A) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/tenant-c`, headers: auth(TENANT_A_ADMIN) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/tenant-a`, headers: auth(TENANT_A_ADMIN) })).statusCode).toBe(200);
    // pool/* may make any named namespace but not touch the default one
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/tenant-c`, headers: auth(ALL_NS) })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-b/images`, headers: auth(ALL_NS) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `${base}/images`, headers: auth(ALL_NS) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/tenant-c`, headers: auth(ALL_NS) })).statusCode).toBe(204);
  });

  it('GET of one namespace and ?stats=rbd give its statistics (= rbd pool stats --namespace); other tenants get 403', async () => {
    const cli = JSON.parse(rbd('pool', 'stats', '--format', 'json', '--namespace', 'tenant-a', pool.name)) as
      { images: { count: number; provisioned_bytes: number; snap_count: number }; trash: { count: number; provisioned_bytes: number } };
    const want = {
      images: cli.images.count, provisionedBytes: cli.images.provisioned_bytes, snapshots: cli.images.snap_count,
      trashImages: cli.trash.count, trashProvisionedBytes: cli.trash.provisioned_bytes,
    };
    expect(want.images).toBe(3);
    const one = await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-a`, headers: auth(TENANT_A) });
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toEqual({ name: 'tenant-a', pool: pool.name, rbd: want });
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/tenant-a`, headers: auth(TENANT_B) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/nope`, headers: auth(ADMIN) })).json().code).toBe('NAMESPACE_NOT_FOUND');
    const list = await t.app.inject({ method: 'GET', url: `${base}/namespaces?stats=rbd`, headers: auth(TENANT_A) });
    expect(list.json().items).toEqual([{ name: 'tenant-a', pool: pool.name, rbd: want }]);
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces?stats=all`, headers: auth(ADMIN) })).statusCode).toBe(400);
  });
});
