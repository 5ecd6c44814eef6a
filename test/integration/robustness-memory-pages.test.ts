// Issue 21 item 5 (the probe's N1): memory is bounded by design. A real service process (built, as `npm start`
// runs it) with authentication on; an image whose metadata a write token filled up to the limit (one more PUT is
// refused), plus 1,600 values of 16 KB written outside the API (as the rbd CLI can, or an image from before the
// limit): 25.6 MB that one answer used to carry. Then, with a read token, 2 rounds of 32 concurrent
// `GET …/metadata?limit=1000` and a mix of the other listings (images with details, snapshots, children, trash,
// tasks, one key), while the process's RSS (/proc/<pid>/status) and /healthz's latency are sampled.
// Before: answers of 25.6 MB each, 3.2 GiB RSS, /healthz stalled for seconds. Now: every answer ≤ a page's bytes
// (1 MiB), RSS < 400 MiB (the Deployment's limit is 512 Mi), /healthz within 1 s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { omapSet } from '../../src/ceph/tasks/omap.js';
import { connect, makePool, serviceEnv } from '../helpers/cluster.js';
import { startService, type Service } from '../helpers/service.js';

const PAGE_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;
const READ = 'read-token-0123456789abcdef';
const WRITE = 'write-token-0123456789abcdef';

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let svc: Service | undefined;
const dir = mkdtempSync(join(tmpdir(), 'mem-pages-'));

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'mempg');
  writeFileSync(join(dir, 'tokens'), `${READ} read * reader\n${WRITE} write * writer\n`);
  svc = await startService({ ...serviceEnv(), API_TOKENS_FILE: join(dir, 'tokens'), LOG_LEVEL: 'warn', UV_THREADPOOL_SIZE: '32' }, { entry: 'dist', readyTimeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  if (svc && svc.child.exitCode === null) {
    svc.child.kill('SIGTERM');
    await svc.exited;
  }
  await pool?.remove();
  await conn?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (path: string, token: string, method = 'GET', body?: unknown) => fetch(`${svc!.url}${path}`, {
  method,
  headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const status = (pid: number, field: 'VmRSS' | 'VmHWM'): number =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('N1: concurrent metadata listings of an image with 25 MB of metadata, and other listings, with a read token', () => {
  it('every answer ≤ 1 MiB, RSS < 400 MiB, /healthz within 1 s; the limit refuses more metadata', async () => {
    const base = `/api/v1/pools/${pool.name}/images`;
    expect((await call(base, WRITE, 'POST', { name: 'heavy', size: '64MiB' })).status).toBe(201);
    // a write token fills the image up to the limit: the next PUT is 409 and changes nothing
    const value = 'v'.repeat(16000);
    let refused: Response | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await call(`${base}/heavy/metadata/api${String(i).padStart(3, '0')}`, WRITE, 'PUT', { value });
      if (r.status === 409) refused = r;
      else expect(r.status).toBe(201);
    }
    expect((await refused!.json()).code).toBe('METADATA_LIMIT_EXCEEDED');
    const atLimit = await call(`${base}/heavy/metadata`, READ);
    const atLimitBody = await atLimit.text();
    expect(atLimit.headers.get('link')).toBeNull(); // all of it in one answer
    expect(Buffer.byteLength(atLimitBody)).toBeLessThanOrEqual(PAGE_BYTES);
    // 1,600 values of 16 KB more, written outside the API (the probe's image)
    const { id } = await (await call(`${base}/heavy`, READ)).json() as { id: string };
    await conn.withIoctx(pool.name, (io) => io.use('test_omap_set', async (p) => {
      for (let i = 0; i < 1600; i += 100) {
        await omapSet(p, `rbd_header.${id}`, Array.from({ length: 100 }, (_, j) => ({ key: `metadata_key${String(i + j).padStart(5, '0')}`, value })));
      }
    }));
    // something for the other listings: snapshots, a clone, images, a trash entry
    for (let i = 0; i < 20; i++) expect((await call(`${base}/heavy/snapshots/s${i}`, WRITE, 'PUT')).status).toBe(201);
    expect((await call(`${base}/clone`, WRITE, 'PUT', { source: { image: 'heavy', snapshot: 's0' } })).status).toBe(201);
    for (let i = 0; i < 30; i++) expect((await call(`${base}/img${i}`, WRITE, 'PUT', { size: '4MiB' })).status).toBe(201);
    expect((await call(`${base}/img0?keepFor=1h`, WRITE, 'DELETE')).status).toBe(204);

    const pid = svc!.child.pid!;
    expect((await call(`${base}/heavy/metadata?limit=1000`, READ)).status).toBe(200); // warm up
    const baseline = status(pid, 'VmRSS');

    let sampling = true;
    let maxRss = 0;
    let maxHealthMs = 0;
    const sampler = (async () => {
      while (sampling) {
        maxRss = Math.max(maxRss, status(pid, 'VmRSS'));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const prober = (async () => {
      while (sampling) {
        const t0 = performance.now();
        expect((await fetch(`${svc!.url}/healthz`)).status).toBe(200);
        maxHealthMs = Math.max(maxHealthMs, performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const mix = [
      `${base}/heavy/metadata?limit=1000`, `${base}?details=true&limit=1000`, `${base}/heavy/snapshots`, `${base}/heavy/children`,
      `/api/v1/pools/${pool.name}/trash?limit=1000`, '/api/v1/tasks?limit=1000', `${base}/heavy/metadata/key00042`,
      `${base}/heavy/metadata?limit=1000&cursor=${Buffer.from('v1:key00800').toString('base64url')}`,
    ];
    const answers: { path: string; status: number; bytes: number; code?: string }[] = [];
    const get = async (path: string) => {
      const r = await call(path, READ);
      const text = await r.text();
      answers.push({ path, status: r.status, bytes: Buffer.byteLength(text), ...(r.status !== 200 ? { code: JSON.parse(text).code as string } : {}) });
      if (r.status === 503) expect(r.headers.get('retry-after')).not.toBeNull();
    };
    const t0 = performance.now();
    for (let round = 0; round < 2; round++) {
      await Promise.all([
        ...Array.from({ length: 32 }, () => get(`${base}/heavy/metadata?limit=1000`)),
        ...Array.from({ length: 32 }, (_, i) => get(mix[i % mix.length]!)),
      ]);
    }
    const ms = Math.round(performance.now() - t0);
    sampling = false;
    await Promise.all([sampler, prober]);
    const peak = Math.max(maxRss, status(pid, 'VmHWM'));
    const mib = (b: number) => Math.round(b / MiB);
    const largest = Math.max(...answers.map((a) => a.bytes));
    console.log(`N1: ${answers.length} answers in ${ms} ms (${answers.filter((a) => a.status === 200).length}×200, `
      + `${answers.filter((a) => a.status === 503).length}×503), largest ${largest} bytes; RSS baseline ${mib(baseline)} MiB, `
      + `peak ${mib(peak)} MiB; /healthz slowest ${Math.round(maxHealthMs)} ms`);

    // every answer bounded in bytes (before: 25.6 MB per metadata listing)
    for (const a of answers) expect(a.bytes, a.path).toBeLessThanOrEqual(PAGE_BYTES);
    // 200, or 503 CEPH_BUSY from the listing limiter; the metadata listings all get through its queue
    for (const a of answers) expect(a.status === 200 || (a.status === 503 && a.code === 'CEPH_BUSY'), `${a.path} ${a.status} ${a.code}`).toBe(true);
    expect(answers.filter((a) => a.path.endsWith('/metadata?limit=1000') && a.status === 200).length).toBeGreaterThanOrEqual(64);
    // memory and the event loop (before: 3,275 MiB and /healthz stalled 5 s)
    expect(peak).toBeLessThan(400 * MiB);
    expect(maxHealthMs).toBeLessThan(1000);
    // and the process is whole
    expect(svc!.child.exitCode).toBeNull();
  }, 600_000);
});
