// npm run bench:data — issue 23's check: a raw export of a fully written image through the service, received by
// `curl -o /dev/null` (a separate process, as a user would), against `rbd export pool/img - > /dev/null`, on the
// same cluster in the same session, interleaved round by round. Prints MiB/s of both and the ratio (target ≥ 0.8);
// writes bench/results/data-latest.json. Needs a running cluster: CEPH_CONF + admin keyring, e.g. the test cluster:
//   CEPH_CLUSTER_DIR=.ceph/test npm run bench:data
// Knobs: BENCH_DATA_SIZE (bytes, default 1 GiB; 4294967296 for the 4 GiB), BENCH_DATA_ROUNDS (3),
// BENCH_DATA_PORT (18290). BENCH_DATA_FORMAT=rbd-export-v2: export-format 2 instead (the second check: an
// image of BENCH_DATA_IMAGE_SIZE, 64 GiB, with BENCH_DATA_SIZE written at random offsets in two halves with a
// snapshot between), `curl …/content?format=rbd-export-v2` against `rbd export --export-format 2`. The service runs as `npm start` runs it (tsx here, no build), with WORKER_NICE=0 so
// that its librbd threads run at the same priority as the rbd CLI's.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const dir = resolve(process.env.CEPH_CLUSTER_DIR ?? '.ceph/cluster');
const conf = process.env.CEPH_CONF ?? `${dir}/ceph.conf`;
const keyring = process.env.CEPH_KEYRING ?? `${dir}/ceph.client.admin.keyring`;
const SIZE = Number(process.env.BENCH_DATA_SIZE ?? 2 ** 30);
const ROUNDS = Number(process.env.BENCH_DATA_ROUNDS ?? 3);
const PORT = Number(process.env.BENCH_DATA_PORT ?? 18290);
const V2 = process.env.BENCH_DATA_FORMAT === 'rbd-export-v2';
const IMAGE_SIZE = V2 ? Number(process.env.BENCH_DATA_IMAGE_SIZE ?? 64 * 2 ** 30) : SIZE;
const pool = `data-bench-${Date.now().toString(36)}`;
const image = 'full';
const cli = ['-c', conf, '--id', 'admin', '--keyring', keyring];
const MiB = 2 ** 20;

const ceph = (...args: string[]) => execFileSync('ceph', [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const rbd = (...args: string[]) => execFileSync('rbd', [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MiB }).toString();

function timed(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`);
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`pool ${pool}: writing a ${SIZE / MiB} MiB image in full (rbd bench, sequential 4 MiB writes)…`);
ceph('osd', 'pool', 'create', pool, '32');
rbd('pool', 'init', pool);
let service: ReturnType<typeof spawn> | undefined;
try {
  rbd('create', '--size', `${IMAGE_SIZE / MiB}M`, `${pool}/${image}`);
  if (V2) {
    for (const snap of ['s1', undefined]) {
      rbd('bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '8', '--io-total', String(SIZE / 2), '--io-pattern', 'rand', `${pool}/${image}`);
      if (snap) rbd('snap', 'create', `${pool}/${image}@${snap}`);
    }
  } else {
    rbd('bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '8', '--io-total', String(SIZE), '--io-pattern', 'seq', `${pool}/${image}`);
  }

  service = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env, CEPH_CONF: conf, CEPH_CLIENT_ID: 'admin', CEPH_KEYRING: keyring, PORT: String(PORT), HOST: '127.0.0.1',
      UV_THREADPOOL_SIZE: '32', WORKER_NICE: '0', LOG_LEVEL: 'warn', RATE_LIMIT_PER_SECOND: '0',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${PORT}/api/v1/pools/${pool}/images/${image}/content${V2 ? '?format=rbd-export-v2' : ''}`;
  for (let i = 0; ; i++) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-I', url]);
    if (r.stdout.toString() === '200') break;
    if (i > 120) throw new Error('the service did not answer');
    await sleep(500);
  }

  const api: number[] = [];
  const c: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // alternate who goes first, so that neither always meets a warm (or cold) OSD
    const order = round % 2 === 0 ? ['rbd', 'api'] : ['api', 'rbd'];
    for (const who of order) {
      if (who === 'rbd') c.push(timed('sh', ['-c', `rbd ${cli.join(' ')} export --no-progress ${V2 ? '--export-format 2 ' : ''}${pool}/${image} - > /dev/null`]));
      else api.push(timed('curl', ['-sS', '-f', '-o', '/dev/null', url]));
    }
    console.log(`round ${round + 1}: rbd export ${(SIZE / MiB / c.at(-1)!).toFixed(0)} MiB/s, service ${(SIZE / MiB / api.at(-1)!).toFixed(0)} MiB/s`);
  }
  const rbdRate = SIZE / MiB / median(c);
  const apiRate = SIZE / MiB / median(api);
  const ratio = apiRate / rbdRate;
  const what = V2 ? `export-format 2 of a ${IMAGE_SIZE / MiB} MiB image with ${SIZE / MiB} MiB written (rates per written MiB)` : `raw export of ${SIZE / MiB} MiB`;
  console.log(`\n${what}, medians of ${ROUNDS}: rbd export ${rbdRate.toFixed(0)} MiB/s, `
    + `service → curl ${apiRate.toFixed(0)} MiB/s, ratio ${ratio.toFixed(2)} (target ≥ 0.80)`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/data${V2 ? '-v2' : ''}-latest.json`, `${JSON.stringify({
    date: new Date().toISOString(), format: V2 ? 'rbd-export-v2' : 'raw', imageBytes: IMAGE_SIZE, sizeBytes: SIZE, rounds: ROUNDS,
    rbdExportSeconds: c, serviceSeconds: api, rbdMiBps: Math.round(rbdRate), serviceMiBps: Math.round(apiRate),
    ratio: Number(ratio.toFixed(3)), loadavg: (await import('node:os')).loadavg(),
  }, null, 2)}\n`);
} finally {
  service?.kill('SIGTERM');
  try { ceph('osd', 'pool', 'rm', pool, pool, '--yes-i-really-really-mean-it'); } catch (e) { console.error(`pool ${pool} not removed: ${String(e)}`); }
}
