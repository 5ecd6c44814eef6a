// Clone chains under control (issue 24 item 5) on the real cluster: cloneDepth in every image representation,
// GET …/descendants (a tree across namespaces, clones in the trash too), the depth policy (soft limit → a flatten
// task of the new clone, hard limit → 409 CLONE_TOO_DEEP before anything is made), and the snapshot limit
// (PATCH snapshotLimit, read back by GET and by `rbd snap limit`, 409 SNAPSHOT_LIMIT_REACHED beyond it).
// The service here runs with CLONE_DEPTH_SOFT=2 / CLONE_DEPTH_HARD=3 so that real chains stay short.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { exportImage, importRandom, rbdCli } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'chain', key: 'rbdapi', client: { cloneDepth: { soft: 2, hard: 3 } } });
let t: TestApp;
let pool: TestPool;
let base: string;
let nsBase: string;
let data: Buffer;
const MiB = 1024 * 1024;

const put = (url: string, body: unknown) => t.app.inject({ method: 'PUT', url, ...json(body) });
const get = (url: string) => t.app.inject({ method: 'GET', url });
const snap = (url: string) => t.app.inject({ method: 'PUT', url });

it.beforeAll(async ({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}/images`;
  expect((await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/namespaces/t1` })).statusCode).toBe(201);
  nsBase = `/api/v1/pools/${pool.name}/namespaces/t1/images`;
  data = await importRandom(pool.name, 'root', 2 * MiB + 512);
  // root ← c1 (depth 1) ← c2 (depth 2, in namespace t1); each parent gets a snapshot s
  expect((await snap(`${base}/root/snapshots/s`)).statusCode).toBe(201);
  const c1 = await put(`${base}/c1`, { source: { image: 'root', snapshot: 's' } });
  expect(c1.statusCode, c1.body).toBe(201);
  expect(c1.json()).toMatchObject({ cloneDepth: 1 });
  expect(c1.json().flattenTask).toBeUndefined();
  expect((await snap(`${base}/c1/snapshots/s`)).statusCode).toBe(201);
  const c2 = await put(`${nsBase}/c2`, { source: { pool: pool.name, namespace: '', image: 'c1', snapshot: 's' } });
  expect(c2.statusCode, c2.body).toBe(201);
  expect(c2.json()).toMatchObject({ cloneDepth: 2 });
  expect(c2.json().flattenTask).toBeUndefined(); // 2 is not beyond the soft limit 2
  expect((await snap(`${nsBase}/c2/snapshots/s`)).statusCode).toBe(201);
});

describe('cloneDepth', () => {
  it('GET of one image and the listing with details carry it: 0, 1, 2', async () => {
    expect((await get(`${base}/root`)).json()).toMatchObject({ cloneDepth: 0, parent: null });
    expect((await get(`${base}/c1`)).json()).toMatchObject({ cloneDepth: 1 });
    expect((await get(`${nsBase}/c2`)).json()).toMatchObject({ cloneDepth: 2, parent: { image: 'c1', namespace: '' } });
    const list = (await get(`${base}?details=true`)).json() as { items: { name: string; cloneDepth: number }[] };
    expect(Object.fromEntries(list.items.map((i) => [i.name, i.cloneDepth]))).toMatchObject({ root: 0, c1: 1 });
    const nsList = (await get(`${nsBase}?details=true`)).json() as { items: { name: string; cloneDepth: number }[] };
    expect(nsList.items.find((i) => i.name === 'c2')?.cloneDepth).toBe(2);
  });

  it('a parent in the trash still counts (its header is walked by id)', async () => {
    await rbdCli('snap', 'create', `${pool.name}/c1@tmp`);
    const c = await put(`${base}/tmpclone`, { source: { image: 'c1', snapshot: 'tmp' } });
    expect(c.statusCode).toBe(201);
    await rbdCli('trash', 'mv', `${pool.name}/c1`);
    try {
      expect((await get(`${base}/tmpclone`)).json()).toMatchObject({ cloneDepth: 2, parent: { image: 'c1' } });
    } finally {
      const id = JSON.parse(await rbdCli('trash', 'ls', '--format', 'json', pool.name)).find((e: { name: string }) => e.name === 'c1').id;
      await rbdCli('trash', 'restore', `${pool.name}/${id}`);
      await rbdCli('rm', '--no-progress', `${pool.name}/tmpclone`);
      await rbdCli('snap', 'rm', '--no-progress', `${pool.name}/c1@tmp`);
    }
  });
});

describe('depth limits (soft 2, hard 3)', () => {
  it('a clone beyond the soft limit is made and its flatten task queued (field and Link); the task flattens it, data intact', async () => {
    const r = await put(`${nsBase}/c3`, { source: { image: 'c2', snapshot: 's' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ cloneDepth: 3, parent: { image: 'c2' } });
    const loc = r.json().flattenTask as string;
    expect(loc).toMatch(/^\/api\/v1\/tasks\//);
    expect(r.headers.link).toBe(`<${loc}>; rel="flatten-task"`);
    const { task } = await waitTask(t.app, loc);
    expect(task).toMatchObject({ action: 'image.flatten', state: 'succeeded', target: { image: 'c3', namespace: 't1' } });
    expect((await get(`${nsBase}/c3`)).json()).toMatchObject({ cloneDepth: 0, parent: null });
    expect((await exportImage(`${pool.name}/t1`, 'c3')).equals(data)).toBe(true);
    await rbdCli('rm', '--no-progress', `${pool.name}/t1/c3`);
    // Prefer: return=minimal keeps its {name, pool, size} shape: the task is the Link header only
    const m = await t.app.inject({ method: 'PUT', url: `${nsBase}/c3m`, payload: JSON.stringify({ source: { image: 'c2', snapshot: 's' } }),
      headers: { 'content-type': 'application/json', prefer: 'return=minimal' } });
    expect(m.statusCode, m.body).toBe(201);
    expect(Object.keys(m.json()).sort()).toEqual(['name', 'pool', 'size']);
    const link = /^<(\/api\/v1\/tasks\/[^>]+)>; rel="flatten-task"$/.exec(String(m.headers.link))?.[1];
    expect(link, String(m.headers.link)).toBeDefined();
    expect((await waitTask(t.app, link!)).task.state).toBe('succeeded');
    await rbdCli('rm', '--no-progress', `${pool.name}/t1/c3m`);
  });

  it('beyond the hard limit: 409 CLONE_TOO_DEEP naming the chain, nothing made (a minimal PUT too)', async () => {
    // a depth-3 image made outside the service (no flatten queued): a clone of it would be 4 > 3
    await rbdCli('clone', '--rbd-default-clone-format', '2', `${pool.name}/t1/c2@s`, `${pool.name}/t1/deep3`);
    await rbdCli('snap', 'create', `${pool.name}/t1/deep3@s`);
    expect((await get(`${nsBase}/deep3`)).json()).toMatchObject({ cloneDepth: 3 });
    for (const prefer of [undefined, 'return=minimal']) {
      const r = await t.app.inject({ method: 'PUT', url: `${nsBase}/toodeep`, ...json({ source: { image: 'deep3', snapshot: 's' } }),
        ...(prefer ? { headers: { 'content-type': 'application/json', prefer } } : {}) });
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'CLONE_TOO_DEEP', depth: 4, hardLimit: 3 });
      expect(r.json().chain).toEqual([`${pool.name}/t1/deep3`, `${pool.name}/t1/c2`, `${pool.name}/c1`, `${pool.name}/root`]);
      expect((await get(`${nsBase}/toodeep`)).statusCode).toBe(404);
    }
    const names = (await rbdCli('ls', `${pool.name}/t1`)).split('\n');
    expect(names).not.toContain('toodeep');
    await rbdCli('snap', 'rm', '--no-progress', `${pool.name}/t1/deep3@s`);
    await rbdCli('rm', '--no-progress', `${pool.name}/t1/deep3`);
  });
});

describe('GET …/descendants', () => {
  it('the whole tree below root across namespaces, breadth first, paged; a clone in the trash is listed and descended into', async () => {
    const r = await get(`${base}/root/descendants`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ hidden: 0, truncated: false });
    expect(r.json().items).toEqual([
      { pool: pool.name, namespace: '', image: 'c1', trash: false, depth: 1, parent: { pool: pool.name, namespace: '', image: 'root', snapshot: 's' } },
      { pool: pool.name, namespace: 't1', image: 'c2', trash: false, depth: 2, parent: { pool: pool.name, namespace: '', image: 'c1', snapshot: 's' } },
    ]);
    // a grandchild of c2, then c2 in the trash: still listed (trash: true), and its clone below it
    await rbdCli('clone', '--rbd-default-clone-format', '2', `${pool.name}/t1/c2@s`, `${pool.name}/t1/c3t`);
    await rbdCli('trash', 'mv', `${pool.name}/t1/c2`);
    try {
      const p1 = await get(`${base}/root/descendants?limit=2`);
      expect(p1.json().items.map((i: { image: string; trash: boolean }) => [i.image, i.trash])).toEqual([['c1', false], ['c2', true]]);
      const p2 = await get(`${base}/root/descendants?limit=2&cursor=${p1.json().nextCursor as string}`);
      expect(p2.json().items).toEqual([
        { pool: pool.name, namespace: 't1', image: 'c3t', trash: false, depth: 3, parent: { pool: pool.name, namespace: 't1', image: 'c2', snapshot: 's' } },
      ]);
      expect(p2.json().nextCursor).toBeUndefined();
    } finally {
      const id = JSON.parse(await rbdCli('trash', 'ls', '--format', 'json', `${pool.name}/t1`)).find((e: { name: string }) => e.name === 'c2').id;
      await rbdCli('trash', 'restore', `${pool.name}/t1/${id}`);
      await rbdCli('rm', '--no-progress', `${pool.name}/t1/c3t`);
    }
    expect((await get(`${base}/root/descendants?cursor=bogus`)).json()).toMatchObject({ status: 400 });
    expect((await get(`${base}/nosuch/descendants`)).statusCode).toBe(404);
  });
});

describe('snapshot limit', () => {
  it('PATCH snapshotLimit sets librbd\'s limit (GET and rbd snap limit read it back); a create beyond: 409; null clears it', async () => {
    expect((await get(`${base}/root`)).json()).toMatchObject({ snapshotLimit: null, snapshotCount: 1 });
    const below = await t.app.inject({ method: 'PATCH', url: `${base}/root`, ...json({ snapshotLimit: 0 }) });
    expect(below.statusCode).toBe(400);
    expect(below.json().errors?.[0]?.path ?? below.body).toContain('snapshotLimit');
    const set = await t.app.inject({ method: 'PATCH', url: `${base}/root`, ...json({ snapshotLimit: 2 }) });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ snapshotLimit: 2, applied: { snapshotLimit: { from: null, to: 2 } } });
    expect(JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/root`)).snapshot_limit ?? 2).toBe(2);
    expect((await snap(`${base}/root/snapshots/s2`)).statusCode).toBe(201);
    const over = await snap(`${base}/root/snapshots/s3`);
    expect(over.statusCode, over.body).toBe(409);
    expect(over.json()).toMatchObject({ code: 'SNAPSHOT_LIMIT_REACHED', snapshotLimit: 2 });
    const clear = await t.app.inject({ method: 'PATCH', url: `${base}/root`, ...json({ snapshotLimit: null }) });
    expect(clear.statusCode, clear.body).toBe(200);
    expect(clear.json()).toMatchObject({ snapshotLimit: null });
    expect((await snap(`${base}/root/snapshots/s3`)).statusCode).toBe(201);
    const bad = await t.app.inject({ method: 'PATCH', url: `${base}/root`, ...json({ snapshotLimit: -1 }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('snapshotLimit');
  });
});
