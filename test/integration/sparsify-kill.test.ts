// kill -9 of the service running a sparsify task: another process takes the task over and finishes it; the
// image reads byte for byte and the zeroed half is reclaimed (but for the few object-map entries a killed
// librbd sparsify leaves pending, see src/ceph/sparsify.ts).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { nativeChecked } from '../../src/ceph/call.js';
import { withOpenImage } from '../../src/ceph/open-image.js';
import { rbdImage } from '../../src/native/rbd-image.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { exportImage, importRandom } from '../helpers/cli.js';
import { connect, makePool, takeoverEnv } from '../helpers/cluster.js';
import { eventually } from '../helpers/eventually.js';
import { startService, type Service } from '../helpers/service.js';
import { waitTask, type TaskJson } from '../helpers/wait-task.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const OBJ = 16 * KiB;
let admin: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let victim: Service | undefined;
let survivor: TestApp | undefined;

beforeAll(async () => {
  admin = await connect('admin');
  pool = await makePool(admin, 'spkill');
});
afterAll(async () => {
  victim?.child.kill('SIGKILL');
  await survivor?.close();
  await pool?.remove();
  await admin?.close();
});

/** 4 MiB of random bytes in 16 KiB objects (256: librbd sparsifies ~50 a second here), every other object then
 * overwritten with zeros: the expected content. */
const BYTES = 4 * MiB;
async function zeroedImage(name: string): Promise<Buffer> {
  const bytes = BYTES;
  const data = await importRandom(pool.name, name, bytes, '16K');
  const zeros = Buffer.alloc(OBJ);
  await admin.withIoctx(pool.name, (io) => withOpenImage(io, pool.name, name, {}, async (img) => {
    for (let ofs = 0; ofs < bytes; ofs += 2 * OBJ) await nativeChecked('image', 'rbd_write', name, rbdImage.write, img, ofs, OBJ, zeros);
  }));
  for (let ofs = 0; ofs < bytes; ofs += 2 * OBJ) data.fill(0, ofs, ofs + OBJ);
  return data;
}

it('kill -9 of the service running a sparsify: another process takes the task over and finishes it', async () => {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const env = { ...takeoverEnv(), LOG_LEVEL: 'error', TASK_PROGRESS_MS: '100' };
  const [expected, v] = await Promise.all([zeroedImage('killed'), startService(env, { readyTimeoutMs: 120_000 })]);
  victim = v;
  const up = ms();
  const location = await (async () => {
    const r = await fetch(`${v.url}/api/v1/pools/${pool.name}/images/killed/sparsify`, { method: 'POST' });
    expect(r.status, await r.clone().text()).toBe(202);
    return r.headers.get('location')!;
  })();
  const view = async (): Promise<TaskJson> => (await fetch(`${v.url}${location}`)).json() as Promise<TaskJson>;
  // killed once librbd's sparsify is under way (progress past the usage walk)
  const atKill = await eventually(async () => {
    const now = await view();
    return now.state === 'succeeded' || now.progress > 0.06 ? now : false;
  }, { timeoutMs: 30_000, intervalMs: 20, what: 'the sparsify under way' });
  v.child.kill('SIGKILL');
  await v.exited;
  const killed = ms();
  expect(atKill.state, 'the task ended before the kill: make the image larger').toBe('running');
  // another process (on a client of its own) takes it over once the lease has lapsed
  survivor = await testApp('rbdapi', {}, { tasks: { leaseMs: 3000, scanMs: 300 }, locks: { leaseMs: 3000 } });
  const { task } = await waitTask(survivor.app, location, 60_000);
  expect(task.state, JSON.stringify(task)).toBe('succeeded');
  // taken over after the kill (any replica with the handler may have run it before: other test files' apps scan every pool)
  expect(task.attempts).toBeGreaterThan(atKill.attempts ?? 1);
  const usage = (await survivor.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/killed/usage` })).json();
  expect(usage.usedBytes).toBeGreaterThanOrEqual(BYTES / 2);
  expect(usage.usedBytes).toBeLessThanOrEqual(BYTES / 2 + 8 * OBJ);
  expect(task.result).toMatchObject({ sparseSize: 4096, after: { usedBytes: usage.usedBytes } });
  expect((await exportImage(pool.name, 'killed')).equals(expected)).toBe(true);
  console.log(`sparsify killed at progress ${atKill.progress}, taken over (attempts ${task.attempts}); `
    + `${(usage.usedBytes - BYTES / 2) / OBJ} object(s) left pending; image made and service up ${up} ms, killed ${killed} ms, ended ${ms()} ms`);
}, 120_000);
