// What `cloneDepth` adds to a listing page of 100 images (issue 24 item 5): on one throwaway pool of the cluster
// CEPH_CONF points at (admin key), three pages of 100 images — plain images, clones of one clone (depth 2, common
// ancestors), clones of 100 different clones (depth 2, nothing shared) — each described by Images.statMany as a
// listing with details does; and the chain walks alone (depthOf, fresh cache per image: the worst case). CPU time
// (user+sys of this process) and wall time, median of 5 rounds.
//   CEPH_CONF=… CEPH_KEYRING=… npx tsx bench/clone-depth.ts
import { execFileSync } from 'node:child_process';
import { CephConnection } from '../src/ceph/connection.js';
import { Images } from '../src/ceph/images.js';
import { depthOf, newChainCache } from '../src/ceph/clone-chain.js';
import { Pools } from '../src/ceph/pools.js';

const conf = process.env.CEPH_CONF ?? '';
const keyring = process.env.CEPH_KEYRING ?? '';
const rbd = (...a: string[]) => execFileSync('rbd', ['-c', conf, '-k', keyring, ...a], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
const pool = `bench-depth-${process.pid}`;
const conn = await CephConnection.connect({ confFile: conf, keyring, clientId: 'admin' });
const pools = new Pools(conn);
await pools.create(pool);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function measure(label: string, fn: () => Promise<unknown>): Promise<void> {
  const cpu: number[] = [], wall: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await fn();
    const c = process.cpuUsage(c0); wall.push(performance.now() - t0); cpu.push((c.user + c.system) / 1000);
  }
  console.log(`${label.padEnd(58)} cpu ${median(cpu).toFixed(1).padStart(7)} ms  wall ${median(wall).toFixed(1).padStart(7)} ms`);
}
try {
  rbd('create', '--size', '4M', `${pool}/root`); rbd('snap', 'create', `${pool}/root@s`);
  rbd('clone', '--rbd-default-clone-format', '2', `${pool}/root@s`, `${pool}/mid`); rbd('snap', 'create', `${pool}/mid@s`);
  for (let i = 0; i < 100; i++) {
    rbd('create', '--size', '4M', `${pool}/plain${String(i).padStart(3, '0')}`);
    rbd('clone', '--rbd-default-clone-format', '2', `${pool}/mid@s`, `${pool}/shared${String(i).padStart(3, '0')}`);
    const m = `m${String(i).padStart(3, '0')}`;
    rbd('clone', '--rbd-default-clone-format', '2', `${pool}/root@s`, `${pool}/${m}`); rbd('snap', 'create', `${pool}/${m}@s`);
    rbd('clone', '--rbd-default-clone-format', '2', `${pool}/${m}@s`, `${pool}/own${String(i).padStart(3, '0')}`);
  }
  const images = new Images(conn);
  const specs = await images.listSpecs(pool);
  const page = (prefix: string) => specs.filter((s) => s.name.startsWith(prefix));
  for (const prefix of ['plain', 'shared', 'own']) {
    await measure(`statMany: 100 × ${prefix}`, () => images.statMany(pool, page(prefix), 16));
  }
  const ids = await Promise.all(page('own').map(async (s) => s.id));
  await measure('depthOf alone, 100 × own (fresh cache each: 2 reads each)', () =>
    Promise.all(ids.map((id) => depthOf(conn, { pool, namespace: '', imageId: id }, newChainCache()))));
} finally {
  await pools.delete(pool).catch((e: unknown) => console.error(e));
  await conn.close();
}
