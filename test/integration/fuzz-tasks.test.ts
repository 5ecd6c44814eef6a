// Fuzzing (fast-check) of the task and trash routes on the real cluster with the least-privilege key: ids,
// cursors, limits, states, durations, restore bodies, force flags. Never a 5xx, never a crash, and a rejected
// request changes nothing (the image and the trash stay as they were).
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { type TestApp } from '../helpers/app.js';
import { rbdCli } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'fuzzt', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;
let trashId: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

it.beforeAll(async ({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}`;
  await rbdCli('create', '--size', '1M', `${pool.name}/stay`);
  await rbdCli('create', '--size', '1M', `${pool.name}/kept`);
  trashId = (JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/kept`)) as { id: string }).id;
  const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/kept?keepFor=1y` });
  expect(r.statusCode).toBe(204);
});

const weird = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('..', '.', '%2e%2e', 'a/b', 'a@b', '%00', '\u0000', ' ', '-1', '1-2-3', '0-000000000-00000000x', 'x'.repeat(300),
    '٣', '🙂', '1-aaaaaaaaa-0000000g', '9999999999-zzzzzzzzz-ffffffff', `${'1'.repeat(10)}-aaaaaaaaa-00000000`),
);

async function unchanged(): Promise<void> {
  expect((await t.app.inject({ method: 'GET', url: `${base}/images/stay` })).statusCode).toBe(200);
  const e = await t.app.inject({ method: 'GET', url: `${base}/trash/${trashId}` });
  expect(e.statusCode).toBe(200);
}

describe('fuzz: task and trash routes', () => {
  it('task ids: GET, events and DELETE answer 400 or 404, never 5xx', async () => {
    await fc.assert(fc.asyncProperty(weird, async (id) => {
      // "", "." and ".." are dot segments: the URL is then /api/v1/tasks itself (the listing)
      if (['', '.', '..'].includes(id)) return;
      const enc = encodeURIComponent(id);
      for (const [method, url] of [['GET', `/api/v1/tasks/${enc}`], ['DELETE', `/api/v1/tasks/${enc}`], ['GET', `/api/v1/tasks/${enc}/events`]] as const) {
        const r = await t.app.inject({ method, url });
        expect([400, 404], `${method} ${url}: ${r.body}`).toContain(r.statusCode);
        expect(r.headers['content-type']).toContain('application/problem+json');
      }
    }), { numRuns: RUNS });
  });

  it('task listing query: 200, 400 or 404, never 5xx', async () => {
    const q = fc.record({
      pool: fc.option(fc.oneof(weird, fc.constant(pool.name)), { nil: undefined }),
      state: fc.option(fc.oneof(fc.constantFrom('queued', 'running', 'succeeded', 'failed', 'cancelled'), weird), { nil: undefined }),
      limit: fc.option(fc.oneof(fc.integer({ min: -5, max: 2000 }).map(String), weird), { nil: undefined }),
      cursor: fc.option(fc.oneof(weird, fc.constant('0000000000001.1-aaaaaaaaa-00000000')), { nil: undefined }),
    });
    await fc.assert(fc.asyncProperty(q, async (p) => {
      const qs = Object.entries(p).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?${qs}` });
      expect([200, 400, 403, 404], `${qs}: ${r.body}`).toContain(r.statusCode);
    }), { numRuns: RUNS });
  });

  it('trash ids, cursors, force flags and restore bodies: 4xx for the bad ones, nothing changes', async () => {
    await fc.assert(fc.asyncProperty(weird, fc.oneof(weird, fc.constantFrom('true', 'false', '1', 'TRUE')), fc.jsonValue(), async (id, force, body) => {
      const enc = encodeURIComponent(id);
      const reqs = [
        { method: 'GET' as const, url: `${base}/trash/${enc}` },
        { method: 'DELETE' as const, url: `${base}/trash/${enc}?force=${encodeURIComponent(force)}` },
        { method: 'POST' as const, url: `${base}/trash/${enc}/restore`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
        { method: 'GET' as const, url: `${base}/trash?cursor=${enc}&limit=${encodeURIComponent(force)}` },
        { method: 'DELETE' as const, url: `${base}/images/stay?keepFor=${enc}` },
      ];
      for (const req of reqs) {
        const r = await t.app.inject(req);
        expect(r.statusCode, `${req.method} ${req.url}: ${r.body}`).toBeLessThan(500);
        if (req.url.includes('keepFor') && r.statusCode === 204) {
          // a valid duration: put the image back for the next run
          const back = await t.app.inject({ method: 'POST', url: `${base}/trash/${String(r.headers['x-trash-id'])}/restore` });
          expect(back.statusCode).toBe(201);
        }
      }
    }), { numRuns: RUNS });
    await unchanged();
  });

  it('restore of the real entry with hostile names: 400, the entry stays', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(weird, fc.constantFrom('', '-a', '.a', 'a'.repeat(129), 'a b', 'ä')), async (name) => {
      const r = await t.app.inject({ method: 'POST', url: `${base}/trash/${trashId}/restore`, payload: JSON.stringify({ name }), headers: { 'content-type': 'application/json' } });
      if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
        // a valid name: restored; put it back in the trash for the next run
        expect(r.statusCode, r.body).toBe(201);
        const again = await t.app.inject({ method: 'DELETE', url: `${base}/images/${encodeURIComponent(name)}?keepFor=1y` });
        expect(again.statusCode).toBe(204);
        trashId = String(again.headers['x-trash-id']);
      } else {
        expect(r.statusCode, `${JSON.stringify(name)}: ${r.body}`).toBe(400);
      }
    }), { numRuns: RUNS });
    await unchanged();
  });

  it('trash routes on missing pools and namespaces: 404, never 5xx', async () => {
    for (const url of [`/api/v1/pools/nope-${Date.now()}/trash`, `${base}/namespaces/nope/trash`, `${base}/namespaces/nope/trash/abc`]) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode, r.body).toBe(404);
    }
    const p = await t.app.inject({ method: 'POST', url: `/api/v1/pools/nope-${Date.now()}/trash/purge` });
    expect(p.statusCode).toBe(404);
  });
});
