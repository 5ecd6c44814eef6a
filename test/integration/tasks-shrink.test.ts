// The image.shrink task handler (PATCH of the management routes submits it): shrinks with real progress, data
// below the new size intact, refuses a grow, can be cancelled.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { type TestApp } from '../helpers/app.js';
import { rbdCli } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'tshrink', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
const MiB = 1024 ** 2;
const tmp = mkdtempSync(join(tmpdir(), 'rbdapi-shrink-'));

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
});

describe('image.shrink task', () => {
  it('shrinks; the data below the new size is unchanged byte for byte', async () => {
    const data = randomBytes(32 * MiB);
    writeFileSync(join(tmp, 'in'), data);
    await rbdCli('import', join(tmp, 'in'), `${pool.name}/s1`);
    const id = (JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/s1`)) as { id: string }).id;
    const task = await t.ceph.tasks.submit('image.shrink', { pool: pool.name, namespace: '', image: 's1', imageId: id }, { size: 8 * MiB });
    expect(task.state).toBe('queued');
    const { task: done } = await waitTask(t.app, task.id);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(done.result).toEqual({ previousSize: 32 * MiB, size: 8 * MiB });
    const img = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/s1` });
    expect(img.json().size).toBe(8 * MiB);
    await rbdCli('export', `${pool.name}/s1`, join(tmp, 'out'));
    expect(readFileSync(join(tmp, 'out')).equals(data.subarray(0, 8 * MiB))).toBe(true);
  });

  it('a size above the current one fails VALIDATION_FAILED and changes nothing; a missing image IMAGE_NOT_FOUND', async () => {
    await rbdCli('create', '--size', '16M', `${pool.name}/s2`);
    const grow = await t.ceph.tasks.submit('image.shrink', { pool: pool.name, namespace: '', image: 's2' }, { size: 64 * MiB });
    const { task } = await waitTask(t.app, grow.id);
    expect(task).toMatchObject({ state: 'failed', error: { code: 'VALIDATION_FAILED' } });
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/s2` })).json().size).toBe(16 * MiB);
    const missing = await t.ceph.tasks.submit('image.shrink', { pool: pool.name, namespace: '', image: 'nope' }, { size: MiB });
    expect((await waitTask(t.app, missing.id)).task).toMatchObject({ state: 'failed', error: { code: 'IMAGE_NOT_FOUND' } });
  });

  it('PATCH: a shrink that cuts off more than 262144 objects is a task even with an object map; a smaller one is inline', async () => {
    const patch = (image: string, size: number) => t.app.inject({
      method: 'PATCH', url: `/api/v1/pools/${pool.name}/images/${image}`, payload: { size, allowShrink: true },
    });
    // 2 TiB of 4 MiB objects with object map and fast-diff: 524288 object numbers to cut off
    await rbdCli('create', '--size', '2T', `${pool.name}/s4`);
    const r = await patch('s4', MiB);
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({ action: 'image.shrink', applied: {} });
    const { task } = await waitTask(t.app, r.json().id as string, 120_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/s4` })).json().size).toBe(MiB);
    // 512 GiB → 1 MiB: 131072 object numbers, answered inline
    await rbdCli('create', '--size', '512G', `${pool.name}/s5`);
    const inline = await patch('s5', MiB);
    expect(inline.statusCode, inline.body).toBe(200);
    expect(inline.json()).toMatchObject({ size: MiB, applied: { resized: { from: 512 * 1024 * MiB, to: MiB } } });
  }, 180_000);

  it('is cancellable: a long shrink ends cancelled', async () => {
    // 2 TiB without object map: the shrink walks every object past the new size
    await rbdCli('create', '--size', '2T', '--image-feature', 'layering', `${pool.name}/s3`);
    const task = await t.ceph.tasks.submit('image.shrink', { pool: pool.name, namespace: '', image: 's3' }, { size: MiB });
    await waitTask(t.app, task.id, 30_000, (x) => x.state === 'running' && x.progress > 0);
    const c = await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${task.id}` });
    expect(c.statusCode).toBe(202);
    const { task: end } = await waitTask(t.app, task.id, 30_000);
    expect(end.state).toBe('cancelled');
    expect(end.progress).toBeLessThan(1);
  });
});
