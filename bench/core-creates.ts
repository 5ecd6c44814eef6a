// npm run bench:core — issue 2's check: 1000 image creates through src/ceph at concurrency 4 against the C
// program (bench/rbdbench, librbd with 4 threads) on the same cluster, in the same session, interleaved.
// Prints creates/s for both and the ratio (target ≥ 0.8). Needs a cluster: CEPH_CONF + admin keyring, e.g.
//   bash scripts/ceph-cluster.sh up && npx tsx bench/core-creates.ts
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CephConnection } from '../src/ceph/connection.js';
import { nativeLoad } from '../src/ceph/process.js';
import { Images } from '../src/ceph/images.js';
import { Pools } from '../src/ceph/pools.js';

if (!process.env.UV_THREADPOOL_SIZE) {
  // The native call limit is the threadpool size minus 4 (src/native/async-call.ts): with libuv's default
  // of 4 threads every Ceph call would run alone and "concurrency 4" would be 1 (measured ratio 0.80
  // instead of ~1.0). libuv sizes its pool once, at first use, so run again with the size set, as `npm start` does.
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: '24' },
  });
  process.exit(r.status ?? 1);
}

const dir = resolve(process.env.CEPH_CLUSTER_DIR ?? '.ceph/cluster');
const conf = process.env.CEPH_CONF ?? `${dir}/ceph.conf`;
const keyring = process.env.CEPH_KEYRING ?? `${dir}/ceph.client.admin.keyring`;
const N = Number(process.env.BENCH_IMAGES ?? 1000);
const C = Number(process.env.BENCH_THREADS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SIZE = 1 << 30;

if (!existsSync('bench/rbdbench')) {
  execFileSync('gcc', ['-O2', '-Wall', '-o', 'bench/rbdbench', 'bench/rbdbench.c', '-lrbd', '-lrados', '-lpthread'], { stdio: 'inherit' });
}

console.log(`native calls in flight at most ${nativeLoad().concurrency} (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE})`);
const conn = await CephConnection.connect({ confFile: conf, clientId: 'admin', keyring });
const pools = new Pools(conn);
const images = new Images(conn);
const pool = `core-bench-${Date.now().toString(36)}`;
await pools.create(pool, { pgNum: 32 });

function cRun(prefix: string): { create: number; remove: number } {
  const out = execFileSync('bench/rbdbench', ['-c', conf, '-k', keyring, '-p', pool, '-N', String(N), '-t', String(C), '-P', prefix, '-x', 'create,remove'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const r = JSON.parse(out) as { create: { rate_per_s: number }; remove: { rate_per_s: number } };
  return { create: r.create.rate_per_s, remove: r.remove.rate_per_s };
}

async function tsRun(prefix: string): Promise<{ create: number; remove: number }> {
  const names = Array.from({ length: N }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
  const batch = async (fn: (n: string) => Promise<void>): Promise<number> => {
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: C }, async () => {
      while (next < names.length) await fn(names[next++]!);
    }));
    return names.length / ((performance.now() - started) / 1000);
  };
  const create = await batch((n) => images.create(pool, n, SIZE));
  const remove = await batch((n) => images.remove(pool, n));
  return { create, remove };
}

const rows: { round: number; c: { create: number; remove: number }; ts: { create: number; remove: number } }[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    // alternate who goes first so that neither always gets the warmer cluster
    let c: { create: number; remove: number };
    let ts: { create: number; remove: number };
    if (round % 2 === 1) { c = cRun(`c${round}-`); ts = await tsRun(`ts${round}-`); } else { ts = await tsRun(`ts${round}-`); c = cRun(`c${round}-`); }
    rows.push({ round, c, ts });
    console.log(`round ${round}: creates/s  C ${c.create.toFixed(1)}  src/ceph ${ts.create.toFixed(1)}  ratio ${(ts.create / c.create).toFixed(3)}   `
      + `(removes/s C ${c.remove.toFixed(1)}, src/ceph ${ts.remove.toFixed(1)})`);
  }
} finally {
  await pools.delete(pool).catch(() => undefined);
  await conn.close();
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cMean = mean(rows.map((r) => r.c.create));
const tsMean = mean(rows.map((r) => r.ts.create));
const ratio = tsMean / cMean;
console.log(`\n${N} creates at concurrency ${C}, ${ROUNDS} rounds: C ${cMean.toFixed(1)}/s, src/ceph ${tsMean.toFixed(1)}/s, ratio ${ratio.toFixed(3)} (target ≥ 0.8: ${ratio >= 0.8 ? 'PASS' : 'MISS'})`);
