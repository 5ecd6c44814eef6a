// Dry runs (issue 25 item 5): `?dryRun=true` on DELETE of an image, a namespace and a pool, rollback, shrink and
// trash purge answers 200 with what would be removed or changed and changes nothing; each test then makes the
// real call and compares what it did with the preview (the cluster read with the CLI).
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { TestApp } from '../helpers/app.js';
import { exportImage, importRandom, rbdCli } from '../helpers/cli.js';
import { makePool } from '../helpers/cluster.js';
import { waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'dry-runs' });
let a: TestApp;
let pool: TestPool;
it.beforeAll(({ pool: p, replicas }) => {
  pool = p; a = replicas[0]!;
});

const MiB = 1024 * 1024;
const img = (name: string, p = pool.name) => `/api/v1/pools/${p}/images/${name}`;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
async function send(method: Method, url: string, body?: unknown) {
  const r = await a.app.inject({ method, url, ...(body === undefined ? {} : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: r.statusCode, headers: r.headers, body: r.body ? (r.json() as Record<string, any>) : {} };
}
const names = (xs: { name: string }[]) => xs.map((x) => x.name).sort();

describe('dry runs', () => {
  it('image DELETE: the image and its bytes, nothing changed; refused as the real call is', async () => {
    await importRandom(pool.name, 'd1', 6 * MiB);
    const preview = await send('DELETE', `${img('d1')}?dryRun=true`);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toMatchObject({ dryRun: true, operation: 'deleteImage', images: [{ name: 'd1', size: 6 * MiB, snapshots: 0 }], bytes: 6 * MiB, allocatedBytes: 6 * MiB });
    expect((await send('GET', img('d1'))).status).toBe(200);
    expect((await send('DELETE', img('d1'))).status).toBe(204);
    expect(await rbdCli('ls', pool.name)).not.toMatch(/^d1$/m);
    // with a snapshot: the same 409 as the real DELETE
    expect((await send('PUT', img('d2'), { size: '1MiB' })).status).toBe(201);
    expect((await send('PUT', `${img('d2')}/snapshots/s`)).status).toBe(201);
    expect((await send('DELETE', `${img('d2')}?dryRun=true`)).body.code).toBe('IMAGE_HAS_SNAPSHOTS');
    expect((await send('DELETE', img('d2'))).body.code).toBe('IMAGE_HAS_SNAPSHOTS');
  });

  it('shrink and rollback: the preview\'s sizes and bytes are what the real call then changes', async () => {
    await importRandom(pool.name, 'r1', 12 * MiB);
    const shrink = await send('PATCH', `${img('r1')}?dryRun=true`, { size: '4MiB', allowShrink: true });
    expect(shrink.status, JSON.stringify(shrink.body)).toBe(200);
    expect(shrink.body).toMatchObject({ operation: 'shrinkImage', sizeBefore: 12 * MiB, sizeAfter: 4 * MiB, bytes: 8 * MiB, allocatedBytes: 8 * MiB });
    expect((await send('GET', img('r1'))).body.size).toBe(12 * MiB);
    expect((await send('PATCH', `${img('r1')}?dryRun=true`, { size: '4MiB' })).body.code).toBe('SHRINK_NOT_ALLOWED'); // as the real one
    const done = await send('PATCH', img('r1'), { size: '4MiB', allowShrink: true });
    expect(done.body.applied.resized).toEqual({ from: shrink.body.sizeBefore, to: shrink.body.sizeAfter });
    // rollback: the snapshot at 4 MiB, then the image grown and written to
    expect((await send('PUT', `${img('r1')}/snapshots/before`)).status).toBe(201);
    expect((await send('PATCH', img('r1'), { size: '10MiB' })).status).toBe(200);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4096', '--io-total', '65536', '--io-pattern', 'seq', `${pool.name}/r1`);
    const changed = (await rbdCli('diff', '--whole-object', '--from-snap', 'before', `${pool.name}/r1`)).split('\n').filter((l) => /^\d/.test(l));
    const preview = await send('POST', `${img('r1')}/snapshots/before/rollback?dryRun=true`);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toMatchObject({ operation: 'rollbackSnapshot', sizeBefore: 10 * MiB, sizeAfter: 4 * MiB, snapshots: [{ name: 'before', size: 4 * MiB }] });
    expect(preview.body.bytes).toBe(changed.reduce((n, l) => n + Number(l.split(/\s+/)[1]), 0));
    expect(preview.body.bytes).toBeGreaterThan(0);
    const task = await send('POST', `${img('r1')}/snapshots/before/rollback?confirm=r1`);
    expect((await waitTask(a.app, task.headers.location as string)).task.state).toBe('succeeded');
    expect((await send('GET', img('r1'))).body.size).toBe(preview.body.sizeAfter);
    expect((await exportImage(pool.name, 'r1')).equals(await exportImage(pool.name, 'r1@before'))).toBe(true);
  });

  it('trash purge: the entries the real purge then removes', async () => {
    for (const n of ['t1', 't2', 't3']) {
      expect((await send('PUT', img(n), { size: '1MiB' })).status).toBe(201);
      await rbdCli('trash', 'mv', `${pool.name}/${n}`); // deferment ended at once
    }
    expect((await send('PUT', img('t4'), { size: '1MiB' })).status).toBe(201);
    expect((await send('DELETE', `${img('t4')}?keepFor=1h`)).status).toBe(204); // deferred: not purged
    const preview = await send('POST', `/api/v1/pools/${pool.name}/trash/purge?dryRun=true`);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(names(preview.body.trashEntries)).toEqual(['t1', 't2', 't3']);
    expect((await rbdCli('trash', 'ls', pool.name)).split('\n').filter(Boolean)).toHaveLength(4);
    const purge = await send('POST', `/api/v1/pools/${pool.name}/trash/purge`);
    const { task } = await waitTask(a.app, purge.headers.location as string);
    expect(task.state).toBe('succeeded');
    expect([...(task.result!.removedIds as string[])].sort()).toEqual(preview.body.trashEntries.map((e: { id: string }) => e.id).sort());
  });

  it('namespace and pool DELETE: what is in them, clones elsewhere; the forced pool delete removes exactly that', async ({ conn }) => {
    const ns = `/api/v1/pools/${pool.name}/namespaces/dry`;
    expect((await send('PUT', ns)).status).toBe(201);
    expect((await send('DELETE', `${ns}?dryRun=true`)).body).toMatchObject({ dryRun: true, operation: 'deleteNamespace', images: [] });
    expect((await send('PUT', `${ns}/images/n1`, { size: '2MiB' })).status).toBe(201);
    const full = await send('DELETE', `${ns}?dryRun=true`);
    expect(full.status).toBe(409);
    expect(full.body).toMatchObject({ code: 'NAMESPACE_NOT_EMPTY', preview: { images: [{ name: 'n1', namespace: 'dry', size: 2 * MiB }] } });
    expect((await send('DELETE', ns)).body.code).toBe('NAMESPACE_NOT_EMPTY');

    const other = await makePool(conn, 'dry-runs-del');
    try {
      const o = (n: string) => img(n, other.name);
      expect((await send('PUT', o('p1'), { size: '4MiB' })).status).toBe(201);
      expect((await send('PUT', `${o('p1')}/snapshots/base`)).status).toBe(201);
      expect((await send('PUT', o('p2'), { size: '8MiB' })).status).toBe(201);
      expect((await send('PUT', img('elsewhere'), { source: { pool: other.name, image: 'p1', snapshot: 'base' } })).status).toBe(201);
      const refused = await send('DELETE', `/api/v1/pools/${other.name}?dryRun=true`);
      expect(refused.body.code).toBe('POOL_NOT_EMPTY');
      const preview = await send('DELETE', `/api/v1/pools/${other.name}?dryRun=true&force=true`);
      expect(preview.status, JSON.stringify(preview.body)).toBe(200);
      expect(names(preview.body.images)).toEqual(['p1', 'p2']);
      expect(preview.body.snapshots).toMatchObject([{ image: 'p1', name: 'base' }]);
      expect(preview.body.clones).toMatchObject([{ pool: pool.name, image: 'elsewhere', parent: { pool: other.name, image: 'p1', snapshot: 'base' } }]);
      expect(preview.body.bytes).toBe(12 * MiB);
      const before = (await rbdCli('ls', other.name)).split('\n').filter(Boolean).sort();
      expect(before).toEqual(names(preview.body.images));
      expect((await send('DELETE', `/api/v1/pools/${other.name}?confirm=${other.name}&force=true`)).status).toBe(204);
      expect((await send('GET', `/api/v1/pools/${other.name}`)).status).toBe(404);
    } finally {
      await other.remove().catch(() => undefined);
    }
  });
});
