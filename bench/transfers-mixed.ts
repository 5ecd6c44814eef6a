// bench/transfers-mixed.ts — `npm run bench:transfers`: issue 23's "bounded and fair" check. The service runs as
// `npm start` runs it (dist, malloc tuning, --max-semi-space-size=4); 4 downloads (`curl -o /dev/null`) of fully
// written images and 4 uploads (`curl -T file`) of a random file run at once, while a plain
// `GET …/images/{image}` is timed one after another. Prints the service's RSS (before, peak during the
// transfers) and the GET's p50/p99 idle and under the transfers (targets: RSS < 400 MiB, p99 ≤ 2× idle);
// writes bench/results/transfers-mixed-<date>.json. See docs/benchmarks.md ("Transfers at once").
//
// Knobs (environment):
//   CEPH_CONF (required), CEPH_CLIENT_ID (admin), CEPH_KEYRING   the cluster and the key
//   BENCH_TRANSFER_BYTES (1 GiB; the issue's 2 GiB: 2147483648)   size of each image and of the uploaded file
//   BENCH_TRANSFERS (4)                                            downloads, and uploads, at once
// The cluster needs room for 2 × BENCH_TRANSFERS images of that size (memstore: MEMSTORE_BYTES).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, log, round, rssMiB, run, sleep, summarize } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const conf = process.env.CEPH_CONF;
if (!conf) throw new Error('set CEPH_CONF (and CEPH_CLIENT_ID / CEPH_KEYRING) to the cluster to measure on');
const id = process.env.CEPH_CLIENT_ID ?? 'admin';
const keyring = process.env.CEPH_KEYRING;
const bytes = Number(process.env.BENCH_TRANSFER_BYTES ?? 2 ** 30);
const n = Number(process.env.BENCH_TRANSFERS ?? 4);
const cli = ['-c', conf, '--id', id, ...(keyring ? ['--keyring', keyring] : [])];
const pool = `bench-transfers-${Date.now().toString(36)}`;

async function tool(cmd: 'rbd' | 'ceph', ...args: string[]): Promise<string> {
  const r = await run(cmd, [...cli, ...args], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const work = mkdtempSync(join(tmpdir(), 'bench-transfers-'));
const file = join(work, 'upload.raw');
const fd = openSync(file, 'w');
for (let off = 0; off < bytes; off += 64 << 20) writeSync(fd, randomBytes(Math.min(64 << 20, bytes - off)));
closeSync(fd);

await tool('ceph', 'osd', 'pool', 'create', pool, '16');
await tool('rbd', 'pool', 'init', pool);
log(`pool ${pool}: writing ${n} images of ${bytes} bytes in full (rbd bench, sequential 4 MiB writes)`);
await Promise.all(Array.from({ length: n }, async (_, i) => {
  await tool('rbd', 'create', '--size', `${bytes}B`, `${pool}/src${i}`);
  await tool('rbd', 'bench', '--io-type', 'write', '--io-pattern', 'seq', '--io-size', '4M', '--io-threads', '4', '--io-total', `${bytes}B`, `${pool}/src${i}`);
}));
await tool('rbd', 'create', '--size', '1G', `${pool}/probe`);

const port = await freePort();
const svc = spawn(process.execPath, ['--max-semi-space-size=4', '--require', './dist/threadpool.cjs', 'dist/main.js'], {
  cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env, HOST: '127.0.0.1', PORT: String(port), CEPH_CONF: conf, CEPH_CLIENT_ID: id, ...(keyring ? { CEPH_KEYRING: keyring } : {}),
    IMPORT_MAX_BYTES: String(2 ** 50), RATE_LIMIT_PER_SECOND: '0', LOG_LEVEL: 'warn',
  },
});
const url = `http://127.0.0.1:${port}/api/v1/pools/${pool}`;
try {
  for (let i = 0; (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200; i++) {
    if (i > 600) throw new Error('the service did not become ready');
    await sleep(100);
  }
  const getOnce = async (): Promise<number> => {
    const t0 = performance.now();
    const r = await fetch(`${url}/images/probe`);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`GET probe: ${r.status}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < 20; i++) await getOnce(); // warm-up
  const idle: number[] = [];
  for (let i = 0; i < 300; i++) idle.push(await getOnce());
  const rssBefore = rssMiB(svc.pid!);

  let peak = rssBefore;
  const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(svc.pid!)); }, 100);
  const t0 = performance.now();
  const transfers = [
    ...Array.from({ length: n }, (_, i) => run('curl', ['-sS', '-f', '-o', '/dev/null', '-w', '%{size_download}', `${url}/images/src${i}/content`], { timeoutMs: 3_600_000 })),
    ...Array.from({ length: n }, (_, i) => run('curl', ['-sS', '-f', '-o', '/dev/null', '-w', '%{size_upload}', '-H', 'content-type: application/octet-stream',
      '-T', file, `${url}/images/up${i}/content`], { timeoutMs: 3_600_000 })),
  ];
  let running = true;
  const all = Promise.all(transfers).finally(() => { running = false; });
  const loaded: number[] = [];
  while (running) loaded.push(await getOnce());
  const results = await all;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  for (const [i, r] of results.entries()) {
    if (r.code !== 0 || Number(r.stdout) !== bytes) throw new Error(`transfer ${i}: exit ${r.code}, ${r.stdout} bytes: ${r.stderr}`);
  }
  // where a GET's time went: the service's own figures (event loop lag, Ceph calls by name)
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const pick = (re: RegExp) => metrics.split('\n').filter((l) => re.test(l) && !l.startsWith('#'));
  const calls = new Map<string, { sum: number; count: number }>();
  for (const l of pick(/^rbdapi_ceph_call_duration_seconds_(sum|count)\{/)) {
    const m = /_(sum|count)\{op="([^"]+)",result="[^"]*"\} (\S+)/.exec(l);
    if (!m) continue;
    const c = calls.get(m[2]!) ?? { sum: 0, count: 0 };
    if (m[1] === 'sum') c.sum += Number(m[3]); else c.count += Number(m[3]);
    calls.set(m[2]!, c);
  }
  const slowCalls = [...calls].map(([op, c]) => ({ op, count: c.count, meanMs: round((c.sum / Math.max(1, c.count)) * 1000, 1) }))
    .sort((x, y) => y.meanMs - x.meanMs).slice(0, 8);
  const loop = pick(/^rbdapi_nodejs_eventloop_lag_(max|p99|mean)_seconds /).map((l) => l.replace('rbdapi_nodejs_eventloop_lag_', ''));
  log(`event loop lag (since start): ${loop.join(', ')}`);
  log(`slowest Ceph calls (mean): ${slowCalls.map((c) => `${c.op} ${c.meanMs} ms ×${c.count}`).join('; ')}`);
  const sIdle = summarize(idle);
  const sLoaded = summarize(loaded);
  const report = {
    at: new Date().toISOString(), bytes, transfers: n,
    rssMiB: { before: rssBefore, peak, target: 400 },
    getMs: { idle: { p50: round(sIdle.p50, 2), p99: round(sIdle.p99, 2) }, loaded: { p50: round(sLoaded.p50, 2), p99: round(sLoaded.p99, 2), samples: loaded.length } },
    p99Ratio: round(sLoaded.p99 / sIdle.p99, 2),
    slowCalls, eventLoopLag: loop, seconds: round(seconds, 1), aggregateMBps: round((2 * n * bytes) / 1e6 / seconds, 1),
  };
  log(`${n} downloads + ${n} uploads of ${bytes} bytes in ${report.seconds} s (${report.aggregateMBps} MB/s together)`);
  log(`service RSS ${rssBefore} MiB before, peak ${peak} MiB (target < 400)`);
  log(`GET image: idle p50 ${report.getMs.idle.p50} ms p99 ${report.getMs.idle.p99} ms; under transfers p50 ${report.getMs.loaded.p50} ms p99 ${report.getMs.loaded.p99} ms (${loaded.length} GETs): p99 ${report.p99Ratio}× (target ≤ 2)`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, `bench/results/transfers-mixed-${report.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
} finally {
  svc.kill('SIGTERM');
  await new Promise((r) => svc.once('exit', r));
  await tool('ceph', 'osd', 'pool', 'rm', pool, pool, '--yes-i-really-really-mean-it').catch((e: unknown) => log(String(e)));
  rmSync(work, { recursive: true, force: true });
}
