// The per-image mutation lock itself (src/ceph/image-lock.ts, docs/concurrency.md), across two Ceph clients as
// two replicas would hold it: a change waiting behind another client's hold gets 503 CEPH_BUSY with Retry-After
// at its deadline, or 409 OPERATION_IN_PROGRESS naming the task that holds the image; a holder that died keeps
// the image for one lease and no longer; a hold that ends leaves no lock object behind.
import { describe, expect } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { imageKey, lockObjectOf, mutationLocks } from '../../src/ceph/image-lock.js';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { connectionOptions } from '../helpers/cluster.js';
import { radosCli } from '../helpers/cli.js';

const it = usePoolApp({
  prefix: 'image-lock', key: 'rbdapi-pools',
  client: { tasks: { run: false }, locks: { waitMs: 1500, leaseMs: 15_000 } },
})
  // another replica's Ceph client: holds images' keys for 10 s at most, with a 4 s lease
  .extend('holder', { scope: 'file' }, async ({}, { onCleanup }) => {
    const holder = new CephClient({
      ...connectionOptions('rbdapi-pools'), operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10,
      tasks: { run: false }, locks: { waitMs: 10_000, leaseMs: 4000 },
    });
    onCleanup(() => holder.close());
    await holder.ready();
    return holder;
  });

let pool: TestPool;
let holder: CephClient;
it.beforeAll(({ pool: p, holder: h }) => { pool = p; holder = h; });

const lockObjects = async () => (await radosCli('-p', pool.name, 'ls')).split('\n').filter((o) => o.startsWith('rbdapi_mutation.'));
/** The lock objects once the releases in flight have ended (a release runs after the answer): polled, up to 5 s. */
async function settledLockObjects(): Promise<string[]> {
  const until = Date.now() + 5000;
  for (;;) {
    const left = await lockObjects();
    if (left.length === 0 || Date.now() > until) return left;
  }
}

/** Hold `image`'s key from the other client until the returned function is called. */
async function holdFromOtherReplica(image: string, task?: string): Promise<() => Promise<void>> {
  let release!: () => void;
  let held!: () => void;
  const acquired = new Promise<void>((r) => { held = r; });
  const done = mutationLocks(holder).run([imageKey(pool.name, image)], async () => {
    held();
    await new Promise<void>((r) => { release = r; });
  }, task ? { task } : {});
  await acquired;
  return async () => { release(); await done; };
}

describe('the per-image mutation lock', () => {
  it('a change behind another replica\'s hold: 503 CEPH_BUSY with Retry-After at the deadline, then it goes through', async ({ app }) => {
    const url = `/api/v1/pools/${pool.name}/images`;
    expect((await app.inject({ method: 'POST', url, payload: { name: 'a', size: 1 << 20 } })).statusCode).toBe(201);
    const release = await holdFromOtherReplica('a');
    const started = Date.now();
    const r = await app.inject({ method: 'PUT', url: `${url}/a/metadata/k`, payload: { value: 'v' } });
    expect(r.statusCode).toBe(503);
    expect(r.json().code).toBe('CEPH_BUSY');
    expect(r.headers['retry-after']).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    await release();
    expect((await app.inject({ method: 'PUT', url: `${url}/a/metadata/k`, payload: { value: 'v' } })).statusCode).toBe(201);
    expect(await settledLockObjects()).toEqual([]);
  });

  it('a change behind a task\'s hold: 409 OPERATION_IN_PROGRESS naming the task', async ({ app }) => {
    const url = `/api/v1/pools/${pool.name}/images`;
    expect((await app.inject({ method: 'POST', url, payload: { name: 'b', size: 1 << 20 } })).statusCode).toBe(201);
    const release = await holdFromOtherReplica('b', 'task-123');
    try {
      const r = await app.inject({ method: 'DELETE', url: `${url}/b` });
      expect(r.statusCode).toBe(409);
      expect(r.json()).toMatchObject({ code: 'OPERATION_IN_PROGRESS', task: 'task-123' });
    } finally {
      await release();
    }
    expect((await app.inject({ method: 'DELETE', url: `${url}/b` })).statusCode).toBe(204);
    expect(await settledLockObjects()).toEqual([]);
  });

  it('a holder that died keeps the image for one lease, no longer', async ({ app }) => {
    const url = `/api/v1/pools/${pool.name}/images`;
    expect((await app.inject({ method: 'POST', url, payload: { name: 'c', size: 1 << 20 } })).statusCode).toBe(201);
    // a process that took the lock and died: the rados CLI takes it with a 3 s lease and exits
    const oid = lockObjectOf(imageKey(pool.name, 'c'));
    await radosCli('-p', pool.name, 'lock', 'get', oid, 'rbdapi.mutation', '--lock-cookie', 'dead', '--lock-duration', '3');
    const first = await app.inject({ method: 'PUT', url: `${url}/c/snapshots/s` });
    expect(first.statusCode).toBe(503); // within the lease (1.5 s wait)
    let r = first;
    const until = Date.now() + 10_000;
    while (r.statusCode === 503 && Date.now() < until) r = await app.inject({ method: 'PUT', url: `${url}/c/snapshots/s` });
    expect(r.statusCode).toBe(201);
    // the dead holder's object went with the next holder's release
    expect(await settledLockObjects()).toEqual([]);
  });
});
