// Item 1 of the robustness issue: a pool delete without `force` never destroys an image whose create was
// acknowledged — not by this instance, not by another replica. Two app instances (two Ceph clients, as two
// replicas): one deletes the pool without force while the other answers 40 creates spread over the delete.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { uniqueName } from '../helpers/cluster.js';
import { cephSync as ceph, rbdSync as rbd } from '../helpers/cli.js';

let a: TestApp; // deletes pools
let b: TestApp; // creates images (another replica)
const pools: string[] = [];

beforeAll(async () => {
  a = await testApp('rbdapi-pools');
  b = await testApp('rbdapi-pools');
});
afterAll(async () => {
  for (const p of pools) await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${p}?confirm=${p}&force=true` });
  await a.close();
  await b.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const poolExists = (p: string) => ceph('osd', 'pool', 'ls').split('\n').includes(p);
/** The images of a pool spec that `rbd ls --long` could open (it leaves out, with an error, any it cannot): one
 * CLI run for a round's acknowledged images instead of one `rbd info` each. */
const openable = (spec: string) => new Set((JSON.parse(rbd('ls', '--long', '--format', 'json', spec)) as { image: string }[]).map((i) => i.image));

async function makePool(): Promise<string> {
  const name = uniqueName('race-pd');
  const r = await a.app.inject({ method: 'POST', url: '/api/v1/pools', ...json({ name, pgNum: 8 }) });
  expect(r.statusCode).toBe(201);
  pools.push(name);
  return name;
}

const DOCUMENTED_CREATE = new Set([200, 201, 404, 409, 503, 504]);

describe('pool delete without force vs concurrent creates', () => {
  it('never deletes an acknowledged image (rounds of DELETE vs 40 creates, other replica)', async () => {
    const rounds = 8;
    let deletedRounds = 0;
    let refusedRounds = 0;
    let acknowledged = 0;
    const lost: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const pool = await makePool();
      // warm both instances' I/O contexts on the new pool, as a running service has them
      await b.app.inject({ method: 'GET', url: `/api/v1/pools/${pool}/images?limit=1` });
      const creates = Array.from({ length: 40 }, async (_, i) => {
        // the delete starts first; the creates start at a different moment of its run each round (its
        // emptiness check, the mon's delete), 1 ms apart, so some land in the check-then-delete window
        // even rounds: a quarter of the creates start with the delete (some are acknowledged before its marker,
        // so the race really happens on a fast machine too); the rest spread over the delete's work
        await sleep(round % 2 === 0 && i % 4 === 0 ? 0 : (round % 2 === 0 ? 12 : round % 4) + i * 5);
        const r = await b.app.inject({
          method: 'POST', url: `/api/v1/pools/${pool}/images`,
          payload: JSON.stringify({ name: `v${i}`, size: '1MiB' }),
          headers: { 'content-type': 'application/json', prefer: 'return=minimal' },
        });
        return { name: `v${i}`, status: r.statusCode, code: r.statusCode >= 400 ? r.json().code as string : undefined };
      });
      const del = a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
      const [d, ...results] = await Promise.all([del, ...creates]);
      for (const r of results) expect(DOCUMENTED_CREATE.has(r.status), `create ${r.name}: ${r.status} ${r.code}`).toBe(true);
      expect([204, 409]).toContain(d.statusCode);
      const ok = results.filter((r) => r.status === 201);
      acknowledged += ok.length;
      if (d.statusCode === 204) {
        deletedRounds++;
        expect(poolExists(pool)).toBe(false);
        // the pool is gone: then no create may have been acknowledged
        if (ok.length > 0) lost.push(`round ${round}: ${ok.length} acknowledged image(s) deleted without force`);
      } else {
        refusedRounds++;
        expect(d.json().code).toMatch(/^(POOL_NOT_EMPTY|POOL_BEING_DELETED)$/);
        // every acknowledged image is there, whole
        const listed = new Set(rbd('ls', pool).split('\n').filter(Boolean));
        const whole = openable(pool);
        for (const r of ok) {
          expect(listed.has(r.name), `round ${round}: ${r.name} acknowledged but missing`).toBe(true);
          expect(whole.has(r.name), `round ${round}: ${r.name} acknowledged but does not open`).toBe(true);
        }
        // refused creates left nothing behind
        for (const r of results.filter((x) => x.status !== 201)) expect(listed.has(r.name)).toBe(false);
      }
    }
    console.log(`rounds: deleted ${deletedRounds}, refused ${refusedRounds}, acknowledged ${acknowledged}; ${lost.join('; ')}`);
    expect(lost).toEqual([]);
    // the race was really run: creates were acknowledged, and deletes both went through and were refused
    expect(acknowledged).toBeGreaterThan(0);
    expect(deletedRounds).toBeGreaterThan(0);
    expect(deletedRounds + refusedRounds).toBe(rounds);
  }, 300_000);

  it('the same with PUTs and creates in a namespace mixed in (rounds of DELETE vs 40 POST/PUT)', async () => {
    const lost: string[] = [];
    let acknowledged = 0;
    let deleted = 0;
    for (let round = 0; round < 6; round++) {
      const pool = await makePool();
      rbd('namespace', 'create', `${pool}/ns1`);
      await b.app.inject({ method: 'GET', url: `/api/v1/pools/${pool}/namespaces/ns1/images?limit=1` });
      const creates = Array.from({ length: 40 }, async (_, i) => {
        // even rounds: a quarter of the creates start with the delete (some are acknowledged before its marker,
        // so the race really happens on a fast machine too); the rest spread over the delete's work
        await sleep(round % 2 === 0 && i % 4 === 0 ? 0 : (round % 2 === 0 ? 12 : round % 4) + i * 5);
        const scope = i % 2 === 0 ? `/api/v1/pools/${pool}` : `/api/v1/pools/${pool}/namespaces/ns1`;
        const r = i % 4 < 2
          ? await b.app.inject({ method: 'POST', url: `${scope}/images`, ...json({ name: `m${i}`, size: '1MiB' }) })
          : await b.app.inject({ method: 'PUT', url: `${scope}/images/m${i}`, ...json({ size: '1MiB' }) });
        return { spec: i % 2 === 0 ? pool : `${pool}/ns1`, name: `m${i}`, status: r.statusCode };
      });
      const [d, ...results] = await Promise.all([a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` }), ...creates]);
      for (const r of results) expect(DOCUMENTED_CREATE.has(r.status), `${r.name}: ${r.status}`).toBe(true);
      const ok = results.filter((r) => r.status === 200 || r.status === 201);
      acknowledged += ok.length;
      if (d.statusCode === 204) {
        deleted++;
        if (ok.length > 0) lost.push(`round ${round}: ${ok.length} acknowledged`);
      } else {
        expect(d.statusCode).toBe(409);
        const whole = new Map([pool, `${pool}/ns1`].map((spec) => [spec, openable(spec)]));
        for (const r of ok) expect(whole.get(r.spec)!.has(r.name), `round ${round}: ${r.spec}/${r.name} acknowledged but does not open`).toBe(true);
      }
    }
    console.log(`mixed: deleted ${deleted} of 6, acknowledged ${acknowledged}`);
    expect(lost).toEqual([]);
    expect(acknowledged).toBeGreaterThan(0);
  }, 300_000);

  it('the marker is removed when the delete is refused: creates work again at once', async () => {
    const pool = await makePool();
    expect((await b.app.inject({ method: 'POST', url: `/api/v1/pools/${pool}/images`, ...json({ name: 'keep', size: '1MiB' }) })).statusCode).toBe(201);
    const d = await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
    expect(d.statusCode).toBe(409);
    expect(d.json()).toMatchObject({ code: 'POOL_NOT_EMPTY', imageCount: 1 });
    expect((await b.app.inject({ method: 'POST', url: `/api/v1/pools/${pool}/images`, ...json({ name: 'next', size: '1MiB' }) })).statusCode).toBe(201);
    const put = await b.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool}/images/keep`, ...json({ size: '1MiB' }) });
    expect(put.statusCode).toBe(200);
  });

  it('an image in the trash, or in a namespace, makes the pool not empty', async () => {
    const pool = await makePool();
    rbd('create', '--size', '1M', `${pool}/t1`);
    rbd('trash', 'mv', `${pool}/t1`);
    let d = await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
    expect(d.statusCode).toBe(409);
    expect(d.json()).toMatchObject({ code: 'POOL_NOT_EMPTY', hasTrash: true, hasImages: false });
    rbd('trash', 'purge', pool);
    rbd('namespace', 'create', `${pool}/ns1`);
    rbd('create', '--size', '1M', `${pool}/ns1/i1`);
    d = await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
    expect(d.statusCode).toBe(409);
    expect(d.json()).toMatchObject({ code: 'POOL_NOT_EMPTY', hasImages: true });
    expect(d.json().detail).toContain('ns1');
    rbd('rm', `${pool}/ns1/i1`);
    d = await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
    expect(d.statusCode).toBe(204);
    expect(poolExists(pool)).toBe(false);
  });

  it('a create while a delete holds the marker is refused with 409 POOL_BEING_DELETED and leaves nothing', async () => {
    const pool = await makePool();
    const owner = await a.ceph.pools.guard.begin(pool);
    try {
      const r = await b.app.inject({ method: 'POST', url: `/api/v1/pools/${pool}/images`, ...json({ name: 'late', size: '1MiB' }) });
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('POOL_BEING_DELETED');
      const p = await b.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool}/images/late2`, ...json({ size: '1MiB' }) });
      expect(p.json().code).toBe('POOL_BEING_DELETED');
      expect(rbd('ls', pool).trim()).toBe('');
      // a second delete meanwhile: 409 POOL_BEING_DELETED, not a second deleter
      const d2 = await b.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}` });
      expect(d2.statusCode).toBe(409);
      expect(d2.json().code).toBe('POOL_BEING_DELETED');
    } finally {
      await a.ceph.pools.guard.end(pool, owner);
    }
    expect((await b.app.inject({ method: 'POST', url: `/api/v1/pools/${pool}/images`, ...json({ name: 'late', size: '1MiB' }) })).statusCode).toBe(201);
  });

  it('force=true still deletes a pool with images', async () => {
    const pool = await makePool();
    await b.app.inject({ method: 'POST', url: `/api/v1/pools/${pool}/images`, ...json({ name: 'x', size: '1MiB' }) });
    const d = await a.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool}?confirm=${pool}&force=true` });
    expect(d.statusCode).toBe(204);
    expect(poolExists(pool)).toBe(false);
  });
});
