// bench/clones.ts — what a clone costs: PUT /images/{name} with `source` (the service, over HTTP) against
// librbd's rbd_clone3 from C (bench/rbdclone.c) at the same concurrency, `rbd clone` from the CLI, and a full
// copy (`rbd cp`) of the same 1 GiB image, on one pool of the cluster CEPH_CONF points at (admin key).
//
//   CEPH_CONF=… CEPH_KEYRING=… npx tsx bench/clones.ts
//   knobs: BENCH_CLONES (100), BENCH_CONCURRENCY ("1,4"), BENCH_IMAGE_MIB (1024), BENCH_CLI_CLONES (10)
// Writes bench/results/clones-latest.json and prints a Markdown table (docs/snapshots.md quotes it).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

const env = process.env;
const CONF = env.CEPH_CONF ?? '';
const KEYRING = env.CEPH_KEYRING ?? '';
if (!CONF || !KEYRING) {
  console.error('bench/clones.ts: set CEPH_CONF and CEPH_KEYRING (an admin keyring)');
  process.exit(2);
}
const ROOT = resolve(import.meta.dirname, '..');
const N = Number(env.BENCH_CLONES ?? 100);
const CONC = (env.BENCH_CONCURRENCY ?? '1,4').split(',').map(Number).filter((c) => c >= 1);
const IMAGE_MIB = Number(env.BENCH_IMAGE_MIB ?? 1024);
const CLI_CLONES = Number(env.BENCH_CLI_CLONES ?? 10);
const POOL = env.BENCH_POOL ?? `clonebench-${Date.now().toString(36)}`;
const cli = ['-c', CONF, '--keyring', KEYRING, '--id', 'admin'];

const log = (m: string) => console.error(`[bench:clones ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
const rbd = (...args: string[]) => sh('rbd', [...cli, ...args]);
const ceph = (...args: string[]) => sh('ceph', [...cli, ...args]);
const now = () => performance.now();
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]!; };
const r1 = (x: number) => Math.round(x * 10) / 10;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => res(port)); });
  });
}

async function startService(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--max-semi-space-size=4', '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: env.PATH ?? '', UV_THREADPOOL_SIZE: '32', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'error',
      CEPH_CONF: CONF, CEPH_KEYRING: KEYRING, CEPH_CLIENT_ID: 'admin', RATE_LIMIT_PER_SECOND: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (const started = Date.now(); ;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    try { if ((await fetch(`${url}/readyz`)).status === 200) break; } catch { /* not yet */ }
    if (Date.now() - started > 120_000) throw new Error('the service was not ready in 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); } };
}

/** `n` PUTs with `source`, `c` at a time (`minimal`: with `Prefer: return=minimal`): per-request latency and throughput. */
async function apiClones(url: string, c: number, prefix: string, minimal = false): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; seconds: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < N) {
      const i = next++;
      const s = now();
      const r = await fetch(`${url}/api/v1/pools/${POOL}/images/${prefix}${String(i).padStart(6, '0')}`, {
        method: 'PUT', headers: { 'content-type': 'application/json', ...(minimal ? { prefer: 'return=minimal' } : {}) }, body: JSON.stringify({ source: { image: 'golden', snapshot: 'v1' } }),
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`PUT ${prefix}${i}: ${r.status}`);
      lat.push(now() - s);
    }
  }));
  const seconds = (now() - t0) / 1000;
  return { perSecond: r1(N / seconds), p50Ms: r1(pct(lat, 0.5)), p99Ms: r1(pct(lat, 0.99)), seconds: Math.round(seconds * 1000) / 1000 };
}

function removeAll(prefix: string): void {
  // the C program's remover is the quickest way to drop them again
  for (const name of rbd('ls', POOL).split('\n').filter((n) => n.startsWith(prefix))) rbd('rm', '--no-progress', `${POOL}/${name}`);
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length, load: loadavg()[0], clones: N, imageMiB: IMAGE_MIB };
  const bin = join('/tmp', `rbdclone-${process.pid}`);
  sh('gcc', ['-O2', '-Wall', '-o', bin, join(ROOT, 'bench/rbdclone.c'), '-lrbd', '-lrados', '-lpthread']);
  log(`pool ${POOL}: a ${IMAGE_MIB} MiB image full of data, snapshot v1`);
  ceph('osd', 'pool', 'create', POOL, '8');
  rbd('pool', 'init', POOL);
  try {
    rbd('create', '--size', `${IMAGE_MIB}M`, `${POOL}/golden`);
    rbd('bench', '--io-type', 'write', '--io-size', '4M', '--io-pattern', 'seq', '--io-total', `${IMAGE_MIB}M`, `${POOL}/golden`);
    rbd('snap', 'create', `${POOL}/golden@v1`);

    const rows: Record<string, unknown>[] = [];
    const svc = await startService();
    try {
      for (const c of CONC) {
        log(`C rbd_clone3 × ${N}, ${c} at a time`);
        const cRes = JSON.parse(sh(bin, ['-c', CONF, '-k', KEYRING, '-p', POOL, '-i', 'golden', '-s', 'v1', '-N', String(N), '-t', String(c), '-P', `c${c}-`])) as { perSecond: number; p50Ms: number; p99Ms: number };
        log(`API PUT with source × ${N}, ${c} at a time`);
        const a = await apiClones(svc.url, c, `a${c}-`);
        removeAll(`a${c}-`);
        log(`API PUT with source and Prefer: return=minimal × ${N}, ${c} at a time`);
        const m = await apiClones(svc.url, c, `m${c}-`, true);
        removeAll(`m${c}-`);
        rows.push({ concurrency: c, c: cRes, api: a, ratio: Math.round((a.perSecond / cRes.perSecond) * 100) / 100,
          apiMinimal: m, ratioMinimal: Math.round((m.perSecond / cRes.perSecond) * 100) / 100 });
      }
    } finally {
      await svc.stop();
    }
    results.clone = rows;

    log(`rbd clone (CLI) × ${CLI_CLONES}`);
    const t0 = now();
    for (let i = 0; i < CLI_CLONES; i++) rbd('clone', '--rbd-default-clone-format', '2', `${POOL}/golden@v1`, `${POOL}/cli-${i}`);
    results.cliCloneMs = r1((now() - t0) / CLI_CLONES);
    removeAll('cli-');

    log(`rbd cp of the ${IMAGE_MIB} MiB image`);
    const t1 = now();
    rbd('cp', '--no-progress', `${POOL}/golden`, `${POOL}/copy`);
    results.fullCopySeconds = Math.round(now() - t1) / 1000;
    rbd('rm', '--no-progress', `${POOL}/copy`);
  } finally {
    try { rbd('snap', 'purge', `${POOL}/golden`); } catch { /* clones left: the pool goes anyway */ }
    ceph('osd', 'pool', 'rm', POOL, POOL, '--yes-i-really-really-mean-it');
  }

  type Rate = { perSecond: number; p50Ms: number; p99Ms: number };
  const rows = results.clone as { concurrency: number; c: Rate; api: Rate; ratio: number; apiMinimal: Rate; ratioMinimal: number }[];
  const md = [
    `| concurrency | rbd_clone3 (C) /s | p50 ms | PUT with source (API) /s | p50 ms | p99 ms | API/C | PUT, return=minimal /s | p50 ms | API/C |`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.concurrency} | ${r.c.perSecond} | ${r.c.p50Ms} | ${r.api.perSecond} | ${r.api.p50Ms} | ${r.api.p99Ms} | ${r.ratio} `
      + `| ${r.apiMinimal.perSecond} | ${r.apiMinimal.p50Ms} | ${r.ratioMinimal} |`),
    '',
    `\`rbd clone\` (CLI, one process per clone): ${results.cliCloneMs as number} ms per clone. `
      + `\`rbd cp\` of the ${IMAGE_MIB} MiB image: ${results.fullCopySeconds as number} s.`,
  ].join('\n');
  results.markdown = md;
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/clones-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(md);
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });
