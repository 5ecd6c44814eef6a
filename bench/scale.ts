// bench/scale.ts — `npm run bench:scale` (scripts/bench-scale.sh makes the cluster and the pools, then runs
// this with CEPH_CONF / CEPH_KEYRING set): does a page cost the same in a pool of 100,000 images as in one
// of 1,000?
//
// For each pool (BENCH_SCALE_POOLS = "pool:images,…", names img-000000…): a page of 100 names and a page of
// 100 with details, at the start, the middle and the end of the pool (cursor = the name before), medians of
// BENCH_SCALE_REPS (10) after two warm-up rounds, all pages timed round-robin (load drift hits every pool); a page with prefix=; C's rbd_list2 of the whole pool
// (what every page cost before, when pages were cut from the full listing). The Ceph Dashboard's limit=100
// page on the pool named by BENCH_SCALE_DASHBOARD_POOL. The service's RSS at start, after the pages, and
// sampled while paging through the largest pool from start to end (pages of 100).
// Writes bench/results/scale-<date>.json, scale-latest.json, scale-latest.md, scale-latest.svg.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeCursor } from '../src/http/cursor.js';
import { renderLineSvg, type LineSeries } from './chart.js';
import { cephCli, openDashboard } from './dashboard.js';
import { freePort, Http, log, now, repeat, round, rssMiB, run, sleep, stopService, summarize, type Summary } from './lib.js';

const env = process.env;
const CONF = env.CEPH_CONF ?? '';
const KEYRING = env.CEPH_KEYRING ?? '';
if (!CONF || !KEYRING) {
  console.error('bench/scale.ts: set CEPH_CONF and CEPH_KEYRING (scripts/bench-scale.sh does)');
  process.exit(2);
}
const intEnv = (k: string, def: number): number => {
  const v = Number.parseInt(env[k] ?? '', 10);
  return Number.isFinite(v) && v >= 0 ? v : def;
};
const ROOT = resolve(import.meta.dirname, '..');
const POOLS = (env.BENCH_SCALE_POOLS ?? 'scale-1k:1000,scale-10k:10000,scale-100k:100000').split(',').map((p) => {
  const [name, n] = p.split(':');
  return { name: name!, images: Number.parseInt(n ?? '0', 10) };
}).filter((p) => p.name && p.images > 0);
const REPS = Math.max(1, intEnv('BENCH_SCALE_REPS', 10));
const PAGE = 100;
const DASH_POOL = env.BENCH_SCALE_DASHBOARD_POOL ?? POOLS.find((p) => p.images === 10_000)?.name ?? '';
const DASH_REPS = Math.max(1, intEnv('BENCH_SCALE_DASHBOARD_REPS', 3));
const OUT = env.BENCH_OUT ?? join(ROOT, 'bench/results');
const RBDBENCH = env.BENCH_RBDBENCH ?? join(ROOT, 'bench/rbdbench');
const SERVICE_MAIN = env.BENCH_SERVICE_MAIN ?? join(ROOT, 'dist/main.js');
const SKIP = new Set((env.BENCH_SKIP ?? '').split(',').map((s) => s.trim()).filter(Boolean)); // dashboard,c,walk
const name = (i: number): string => `img-${String(i).padStart(6, '0')}`;

interface Service { proc: ChildProcess; pid: number; http: Http }

/** The service as `npm start` runs it, at its defaults (but no per-client rate limit: the bench is one client). */
async function startService(): Promise<Service> {
  const port = await freePort();
  const out = createWriteStream(join(OUT, 'service-scale.log'));
  const proc = spawn(process.execPath, ['--max-semi-space-size=4', SERVICE_MAIN], {
    cwd: ROOT,
    env: { ...process.env, CEPH_CONF: CONF, CEPH_CLIENT_ID: 'admin', CEPH_KEYRING: KEYRING, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_SECOND: '0', UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? '32' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  let exited = '';
  proc.on('exit', (code, sig) => (exited = `exited with ${code ?? sig}`));
  const http = new Http(`http://127.0.0.1:${port}`, 4);
  const deadline = now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`the service ${exited} (see ${join(OUT, 'service-scale.log')})`);
    try {
      if ((await http.call('GET', '/readyz')).status === 200) break;
    } catch { /* not listening yet */ }
    if (now() > deadline) { proc.kill('SIGKILL'); throw new Error('the service was not ready within 60 s'); }
    await sleep(100);
  }
  log(`service up on port ${port} (pid ${proc.pid})`);
  return { proc, pid: proc.pid ?? 0, http };
}


interface ListPage { items: { name: string; id?: string }[]; nextCursor: string | null }

interface Probe { pool: string; key: string; path: string; expectItems: number; first: string | undefined; samples: number[] }

/**
 * Every page of every pool, timed round-robin: 2 untimed rounds, then REPS timed rounds, each round visiting
 * every probe (in a rotated order). A machine whose load drifts during the run then moves every pool's
 * figures alike, instead of the pool measured last. Each answer is checked: the page size and first name.
 */
async function timePages(http: Http, pools: { name: string; images: number }[]): Promise<Probe[]> {
  const probes: Probe[] = [];
  for (const pool of pools) {
    const n = pool.images;
    const api = `/api/v1/pools/${encodeURIComponent(pool.name)}/images`;
    for (const [label, from] of [['start', 0], ['middle', Math.floor(n / 2)], ['end', Math.max(0, n - PAGE)]] as const) {
      const cursor = from > 0 ? `&cursor=${encodeCursor(name(from - 1))}` : '';
      const count = Math.min(PAGE, n - from);
      probes.push({ pool: pool.name, key: `${label}.names_ms`, path: `${api}?limit=${PAGE}${cursor}`, expectItems: count, first: name(from), samples: [] });
      probes.push({ pool: pool.name, key: `${label}.details_ms`, path: `${api}?limit=${PAGE}&details=true${cursor}`, expectItems: count, first: name(from), samples: [] });
    }
    // a prefix page from the middle: the first 100 names with the middle name's first 7 characters
    const prefix = name(Math.floor(n / 2)).slice(0, 7);
    probes.push({ pool: pool.name, key: `prefix.names_ms`, path: `${api}?limit=${PAGE}&prefix=${prefix}`, expectItems: Math.min(PAGE, n), first: undefined, samples: [] });
  }
  const get = async (p: Probe): Promise<number> => {
    const t = now();
    const page = await http.json<ListPage>('GET', p.path);
    const ms = now() - t;
    if (page.items.length !== p.expectItems) throw new Error(`${p.path}: ${page.items.length} items, expected ${p.expectItems}`);
    if (p.first !== undefined && page.items[0]?.name !== p.first) throw new Error(`${p.path}: first item ${page.items[0]?.name}, expected ${p.first}`);
    return ms;
  };
  for (let round = -2; round < REPS; round++) {
    const shift = ((round % probes.length) + probes.length) % probes.length;
    for (let i = 0; i < probes.length; i++) {
      const p = probes[(i + shift) % probes.length]!;
      const ms = await get(p);
      if (round >= 0) p.samples.push(ms);
    }
  }
  return probes;
}

async function poolRun(pool: { name: string; images: number }, probes: Probe[]): Promise<Record<string, unknown>> {
  const out: Record<string, any> = { pool: pool.name, images: pool.images }; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const p of probes.filter((x) => x.pool === pool.name)) {
    const [where, kind] = p.key.split('.') as [string, string];
    out[where] ??= where === 'prefix' ? { prefix: new URL(p.path, 'http://x').searchParams.get('prefix') } : { first: p.first };
    out[where][kind] = summarize(p.samples);
  }
  for (const where of ['start', 'middle', 'end']) log(`${pool.name} (${pool.images}) ${where}: names p50 ${out[where].names_ms.p50} ms, details p50 ${out[where].details_ms.p50} ms`);
  if (!SKIP.has('c')) {
    const r = await run(RBDBENCH, ['-c', CONF, '-k', KEYRING, '-p', pool.name, '-N', '0', '-r', '5', '-x', 'names']);
    try {
      const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { names?: { count: number; ms: Summary } };
      out.c_list2 = j.names;
      log(`${pool.name}: C rbd_list2 of the whole pool p50 ${j.names?.ms.p50} ms (${j.names?.count} names)`);
      if (j.names?.count !== pool.images) log(`warning: ${pool.name} holds ${j.names?.count} images, expected ${pool.images}`);
    } catch {
      out.c_list2 = { error: r.stderr.slice(-300) };
    }
  }
  return out;
}

/** Every page of the pool, in pages of 100, RSS sampled every 50 pages. */
async function walk(s: Service, pool: { name: string; images: number }): Promise<Record<string, unknown>> {
  const api = `/api/v1/pools/${encodeURIComponent(pool.name)}/images`;
  const samples: number[] = [rssMiB(s.pid)];
  const lat: number[] = [];
  let cursor: string | null = null;
  let count = 0;
  let pages = 0;
  const t0 = now();
  do {
    const t = now();
    const page: ListPage = await s.http.json<ListPage>('GET', `${api}?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`);
    lat.push(now() - t);
    count += page.items.length;
    cursor = page.nextCursor;
    if (++pages % 50 === 0) samples.push(rssMiB(s.pid));
  } while (cursor);
  samples.push(rssMiB(s.pid));
  const result = {
    pool: pool.name, pages, count, seconds: round((now() - t0) / 1000, 1), page_ms: summarize(lat),
    rss_mib: { first: samples[0], last: samples[samples.length - 1], min: Math.min(...samples), max: Math.max(...samples), samples },
  };
  log(`walk ${pool.name}: ${count} names in ${pages} pages, ${result.seconds} s, page p50 ${result.page_ms.p50} ms p99 ${result.page_ms.p99} ms; RSS ${result.rss_mib.first} → ${result.rss_mib.last} MiB (max ${result.rss_mib.max})`);
  return result;
}

async function dashboardPage(): Promise<Record<string, unknown>> {
  if (!DASH_POOL) return { available: false, reason: 'no pool of 10,000 images (BENCH_SCALE_DASHBOARD_POOL)' };
  const d = await openDashboard(cephCli(CONF, KEYRING));
  if ('error' in d) return { available: false, reason: d.error };
  try {
    let count = 0;
    log(`dashboard: GET /api/block/image?pool_name=${DASH_POOL}&offset=0&limit=100 ×${DASH_REPS}`);
    const page = await repeat(DASH_REPS, async () => (count = await d.images(DASH_POOL, '&offset=0&limit=100')));
    log(`dashboard: limit=100 on ${DASH_POOL}: p50 ${page.ms.p50} ms (${count} images)`);
    return { available: true, pool: DASH_POOL, count, reps: DASH_REPS, ms: page.ms };
  } catch (e) {
    return { available: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    await d.close();
  }
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const worst = (p: Json, key: 'names_ms' | 'details_ms'): number => Math.max(...['start', 'middle', 'end'].map((k) => p[k]?.[key]?.p50 ?? NaN));

function verdicts(r: Json): { name: string; value: number; target: string; pass: boolean | null; detail: string }[] {
  const out: { name: string; value: number; target: string; pass: boolean | null; detail: string }[] = [];
  const pools = r.pools as Json[];
  const big = pools.find((p) => p.images === 100_000) ?? pools[pools.length - 1];
  const small = pools.find((p) => p.images === 1000) ?? pools[0];
  const add = (name: string, value: number, op: '<=' | null, target: number | null, detail: string): void => {
    out.push({ name, value: round(value, 3), target: op ? `${op} ${target}` : '—', pass: op && target !== null && Number.isFinite(value) ? value <= target : null, detail });
  };
  if (big && small) {
    for (const [key, label, limit] of [['names_ms', 'names', 25], ['details_ms', 'with details', 60]] as const) {
      add(`page of 100 ${label}, ${big.images} images, slowest of start/middle/end (median ms)`, worst(big, key), '<=', limit,
        ['start', 'middle', 'end'].map((k) => `${k} ${big[k]?.[key]?.p50}`).join(', '));
      const ratios = ['start', 'middle', 'end'].map((k) => (big[k]?.[key]?.p50 ?? NaN) / (small[k]?.[key]?.p50 ?? NaN));
      add(`page of 100 ${label}: ${big.images} ÷ ${small.images} images, worst position`, Math.max(...ratios), '<=', 1.5,
        ratios.map((x, i) => `${['start', 'middle', 'end'][i]} ${round(x, 2)}`).join(', '));
    }
  }
  if (r.dashboard?.available) {
    const p = pools.find((x) => x.pool === r.dashboard.pool);
    if (p) add(`Dashboard limit=100 ÷ service page of 100 with details (${p.images} images)`, r.dashboard.ms.p50 / p.start.details_ms.p50, null, null, `${r.dashboard.ms.p50} ms vs ${p.start.details_ms.p50} ms`);
  }
  if (r.walk) {
    const w = r.walk;
    add(`RSS growth paging through all ${w.count} names (MiB)`, w.rss_mib.last - w.rss_mib.first, '<=', 10, `${w.rss_mib.first} → ${w.rss_mib.last} MiB, max ${w.rss_mib.max}, ${w.pages} pages`);
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(rows[0]!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}
const ms = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ms`) : '—');

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ceph = await run('ceph', ['--version']);
  const results: Json = {
    date,
    machine: {
      nproc: cpus().length, cpu: (cpus()[0]?.model ?? '').replace(/\s+/g, ' ').trim(), mem_gib: round(totalmem() / 2 ** 30, 1),
      ceph: /ceph version (\S+)/.exec(ceph.stdout)?.[1] ?? 'unknown', node: process.version, loadavg_at_start: loadavg().map((x) => round(x, 2)),
    },
    config: { pools: POOLS, reps: REPS, page: PAGE },
    pools: [],
  };
  const s = await startService();
  try {
    results.rss_start_mib = rssMiB(s.pid);
    const probes = await timePages(s.http, POOLS);
    for (const p of POOLS) results.pools.push(await poolRun(p, probes));
    results.rss_after_pages_mib = rssMiB(s.pid);
    const biggest = [...POOLS].sort((a, b) => b.images - a.images)[0];
    if (biggest && !SKIP.has('walk')) results.walk = await walk(s, biggest);
  } finally {
    await stopService(s);
  }
  results.dashboard = SKIP.has('dashboard') ? { available: false, reason: 'skipped (BENCH_SKIP)' } : await dashboardPage();
  results.verdicts = verdicts(results);

  const rows: string[][] = [['pool', 'position', 'page of 100 names', 'with details', 'prefix page', 'C rbd_list2 (whole pool)']];
  for (const p of results.pools as Json[]) {
    for (const k of ['start', 'middle', 'end']) {
      rows.push([`${p.pool} (${p.images})`, k, `${ms(p[k].names_ms.p50)} (p99 ${ms(p[k].names_ms.p99)})`, `${ms(p[k].details_ms.p50)} (p99 ${ms(p[k].details_ms.p99)})`,
        k === 'middle' ? ms(p.prefix?.names_ms?.p50) : '', k === 'start' ? ms(p.c_list2?.ms?.p50) : '']);
    }
  }
  const vrows = [['measure', 'value', 'target', 'result', 'figures'],
    ...(results.verdicts as Json[]).map((v) => [v.name, String(v.value), v.target, v.pass === null ? 'info' : v.pass ? 'PASS' : 'MISS', v.detail])];
  const m = results.machine;
  const notes: string[] = [];
  if (results.dashboard?.available) notes.push(`Ceph Dashboard, GET /api/block/image?pool_name=${results.dashboard.pool}&offset=0&limit=100: p50 ${ms(results.dashboard.ms.p50)} (${results.dashboard.count} images, ${results.dashboard.reps} requests)`);
  else notes.push(`Ceph Dashboard: not measured (${String(results.dashboard?.reason)})`);
  notes.push(`service RSS: ${results.rss_start_mib} MiB at start, ${results.rss_after_pages_mib} MiB after the pages${results.walk ? `, ${results.walk.rss_mib.first} → ${results.walk.rss_mib.last} MiB (max ${results.walk.rss_mib.max}) paging through all ${results.walk.count} names of ${results.walk.pool} (${results.walk.pages} pages in ${results.walk.seconds} s, page p50 ${ms(results.walk.page_ms.p50)}, p99 ${ms(results.walk.page_ms.p99)})` : ''}`);
  const header = `${date} · ${m.nproc} CPUs (${m.cpu}) · ${m.mem_gib} GiB · Ceph ${m.ceph} · Node ${m.node} · load avg at start ${m.loadavg_at_start.join(' ')} · medians of ${REPS}`;
  const text = [header, '', table(rows), '', table(vrows), '', ...notes.map((n) => `- ${n}`), ''].join('\n');

  const byPool = (f: (p: Json) => number | undefined): [number, number][] => (results.pools as Json[]).map((p) => [p.images, f(p) ?? NaN] as [number, number]).filter((x) => Number.isFinite(x[1]));
  const series: LineSeries[] = [
    { label: 'page of 100 names (median; slowest of start/middle/end)', color: '#c55a11', points: byPool((p) => worst(p, 'names_ms')) },
    { label: 'page of 100 with details (same)', color: '#ed7d31', points: byPool((p) => worst(p, 'details_ms')) },
    { label: 'C rbd_list2 of the whole pool (what every page cost before)', color: '#1f4e79', dashed: true, points: byPool((p) => p.c_list2?.ms?.p50) },
  ];
  if (results.dashboard?.available) {
    const p = (results.pools as Json[]).find((x) => x.pool === results.dashboard.pool);
    if (p) series.push({ label: 'Ceph Dashboard, limit=100', color: '#7f6000', points: [[p.images, results.dashboard.ms.p50]] });
  }
  const svg = renderLineSvg({
    title: 'A page of images against pool size',
    subtitle: [`${date} · ${m.nproc} CPUs (${m.cpu}) · Ceph ${m.ceph} (1 mon, 1 memstore OSD, 1 mgr on the same machine)`],
    xLabel: 'images in the pool (log scale)',
    yLabel: 'milliseconds (log scale; lower is better)',
    series,
  });
  const stamp = date.replace(/:/g, '-');
  writeFileSync(join(OUT, `scale-${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'scale-latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'scale-latest.md'), text);
  writeFileSync(join(OUT, 'scale-latest.svg'), svg);
  process.stdout.write(`\n${text}\nresults: ${join(OUT, `scale-${stamp}.json`)}, scale-latest.json, scale-latest.md, scale-latest.svg\n`);
  if (!SKIP.has('dashboard') && !results.dashboard?.available) {
    process.stderr.write(`\n*** bench:scale: the Ceph Dashboard could not be measured: ${String(results.dashboard?.reason)}\n`);
    process.exitCode = 1;
  }
  if (env.BENCH_STRICT === '1' && (results.verdicts as Json[]).some((v) => v.pass === false)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
