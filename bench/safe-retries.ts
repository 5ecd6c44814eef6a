// What If-Match and Idempotency-Key cost a request (docs/concurrency.md): N rounds, interleaved, of a PATCH of
// one image without and with If-Match, and of a snapshot POST without and with an Idempotency-Key, through the
// app (inject, no socket) on the cluster of CEPH_CONF. Prints p50/p99 of each and the ratios.
// Run: CEPH_CONF=… npx tsx bench/safe-retries.ts [N]
import { CephClient } from '../src/ceph/client.js';
import { buildApp } from '../src/http/app.js';

const N = Number(process.argv[2] ?? 100);
const pool = `bench-safe-${Date.now().toString(36)}`;
const ceph = new CephClient({ confFile: process.env.CEPH_CONF, clientId: 'admin', operationTimeoutMs: 30_000 });
await ceph.ready();
await ceph.pools.create(pool);
const app = await buildApp({ ceph });
await app.ready();
const url = `/api/v1/pools/${pool}/images/b`;
const json = (body: unknown, headers: Record<string, string> = {}) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
await app.inject({ method: 'PUT', url, ...json({ size: '4MiB' }) });
const times: Record<string, number[]> = { patch: [], patchIfMatch: [], snap: [], snapKey: [] };
const timed = async (name: string, fn: () => Promise<{ statusCode: number }>, ok: number) => {
  const t = performance.now();
  const r = await fn();
  times[name]!.push(performance.now() - t);
  if (r.statusCode !== ok) throw new Error(`${name}: ${r.statusCode}`);
};
let size = 4 << 20;
for (let i = 0; i < N; i++) {
  size += 1 << 20;
  await timed('patch', () => app.inject({ method: 'PATCH', url, ...json({ size }) }), 200);
  const tag = (await app.inject({ method: 'GET', url })).headers.etag as string;
  size += 1 << 20;
  await timed('patchIfMatch', () => app.inject({ method: 'PATCH', url, ...json({ size }, { 'if-match': tag }) }), 200);
  await timed('snap', () => app.inject({ method: 'POST', url: `${url}/snapshots`, ...json({ name: `s${i}` }) }), 201);
  await timed('snapKey', () => app.inject({ method: 'POST', url: `${url}/snapshots`, ...json({ name: `k${i}` }, { 'idempotency-key': `"k${i}"` }) }), 201);
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
for (const [name, xs] of Object.entries(times)) console.log(`${name}: p50 ${pct(xs, 0.5).toFixed(2)} ms, p99 ${pct(xs, 0.99).toFixed(2)} ms`);
console.log(`ratio p50 If-Match ${(pct(times.patchIfMatch!, 0.5) / pct(times.patch!, 0.5)).toFixed(2)}, Idempotency-Key ${(pct(times.snapKey!, 0.5) / pct(times.snap!, 0.5)).toFixed(2)}`);
await app.close();
await ceph.pools.deleteForced(pool).catch(() => undefined);
await ceph.close();
