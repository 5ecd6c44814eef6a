// bench/run.ts — the benchmark harness behind `npm run bench` (scripts/bench.sh boots the cluster, builds
// bench/rbdbench and the service, then runs this with CEPH_CONF / CEPH_KEYRING set).
//
// For each concurrency C (BENCH_CONCURRENCY, default "1,4") on the same pool and the same N images:
//   1. bench/rbdbench -t C: librbd create / rbd_list2 / page of 100 with details / full listing with
//      details / remove (the physical baseline)
//   2. the service (node dist/main.js, DETAILS_CONCURRENCY=C) over HTTP with C clients: POST images,
//      list names (paging), a page of 100 with details, full listing with details, DELETE images
// While the last run's N images exist: `rbd ls` / `rbd ls -l`, and the Ceph Dashboard REST API if it
// can run. Then a fresh service with its default settings: /healthz latency idle and with 64 slow Ceph
// requests in flight, and its RSS after 10,000 and 20,000 cheap requests.
// Writes bench/results/<date>.json, latest.json, latest.svg, latest.md; prints the tables.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { encodeCursor } from '../src/http/cursor.js';
import { chartFromResults, renderSvg } from './chart.js';
import { cephCli, openDashboard } from './dashboard.js';
import { freePort, Http, HttpError, log, now, repeat, rssMiB, run, runBatch, runStreaming, sleep, stopService, summarize, round, type Summary } from './lib.js';

// ---- configuration -----------------------------------------------------------------------------
const env = process.env;
const intEnv = (k: string, def: number): number => {
  const v = Number.parseInt(env[k] ?? '', 10);
  return Number.isFinite(v) && v >= 0 ? v : def;
};
const CONF = env.CEPH_CONF ?? '';
const KEYRING = env.CEPH_KEYRING ?? '';
if (!CONF || !KEYRING) {
  console.error('bench/run.ts: set CEPH_CONF and CEPH_KEYRING (scripts/bench.sh does)');
  process.exit(2);
}
const ROOT = resolve(import.meta.dirname, '..');
const POOL = env.BENCH_POOL ?? 'bench';
const N = intEnv('BENCH_IMAGES', 1000);
const CONCURRENCY = (env.BENCH_CONCURRENCY ?? '1,4').split(',').map((s) => Number.parseInt(s, 10)).filter((c) => c >= 1 && c <= 256);
const REPS = Math.max(1, intEnv('BENCH_REPS', 10));
const DETAIL_REPS = Math.max(1, intEnv('BENCH_DETAIL_REPS', 3));
const DASH_REPS = Math.max(1, intEnv('BENCH_DASHBOARD_REPS', 2));
const INFLIGHT = Math.max(1, intEnv('BENCH_LOAD_INFLIGHT', 64));
const LOAD_SECONDS = Math.max(1, intEnv('BENCH_LOAD_SECONDS', 10));
const LOAD_PAGE = Math.max(1, intEnv('BENCH_LOAD_PAGE', 20));
const RSS_OPS = intEnv('BENCH_RSS_OPS', 10_000);
/** images made through the hook path (PUT with the full answer) and through POST with the full answer, each */
const HOOK_N = Math.max(1, intEnv('BENCH_HOOK_IMAGES', Math.ceil(N / 2)));
const RBDBENCH = env.BENCH_RBDBENCH ?? join(ROOT, 'bench/rbdbench');
const SERVICE_MAIN = env.BENCH_SERVICE_MAIN ?? join(ROOT, 'dist/main.js');
const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4'];
const OUT = env.BENCH_OUT ?? join(ROOT, 'bench/results');
const SKIP = new Set((env.BENCH_SKIP ?? '').split(',').map((s) => s.trim()).filter(Boolean)); // c,service,cli,dashboard,load,rss
const GIB = 1 << 30;
const API = `/api/v1/pools/${encodeURIComponent(POOL)}/images`;
const pad = (i: number): string => String(i).padStart(6, '0');

// ---- machine -----------------------------------------------------------------------------------
async function machine(): Promise<Record<string, unknown>> {
  const ceph = await run('ceph', ['--version']);
  const nproc = await run('nproc', []);
  return {
    nproc: Number.parseInt(nproc.stdout, 10) || cpus().length,
    cpu: (cpus()[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    mem_gib: round(totalmem() / GIB, 1),
    kernel: `Linux ${release()}`,
    ceph: /ceph version (\S+)/.exec(ceph.stdout)?.[1] ?? 'unknown',
    node: process.version,
    loadavg_at_start: loadavg().map((x) => round(x, 2)),
  };
}

// ---- 1. the C baseline -------------------------------------------------------------------------
async function cBaseline(c: number): Promise<Record<string, unknown>> {
  log(`C librbd baseline: ${N} images, ${c} thread(s)`);
  const r = await runStreaming(RBDBENCH, ['-c', CONF, '-k', KEYRING, '-n', 'client.admin', '-p', POOL, '-N', String(N), '-t', String(c), '-r', String(REPS), '-P', `c${c}-`]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    // the C program repeats the full detail listing min(REPS, 3) times
    return j;
  } catch {
    return { ok: 0, error: `rbdbench exited ${r.code}: ${r.stderr.slice(-500)}` };
  }
}

// ---- 2. the service ----------------------------------------------------------------------------
interface Service {
  proc: ChildProcess;
  pid: number;
  port: number;
  http: Http;
  settings: Record<string, string>;
}

async function startService(extraEnv: Record<string, string>, label: string): Promise<Service> {
  const port = await freePort();
  const settings: Record<string, string> = {
    UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? '32',
    ...extraEnv,
  };
  const logFile = join(OUT, `service-${label}.log`);
  const out = createWriteStream(logFile);
  // started as `npm start` and the container start it
  const proc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, SERVICE_MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      CEPH_CONF: CONF,
      CEPH_CLIENT_ID: 'admin',
      CEPH_KEYRING: KEYRING,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // a load generator on loopback is one client: the per-client rate limit would measure itself
      RATE_LIMIT_PER_SECOND: '0',
      ...settings,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  let exited: string | undefined;
  proc.on('exit', (code, sig) => (exited = `exited with ${code ?? sig}`));
  const http = new Http(`http://127.0.0.1:${port}`, Math.max(INFLIGHT, 16) + 4);
  const deadline = now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`the service ${exited} (see ${logFile})`);
    try {
      const r = await http.call('GET', '/readyz');
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the service was not ready within 60 s (see ${logFile})`);
    }
    await sleep(100);
  }
  log(`service up on port ${port} (pid ${proc.pid}) with ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return { proc, pid: proc.pid ?? 0, port, http, settings };
}


interface ListPage {
  items: { name: string }[];
  total: number;
  nextCursor: string | null;
}

/** Pages through the whole pool; returns the number of items seen. */
async function listAll(http: Http, details: boolean, limit: number): Promise<number> {
  let cursor: string | null = null;
  let count = 0;
  do {
    const q = `?details=${details}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: ListPage = await http.json<ListPage>('GET', API + q);
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

const reportError = (what: string) => (i: number, e: unknown): void => log(`${what} #${i}: ${e instanceof Error ? e.message : String(e)}`);

async function serviceRun(c: number, s: Service, prefix: string, keep: () => Promise<void>): Promise<Record<string, unknown>> {
  const http = s.http;
  log(`service: create ${N} images, ${c} client(s)`);
  const create = await runBatch(N, c, async (i) => {
    // the same work as the C baseline's rbd_create: no read-back of the new image (RFC 7240 preference)
    await http.expect('POST', API, { name: `${prefix}${pad(i)}`, size: GIB }, [201], { prefer: 'return=minimal' });
  }, reportError('create'));
  log(`service: create ${create.rate_per_s}/s, ${create.errors} errors; listing names ×${REPS}`);
  let count = 0;
  // 20 untimed listings first: the route's code is JIT-compiled as in a service that has been running (the C
  // program needs no warm-up; the OSD side is warm for both after the creates)
  const names = await repeat(REPS, async () => (count = await listAll(http, false, 1000)), 20);
  const namesCount = count;
  log(`service: names ${names.ms.p50} ms (${namesCount} images); page of 100 with details ×${REPS}`);
  const page = await repeat(REPS, async () => (count = (await http.json<ListPage>('GET', `${API}?details=true&limit=100`)).items.length));
  const pageCount = count;
  log(`service: page ${page.ms.p50} ms; full listing with details ×${Math.min(REPS, DETAIL_REPS)}`);
  const details = await repeat(Math.min(REPS, DETAIL_REPS), async () => (count = await listAll(http, true, 1000)));
  const detailsCount = count;
  log(`service: details ${details.ms.p50} ms (${detailsCount} images)`);
  await keep(); // other measurements while these images exist
  log(`service: delete ${N} images, ${c} client(s)`);
  const remove = await runBatch(N, c, async (i) => {
    await http.expect('DELETE', `${API}/${prefix}${pad(i)}`, undefined, [204]);
  }, reportError('delete'));
  log(`service: delete ${remove.rate_per_s}/s (p50 ${remove.lat_ms.p50} ms, p99 ${remove.lat_ms.p99} ms), ${remove.errors} errors`);
  // The hook path: a provisioner's idempotent PUT, answered with the full image (as Kubernetes hooks use it),
  // and POST with the full answer; HOOK_N images each, then removed (those DELETEs count in delete_all).
  log(`service: PUT with the full answer, ${HOOK_N} images, ${c} client(s)`);
  const put = await runBatch(HOOK_N, c, async (i) => {
    const r = await http.expect('PUT', `${API}/${prefix}put-${pad(i)}`, { size: GIB }, [201]);
    if (!r.text.includes('"blockNamePrefix"')) throw new Error(`PUT answered without the full image: ${r.text.slice(0, 200)}`);
  }, reportError('put'));
  log(`service: PUT ${put.rate_per_s}/s, ${put.errors} errors; POST with the full answer, ${HOOK_N} images`);
  const postFull = await runBatch(HOOK_N, c, async (i) => {
    const r = await http.expect('POST', API, { name: `${prefix}full-${pad(i)}`, size: GIB }, [201]);
    if (!r.text.includes('"blockNamePrefix"')) throw new Error(`POST answered without the full image: ${r.text.slice(0, 200)}`);
  }, reportError('post'));
  log(`service: POST (full) ${postFull.rate_per_s}/s, ${postFull.errors} errors; removing them`);
  const removeHook = await runBatch(2 * HOOK_N, c, async (i) => {
    const name = i < HOOK_N ? `${prefix}put-${pad(i)}` : `${prefix}full-${pad(i - HOOK_N)}`;
    await http.expect('DELETE', `${API}/${name}`, undefined, [204]);
  }, reportError('delete'));
  return {
    clients: c,
    settings: s.settings,
    create,
    names: { count: namesCount, reps: REPS, ms: names.ms },
    page: { count: pageCount, reps: REPS, ms: page.ms },
    details: { count: detailsCount, reps: Math.min(REPS, DETAIL_REPS), ms: details.ms },
    remove,
    put_full: put,
    post_full: postFull,
    remove_hook: removeHook,
    delete_all_ms: summarize([...(remove.lat_samples ?? []), ...(removeHook.lat_samples ?? [])]),
  };
}

// ---- 3. the rbd CLI ----------------------------------------------------------------------------
async function rbdCli(): Promise<Record<string, unknown>> {
  const base = ['-c', CONF, '--id', 'admin', '--keyring', KEYRING];
  const timeCmd = async (args: string[], reps: number): Promise<{ ms: Summary; count: number; error?: string }> => {
    const lat: number[] = [];
    let count = 0;
    for (let i = 0; i < reps; i++) {
      const r = await run('rbd', [...base, ...args], { timeoutMs: 300_000 });
      if (r.code !== 0) return { ms: summarize(lat), count, error: r.stderr.slice(0, 300) };
      lat.push(r.ms);
      const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
      count = args.includes('-l') ? lines.length - 1 : lines.length;
    }
    return { ms: summarize(lat), count };
  };
  log(`rbd CLI: rbd ls ${POOL} ×${Math.min(REPS, 5)}, rbd ls -l ${POOL} ×${Math.min(REPS, 3)}`);
  const ls = await timeCmd(['ls', POOL], Math.min(REPS, 5));
  const lsL = await timeCmd(['ls', '-l', POOL], Math.min(REPS, 3));
  log(`rbd CLI: ls ${ls.ms.p50} ms, ls -l ${lsL.ms.p50} ms (${lsL.count} images)`);
  return { ls, ls_l: lsL };
}

// ---- 4. the Ceph Dashboard ---------------------------------------------------------------------
const ceph = cephCli(CONF, KEYRING);

async function dashboard(): Promise<Record<string, unknown>> {
  const d = await openDashboard(ceph);
  if ('error' in d) {
    log(`dashboard: not available (${d.error})`);
    return { available: false, reason: d.error };
  }
  try {
    const get = (q: string): Promise<number> => d.images(POOL, q);
    let count = 0;
    log('dashboard: GET /api/block/image without limit ×5');
    const dflt = await repeat(5, async () => (count = await get('')));
    const dfltCount = count;
    log(`dashboard: default page ${dflt.ms.p50} ms (${dfltCount} images); limit=100 ×3`);
    const page = await repeat(3, async () => (count = await get('&offset=0&limit=100')));
    const pageCount = count;
    log(`dashboard: limit=100 ${page.ms.p50} ms; limit=-1 (all) ×${DASH_REPS}`);
    const full = await repeat(DASH_REPS, async () => (count = await get('&offset=0&limit=-1')));
    log(`dashboard: all ${full.ms.p50} ms (${count} images)`);
    return {
      available: true,
      api: 'GET /api/block/image (v2.0)',
      default: { count: dfltCount, reps: 5, ms: dflt.ms },
      page100: { count: pageCount, reps: 3, ms: page.ms },
      full: { count, reps: DASH_REPS, ms: full.ms },
    };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    log(`dashboard: not available (${reason})`);
    return { available: false, reason };
  } finally {
    await d.close();
  }
}

// ---- 5. event loop under load, memory ----------------------------------------------------------
// /healthz is probed from a worker thread (its own event loop), one request at a time, so the probe's
// latency is the service's, not the load generator's.
const PROBE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false, lat = [], errors = 0;
parentPort.on('message', (m) => { if (m === 'stop') stop = true; });
const once = () => new Promise((resolve) => {
  const t0 = performance.now();
  const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode === 200) lat.push(performance.now() - t0); else errors++; resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
});
(async () => {
  while (!stop) { await once(); await new Promise((r) => setTimeout(r, workerData.gapMs)); }
  parentPort.postMessage({ lat, errors });
})();
`;

async function probeHealthz(port: number, during: () => Promise<void>): Promise<{ ms: Summary; errors: number }> {
  const w = new Worker(PROBE, { eval: true, workerData: { port, gapMs: 2 } });
  const result = new Promise<{ lat: number[]; errors: number }>((res, rej) => {
    w.once('message', res);
    w.once('error', rej);
  });
  await during();
  w.postMessage('stop');
  const r = await result;
  await w.terminate();
  return { ms: summarize(r.lat), errors: r.errors };
}

async function loadAndMemory(prefix: string): Promise<Record<string, unknown>> {
  const s = await startService({}, 'defaults');
  try {
    const out: Record<string, unknown> = { settings: s.settings };
    const rssStart = rssMiB(s.pid);
    if (!SKIP.has('service')) {
      // the service as deployed (DETAILS_CONCURRENCY and the rest at their defaults): the fair match for the
      // Dashboard, which is not held to 4 images at a time either
      let count = 0;
      const full = await repeat(Math.min(REPS, DETAIL_REPS), async () => (count = await listAll(s.http, true, 1000)));
      out.details_defaults = { count, ms: full.ms };
      log(`service at its defaults: full listing with details ${full.ms.p50} ms (${count} images)`);
    }
    if (!SKIP.has('load')) {
      log('healthz: idle 3 s');
      const idle = await probeHealthz(s.port, () => sleep(3000));
      log(`healthz idle p50 ${idle.ms.p50} ms p99 ${idle.ms.p99} ms`);
      // Two loads of INFLIGHT requests kept in flight for LOAD_SECONDS each, /healthz probed throughout:
      //  - single-image GETs: each is a slow Ceph operation (rbd_open_read_only, the getters, the watcher
      //    list, rbd_close: ~10 OSD round trips) — the target's case, Ceph calls in flight;
      //  - detail listings of LOAD_PAGE images: since listings read headers in one OSD operation each, these
      //    are fast and the closed loop saturates both cores with listing work (information).
      const loadWith = async (what: string, path: (k: number, i: number) => string): Promise<Record<string, unknown>> => {
        log(`healthz with ${INFLIGHT} ${what} in flight for ${LOAD_SECONDS} s`);
        let stop = false;
        let ops = 0;
        let errors = 0;
        let firstError = '';
        const lat: number[] = [];
        let drained: Promise<unknown> = Promise.resolve();
        const loaded = await probeHealthz(s.port, async () => {
          const workers = Array.from({ length: INFLIGHT }, async (_, k) => {
            let i = k * 7;
            while (!stop) {
              const t0 = now();
              try {
                await s.http.expect('GET', path(k, i));
                ops++;
                lat.push(now() - t0);
              } catch (e) {
                errors++;
                if (!firstError) firstError = e instanceof Error ? e.message : String(e);
              }
              i += INFLIGHT;
            }
          });
          await sleep(LOAD_SECONDS * 1000);
          stop = true;
          drained = Promise.all(workers);
        });
        await drained;
        log(`healthz with ${what}: p50 ${loaded.ms.p50} ms p99 ${loaded.ms.p99} ms (${loaded.ms.n} probes); ${ops} requests (${round(ops / LOAD_SECONDS, 1)}/s), ${errors} errors${firstError ? ` (${firstError.slice(0, 200)})` : ''}`);
        return {
          idle: idle.ms,
          load: loaded.ms,
          probe_errors: idle.errors + loaded.errors,
          inflight: INFLIGHT,
          seconds: LOAD_SECONDS,
          load_ops: ops,
          load_errors: errors,
          load_first_error: firstError || undefined,
          load_lat_ms: summarize(lat),
        };
      };
      out.healthz = {
        ...(await loadWith('single-image GETs (open + stat + watchers + close)', (_k, i) => `${API}/${prefix}${pad(i % Math.max(1, N))}`)),
        load_request: `GET ${API}/{image}`,
      };
      out.healthz_listings = {
        ...(await loadWith(`detail listings (limit=${LOAD_PAGE})`, (_k, i) =>
          `${API}?details=true&limit=${LOAD_PAGE}&search=${encodeURIComponent(prefix)}&cursor=${encodeCursor(`${prefix}${pad((i * LOAD_PAGE) % Math.max(1, N))}`)}`)),
        load_request: `GET ${API}?details=true&limit=${LOAD_PAGE}`,
      };
    }
    if (!SKIP.has('rss') && RSS_OPS > 0) {
      const rss: Record<string, unknown> = { ops_per_round: RSS_OPS, start_mib: rssStart, before_mib: rssMiB(s.pid) };
      const clients = 16;
      const round1 = async (): Promise<{ errors: number; rate: number }> => {
        const r = await runBatch(RSS_OPS, clients, async (i) => {
          if (i % 2 === 0) await s.http.expect('GET', `${API}/${prefix}${pad(i % Math.max(1, N))}`, undefined, [200]);
          else await s.http.expect('GET', `${API}?details=false&limit=100`, undefined, [200]);
        }, reportError('rss op'));
        return { errors: r.errors, rate: r.rate_per_s };
      };
      log(`RSS: ${RSS_OPS} requests (GET image / list names limit=100, ${clients} clients), twice`);
      const a = await round1();
      await sleep(500);
      rss.after_1_mib = rssMiB(s.pid);
      const b = await round1();
      await sleep(500);
      rss.after_2_mib = rssMiB(s.pid);
      rss.errors = a.errors + b.errors;
      rss.rate_per_s = [a.rate, b.rate];
      rss.growth_mib = round((rss.after_2_mib as number) - (rss.after_1_mib as number), 1);
      log(`RSS: start ${rssStart} MiB, after ${RSS_OPS} ${String(rss.after_1_mib)} MiB, after ${2 * RSS_OPS} ${String(rss.after_2_mib)} MiB`);
      out.rss = rss;
    }
    return out;
  } finally {
    await stopService(s);
  }
}

// ---- ratios and tables -------------------------------------------------------------------------
interface Ratio {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | null;
  detail: string;
}
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function ratios(r: Json): Ratio[] {
  const out: Ratio[] = [];
  const add = (name: string, value: number | undefined | null, op: '<=' | '>=' | null, target: number | null, detail: string): void => {
    const ok = typeof value === 'number' && Number.isFinite(value);
    out.push({
      name,
      value: ok ? round(value, 3) : null,
      target: op && target !== null ? `${op} ${target}` : '—',
      pass: !ok || !op || target === null ? null : op === '<=' ? value <= target : value >= target,
      detail,
    });
  };
  for (const c of CONCURRENCY) {
    const cr = r.c?.[c];
    const sr = r.service?.runs?.[c];
    if (!cr || !sr) continue;
    add(`create rate, POST return=minimal, ${c}× (service ÷ C)`, sr.create?.rate_per_s / cr.create?.rate_per_s, '>=', 0.85, `${sr.create?.rate_per_s}/s vs ${cr.create?.rate_per_s}/s`);
    add(`create rate, PUT full answer (hook path), ${c}× (service ÷ C)`, sr.put_full?.rate_per_s / cr.create?.rate_per_s, c >= 4 ? '>=' : null, c >= 4 ? 0.75 : null, `${sr.put_full?.rate_per_s}/s vs ${cr.create?.rate_per_s}/s`);
    add(`create rate, POST full answer, ${c}× (service ÷ C)`, sr.post_full?.rate_per_s / cr.create?.rate_per_s, c >= 4 ? '>=' : null, c >= 4 ? 0.75 : null, `${sr.post_full?.rate_per_s}/s vs ${cr.create?.rate_per_s}/s`);
    add(`list names, ${c}× (service ÷ C)`, sr.names?.ms?.p50 / cr.names?.ms?.p50, '<=', 1.5, `${sr.names?.ms?.p50} ms vs ${cr.names?.ms?.p50} ms`);
    add(`page of 100 with details, ${c}× (service ÷ C)`, sr.page?.ms?.p50 / cr.page?.ms?.p50, '<=', 1.2, `${sr.page?.ms?.p50} ms vs ${cr.page?.ms?.p50} ms`);
    add(`full listing with details, ${c}× (service ÷ C)`, sr.details?.ms?.p50 / cr.details?.ms?.p50, '<=', 1.2, `${sr.details?.ms?.p50} ms vs ${cr.details?.ms?.p50} ms`);
    add(`remove rate, ${c}× (service ÷ C)`, sr.remove?.rate_per_s / cr.remove?.rate_per_s, null, null, `${sr.remove?.rate_per_s}/s vs ${cr.remove?.rate_per_s}/s`);
    add(`DELETE p99 ÷ C rbd_remove p99, ${c}×`, sr.delete_all_ms?.p99 / cr.remove?.lat_ms?.p99, null, null, `p50 ${sr.delete_all_ms?.p50} ms / p99 ${sr.delete_all_ms?.p99} ms vs C p50 ${cr.remove?.lat_ms?.p50} ms / p99 ${cr.remove?.lat_ms?.p99} ms`);
  }
  const last = CONCURRENCY[CONCURRENCY.length - 1] ?? 1;
  const sLast = r.service?.runs?.[last];
  if (r.dashboard?.available && sLast) {
    const dflt = r.load?.details_defaults;
    if (dflt?.ms) add('Dashboard all with details ÷ service full listing (service defaults)', r.dashboard.full?.ms?.p50 / dflt.ms.p50, '>=', 10, `${r.dashboard.full?.ms?.p50} ms vs ${dflt.ms.p50} ms`);
    add(`Dashboard all with details ÷ service full listing (${last}×)`, r.dashboard.full?.ms?.p50 / sLast.details?.ms?.p50, dflt?.ms ? null : '>=', dflt?.ms ? null : 10, `${r.dashboard.full?.ms?.p50} ms vs ${sLast.details?.ms?.p50} ms`);
    add(`Dashboard limit=100 ÷ service page of 100 (${last}×)`, r.dashboard.page100?.ms?.p50 / sLast.page?.ms?.p50, null, null, `${r.dashboard.page100?.ms?.p50} ms vs ${sLast.page?.ms?.p50} ms`);
  }
  if (r.rbd_cli?.ls_l?.ms?.n && sLast) {
    add(`rbd ls -l ÷ service full listing (${last}×)`, r.rbd_cli.ls_l.ms.p50 / sLast.details?.ms?.p50, null, null, `${r.rbd_cli.ls_l.ms.p50} ms vs ${sLast.details?.ms?.p50} ms`);
  }
  const h = r.load?.healthz;
  if (h) add(`/healthz p99 with ${h.inflight} single-image GETs in flight (ms)`, h.load?.p99, '<=', 10, `p50 ${h.load?.p50} ms, idle p99 ${h.idle?.p99} ms, ${h.load?.n} probes, ${h.load_ops} GETs`);
  const hl = r.load?.healthz_listings;
  if (hl) add(`/healthz p99 with ${hl.inflight} detail listings in flight (ms)`, hl.load?.p99, null, null, `p50 ${hl.load?.p50} ms, ${hl.load?.n} probes, ${hl.load_ops} listings in ${hl.seconds} s`);
  const m = r.load?.rss;
  if (m) {
    add(`RSS after ${2 * m.ops_per_round} requests (MiB)`, m.after_2_mib, '<=', 150, `start ${m.start_mib}, after ${m.ops_per_round}: ${m.after_1_mib}`);
    add(`RSS growth over the second ${m.ops_per_round} (MiB)`, m.growth_mib, '<=', 10, `${m.after_1_mib} → ${m.after_2_mib} MiB`);
  }
  return out;
}

const fmtMs = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ms`) : '—');
const fmtRate = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(0)}/s` : '—');

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head, ...rest] = rows;
  return [line(head ?? []), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rest.map(line)].join('\n');
}

function figuresTable(r: Json): string {
  const cols: { label: string; get: (k: string) => string }[] = [];
  for (const c of CONCURRENCY) {
    const cr = r.c?.[c];
    cols.push({
      label: `C ${c}×`,
      get: (k) => (k === 'create' || k === 'remove' || k === 'put_full' || k === 'post_full' ? fmtRate(cr?.[k === 'put_full' || k === 'post_full' ? 'create' : k]?.rate_per_s)
        : k === 'delete_lat' ? `${fmtMs(cr?.remove?.lat_ms?.p50)} / ${fmtMs(cr?.remove?.lat_ms?.p99)}` : fmtMs(cr?.[k]?.ms?.p50)),
    });
  }
  for (const c of CONCURRENCY) {
    const sr = r.service?.runs?.[c];
    cols.push({
      label: `service ${c}×`,
      get: (k) => (k === 'create' || k === 'remove' || k === 'put_full' || k === 'post_full' ? fmtRate(sr?.[k]?.rate_per_s)
        : k === 'delete_lat' ? `${fmtMs(sr?.delete_all_ms?.p50)} / ${fmtMs(sr?.delete_all_ms?.p99)}` : fmtMs(sr?.[k]?.ms?.p50)),
    });
  }
  cols.push({ label: 'rbd CLI', get: (k) => (k === 'names' ? fmtMs(r.rbd_cli?.ls?.ms?.p50) : k === 'details' ? fmtMs(r.rbd_cli?.ls_l?.ms?.p50) : '—') });
  cols.push({ label: 'Dashboard', get: (k) => (k === 'page' ? fmtMs(r.dashboard?.page100?.ms?.p50) : k === 'details' ? fmtMs(r.dashboard?.full?.ms?.p50) : '—') });
  const rows: [string, string][] = [
    ['create', `create ${N} (images/s)`],
    ['put_full', `PUT, full answer (hook path; C: create)`],
    ['post_full', `POST, full answer (C: create)`],
    ['names', 'list names (median)'],
    ['page', 'page of 100 + details'],
    ['details', `all ${N} + details`],
    ['remove', `remove ${N} (images/s)`],
    ['delete_lat', 'DELETE latency p50 / p99'],
  ];
  return table([['', ...cols.map((c) => c.label)], ...rows.map(([k, label]) => [label, ...cols.map((c) => c.get(k))])]);
}

function ratioTable(rs: Ratio[]): string {
  return table([
    ['measure', 'value', 'target', 'result', 'figures'],
    ...rs.map((x) => [x.name, x.value === null ? '—' : String(x.value), x.target, x.pass === null ? (x.target === '—' ? 'info' : 'n/a') : x.pass ? 'PASS' : 'MISS', x.detail]),
  ]);
}

// ---- main --------------------------------------------------------------------------------------
async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const started = new Date();
  const date = started.toISOString().replace(/\.\d+Z$/, 'Z');
  const results: Json = {
    date,
    machine: await machine(),
    config: { images: N, image_bytes: GIB, concurrency: CONCURRENCY, reps: REPS, detail_reps: DETAIL_REPS, pool: POOL },
    c: {},
    service: { runs: {} },
  };
  log(`${N} images, concurrency ${CONCURRENCY.join(',')}, pool ${POOL}; ${JSON.stringify(results.machine)}`);
  const serviceMissing = !existsSync(SERVICE_MAIN) ? `${SERVICE_MAIN} is missing (npm run build)` : SKIP.has('service') ? 'skipped (BENCH_SKIP)' : '';
  if (serviceMissing) {
    results.service = { available: false, reason: serviceMissing, runs: {} };
    log(`service: not available (${serviceMissing})`);
  }
  const last = CONCURRENCY[CONCURRENCY.length - 1];
  for (const c of CONCURRENCY) {
    if (!SKIP.has('c')) results.c[c] = await cBaseline(c);
    const extras = async (): Promise<void> => {
      if (c !== last) return;
      if (!SKIP.has('cli')) results.rbd_cli = await rbdCli();
      if (!SKIP.has('dashboard')) results.dashboard = await dashboard();
      else results.dashboard = { available: false, reason: 'skipped (BENCH_SKIP)' };
      if (!serviceMissing && !(SKIP.has('load') && SKIP.has('rss'))) {
        try {
          results.load = await loadAndMemory(`svc${c}-`);
        } catch (e) {
          results.load = { error: e instanceof Error ? e.message : String(e) };
          log(`load/memory: ${results.load.error}`);
        }
      }
    };
    if (serviceMissing) {
      await extras();
      continue;
    }
    let s: Service | undefined;
    try {
      s = await startService({ DETAILS_CONCURRENCY: String(c) }, `c${c}`);
      results.service.runs[c] = await serviceRun(c, s, `svc${c}-`, extras);
    } catch (e) {
      const msg = e instanceof HttpError || e instanceof Error ? e.message : String(e);
      results.service.runs[c] = { error: msg };
      log(`service run at ${c}: ${msg}`);
    } finally {
      if (s) await stopService(s);
    }
  }
  results.ratios = ratios(results);
  results.elapsed_s = round((Date.now() - started.getTime()) / 1000, 1);

  const figures = figuresTable(results);
  const rtable = ratioTable(results.ratios as Ratio[]);
  const notes: string[] = [];
  if (results.service?.available === false) notes.push(`service: not available (${String(results.service.reason)})`);
  if (results.dashboard && !results.dashboard.available) notes.push(`dashboard: not available (${String(results.dashboard.reason)})`);
  if (results.load?.error) notes.push(`load/memory: ${String(results.load.error)}`);
  for (const c of CONCURRENCY) if (results.service.runs[c]?.error) notes.push(`service ${c}×: ${String(results.service.runs[c].error)}`);
  const m = results.machine as Json;
  const header = `${date} · ${N} images · ${m.nproc} CPUs (${m.cpu}) · ${m.mem_gib} GiB · Ceph ${m.ceph} · Node ${m.node} · load avg at start ${(m.loadavg_at_start as number[]).join(' ')}`;
  const text = [header, '', figures, '', rtable, ...(notes.length ? ['', ...notes] : []), ''].join('\n');

  const stamp = date.replace(/:/g, '-');
  writeFileSync(join(OUT, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'latest.svg'), renderSvg(chartFromResults(results)));
  writeFileSync(join(OUT, 'latest.md'), text);
  process.stdout.write(`\n${text}\nresults: ${join(OUT, `${stamp}.json`)}, latest.json, latest.svg, latest.md (${results.elapsed_s} s)\n`);
  const misses = (results.ratios as Ratio[]).filter((x) => x.pass === false).length;
  if (env.BENCH_STRICT === '1' && misses > 0) process.exitCode = 1;
  // the Dashboard is the incumbent: a run that could not measure it is a failed run (BENCH_DASHBOARD=off skips it)
  if (!SKIP.has('dashboard') && !results.dashboard?.available) {
    process.stderr.write(`\n*** bench: the Ceph Dashboard could not be measured: ${String(results.dashboard?.reason ?? 'not run')}\n`
      + '*** (BENCH_DASHBOARD=off runs without it on purpose)\n');
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
