// Item 9 of the robustness issue: the smaller gaps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { connect, makePool, uniqueName } from '../helpers/cluster.js';
import { TokenStore } from '../../src/http/auth.js';
import type { CephConnection } from '../../src/ceph/connection.js';

let admin: TestApp;
let conn: CephConnection;
let poolA: { name: string; remove: () => Promise<void> };
let poolB: { name: string; remove: () => Promise<void> };
const made: string[] = [];

beforeAll(async () => {
  conn = await connect();
  poolA = await makePool(conn, 'small-a');
  poolB = await makePool(conn, 'small-b');
  admin = await testApp('rbdapi-pools');
});
afterAll(async () => {
  for (const p of made) await admin.app.inject({ method: 'DELETE', url: `/api/v1/pools/${p}?confirm=${p}&force=true` });
  await admin.close();
  await poolA.remove();
  await poolB.remove();
  await conn.close();
});

describe('concurrent POST /pools of one name', () => {
  it('exactly one 201, the rest 409 POOL_EXISTS (3 rounds of 20)', async () => {
    for (let round = 0; round < 3; round++) {
      const name = uniqueName('pc');
      made.push(name);
      const rs = await Promise.all(Array.from({ length: 20 }, () =>
        admin.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name, pgNum: 8 }) })));
      const codes = rs.map((r) => r.statusCode);
      expect(codes.filter((c) => c === 201), `round ${round}: ${codes.join(',')}`).toHaveLength(1);
      for (const r of rs.filter((x) => x.statusCode !== 201)) {
        expect(r.statusCode).toBe(409);
        expect(r.json().code).toBe('POOL_EXISTS');
      }
      // the pool is whole: ready for images
      const img = await admin.app.inject({ method: 'POST', url: `/api/v1/pools/${name}/images`, ...json({ name: 'i', size: '1MiB' }) });
      expect(img.statusCode).toBe(201);
    }
  }, 120_000);

  it('concurrent force DELETEs of one pool: one 204, the rest 409 POOL_BEING_DELETED or 404', async () => {
    const name = uniqueName('pd');
    expect((await admin.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name, pgNum: 8 }) })).statusCode).toBe(201);
    const rs = await Promise.all(Array.from({ length: 10 }, () =>
      admin.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}&force=true` })));
    const codes = rs.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 204), codes.join(',')).toHaveLength(1);
    for (const r of rs.filter((x) => x.statusCode !== 204)) expect(r.json().code).toMatch(/^(POOL_NOT_FOUND|POOL_BEING_DELETED)$/);
  });

  it('pgNum out of the monitor\'s range: 400 with the monitor\'s reason', async () => {
    const name = uniqueName('pgr');
    const r = await admin.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name, pgNum: 32768 }) });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('INVALID_ARGUMENT');
    // the mon says why (e.g. "pg_num 32768 size 1 would mean 32768 total pgs, which exceeds max 750 ...")
    expect(r.json().detail).toMatch(/pg/i);
    expect(r.json().detail.length).toBeGreaterThan(60);
  });
});

describe('token file with its columns in the wrong order', () => {
  it('fails with the line number and never prints the token', () => {
    const token = 'a3f1c9e07b2d4e5f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f';
    const good = '0123456789abcdef0123456789abcdef read *';
    for (const line of [`provisioner-service-account ${token} write *`, `${token.slice(0, 20)} ${token} *`, `name ${token}`]) {
      let message = '';
      try {
        TokenStore.parse(`${good}\n# comment\n${line}\n`, 'tokens.txt');
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/tokens\.txt line 3/);
      expect(message).not.toContain(token);
      expect(message).not.toContain(token.slice(0, 16));
    }
  });
});

describe('a pool-limited token and an image whose data pool it may not use', () => {
  it('may read it, but not resize or delete it (403); the admin may', async () => {
    const created = await admin.app.inject({ method: 'POST', url: `/api/v1/pools/${poolA.name}/images`, ...json({ name: 'dp1', size: '1MiB', dataPool: poolB.name }) });
    expect(created.statusCode).toBe(201);
    const limitedToken = 'b'.repeat(40);
    const tokens = TokenStore.parse(`${limitedToken} write ${poolA.name} limited\n${'c'.repeat(40)} admin * root\n`);
    const t = await testApp('rbdapi-pools', { auth: tokens });
    try {
      const as = (tok: string) => ({ authorization: `Bearer ${tok}` });
      const url = `/api/v1/pools/${poolA.name}/images/dp1`;
      expect((await t.app.inject({ method: 'GET', url, headers: as(limitedToken) })).statusCode).toBe(200);
      const patch = await t.app.inject({ method: 'PATCH', url, payload: JSON.stringify({ size: '2MiB' }), headers: { ...as(limitedToken), 'content-type': 'application/json' } });
      expect(patch.statusCode).toBe(403);
      expect(patch.json().code).toBe('FORBIDDEN');
      expect(patch.json().detail).toContain(poolB.name);
      const del = await t.app.inject({ method: 'DELETE', url, headers: as(limitedToken) });
      expect(del.statusCode).toBe(403);
      // nothing changed
      const after = await admin.app.inject({ method: 'GET', url });
      expect(after.json().size).toBe(1024 * 1024);
      // an image without a data pool in the token's pool: allowed as before
      await admin.app.inject({ method: 'POST', url: `/api/v1/pools/${poolA.name}/images`, ...json({ name: 'plain', size: '1MiB' }) });
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${poolA.name}/images/plain`, headers: as(limitedToken) })).statusCode).toBeLessThan(300);
      // the admin token may
      expect((await t.app.inject({ method: 'DELETE', url, headers: as('c'.repeat(40)) })).statusCode).toBeLessThan(300);
    } finally {
      await t.close();
    }
  });
});

describe('slow request bodies', () => {
  it('the server gives a request 30 s to arrive whole (408 after: plugins/request-deadline.ts, test/unit/request-deadline.test.ts), headers 30 s, and closes silent sockets after 120 s', () => {
    expect(admin.app.hasPlugin('rbd-request-deadline')).toBe(true);
    expect(admin.app.server.headersTimeout).toBe(30_000);
    expect(admin.app.server.timeout).toBe(120_000);
  });
});

describe('image names that are not valid UTF-8 (made with the rbd CLI)', () => {
  it('are listed, with details too (also with snapshots, which are opened by id)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { clusterDir } = await import('../helpers/cluster.js');
    const run = (args: string[]) => execFileSync('bash', ['-c', `rbd -c ${clusterDir()}/ceph.conf ${args.join(' ')}`], { encoding: 'utf8' });
    run([`create --size 1M ${poolA.name}/$'bad\\xff\\xfename'`]);
    run([`create --size 1M ${poolA.name}/$'snap\\xc3\\x28'`]);
    run([`snap create ${poolA.name}/$'snap\\xc3\\x28'@s1`]);
    const names = await admin.app.inject({ method: 'GET', url: `/api/v1/pools/${poolA.name}/images?limit=1000` });
    const listed = (names.json().items as { name: string }[]).map((i) => i.name);
    expect(listed).toContain('bad\uFFFD\uFFFDname');
    const details = await admin.app.inject({ method: 'GET', url: `/api/v1/pools/${poolA.name}/images?limit=1000&details=true` });
    const items = details.json().items as { name: string; snapshotCount: number; id: string }[];
    const bad = items.find((i) => i.name === 'bad\uFFFD\uFFFDname');
    const snap = items.find((i) => i.name.startsWith('snap') && i.name.includes('\uFFFD'));
    expect(bad).toBeDefined();
    expect(snap, JSON.stringify(items.map((i) => i.name))).toBeDefined();
    expect(snap!.snapshotCount).toBe(1);
    expect(snap!.id).toMatch(/^[0-9a-f]+$/);
  });
});
