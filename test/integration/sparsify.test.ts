// POST …/images/{image}/sparsify: zeros written over allocated data are deallocated (usedBytes shrinks, the task
// reports usage before/after and the bytes reclaimed) and the image still reads byte for byte; refused with 409
// IMAGE_IN_USE (naming the lock owner) while another client has the image open, at the route and again in the
// task. kill -9 mid-task: sparsify-kill.test.ts.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { exportImage, importRandom } from '../helpers/cli.js';
import { compileLockHolder, startLockHolder } from '../helpers/lock-holder.js';
import { waitTask } from '../helpers/wait-task.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { nativeChecked } from '../../src/ceph/call.js';
import { withOpenImage } from '../../src/ceph/open-image.js';
import { SPARSIFY_ACTION } from '../../src/ceph/sparsify.js';
import { rbdImage } from '../../src/native/rbd-image.js';

const it = usePoolApp({ prefix: 'sparsify', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let conn: CephConnection;
let base: string;
const KiB = 1024;
const MiB = 1024 * KiB;
const OBJ = 16 * KiB;

it.beforeAll(({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  base = `/api/v1/pools/${pool.name}/images`;
});

/**
 * An image of `bytes` random bytes in 16 KiB objects, then zeros written over every other object and over
 * 8 KiB inside one of the others (a separate client of the test process, closed before it returns): the
 * expected content.
 */
async function zeroedImage(name: string, bytes: number): Promise<Buffer> {
  const data = await importRandom(pool.name, name, bytes, '16K');
  const zeros = Buffer.alloc(OBJ);
  await conn.withIoctx(pool.name, (io) => withOpenImage(io, pool.name, name, {}, async (img) => {
    for (let ofs = 0; ofs < bytes; ofs += 2 * OBJ) {
      await nativeChecked('image', 'rbd_write', name, rbdImage.write, img, ofs, OBJ, zeros);
    }
    await nativeChecked('image', 'rbd_write', name, rbdImage.write, img, OBJ + 4 * KiB, 8 * KiB, zeros);
  }));
  for (let ofs = 0; ofs < bytes; ofs += 2 * OBJ) data.fill(0, ofs, ofs + OBJ);
  data.fill(0, OBJ + 4 * KiB, OBJ + 12 * KiB);
  return data;
}

const usedBytes = async (name: string): Promise<number> => (await t.app.inject({ method: 'GET', url: `${base}/${name}/usage` })).json().usedBytes;

describe('sparsify', () => {
  it('deallocates zeroed objects: usage before/after and bytes reclaimed; the data reads byte for byte', async () => {
    const expected = await zeroedImage('zeroed', 2 * MiB);
    const before = await usedBytes('zeroed');
    expect(before).toBe(2 * MiB); // the zeros are allocated
    const r = await t.app.inject({ method: 'POST', url: `${base}/zeroed/sparsify`, ...json({ sparseSize: 4096 }) });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.location).toMatch(/^\/api\/v1\/tasks\//);
    const { task, seen } = await waitTask(t.app, r.headers.location as string);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.action).toBe(SPARSIFY_ACTION);
    expect(seen.some((s) => s.state === 'running' || s.progress > 0) || seen.length > 0).toBe(true);
    expect(task.result).toMatchObject({
      sparseSize: 4096, before: { usedBytes: 2 * MiB }, after: { usedBytes: MiB }, reclaimedBytes: MiB,
    });
    expect(await usedBytes('zeroed')).toBe(MiB);
    expect((await exportImage(pool.name, 'zeroed')).equals(expected)).toBe(true);
    // without a body: the default sparse size; nothing more to reclaim
    const again = await t.app.inject({ method: 'POST', url: `${base}/zeroed/sparsify` });
    expect(again.statusCode, again.body).toBe(202);
    expect((await waitTask(t.app, again.headers.location as string)).task.result).toMatchObject({ sparseSize: 4096, reclaimedBytes: 0 });
  });

  it('bad sparse sizes are 400 naming the field; a missing image is 404', async () => {
    for (const sparseSize of [4095, 6144, 1024, 2 ** 26, 'big', -4096]) {
      const r = await t.app.inject({ method: 'POST', url: `${base}/zeroed/sparsify`, ...json({ sparseSize }) });
      expect(r.statusCode, r.body).toBe(400);
      expect(r.body).toContain('sparseSize');
    }
    // larger than the object size (16 KiB)
    const big = await t.app.inject({ method: 'POST', url: `${base}/zeroed/sparsify`, ...json({ sparseSize: 32768 }) });
    expect(big.statusCode).toBe(400);
    expect(big.json().detail).toContain('object size');
    expect((await t.app.inject({ method: 'POST', url: `${base}/nope/sparsify` })).statusCode).toBe(404);
  });

  it('refused while another client has the image open: 409 IMAGE_IN_USE naming the lock owner, at the route and in the task', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'busy', size: '1MiB' }) })).statusCode).toBe(201);
    const holder = await startLockHolder(compileLockHolder(), pool.name, '', 'busy');
    try {
      const r = await t.app.inject({ method: 'POST', url: `${base}/busy/sparsify` });
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'IMAGE_IN_USE', lockOwners: [holder.address], locks: `${base}/busy/locks` });
      // a task made anyway (as if the client opened the image after the route's check) fails the same way
      const info = await t.ceph.images.stat(pool.name, 'busy');
      const task = await t.ceph.tasks.submit(SPARSIFY_ACTION, { pool: pool.name, namespace: '', image: 'busy', imageId: info.id }, { sparseSize: 4096 });
      const ended = (await waitTask(t.app, task.id)).task;
      expect(ended.state).toBe('failed');
      expect(ended.error?.code).toBe('IMAGE_IN_USE');
      expect(ended.error?.detail).toContain(holder.address);
    } finally {
      holder.child.kill('SIGKILL');
    }
  });
});
