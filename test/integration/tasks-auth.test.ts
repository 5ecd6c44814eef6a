// Task routes with API tokens: a token limited to some pools sees only their tasks (listing filtered, others
// 404 as if they did not exist, ?pool= of another pool 403); a read token cannot cancel. Least-privilege cephx key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask } from '../helpers/wait-task.js';

const ALL = 'all-pools-token-0123456789';
const ONLY_A = 'pool-a-token-0123456789abc';
const READ = 'read-only-token-0123456789';
let t: TestApp;
let admin: CephConnection;
let a: { name: string; remove: () => Promise<void> };
let b: { name: string; remove: () => Promise<void> };
const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });

beforeAll(async () => {
  admin = await connect('admin');
  a = await makePool(admin, 'tauth-a');
  b = await makePool(admin, 'tauth-b');
  const auth = TokenStore.parse(`${ALL} write * all\n${ONLY_A} write ${a.name} tenant-a\n${READ} read * viewer\n`);
  t = await testApp('rbdapi', { auth });
});
afterAll(async () => {
  await t.close();
  await a.remove();
  await b.remove();
  await admin.close();
});

describe('task routes and tokens', () => {
  it('a pool-limited token sees only its pools\' tasks', async () => {
    const ids: Record<string, string> = {};
    for (const p of [a, b]) {
      await rbdCli('create', '--size', '1M', `${p.name}/img`);
      const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${p.name}/images/img`, headers: bearer(ALL) });
      expect(r.statusCode, r.body).toBe(204);
      ids[p.name] = monitorId(r.headers.link);
      await waitTask(t.app, ids[p.name]!, 30_000, undefined, bearer(ALL));
    }
    const mine = await t.app.inject({ method: 'GET', url: '/api/v1/tasks?limit=1000', headers: bearer(ONLY_A) });
    expect(mine.statusCode).toBe(200);
    const listed = mine.json().items.map((x: { id: string; target: { pool: string } }) => x.target.pool);
    expect(listed).toContain(a.name);
    expect(new Set(listed)).toEqual(new Set([a.name]));
    const everyone = await t.app.inject({ method: 'GET', url: '/api/v1/tasks?limit=1000', headers: bearer(ALL) });
    expect(everyone.json().items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([ids[a.name], ids[b.name]]));

    expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${ids[a.name]}`, headers: bearer(ONLY_A) })).statusCode).toBe(200);
    const other = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${ids[b.name]}`, headers: bearer(ONLY_A) });
    expect(other.statusCode).toBe(404);
    expect(other.json().code).toBe('TASK_NOT_FOUND');
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${ids[b.name]}/events`, headers: bearer(ONLY_A) })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${ids[b.name]}`, headers: bearer(ONLY_A) })).json().code).toBe('TASK_NOT_FOUND');
    const forbidden = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${b.name}`, headers: bearer(ONLY_A) });
    expect(forbidden.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${b.name}/trash`, headers: bearer(ONLY_A) })).statusCode).toBe(403);
  });

  it('tokens: none → 401; read may list and follow, not cancel or purge', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/tasks' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/tasks', headers: bearer(READ) })).statusCode).toBe(200);
    const purge = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${a.name}/trash/purge`, headers: bearer(READ) });
    expect(purge.statusCode).toBe(403);
    const ok = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${a.name}/trash/purge`, headers: bearer(ONLY_A) });
    expect(ok.statusCode).toBe(202);
    const cancel = await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${ok.json().id}`, headers: bearer(READ) });
    expect(cancel.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${ok.json().id}`, headers: bearer(READ) })).statusCode).toBe(200);
  });
});
