// What the per-image mutation lock costs a change (docs/concurrency.md): N sequential creates of new images
// through src/ceph with and without the lock around them, interleaved round by round, on the cluster of
// CEPH_CONF. Prints p50/p99 of each and the ratio. Run: CEPH_CONF=… npx tsx bench/mutation-lock.ts [N]
import { CephClient } from '../src/ceph/client.js';
import { imageKey, mutationLocks } from '../src/ceph/image-lock.js';

const N = Number(process.argv[2] ?? 200);
const pool = `bench-lock-${Date.now().toString(36)}`;
const client = new CephClient({ confFile: process.env.CEPH_CONF, clientId: 'admin', operationTimeoutMs: 30_000, tasks: { run: false } });
await client.ready();
await client.pools.create(pool);
const locks = mutationLocks(client);
const plain: number[] = [];
const locked: number[] = [];
for (let i = 0; i < N; i++) {
  let t = performance.now();
  await client.images.create(pool, `p${i}`, 1 << 20);
  plain.push(performance.now() - t);
  t = performance.now();
  await locks.run([imageKey(pool, `l${i}`)], () => client.images.create(pool, `l${i}`, 1 << 20));
  locked.push(performance.now() - t);
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const line = (name: string, xs: number[]) => `${name}: p50 ${pct(xs, 0.5).toFixed(2)} ms, p99 ${pct(xs, 0.99).toFixed(2)} ms`;
console.log(line('create', plain));
console.log(line('create under the mutation lock', locked));
console.log(`ratio p50 ${(pct(locked, 0.5) / pct(plain, 0.5)).toFixed(2)}`);
await client.pools.deleteForced(pool).catch(() => undefined);
await client.close();
