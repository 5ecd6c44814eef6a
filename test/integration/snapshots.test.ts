// /api/v1/pools/{pool}[/namespaces/{ns}]/images/{image}/snapshots on the real cluster: every route and error code,
// the guards against librbd's hazards (children checked before a delete, names validated), concurrency.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { exportImage, importRandom, overwrite, rbdCli } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';
import { Images } from '../../src/ceph/images.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const it = usePoolApp({ prefix: 'snap', key: 'rbdapi' });
let t: TestApp;
let admin: CephConnection;
let images: Images;
let pool: TestPool;
let base: string;
const MiB = 1024 * 1024;

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; admin = c;
  images = new Images(admin);
  base = `/api/v1/pools/${pool.name}/images`;
  for (const name of ['img', 'busy', 'prot', 'odd', 'conc', 'gone']) await images.create(pool.name, name, 16 * MiB);
});

const snapsOf = async (image: string, all = false): Promise<{ name: string; id: number; namespace?: string }[]> =>
  JSON.parse(await rbdCli('snap', 'ls', ...(all ? ['--all'] : []), '--format', 'json', `${pool.name}/${image}`)) as { name: string; id: number }[];

describe('create and read', () => {
  it('PUT takes a snapshot (201), again answers 200 with the same snapshot; GET one and the list', async () => {
    const r1 = await t.app.inject({ method: 'PUT', url: `${base}/img/snapshots/s1` });
    expect(r1.statusCode, r1.body).toBe(201);
    expect(r1.headers.location).toBe(`${base}/img/snapshots/s1`);
    const s1 = r1.json();
    expect(s1).toMatchObject({ name: 's1', size: 16 * MiB, protected: false, children: 0 });
    expect(Date.now() - Date.parse(s1.createdAt)).toBeLessThan(120_000);
    const r2 = await t.app.inject({ method: 'PUT', url: `${base}/img/snapshots/s1` });
    expect(r2.statusCode).toBe(200);
    expect(r2.json()).toEqual(s1);
    expect((await t.app.inject({ method: 'GET', url: `${base}/img/snapshots/s1` })).json()).toEqual(s1);
    expect((await snapsOf('img')).map((s) => s.name)).toEqual(['s1']);
    expect((await snapsOf('img'))[0]!.id).toBe(s1.id);
  });

  it('POST {name}: 201, then 409 SNAPSHOT_EXISTS; the list is in creation order (not by name)', async () => {
    for (const name of ['c', 'a', 'b']) {
      const r = await t.app.inject({ method: 'POST', url: `${base}/img/snapshots`, ...json({ name }) });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.headers.location).toBe(`${base}/img/snapshots/${name}`);
    }
    const dup = await t.app.inject({ method: 'POST', url: `${base}/img/snapshots`, ...json({ name: 'a' }) });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'SNAPSHOT_EXISTS', errno: 'EEXIST' });
    const list = (await t.app.inject({ method: 'GET', url: `${base}/img/snapshots` })).json();
    expect(list.items.map((s: { name: string }) => s.name)).toEqual(['s1', 'c', 'a', 'b']);
    const ids = list.items.map((s: { id: number }) => s.id);
    expect([...ids].sort((x: number, y: number) => x - y)).toEqual(ids);
  });

  it('404s: SNAPSHOT_NOT_FOUND, IMAGE_NOT_FOUND, POOL_NOT_FOUND, NAMESPACE_NOT_FOUND', async () => {
    const cases: [string, string][] = [
      [`${base}/img/snapshots/nope`, 'SNAPSHOT_NOT_FOUND'],
      [`${base}/no-such-image/snapshots/s1`, 'IMAGE_NOT_FOUND'],
      [`${base}/no-such-image/snapshots`, 'IMAGE_NOT_FOUND'],
      [`/api/v1/pools/no-such-pool-x/images/img/snapshots`, 'POOL_NOT_FOUND'],
      [`/api/v1/pools/${pool.name}/namespaces/nons/images/img/snapshots/s1`, 'NAMESPACE_NOT_FOUND'],
    ];
    for (const [url, code] of cases) {
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        if (method !== 'GET' && url.endsWith('/snapshots')) continue;
        const r = await t.app.inject({ method, url, ...(method === 'PATCH' ? json({ protected: true }) : {}) });
        expect({ url, method, status: r.statusCode, code: r.json().code }).toEqual({ url, method, status: 404, code });
      }
    }
    const put = await t.app.inject({ method: 'PUT', url: `${base}/no-such-image/snapshots/x` });
    expect(put.json()).toMatchObject({ code: 'IMAGE_NOT_FOUND' });
  });

  it('a snapshot with a name the API would not create is reachable percent-encoded; PUT does not create such names', async () => {
    await images.snapshotCreate(pool.name, 'odd', 'we ird/na@me');
    const url = `${base}/odd/snapshots/${encodeURIComponent('we ird/na@me')}`;
    expect((await t.app.inject({ method: 'GET', url })).json()).toMatchObject({ name: 'we ird/na@me' });
    expect((await t.app.inject({ method: 'PUT', url })).statusCode).toBe(200);
    const bad = await t.app.inject({ method: 'PUT', url: `${base}/odd/snapshots/${encodeURIComponent('new/name')}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
    const r = await t.app.inject({ method: 'DELETE', url });
    expect(r.statusCode).toBe(204);
    expect(await snapsOf('odd')).toEqual([]);
  });
});

describe('rename and protection (PATCH)', () => {
  it('renames (Location follows), 409 SNAPSHOT_EXISTS on a taken name, 404 for a missing one', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/prot/snapshots/r1` });
    await t.app.inject({ method: 'PUT', url: `${base}/prot/snapshots/taken` });
    const r = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r1`, ...json({ name: 'r2' }) });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ name: 'r2' });
    expect(r.headers.location).toBe(`${base}/prot/snapshots/r2`);
    const clash = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({ name: 'taken' }) });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().code).toBe('SNAPSHOT_EXISTS');
    const bad = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({ name: 'a/b' }) });
    expect(bad.statusCode).toBe(400);
    const empty = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({}) });
    expect(empty.statusCode).toBe(400);
    expect((await snapsOf('prot')).map((s) => s.name).sort()).toEqual(['r2', 'taken']);
  });

  it('protect / unprotect are idempotent; DELETE of a protected snapshot is 409 SNAPSHOT_PROTECTED', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({ protected: true }) });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().protected).toBe(true);
    }
    const del = await t.app.inject({ method: 'DELETE', url: `${base}/prot/snapshots/r2` });
    expect(del.statusCode).toBe(409);
    expect(del.json()).toMatchObject({ code: 'SNAPSHOT_PROTECTED' });
    expect((await snapsOf('prot')).map((s) => s.name)).toContain('r2');
    for (let i = 0; i < 2; i++) {
      const r = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({ protected: false }) });
      expect(r.statusCode).toBe(200);
      expect(r.json().protected).toBe(false);
    }
    // rename and protect in one PATCH
    const both = await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r2`, ...json({ name: 'r3', protected: true }) });
    expect(both.json()).toMatchObject({ name: 'r3', protected: true });
    await t.app.inject({ method: 'PATCH', url: `${base}/prot/snapshots/r3`, ...json({ protected: false }) });
  });
});

describe('delete', () => {
  it('204, then 404; an image with snapshots cannot be deleted (409 IMAGE_HAS_SNAPSHOTS) until they are gone', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/gone/snapshots/g1` });
    const imgDel = await t.app.inject({ method: 'DELETE', url: `${base}/gone` });
    expect(imgDel.statusCode).toBe(409);
    expect(imgDel.json().code).toBe('IMAGE_HAS_SNAPSHOTS');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/gone/snapshots/g1` })).statusCode).toBe(204);
    const again = await t.app.inject({ method: 'DELETE', url: `${base}/gone/snapshots/g1` });
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('SNAPSHOT_NOT_FOUND');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/gone` })).statusCode).toBe(204);
  });

  it('a snapshot with clones: DELETE and unprotect are 409 SNAPSHOT_HAS_CHILDREN naming them; nothing moves to the trash namespace', async () => {
    await t.app.inject({ method: 'PUT', url: `${base}/busy/snapshots/base` });
    const c = await t.app.inject({ method: 'PUT', url: `${base}/busy-clone`, ...json({ source: { image: 'busy', snapshot: 'base' } }) });
    expect(c.statusCode, c.body).toBe(201);
    const listed = (await t.app.inject({ method: 'GET', url: `${base}/busy/snapshots/base` })).json();
    expect(listed.children).toBe(1);
    const del = await t.app.inject({ method: 'DELETE', url: `${base}/busy/snapshots/base` });
    expect(del.statusCode).toBe(409);
    expect(del.json()).toMatchObject({ code: 'SNAPSHOT_HAS_CHILDREN', children: [{ pool: pool.name, namespace: '', image: 'busy-clone', trash: false }] });
    expect(del.json().detail).toContain(`${pool.name}/busy-clone`);
    const all = await snapsOf('busy', true);
    expect(all.map((s) => s.name)).toEqual(['base']); // still a user snapshot, not renamed into the trash
    // protected with a clone: unprotect refused, naming the clone
    await t.app.inject({ method: 'PATCH', url: `${base}/busy/snapshots/base`, ...json({ protected: true }) });
    const un = await t.app.inject({ method: 'PATCH', url: `${base}/busy/snapshots/base`, ...json({ protected: false, name: 'renamed' }) });
    expect(un.statusCode).toBe(409);
    expect(un.json()).toMatchObject({ code: 'SNAPSHOT_HAS_CHILDREN', children: [{ image: 'busy-clone' }] });
    // refused before any change: not renamed
    expect((await snapsOf('busy')).map((s) => s.name)).toEqual(['base']);
    const gone = await t.app.inject({ method: 'DELETE', url: `${base}/busy-clone` });
    expect(gone.statusCode).toBe(204);
    // the clone went to the trash; until its removal has run it still holds the snapshot, and says so
    const monitor = /<([^>]+)>; rel="monitor"/.exec(String(gone.headers.link ?? ''))?.[1];
    if (monitor) {
      const early = await t.app.inject({ method: 'DELETE', url: `${base}/busy/snapshots/base` });
      // (still protected: 409 either way; naming the clone as in the trash while its removal has not run)
      expect(early.statusCode).toBe(409);
      if (early.json().code === 'SNAPSHOT_HAS_CHILDREN') expect(early.json().children[0]).toMatchObject({ image: 'busy-clone', trash: true });
      else expect(early.json().code).toBe('SNAPSHOT_PROTECTED');
      const { task: removal } = await waitTask(t.app, monitor);
      expect(removal.state, JSON.stringify(removal.error)).toBe('succeeded');
    }
    await t.app.inject({ method: 'PATCH', url: `${base}/busy/snapshots/base`, ...json({ protected: false }) });
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/busy/snapshots/base` })).statusCode).toBe(204);
    expect(await snapsOf('busy', true)).toEqual([]);
  });
});

describe('concurrency', () => {
  it('50 concurrent PUTs of one snapshot name make exactly one snapshot: one 201, 49 × 200, all the same id', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => t.app.inject({ method: 'PUT', url: `${base}/conc/snapshots/one` })));
    const codes = rs.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(49);
    expect(new Set(rs.map((r) => r.json().id)).size).toBe(1);
    expect((await snapsOf('conc')).map((s) => s.name)).toEqual(['one']);
  });
});

describe('namespaces', () => {
  it('the same routes under /namespaces/{ns}', async () => {
    await rbdCli('namespace', 'create', `${pool.name}/tenant`);
    await images.create(`${pool.name}/tenant`, 'nsimg', 8 * MiB);
    const nsBase = `/api/v1/pools/${pool.name}/namespaces/tenant/images`;
    const r = await t.app.inject({ method: 'PUT', url: `${nsBase}/nsimg/snapshots/n1` });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.headers.location).toBe(`${nsBase}/nsimg/snapshots/n1`);
    expect((await t.app.inject({ method: 'GET', url: `${nsBase}/nsimg/snapshots` })).json().items.map((s: { name: string }) => s.name)).toEqual(['n1']);
    expect(JSON.parse(await rbdCli('snap', 'ls', '--format', 'json', `${pool.name}/tenant/nsimg`)).map((s: { name: string }) => s.name)).toEqual(['n1']);
    // the default namespace has no such image
    expect((await t.app.inject({ method: 'GET', url: `${base}/nsimg/snapshots` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: `${nsBase}/nsimg/snapshots/n1` })).statusCode).toBe(204);
    await images.remove(`${pool.name}/tenant`, 'nsimg');
  });
});

describe('rollback (a task)', () => {
  it('restores the data overwritten after the snapshot, byte for byte; the snapshot stays', async () => {
    const pattern = await importRandom(pool.name, 'rb', 8 * MiB);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/rb/snapshots/before` })).statusCode).toBe(201);
    await overwrite(pool.name, 'rb', 2 * MiB);
    expect((await exportImage(pool.name, 'rb')).equals(pattern)).toBe(false);
    const r = await t.app.inject({ method: 'POST', url: `${base}/rb/snapshots/before/rollback?confirm=rb` });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.location).toMatch(/^\/api\/v1\/tasks\/[0-9]+-[0-9a-z]{9}-[0-9a-f]{8}$/);
    expect(r.json()).toMatchObject({ action: 'snapshot.rollback', target: { pool: pool.name, namespace: '', image: 'rb', snapshot: 'before' } });
    const { task: done } = await waitTask(t.app, r.headers.location as string);
    expect(done).toMatchObject({ state: 'succeeded', progress: 1 });
    expect((await exportImage(pool.name, 'rb')).equals(pattern)).toBe(true);
    expect((await snapsOf('rb')).map((s) => s.name)).toEqual(['before']);
  });

  it('400 CONFIRMATION_REQUIRED without ?confirm=<image>; 404 for a missing snapshot; 409 IMAGE_IN_USE while a client has it open', async () => {
    for (const q of ['', '?confirm=', '?confirm=other', '?confirm=RB']) {
      const r = await t.app.inject({ method: 'POST', url: `${base}/rb/snapshots/before/rollback${q}` });
      expect({ q, status: r.statusCode, code: r.json().code }).toEqual({ q, status: 400, code: 'CONFIRMATION_REQUIRED' });
    }
    const missing = await t.app.inject({ method: 'POST', url: `${base}/rb/snapshots/nope/rollback?confirm=rb` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('SNAPSHOT_NOT_FOUND');
    const noImage = await t.app.inject({ method: 'POST', url: `${base}/nope/snapshots/before/rollback?confirm=nope` });
    expect(noImage.json().code).toBe('IMAGE_NOT_FOUND');
    const release = await images.hold(pool.name, 'rb');
    try {
      const r = await t.app.inject({ method: 'POST', url: `${base}/rb/snapshots/before/rollback?confirm=rb` });
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('IMAGE_IN_USE');
      expect(r.json().watchers).toHaveLength(1);
    } finally {
      await release();
    }
    // cleanup for the pool's removal
    await t.app.inject({ method: 'DELETE', url: `${base}/rb/snapshots/before` });
  });
});
