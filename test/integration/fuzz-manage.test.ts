// Property-based fuzzing (fast-check) of the management routes on a real cluster: metadata and conf_ keys,
// PATCH (rename, size, features), copy, namespaces, usage and iostat queries. Never a 5xx or a crash; a rejected
// request changes nothing (checked with the rbd CLI / the Ceph layer).
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { ImageMetadata } from '../../src/ceph/metadata.js';
import { Namespaces } from '../../src/ceph/namespaces.js';
import { json, type TestApp } from '../helpers/app.js';
import { rbdSync as rbd } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'fuzzm', key: 'rbdapi' });
let t: TestApp;
let conn: CephConnection;
let pool: TestPool;
let base: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', '.', '..', '-a', 'a/b', 'a@snap', 'a\nb', 'a b', '%', '%2F', 'x'.repeat(300), 'ok-name', '\u0000', 'conf_', 'conf_rbd_cache',
    'conf_rbd_qos_iops_limit', 'conf_nonsense', '.rbdapi-copy-1', 'rbd_directory', 'layering', 'object-map', '__proto__', 'constructor', 'toString'),
);
const anything = fc.oneof(text, fc.jsonValue(), fc.constantFrom(null, true, -1, 1e308, [], {}, '1', '100', 'true', 'false', '1.5', '-5'));
const featureList = fc.oneof(
  fc.array(fc.constantFrom('layering', 'striping', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten', 'journaling',
    'data-pool', 'operations', 'migrating', 'non-primary', 'dirty-cache', 'bogus', ''), { maxLength: 8 }),
  anything,
);

/**
 * A path segment. "." and ".." (also spelt %2E) are dot segments that every WHATWG URL parser (fetch, inject)
 * resolves by moving up the path (DELETE …/metadata/.. would be DELETE of the image), so they cannot name a
 * key or namespace in a URL: such cases are skipped (fc.pre), and the API refuses them at creation.
 */
const seg = (s: string): string => encodeURIComponent(s);
const addressable = (s: string): boolean => s !== '.' && s !== '..';

async function check(label: string, status: number, body: string): Promise<void> {
  expect(status, `${label} → ${status} ${body.slice(0, 300)}`).toBeLessThan(500);
  if (status >= 400) {
    const problem = JSON.parse(body) as { code?: unknown; status?: unknown };
    expect(typeof problem.code, label).toBe('string');
    expect(problem.status, label).toBe(status);
  }
}

interface Shape { names: string[]; size: number; features: string[]; meta: Record<string, string> }
async function shape(): Promise<Shape> {
  const images = new Images(conn);
  const names = await images.listNames(pool.name);
  const info = await images.stat(pool.name, 'keep');
  const meta = await new ImageMetadata(conn).list(pool.name, 'keep');
  return { names, size: info.size, features: info.features, meta };
}

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  base = `/api/v1/pools/${pool.name}/images`;
  expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'keep', size: '64MiB' }) })).statusCode).toBe(201);
  expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'other', size: '4MiB' }) })).statusCode).toBe(201);
});

describe('fuzzing the management routes', () => {
  it('metadata PUT/GET/DELETE: arbitrary keys and values; accepted values read back exactly', async () => {
    await fc.assert(fc.asyncProperty(text, anything, async (key, value) => {
      fc.pre(addressable(key));
      const before = await new ImageMetadata(conn).list(pool.name, 'keep');
      const url = `${base}/keep/metadata/${seg(key)}`;
      const r = await t.app.inject({ method: 'PUT', url, ...json({ value }) });
      await check(`PUT meta ${JSON.stringify(key)}=${JSON.stringify(value)?.slice(0, 80)}`, r.statusCode, r.body);
      const after = await new ImageMetadata(conn).list(pool.name, 'keep');
      if (r.statusCode >= 400) {
        expect(after).toEqual(before);
      } else {
        expect(after[key]).toBe(value);
        const g = await t.app.inject({ method: 'GET', url });
        expect(g.json()).toEqual({ key, value });
        const d = await t.app.inject({ method: 'DELETE', url });
        expect(d.statusCode).toBe(204);
      }
      const g = await t.app.inject({ method: 'GET', url });
      await check(`GET meta ${JSON.stringify(key)}`, g.statusCode, g.body);
      const d = await t.app.inject({ method: 'DELETE', url });
      await check(`DELETE meta ${JSON.stringify(key)}`, d.statusCode, d.body);
    }), { numRuns: RUNS });
  });

  it('PATCH: arbitrary names, sizes, shrink flags and feature lists never change the image when refused', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({ name: anything, size: anything, allowShrink: anything, features: featureList, extra: anything }, { requiredKeys: [] }),
      async (body) => {
        const before = await shape();
        const r = await t.app.inject({ method: 'PATCH', url: `${base}/keep`, ...json(body) });
        await check(`PATCH ${JSON.stringify(body).slice(0, 200)}`, r.statusCode, r.body);
        if (r.statusCode >= 400) {
          expect(await shape()).toEqual(before);
          return;
        }
        // accepted: put the image back as it was for the next run
        const now = r.json() as { name: string; size: number };
        if (now.name !== 'keep') rbd('rename', `${pool.name}/${now.name}`, `${pool.name}/keep`);
        if (r.statusCode === 202) {
          for (let i = 0; i < 200; i++) {
            const task = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${(r.json() as { id: string }).id}` })).json() as { state: string };
            if (!['queued', 'running'].includes(task.state)) break;
            await new Promise((res) => setTimeout(res, 50));
          }
        }
        const after = await shape();
        if (after.size !== before.size) rbd('resize', '--allow-shrink', '--size', `${before.size}B`, `${pool.name}/keep`);
        const want = before.features.filter((f) => !['striping', 'data-pool', 'operations'].includes(f));
        const reset = await t.app.inject({ method: 'PATCH', url: `${base}/keep`, ...json({ features: want }) });
        expect([200, 202], reset.body).toContain(reset.statusCode);
        expect((await shape()).names.sort()).toEqual(before.names.sort());
      }), { numRuns: RUNS });
  });

  it('copy: arbitrary destinations and options; refused copies make nothing', async () => {
    let made = 0;
    await fc.assert(fc.asyncProperty(
      fc.record({
        destination: fc.oneof(anything, fc.record({ pool: fc.oneof(anything, fc.constant(pool.name)), namespace: anything, name: anything }, { requiredKeys: [] })),
        snapshots: anything, features: featureList, objectSize: anything, dataPool: anything,
      }, { requiredKeys: [] }),
      async (body) => {
        const before = (await new Images(conn).listNames(pool.name)).sort();
        const r = await t.app.inject({ method: 'POST', url: `${base}/other/copy`, ...json(body) });
        await check(`COPY ${JSON.stringify(body).slice(0, 200)}`, r.statusCode, r.body);
        if (r.statusCode >= 400) {
          expect((await new Images(conn).listNames(pool.name)).sort()).toEqual(before);
          return;
        }
        expect(r.statusCode).toBe(202);
        made++;
        // every accepted copy ends (a task that never does fails the property), and one that failed says why
        const { task } = await waitTask(t.app, (r.json() as { id: string }).id, 60_000);
        expect(['succeeded', 'failed'], JSON.stringify(task)).toContain(task.state);
        if (task.state === 'failed') expect(task.error?.code, JSON.stringify(task)).toMatch(/^[A-Z_]+$/);
      }), {
      numRuns: RUNS,
      // a valid copy among the arbitrary ones: the accepted path runs every time, not only when the generator hits it
      examples: [[{ destination: { name: 'fuzz-copy-ok' } }]],
    });
    expect(made).toBeGreaterThan(0);
    // no temporary copy is left behind
    expect(rbd('ls', pool.name).split('\n').filter((n) => n.startsWith('.rbdapi-copy-'))).toEqual([]);
  });

  it('namespaces PUT/DELETE: arbitrary names; refused creates change nothing', async () => {
    const ns = new Namespaces(conn);
    await fc.assert(fc.asyncProperty(text, async (n) => {
      fc.pre(addressable(n));
      const before = await ns.list(pool.name);
      const url = `/api/v1/pools/${pool.name}/namespaces/${seg(n)}`;
      const r = await t.app.inject({ method: 'PUT', url });
      await check(`PUT ns ${JSON.stringify(n)}`, r.statusCode, r.body);
      if (r.statusCode >= 400) expect(await ns.list(pool.name)).toEqual(before);
      else expect(await ns.list(pool.name)).toContain(n);
      const d = await t.app.inject({ method: 'DELETE', url });
      await check(`DELETE ns ${JSON.stringify(n)}`, d.statusCode, d.body);
      const g = await t.app.inject({ method: 'GET', url: `${url}/images` });
      await check(`GET ns images ${JSON.stringify(n)}`, g.statusCode, g.body);
    }), { numRuns: RUNS });
    expect(await ns.list(pool.name)).toEqual([]);
  });

  it('usage, iostat and config queries: arbitrary query strings', async () => {
    const q = fc.dictionary(fc.constantFrom('timeoutMs', 'exact', 'sortBy', 'x', ''), fc.oneof(text, fc.integer().map(String)), { maxKeys: 3 });
    await fc.assert(fc.asyncProperty(q, fc.constantFrom('keep/usage', 'keep/iostat', 'keep/config', 'keep/metadata', 'nope/usage'), async (query, path) => {
      const qs = new URLSearchParams(query).toString();
      const r = await t.app.inject({ method: 'GET', url: `${base}/${path}?${qs}` });
      await check(`GET ${path}?${qs}`, r.statusCode, r.body);
      const p = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/iostat?${qs}` });
      await check(`GET iostat?${qs}`, p.statusCode, p.body);
    }), { numRuns: RUNS });
  });
});
