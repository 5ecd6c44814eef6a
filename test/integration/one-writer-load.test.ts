// One image, one writer under load (docs/concurrency.md): thousands of mixed requests on ONE image through two
// replicas, 32 at once — metadata writes of 16 KB values (the probe's abort, N2: AsyncOpTracker in librbd),
// snapshot creates and deletes, PATCHes, GETs, clones — and the process stays up (an abort inside librbd kills
// this test's worker), every answer is documented (never a 5xx other than 503 CEPH_BUSY with Retry-After), and
// the image is whole afterwards with no snapshot in librbd's trash namespace.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { rbdCli } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'one-writer-load', key: 'rbdapi-pools', replicas: 2 });
let a: TestApp;
let b: TestApp;
let pool: TestPool;

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [a, b] = replicas as [TestApp, TestApp];
});

const REQUESTS = Number(process.env.ONE_WRITER_LOAD_REQUESTS ?? 1500);
const CONCURRENCY = 32;
const VALUE = 'v'.repeat(16_000);

type Op = { method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'; url: string; body?: unknown; ok: RegExp };

describe('one image, one writer, under load', () => {
  it(`${REQUESTS} mixed requests on one image, ${CONCURRENCY} at once over two replicas: the process stays up`, async () => {
    const base = `/api/v1/pools/${pool.name}/images`;
    const img = `${base}/hot`;
    expect((await a.app.inject({ method: 'POST', url: base, ...json({ name: 'hot', size: '64MiB' }) })).statusCode).toBe(201);
    expect((await a.app.inject({ method: 'PUT', url: `${img}/snapshots/base` })).statusCode).toBe(201);
    const pick = (i: number): Op => {
      const n = Math.floor(Math.random() * 1e9);
      switch (i % 8) {
        case 0: case 1: return { method: 'PUT', url: `${img}/metadata/k${n % 40}`, body: { value: VALUE }, ok: /^20[01]$/ };
        case 2: return { method: 'DELETE', url: `${img}/metadata/k${n % 40}`, ok: /^(204|404)$/ };
        case 3: return { method: 'PUT', url: `${img}/snapshots/s${n % 8}`, ok: /^20[01]$/ };
        case 4: return { method: 'DELETE', url: `${img}/snapshots/s${n % 8}`, ok: /^(204|404)$/ };
        case 5: return { method: 'PATCH', url: img, body: { size: `${64 + (n % 64)}MiB` }, ok: /^(200|409)$/ };
        case 6: return { method: 'GET', url: n % 2 ? img : `${img}/snapshots`, ok: /^200$/ };
        default: return { method: 'PUT', url: `${base}/c${n % 24}`, body: { source: { image: 'hot', snapshot: 'base' } }, ok: /^20[01]$/ };
      }
    };
    const bad: string[] = [];
    const counts: Record<string, number> = {};
    let next = 0;
    const worker = async (w: number) => {
      while (next < REQUESTS) {
        const i = next++;
        const op = pick(i);
        const app = (w % 2 === 0 ? a : b).app;
        const r = await app.inject({ method: op.method, url: op.url, ...(op.body === undefined ? {} : json(op.body)) });
        const code = r.statusCode >= 400 ? String(r.json().code) : '';
        counts[`${r.statusCode}${code ? ` ${code}` : ''}`] = (counts[`${r.statusCode}${code ? ` ${code}` : ''}`] ?? 0) + 1;
        if (r.statusCode === 503 && code === 'CEPH_BUSY' && r.headers['retry-after']) continue;
        if (!op.ok.test(String(r.statusCode))) bad.push(`${op.method} ${op.url} → ${r.statusCode} ${code} ${r.statusCode >= 400 ? r.json().detail : ''}`);
        if (op.method === 'PATCH' && r.statusCode === 409 && code !== 'SHRINK_NOT_ALLOWED') bad.push(`PATCH → 409 ${code}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    console.log(`one-writer-load: ${JSON.stringify(counts)}`);
    expect(bad.slice(0, 20)).toEqual([]);
    // whole afterwards: GET, rbd info, and only user snapshots (clones keep `base`, never moved to the trash namespace)
    expect((await a.app.inject({ method: 'GET', url: img })).statusCode).toBe(200);
    await rbdCli('info', `${pool.name}/hot`);
    expect(await rbdCli('snap', 'ls', '--all', `${pool.name}/hot`)).not.toMatch(/trash/i);
  }, 600_000);
});
