// Fuzzing the snapshot and clone routes (fast-check) on the real cluster: bad snapshot names ('/', '@', '',
// 4097 characters, NUL, unicode), bad bodies and query strings → 4xx with a problem document, never a 5xx or a
// crash (librbd would take '' or 'a/b' as snapshot names, and abort the process on an empty clone snapshot name);
// a rejected request changes nothing: the snapshots and images stay as they were.
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { type TestApp } from '../helpers/app.js';
import { rbdCli } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'fuzzsnap', key: 'rbdapi' });
let t: TestApp;
let conn: CephConnection;
let images: Images;
let pool: TestPool;
let base: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const snapshots = new Set<string>(['s1']);
const imagesExpected = new Set<string>(['img']);

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  images = new Images(conn);
  base = `/api/v1/pools/${pool.name}/images`;
  await images.create(pool.name, 'img', 4 * 1024 * 1024);
  expect((await inject({ method: 'PUT', url: `${base}/img/snapshots/s1` })).statusCode).toBe(201);
});

const snapName = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '.', '..', '-a', '_a', 'a/b', '/', '@', 'a@b', '@s1', 's1@', 'a\nb', 'a b', '%', '%2F', '\u0000', 'a\u0000b',
    'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(4096), 'x'.repeat(4097), 'ümlaut', '名前', 's1', 'S1', 'ok.name-1_2'),
);
const enc = (s: string) => encodeURIComponent(s);

/** t.app.inject, failing with the request in the message when it takes longer than 20 s (a hang is a bug). */
async function inject(opts: InjectOptions) {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in 20 s: ${JSON.stringify(opts).slice(0, 300)}`)), 20_000);
  });
  try {
    const t0 = Date.now();
    const r = await Promise.race([t.app.inject(opts), hang]);
    if (Date.now() - t0 > 1000 && process.env.FUZZ_SLOW) console.log(`slow ${Date.now() - t0} ms ${r.statusCode}: ${JSON.stringify(opts).slice(0, 200)}`);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

async function snapshotNames(): Promise<string[]> {
  return (JSON.parse(await rbdCli('snap', 'ls', '--all', '--format', 'json', `${pool.name}/img`)) as { name: string }[]).map((s) => s.name).sort();
}

async function check(label: string, status: number, body: string): Promise<void> {
  expect(status, `${label} → ${status} ${body.slice(0, 300)}`).toBeLessThan(500);
  if (status >= 400) {
    const problem = JSON.parse(body);
    expect(typeof problem.code, label).toBe('string');
    expect(problem.status).toBe(status);
  }
}

describe('fuzzing snapshot and clone routes on a real cluster', () => {
  it('PUT/GET/DELETE/PATCH …/snapshots/{name}: any name → 2xx/4xx; only safe names are ever created', async () => {
    await fc.assert(fc.asyncProperty(snapName, fc.constantFrom('PUT', 'GET', 'DELETE', 'PATCH'), async (name, method) => {
      const r = await inject({
        method, url: `${base}/img/snapshots/${enc(name)}`,
        ...(method === 'PATCH' ? { payload: JSON.stringify({ protected: false }), headers: { 'content-type': 'application/json' } } : {}),
      });
      const label = `${method} ${JSON.stringify(name)}`;
      await check(label, r.statusCode, r.body);
      if (method === 'PUT' && r.statusCode === 201) {
        expect(name, label).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
        snapshots.add(name);
      }
      if (method === 'DELETE' && r.statusCode === 204) snapshots.delete(name);
      expect(await snapshotNames(), `${label} changed the snapshots`).toEqual([...snapshots].sort());
    }), { numRuns: RUNS, endOnFailure: true });
  }, 180_000); // an rbd CLI run per case: ~30 s on a quiet machine, past 60 s on a loaded one

  it('POST …/snapshots and PATCH bodies: arbitrary JSON → 2xx/4xx, names validated', async () => {
    const body = fc.oneof(
      fc.record({ name: snapName }, { requiredKeys: [] }),
      fc.record({ name: snapName, protected: fc.anything() }, { requiredKeys: [] }),
      fc.jsonValue(),
      fc.constantFrom('{', '', 'null', '[]', '"s"', '{"name":null}', '{"name":1}', '{"protected":"yes"}', '{"name":"ok","x":1}'),
    );
    await fc.assert(fc.asyncProperty(body, fc.constantFrom('POST', 'PATCH'), async (b, method) => {
      const payload = typeof b === 'string' ? b : JSON.stringify(b);
      const url = method === 'POST' ? `${base}/img/snapshots` : `${base}/img/snapshots/s1`;
      const r = await inject({ method, url, payload, headers: { 'content-type': 'application/json' } });
      const label = `${method} ${payload.slice(0, 100)}`;
      await check(label, r.statusCode, r.body);
      if (r.statusCode === 201) snapshots.add(r.json().name);
      if (method === 'PATCH' && r.statusCode === 200 && r.json().name !== 's1') {
        // renamed: put it back so that later cases find s1
        snapshots.delete('s1');
        snapshots.add(r.json().name);
        const back = await inject({ method: 'PATCH', url: `${base}/img/snapshots/${enc(r.json().name)}`, payload: '{"name":"s1","protected":false}', headers: { 'content-type': 'application/json' } });
        expect(back.statusCode).toBe(200);
        snapshots.delete(r.json().name);
        snapshots.add('s1');
      } else if (method === 'PATCH' && r.statusCode === 200) {
        await inject({ method: 'PATCH', url: `${base}/img/snapshots/s1`, payload: '{"protected":false}', headers: { 'content-type': 'application/json' } });
      }
      expect(await snapshotNames(), `${label} changed the snapshots`).toEqual([...snapshots].sort());
    }), { numRuns: RUNS, endOnFailure: true });
  });

  it('rollback: any confirm and snapshot name → 202/4xx; never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(snapName, fc.oneof(fc.string({ maxLength: 20 }), fc.constant('img')), async (name, confirm) => {
      const r = await inject({ method: 'POST', url: `${base}/img/snapshots/${enc(name)}/rollback?confirm=${enc(confirm)}` });
      await check(`rollback ${JSON.stringify(name)} confirm=${JSON.stringify(confirm)}`, r.statusCode, r.body);
      if (r.statusCode === 202) expect(confirm).toBe('img');
    }), { numRuns: Math.max(10, Math.ceil(RUNS / 3)), endOnFailure: true });
  });

  it('clones: arbitrary sources and bodies on PUT/POST /images → 2xx/4xx; a clone only of an existing snapshot', async () => {
    const part = fc.oneof(snapName, fc.constantFrom('img', 's1', pool.name));
    const source = fc.oneof(
      fc.record({ pool: part, namespace: part, image: part, snapshot: part }, { requiredKeys: [] }),
      fc.record({ image: fc.constant('img'), snapshot: snapName }),
      fc.jsonValue(),
      fc.constantFrom(null, 'img@s1', [], { image: 'img', snapshot: '' }, { image: '', snapshot: 's1' }, { image: 'img', snapshot: 's1', pool: '' }),
    );
    const body = fc.record({ source, size: fc.oneof(fc.constantFrom('4MiB', '1GiB', 0, -1, '1KiB', null), fc.anything()), features: fc.anything() },
      { requiredKeys: ['source'] });
    let n = 0;
    await fc.assert(fc.asyncProperty(body, fc.constantFrom('PUT', 'POST'), async (b, method) => {
      const name = `f${n++}`;
      const r = method === 'PUT'
        ? await inject({ method, url: `${base}/${name}`, payload: JSON.stringify(b), headers: { 'content-type': 'application/json' } })
        : await inject({ method, url: base, payload: JSON.stringify({ name, ...b }), headers: { 'content-type': 'application/json' } });
      const label = `${method} ${JSON.stringify(b).slice(0, 200)}`;
      await check(label, r.statusCode, r.body);
      if (r.statusCode === 201) {
        expect(r.json().parent, label).toMatchObject({ image: 'img', snapshot: 's1' });
        imagesExpected.add(name);
      }
      expect((await images.listNames(pool.name)).sort(), `${label} changed the images`).toEqual([...imagesExpected].sort());
    }), { numRuns: RUNS, endOnFailure: true });
  });

  it('flatten and children: any image name → 4xx/2xx', async () => {
    await fc.assert(fc.asyncProperty(snapName, async (name) => {
      for (const [method, path] of [['POST', 'flatten'], ['GET', 'children'], ['GET', 'snapshots']] as const) {
        const r = await inject({ method, url: `${base}/${enc(name)}/${path}` });
        await check(`${method} ${path} ${JSON.stringify(name)}`, r.statusCode, r.body);
      }
    }), { numRuns: Math.max(10, Math.ceil(RUNS / 3)), endOnFailure: true });
  });
});
