// bench/data-in.ts — `npm run bench:data-in`: raw import of one file through the service (`curl -T file` to
// PUT …/images/{image}/content) against `rbd import file pool/img`, side by side in one run, alternating, on
// the cluster of CEPH_CONF. Prints MB/s of each and the ratio (target ≥ 0.8); writes
// bench/results/data-in-<date>.json. See docs/benchmarks.md ("Import").
//
// Knobs (environment):
//   CEPH_CONF (required), CEPH_CLIENT_ID (admin), CEPH_KEYRING   the cluster and the key (service and rbd CLI)
//   BENCH_DATA_IN_BYTES (1 GiB; 4 GiB: 4294967296)               size of the file imported
//   BENCH_DATA_IN_REPS (2)                                        imports of each kind (alternating)
//   BENCH_DATA_IN_ZEROS (0)                                       fraction of the file that is zeros (sparse)
//   BENCH_DATA_IN_INFLIGHT (8)                                    the service's IMPORT_WRITES_IN_FLIGHT
//   BENCH_DATA_IN_ENTRY (source)                                  source (tsx) or dist (npm run build first)
//   BENCH_CPU_PROF (unset)                                        a directory: the service runs with --cpu-prof
//                                                                 and the functions with most self time are printed
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, log, profileSummary, round, rssMiB, run, sleep } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const conf = process.env.CEPH_CONF;
if (!conf) throw new Error('set CEPH_CONF (and CEPH_CLIENT_ID / CEPH_KEYRING) to the cluster to measure on');
const id = process.env.CEPH_CLIENT_ID ?? 'admin';
const keyring = process.env.CEPH_KEYRING;
const bytes = Number(process.env.BENCH_DATA_IN_BYTES ?? 2 ** 30);
const reps = Number(process.env.BENCH_DATA_IN_REPS ?? 2);
const zeros = Number(process.env.BENCH_DATA_IN_ZEROS ?? 0);
const inflight = process.env.BENCH_DATA_IN_INFLIGHT ?? '8';
const entry = process.env.BENCH_DATA_IN_ENTRY ?? 'source';
const prof = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : '';
const rbdArgs = ['-c', conf, '--id', id, ...(keyring ? ['--keyring', keyring] : [])];
const pool = `bench-data-in-${Date.now().toString(36)}`;

async function rbd(...args: string[]): Promise<string> {
  const r = await run('rbd', [...rbdArgs, ...args], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`rbd ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
async function ceph(...args: string[]): Promise<void> {
  const r = await run('ceph', [...rbdArgs, ...args]);
  if (r.code !== 0) throw new Error(`ceph ${args.join(' ')}: ${r.stderr}`);
}

/** The file: random data (incompressible), with the first `zeros` fraction of each 64 MiB left zero. */
function makeFile(path: string): void {
  const fd = openSync(path, 'w');
  const block = 64 << 20;
  for (let off = 0; off < bytes; off += block) {
    const n = Math.min(block, bytes - off);
    const b = randomBytes(n);
    b.fill(0, 0, Math.floor(n * zeros));
    writeSync(fd, b);
  }
  closeSync(fd);
}

const work = mkdtempSync(join(tmpdir(), 'bench-data-in-'));
const file = join(work, 'image.raw');
log(`file of ${bytes} bytes (${zeros * 100}% zeros) in ${work}`);
makeFile(file);

await ceph('osd', 'pool', 'create', pool, '8');
await ceph('osd', 'pool', 'application', 'enable', pool, 'rbd');
const port = await freePort();
if (prof) mkdirSync(prof, { recursive: true });
const profFlags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
const svc = spawn(process.execPath, [...profFlags, ...(entry === 'dist' ? [join(ROOT, 'dist/main.js')] : ['--import', 'tsx', join(ROOT, 'src/main.ts')])], {
  cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env, HOST: '127.0.0.1', PORT: String(port), CEPH_CONF: conf, CEPH_CLIENT_ID: id,
    ...(keyring ? { CEPH_KEYRING: keyring } : {}), UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '32',
    IMPORT_MAX_BYTES: String(2 ** 50), IMPORT_WRITES_IN_FLIGHT: inflight, RATE_LIMIT_PER_SECOND: '0', LOG_LEVEL: 'warn',
  },
});
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  if ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200) break;
  if (i > 600) throw new Error('the service did not become ready');
  await sleep(100);
}

interface Sample { kind: 'cli' | 'api'; seconds: number; mbps: number; rssMiB?: number }
const samples: Sample[] = [];
try {
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of rep % 2 === 0 ? ['cli', 'api'] as const : ['api', 'cli'] as const) {
      const image = `${kind}-${rep}`;
      const t0 = performance.now();
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(svc.pid!)); }, 200);
      if (kind === 'cli') {
        await rbd('import', '--no-progress', file, `${pool}/${image}`);
      } else {
        const r = await run('curl', ['-sS', '-f', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, '-H', 'content-type: application/octet-stream',
          `${url}/api/v1/pools/${pool}/images/${image}/content`], { timeoutMs: 3_600_000 });
        if (r.code !== 0 || r.stdout !== '201') throw new Error(`curl: ${r.code} ${r.stdout} ${r.stderr}`);
      }
      clearInterval(sampler);
      const seconds = (performance.now() - t0) / 1000;
      const s: Sample = { kind, seconds: round(seconds, 2), mbps: round(bytes / 1e6 / seconds, 1), ...(kind === 'api' ? { rssMiB: peak } : {}) };
      samples.push(s);
      log(`${kind} import ${rep + 1}/${reps}: ${s.seconds} s, ${s.mbps} MB/s${s.rssMiB ? `, service RSS peak ${s.rssMiB} MiB` : ''}`);
      await rbd('rm', '--no-progress', `${pool}/${image}`);
    }
  }
} finally {
  const gone = new Promise((r) => svc.once('exit', r));
  svc.kill('SIGTERM');
  await gone; // its profile is written as it exits
  await ceph('osd', 'pool', 'delete', pool, pool, '--yes-i-really-really-mean-it').catch((e: unknown) => log(String(e)));
  rmSync(work, { recursive: true, force: true });
}

const best = (k: 'cli' | 'api'): number => Math.max(...samples.filter((s) => s.kind === k).map((s) => s.mbps));
const medianOf = (v: number[]): number => {
  const xs = [...v].sort((a, b) => a - b);
  return xs.length % 2 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
};
const median = (k: 'cli' | 'api'): number => medianOf(samples.filter((s) => s.kind === k).map((s) => s.mbps));
const result = {
  date: new Date().toISOString(), bytes, zeros, reps, writesInFlight: Number(inflight), entry,
  cli: { bestMBps: best('cli'), medianMBps: median('cli') },
  api: { bestMBps: best('api'), medianMBps: median('api'), rssPeakMiB: Math.max(...samples.map((s) => s.rssMiB ?? 0)) },
  ratio: round(best('api') / best('cli'), 2),
  // the cluster's pace drifts from one rep to the next (a memstore OSD on the same two cores): each rep's pair of
  // imports, one right after the other, is the fairer comparison
  pairRatioMedian: round(medianOf(Array.from({ length: reps }, (_, r) => {
    const of = (k: 'cli' | 'api') => samples.filter((s) => s.kind === k)[r]!.mbps;
    return of('api') / of('cli');
  })), 2),
  samples,
};
if (prof) {
  const last = readdirSync(prof).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
  if (last) (result as Record<string, unknown>).profile = { file: join(prof, last), top: profileSummary(join(prof, last)) };
}
console.log(JSON.stringify(result, null, 2));
console.log(`raw import of ${bytes / 2 ** 20} MiB: service ${result.api.bestMBps} MB/s vs rbd import ${result.cli.bestMBps} MB/s (best of ${reps}) — ratio ${result.ratio}; median of the ${reps} pairs' ratios ${result.pairRatioMedian} (target ≥ 0.8)`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, `bench/results/data-in-${result.date.replace(/[:.]/g, '-').slice(0, 19)}Z.json`), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
