// /pools/{pool}[/namespaces/{ns}]/trash on the real cluster with the least-privilege key: list and paging,
// get, restore (errors), remove (deferred/force), purge (what is due goes, the rest stays, snapshots skipped),
// namespaces, and the trash of a pool that is deleted.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { makePool } from '../helpers/cluster.js';
import { objectsOf, rbdCli } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'trash', key: 'rbdapi' });
let t: TestApp;
let admin: CephConnection;
let pool: TestPool;
let base: string;

it.beforeAll(({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; admin = c;
  base = `/api/v1/pools/${pool.name}`;
});

async function imageId(spec: string): Promise<string> {
  return (JSON.parse(await rbdCli('info', '--format', 'json', spec)) as { id: string }).id;
}

describe('trash', () => {
  it('lists newest first with a cursor; GET one entry; 404 TRASH_ENTRY_NOT_FOUND', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await rbdCli('create', '--size', '1M', `${pool.name}/p${i}`);
      ids.push(await imageId(`${pool.name}/p${i}`));
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/p${i}?keepFor=1h` });
      expect(r.statusCode).toBe(204);
      await new Promise((res) => setTimeout(res, 1100)); // deletion times are whole seconds
    }
    const seen: { id: string; name: string; deletedAt: string }[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 20; n++) {
      const r = await t.app.inject({ method: 'GET', url: `${base}/trash?limit=2${cursor ? `&cursor=${cursor}` : ''}` });
      expect(r.statusCode, r.body).toBe(200);
      seen.push(...r.json().items);
      cursor = r.json().nextCursor;
      if (!cursor) break;
    }
    expect(seen.map((e) => e.id)).toEqual([...ids].reverse());
    expect(seen.map((e) => e.name)).toEqual(['p4', 'p3', 'p2', 'p1', 'p0']);
    const one = await t.app.inject({ method: 'GET', url: `${base}/trash/${ids[0]}` });
    expect(one.json()).toMatchObject({ id: ids[0], name: 'p0', source: 'user' });
    expect(Date.parse(one.json().deferredUntil) - Date.parse(one.json().deletedAt)).toBe(3600_000);
    const missing = await t.app.inject({ method: 'GET', url: `${base}/trash/abcdef0123` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('TRASH_ENTRY_NOT_FOUND');
    for (const method of ['DELETE', 'POST'] as const) {
      const r = await t.app.inject({ method, url: `${base}/trash/abcdef0123${method === 'POST' ? '/restore' : ''}` });
      expect(r.statusCode, r.body).toBe(404);
      expect(r.json().code).toBe('TRASH_ENTRY_NOT_FOUND');
    }
    // force removes a deferred entry
    const f = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${ids[0]}?force=true` });
    expect(f.statusCode, f.body).toBe(202);
    expect(f.json()).toMatchObject({ action: 'trash.remove', state: expect.stringMatching(/queued|running|succeeded/), target: { imageId: ids[0], image: 'p0' } });
    expect((await waitTask(t.app, f.json().id)).task.state).toBe('succeeded');
    expect((await t.app.inject({ method: 'GET', url: `${base}/trash/${ids[0]}` })).statusCode).toBe(404);
  });

  it('purge removes what is due, keeps what is deferred, skips (and reports) entries with snapshots', async () => {
    await rbdCli('create', '--size', '64M', `${pool.name}/due1`);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-total', '16M', `${pool.name}/due1`);
    await rbdCli('create', '--size', '1M', `${pool.name}/due2`);
    await rbdCli('create', '--size', '1M', `${pool.name}/snapped`);
    await rbdCli('snap', 'create', `${pool.name}/snapped@s`);
    const [due1, due2, snapped] = [await imageId(`${pool.name}/due1`), await imageId(`${pool.name}/due2`), await imageId(`${pool.name}/snapped`)];
    // the CLI moves without a task (and, unlike the API, with snapshots)
    for (const n of ['due1', 'due2', 'snapped']) await rbdCli('trash', 'mv', `${pool.name}/${n}`);
    const before = (await t.app.inject({ method: 'GET', url: `${base}/trash?limit=1000` })).json().items.map((e: { id: string }) => e.id);
    expect(before).toEqual(expect.arrayContaining([due1, due2, snapped]));
    const deferred = before.filter((id: string) => ![due1, due2, snapped].includes(id));
    expect(deferred.length).toBeGreaterThan(0);

    const r = await t.app.inject({ method: 'POST', url: `${base}/trash/purge` });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.location).toBe(`/api/v1/tasks/${r.json().id}`);
    const { task } = await waitTask(t.app, r.json().id);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.result).toMatchObject({ removed: 2, skipped: [{ id: snapped, name: 'snapped', code: 'IMAGE_HAS_SNAPSHOTS' }] });
    const after = (await t.app.inject({ method: 'GET', url: `${base}/trash?limit=1000` })).json().items.map((e: { id: string }) => e.id);
    expect(after).not.toContain(due1);
    expect(after).not.toContain(due2);
    expect(after).toContain(snapped);
    expect(after).toEqual(expect.arrayContaining(deferred));
    expect((await objectsOf(pool.name)).filter((o) => o.includes(due1) || o.includes(due2))).toEqual([]);
    // restore of the snapshotted entry works; its snapshot comes back too
    const back = await t.app.inject({ method: 'POST', url: `${base}/trash/${snapped}/restore`, ...json({ name: 'snapped-back' }) });
    expect(back.statusCode, back.body).toBe(201);
    expect(back.json()).toMatchObject({ id: snapped, snapshotCount: 1 });
  });

  it('restore: bad names 400, a taken name 409 IMAGE_EXISTS, unknown body fields 400', async () => {
    await rbdCli('create', '--size', '1M', `${pool.name}/rs`);
    const id = await imageId(`${pool.name}/rs`);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/rs?keepFor=30m` })).statusCode).toBe(204);
    for (const body of [{ name: '' }, { name: 'a/b' }, { name: 'a@b' }, { name: '-x' }, { name: 'x'.repeat(129) }, { name: 5 }, { other: 1 }, [], 'x']) {
      const r = await t.app.inject({ method: 'POST', url: `${base}/trash/${id}/restore`, ...json(body) });
      expect(r.statusCode, `${JSON.stringify(body)}: ${r.body}`).toBe(400);
    }
    await rbdCli('create', '--size', '1M', `${pool.name}/taken`);
    const clash = await t.app.inject({ method: 'POST', url: `${base}/trash/${id}/restore`, ...json({ name: 'taken' }) });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().code).toBe('IMAGE_EXISTS');
    expect((await t.app.inject({ method: 'GET', url: `${base}/trash/${id}` })).statusCode).toBe(200);
  });

  it('works in a namespace: DELETE, task, restore, purge', async () => {
    const ns = await t.app.inject({ method: 'POST', url: `${base}/namespaces`, ...json({ name: 'tenant-a' }) });
    if (ns.statusCode !== 201) await rbdCli('namespace', 'create', `${pool.name}/tenant-a`);
    const nsBase = `${base}/namespaces/tenant-a`;
    await rbdCli('create', '--size', '64M', `${pool.name}/tenant-a/img`);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-total', '8M', `${pool.name}/tenant-a/img`);
    const id = await imageId(`${pool.name}/tenant-a/img`);
    const d = await t.app.inject({ method: 'DELETE', url: `${nsBase}/images/img` });
    expect(d.statusCode, d.body).toBe(204);
    const taskId = /tasks\/([^>]+)>/.exec(String(d.headers.link))![1]!;
    const { task } = await waitTask(t.app, taskId);
    expect(task).toMatchObject({ state: 'succeeded', target: { pool: pool.name, namespace: 'tenant-a', image: 'img', imageId: id } });
    expect((await objectsOf(pool.name)).filter((o) => o.includes(id))).toEqual([]);
    // the namespace's tasks are listed under the pool
    const list = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=1000` });
    expect(list.json().items.map((x: { id: string }) => x.id)).toContain(taskId);
    // keep + restore inside the namespace
    await rbdCli('create', '--size', '1M', `${pool.name}/tenant-a/kept`);
    const kid = await imageId(`${pool.name}/tenant-a/kept`);
    expect((await t.app.inject({ method: 'DELETE', url: `${nsBase}/images/kept?keepFor=1d` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `${base}/trash/${kid}` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `${nsBase}/trash/${kid}` })).json()).toMatchObject({ id: kid, name: 'kept' });
    const back = await t.app.inject({ method: 'POST', url: `${nsBase}/trash/${kid}/restore` });
    expect(back.statusCode, back.body).toBe(201);
    expect(back.headers.location).toBe(`${nsBase}/images/kept`);
    const purge = await t.app.inject({ method: 'POST', url: `${nsBase}/trash/purge` });
    expect(purge.statusCode).toBe(202);
    expect(purge.json().target).toMatchObject({ pool: pool.name, namespace: 'tenant-a' });
    expect((await waitTask(t.app, purge.json().id)).task.state).toBe('succeeded');
    const noNs = await t.app.inject({ method: 'GET', url: `${base}/namespaces/nope-ns/trash` });
    expect(noNs.statusCode).toBe(404);
    expect(noNs.json().code).toBe('NAMESPACE_NOT_FOUND');
  });

  it('DELETE of a pool with trashed images: 409 POOL_NOT_EMPTY without force, deleted with force; its tasks are then 404', async () => {
    const other = await makePool(admin, 'trash-del');
    const adminApp = await testApp('admin');
    try {
      await rbdCli('create', '--size', '1M', `${other.name}/x`);
      const d = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${other.name}/images/x?keepFor=1h` });
      expect(d.statusCode).toBe(204);
      await rbdCli('create', '--size', '1M', `${other.name}/y`);
      const d2 = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${other.name}/images/y` });
      const taskId = /tasks\/([^>]+)>/.exec(String(d2.headers.link))![1]!;
      await waitTask(t.app, taskId);
      const refused = await adminApp.app.inject({ method: 'DELETE', url: `/api/v1/pools/${other.name}?confirm=${other.name}` });
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.json().code).toBe('POOL_NOT_EMPTY');
      const del = await adminApp.app.inject({ method: 'DELETE', url: `/api/v1/pools/${other.name}?confirm=${other.name}&force=true` });
      expect(del.statusCode, del.body).toBe(204);
      const gone = await adminApp.app.inject({ method: 'GET', url: `/api/v1/tasks/${taskId}` });
      expect(gone.statusCode, gone.body).toBe(404);
      expect(gone.json().code).toBe('TASK_NOT_FOUND');
      const trash = await adminApp.app.inject({ method: 'GET', url: `/api/v1/pools/${other.name}/trash` });
      expect(trash.statusCode, trash.body).toBe(404);
      expect(trash.json().code).toBe('POOL_NOT_FOUND');
      // another instance learns of it with its next OSD map
      let viaOther = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${taskId}` });
      for (let i = 0; i < 100 && viaOther.statusCode === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        viaOther = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${taskId}` });
      }
      expect(viaOther.statusCode).toBe(404);
    } finally {
      await adminApp.close();
      await other.remove();
    }
  });
});
