// bench/write-path.ts — `npm run bench:write`: creates through the service against C's rbd_create,
// interleaved round by round so that a machine whose load changes (other work on the same two cores)
// moves both sides alike. scripts/bench-scale.sh --write boots the cluster and runs this.
//
// For each concurrency c (BENCH_WRITE_CONCURRENCY, "1,4") and each round (BENCH_WRITE_ROUNDS, 5), in a
// rotating order: bench/rbdbench creates BATCH images with c threads (rbd_create); the service, with c HTTP
// clients, creates BATCH images each with POST + `Prefer: return=minimal`, PUT answering the full image
// (the Kubernetes hook path) and POST answering the full image. Ratios are taken per round (service ÷ C
// of the same round) and their median reported. The pool is made for the run and deleted afterwards.
// BENCH_CPU_PROF=DIR runs the service with --cpu-prof (profile written to DIR when it stops) and prints the
// functions with the most self time.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, Http, log, now, profileSummary, round, run, runBatch, sleep, type BatchResult } from './lib.js';

const env = process.env;
const CONF = env.CEPH_CONF ?? '';
const KEYRING = env.CEPH_KEYRING ?? '';
if (!CONF || !KEYRING) {
  console.error('bench/write-path.ts: set CEPH_CONF and CEPH_KEYRING (scripts/bench-scale.sh --write does)');
  process.exit(2);
}
const intEnv = (k: string, def: number): number => {
  const v = Number.parseInt(env[k] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = intEnv('BENCH_WRITE_ROUNDS', 5);
const BATCH = intEnv('BENCH_WRITE_BATCH', 200);
const CONCURRENCY = (env.BENCH_WRITE_CONCURRENCY ?? '1,4').split(',').map((s) => Number.parseInt(s, 10)).filter((c) => c >= 1 && c <= 64);
const OUT = env.BENCH_OUT ?? join(ROOT, 'bench/results');
const RBDBENCH = env.BENCH_RBDBENCH ?? join(ROOT, 'bench/rbdbench');
const SERVICE_MAIN = env.BENCH_SERVICE_MAIN ?? join(ROOT, 'dist/main.js');
const PROF = env.BENCH_CPU_PROF ?? '';
const POOL = `write-${Date.now().toString(36)}`;
const API = `/api/v1/pools/${POOL}/images`;
const GIB = 2 ** 30;
const ceph = (args: string[]) => run('ceph', ['-c', CONF, '--id', 'admin', '--keyring', KEYRING, ...args], { timeoutMs: 120_000 });

async function startService(): Promise<{ proc: ChildProcess; http: Http }> {
  const port = await freePort();
  const out = createWriteStream(join(OUT, 'service-write.log'));
  const flags = ['--max-semi-space-size=4', ...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [])];
  const proc = spawn(process.execPath, [...flags, SERVICE_MAIN], {
    cwd: ROOT,
    env: { ...process.env, CEPH_CONF: CONF, CEPH_CLIENT_ID: 'admin', CEPH_KEYRING: KEYRING, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_SECOND: '0', UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? '32' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  const http = new Http(`http://127.0.0.1:${port}`, 8);
  const deadline = now() + 60_000;
  for (;;) {
    try {
      if ((await http.call('GET', '/readyz')).status === 200) break;
    } catch { /* not yet */ }
    if (now() > deadline || proc.exitCode !== null) throw new Error('the service did not start (bench/results/service-write.log)');
    await sleep(100);
  }
  return { proc, http };
}

type Kind = 'c' | 'post_minimal' | 'put_full' | 'post_full';
const KINDS: Kind[] = ['c', 'post_minimal', 'put_full', 'post_full'];

async function batch(kind: Kind, http: Http, c: number, tag: string): Promise<BatchResult | { rate_per_s: number; errors: number }> {
  const name = (i: number): string => `${tag}-${String(i).padStart(5, '0')}`;
  const failed = (i: number, e: unknown): void => log(`${kind} #${i}: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`);
  switch (kind) {
    case 'c': {
      const r = await run(RBDBENCH, ['-c', CONF, '-k', KEYRING, '-p', POOL, '-N', String(BATCH), '-t', String(c), '-x', 'create', '-P', `${tag}-`]);
      const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { create?: { rate_per_s: number; errors: number } };
      return j.create ?? { rate_per_s: NaN, errors: BATCH };
    }
    case 'post_minimal':
      return runBatch(BATCH, c, async (i) => {
        await http.expect('POST', API, { name: name(i), size: GIB }, [201], { prefer: 'return=minimal' });
      }, failed);
    case 'put_full':
      return runBatch(BATCH, c, async (i) => {
        const r = await http.expect('PUT', `${API}/${name(i)}`, { size: GIB }, [201]);
        if (!r.text.includes('"blockNamePrefix"')) throw new Error('not the full image');
      }, failed);
    case 'post_full':
      return runBatch(BATCH, c, async (i) => {
        const r = await http.expect('POST', API, { name: name(i), size: GIB }, [201]);
        if (!r.text.includes('"blockNamePrefix"')) throw new Error('not the full image');
      }, failed);
  }
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (PROF) mkdirSync(PROF, { recursive: true });
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const args of [['osd', 'pool', 'create', POOL, '32'], ['osd', 'pool', 'application', 'enable', POOL, 'rbd']]) {
    const r = await ceph(args);
    if (r.code !== 0) throw new Error(`ceph ${args.join(' ')}: ${r.stderr}`);
  }
  await run('rbd', ['-c', CONF, '--id', 'admin', '--keyring', KEYRING, 'pool', 'init', POOL]);
  const results: Record<string, unknown> = { date, cpus: cpus().length, loadavg_at_start: loadavg().map((x) => round(x, 2)), rounds: ROUNDS, batch: BATCH, runs: {} };
  const s = await startService();
  try {
    for (const c of CONCURRENCY) {
      const rounds: Record<Kind, number>[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const rates = {} as Record<Kind, number>;
        const order = KINDS.map((_, i) => KINDS[(i + r) % KINDS.length]!);
        for (const kind of order) {
          const b = await batch(kind, s.http, c, `${kind.replace('_', '')}-c${c}-r${r}`);
          rates[kind] = b.errors ? NaN : b.rate_per_s;
        }
        rounds.push(rates);
        log(`c=${c} round ${r + 1}/${ROUNDS}: ${KINDS.map((k) => `${k} ${round(rates[k], 1)}/s`).join(', ')}`);
      }
      const ratio = (k: Kind): number => round(median(rounds.map((x) => x[k] / x.c)), 3);
      (results.runs as Record<number, unknown>)[c] = {
        rounds,
        median_rate: Object.fromEntries(KINDS.map((k) => [k, round(median(rounds.map((x) => x[k])), 1)])),
        median_ratio: { post_minimal: ratio('post_minimal'), put_full: ratio('put_full'), post_full: ratio('post_full') },
      };
    }
  } finally {
    await s.http.close();
    const gone = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGTERM');
    await gone;
    await ceph(['osd', 'pool', 'delete', POOL, POOL, '--yes-i-really-really-mean-it']);
  }
  const targets: Record<string, [Kind, number, number[]]> = {
    'POST return=minimal ÷ C': ['post_minimal', 0.85, [1, 4]],
    'PUT full answer (hook path) ÷ C': ['put_full', 0.75, [4]],
    'POST full answer ÷ C': ['post_full', 0.75, [4]],
  };
  const lines = [`${date} · ${results.cpus as number} CPUs · load avg at start ${(results.loadavg_at_start as number[]).join(' ')} · ${ROUNDS} rounds of ${BATCH} creates each, interleaved; median of the per-round ratios`, '',
    '| measure | concurrency | C rbd_create | service | ratio | target | result |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const c of CONCURRENCY) {
    const run1 = (results.runs as Record<number, { median_rate: Record<Kind, number>; median_ratio: Record<string, number> }>)[c]!;
    for (const [label, [kind, target, at]] of Object.entries(targets)) {
      const v = run1.median_ratio[kind]!;
      const has = at.includes(c);
      lines.push(`| ${label} | ${c} | ${run1.median_rate.c}/s | ${run1.median_rate[kind]}/s | ${v} | ${has ? `>= ${target}` : '—'} | ${has ? (v >= target ? 'PASS' : 'MISS') : 'info'} |`);
    }
  }
  if (PROF) {
    const files = readdirSync(PROF).filter((f) => f.endsWith('.cpuprofile')).sort();
    const last = files[files.length - 1];
    if (last) {
      const top = profileSummary(join(PROF, last));
      results.profile = { file: join(PROF, last), top };
      lines.push('', `Service CPU profile (${last}), self time:`, '```', ...top, '```');
    }
  }
  const text = lines.join('\n') + '\n';
  const stamp = date.replace(/:/g, '-');
  writeFileSync(join(OUT, `write-${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'write-latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'write-latest.md'), text);
  process.stdout.write(`\n${text}\nresults: ${join(OUT, `write-${stamp}.json`)}, write-latest.json, write-latest.md\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
