// RBD statistics of pools (GET /pools/{pool}, GET /pools?stats=rbd) equal `rbd pool stats --format json`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const ALL = 'pstats-all-0123456789abcdef012';
const TENANT = 'pstats-tenant-0123456789abcdef';
let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

interface CliStats { images: { count: number; provisioned_bytes: number; snap_count: number }; trash: { count: number; provisioned_bytes: number } }
const cliStats = (spec: string): CliStats => JSON.parse(rbd('pool', 'stats', '--format', 'json', spec)) as CliStats;

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'pstats');
  t = await testApp('rbdapi', { auth: TokenStore.parse(`${ALL} read * all\n${TENANT} read ${pool.name}/tenant tenant\n`) });
  rbd('create', '--size', '64M', `${pool.name}/a`);
  rbd('create', '--size', '128M', `${pool.name}/b`);
  rbd('snap', 'create', `${pool.name}/b@s1`);
  rbd('snap', 'create', `${pool.name}/b@s2`);
  rbd('create', '--size', '32M', `${pool.name}/c`);
  rbd('trash', 'mv', `${pool.name}/c`);
  rbd('namespace', 'create', `${pool.name}/tenant`);
  rbd('create', '--size', '16M', `${pool.name}/tenant/x`);
});

afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

describe('pool RBD statistics', () => {
  it('GET /pools/{pool} has rbd {images, provisionedBytes, snapshots, trashImages, trashProvisionedBytes} = rbd pool stats', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}`, headers: auth(ALL) });
    expect(r.statusCode, r.body).toBe(200);
    const cli = cliStats(pool.name);
    expect(r.json().rbd).toEqual({
      images: cli.images.count, provisionedBytes: cli.images.provisioned_bytes, snapshots: cli.images.snap_count,
      trashImages: cli.trash.count, trashProvisionedBytes: cli.trash.provisioned_bytes,
    });
    expect(r.json().rbd).toEqual({ images: 2, provisionedBytes: 192 * 1024 * 1024, snapshots: 2, trashImages: 1, trashProvisionedBytes: 32 * 1024 * 1024 });
  });

  it('GET /pools?stats=rbd: every RBD pool item has rbd; without it, none', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/pools?stats=rbd', headers: auth(ALL) });
    expect(r.statusCode, r.body).toBe(200);
    const mine = r.json().items.find((p: { name: string }) => p.name === pool.name);
    expect(mine.rbd).toMatchObject({ images: 2, snapshots: 2, trashImages: 1 });
    const plain = await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers: auth(ALL) });
    expect(plain.json().items.every((p: { rbd?: unknown }) => p.rbd === undefined)).toBe(true);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools?stats=all', headers: auth(ALL) })).statusCode).toBe(400);
  });

  it('a namespace token sees the pool but not the default namespace\'s statistics', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}`, headers: auth(TENANT) });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().rbd).toBeUndefined();
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/pools?stats=rbd', headers: auth(TENANT) });
    expect(list.json().items.map((p: { name: string; rbd?: unknown }) => [p.name, p.rbd])).toEqual([[pool.name, undefined]]);
  });
});
