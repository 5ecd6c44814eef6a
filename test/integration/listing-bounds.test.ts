// Issue 21 item 5 (functional part): an image's metadata is capped (keys and bytes: 409
// METADATA_LIMIT_EXCEEDED, nothing changed), and every listing page is bounded in bytes as well as items — a
// page cut by bytes carries a cursor after its last item, and walking the pages lists every item exactly once.
// Metadata "written outside the API" (beyond the limits, as the rbd CLI can) is put straight into the image
// header's omap, as librbd stores it (key metadata_<key>, the value's bytes).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { METADATA_MAX_BYTES, METADATA_MAX_KEYS } from '../../src/ceph/metadata.js';
import { omapSet } from '../../src/ceph/tasks/omap.js';
import { PAGE_BYTES } from '../../src/http/page-bytes.js';
import { json, type TestApp } from '../helpers/app.js';
import { clusterDir } from '../helpers/cluster.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'bounds', key: 'rbdapi' });
let t: TestApp;
let conn: CephConnection;
let pool: TestPool;
let base: string;

it.beforeAll(({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  base = `/api/v1/pools/${pool.name}/images`;
});

async function makeImage(name: string): Promise<void> {
  const r = await t.app.inject({ method: 'POST', url: base, ...json({ name, size: '4MiB' }) });
  expect(r.statusCode, r.body).toBe(201);
}

/** Metadata as the rbd CLI would write it, without the API's limits: straight into the header's omap. */
async function rawMetadata(image: string, pairs: [string, string][]): Promise<void> {
  const { id } = (await t.app.inject({ method: 'GET', url: `${base}/${image}` })).json() as { id: string };
  await conn.withIoctx(pool.name, (io) => io.use('test_omap_set', async (p) => {
    for (let i = 0; i < pairs.length; i += 100) {
      await omapSet(p, `rbd_header.${id}`, pairs.slice(i, i + 100).map(([k, v]) => ({ key: `metadata_${k}`, value: v })));
    }
  }));
}

/** Every page of a listing from `first`, following `next` (a Link header or nextCursor); each page's body size checked. */
async function walk<T>(first: string, items: (body: unknown) => T[], next: (r: { headers: Record<string, unknown>; body: unknown }, url: string) => string | undefined) {
  const all: T[] = [];
  const sizes: number[] = [];
  for (let url: string | undefined = first; url !== undefined;) {
    const r = await t.app.inject({ method: 'GET', url });
    expect(r.statusCode, r.body.slice(0, 300)).toBe(200);
    sizes.push(Buffer.byteLength(r.body));
    expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(PAGE_BYTES);
    const body = r.json() as unknown;
    all.push(...items(body));
    url = next({ headers: r.headers, body }, url);
    expect(sizes.length).toBeLessThan(1000);
  }
  return { all, sizes };
}

const linkNext = (r: { headers: Record<string, unknown> }): string | undefined => {
  const link = r.headers.link as string | undefined;
  return link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
};

describe('metadata per image is capped', () => {
  it(`more than ${METADATA_MAX_KEYS} keys: 409 METADATA_LIMIT_EXCEEDED (limit keys), nothing changed; replacing and deleting still work`, async () => {
    await makeImage('keys');
    await rawMetadata('keys', Array.from({ length: METADATA_MAX_KEYS - 1 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 'v']));
    expect((await t.app.inject({ method: 'PUT', url: `${base}/keys/metadata/last`, ...json({ value: 'fits' }) })).statusCode).toBe(201);
    const refused = await t.app.inject({ method: 'PUT', url: `${base}/keys/metadata/one-more`, ...json({ value: 'x' }) });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json()).toMatchObject({ code: 'METADATA_LIMIT_EXCEEDED', limit: 'keys', maxKeys: METADATA_MAX_KEYS, maxBytes: METADATA_MAX_BYTES });
    expect(refused.json().detail).toContain(String(METADATA_MAX_KEYS));
    expect((await t.app.inject({ method: 'GET', url: `${base}/keys/metadata/one-more` })).statusCode).toBe(404);
    expect(() => rbd('image-meta', 'get', `${pool.name}/keys`, 'one-more')).toThrow();
    // the whole metadata is one page: every key, no Link
    const all = await t.app.inject({ method: 'GET', url: `${base}/keys/metadata` });
    expect(all.headers.link).toBeUndefined();
    expect(Object.keys(all.json())).toHaveLength(METADATA_MAX_KEYS);
    // replacing a key keeps the count: allowed; after a delete there is room for one
    expect((await t.app.inject({ method: 'PUT', url: `${base}/keys/metadata/k0000`, ...json({ value: 'new' }) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/keys/metadata/k0001` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/keys/metadata/one-more`, ...json({ value: 'x' }) })).statusCode).toBe(201);
  });

  it(`more than ${METADATA_MAX_BYTES} bytes: 409 (limit bytes), nothing changed; an image at the limit lists in one page`, async () => {
    await makeImage('bytes');
    const big = 'b'.repeat(16000);
    let i = 0;
    let refused;
    for (; i < 100; i++) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/bytes/metadata/v${String(i).padStart(3, '0')}`, ...json({ value: big }) });
      if (r.statusCode === 409) { refused = r; break; }
      expect(r.statusCode, r.body).toBe(201);
    }
    expect(refused?.json()).toMatchObject({ code: 'METADATA_LIMIT_EXCEEDED', limit: 'bytes', maxBytes: METADATA_MAX_BYTES });
    expect(i).toBe(Math.floor((METADATA_MAX_BYTES - 2) / (JSON.stringify('v000').length + 1 + big.length + 2 + 1)));
    expect(() => rbd('image-meta', 'get', `${pool.name}/bytes`, `v${String(i).padStart(3, '0')}`)).toThrow();
    // fill up to 10 bytes below the limit: the image lists in one answer of exactly that size
    const room = METADATA_MAX_BYTES - Buffer.byteLength((await t.app.inject({ method: 'GET', url: `${base}/bytes/metadata` })).body);
    const pad = 'p'.repeat(room - ',"pad":""'.length - 10);
    expect((await t.app.inject({ method: 'PUT', url: `${base}/bytes/metadata/pad`, ...json({ value: pad }) })).statusCode).toBe(201);
    const before = await t.app.inject({ method: 'GET', url: `${base}/bytes/metadata` });
    expect(before.headers.link).toBeUndefined();
    expect(Object.keys(before.json())).toHaveLength(i + 1);
    expect(Buffer.byteLength(before.body)).toBe(METADATA_MAX_BYTES - 10);
    // a value made longer past the limit is refused and left as it was
    const grow = await t.app.inject({ method: 'PUT', url: `${base}/bytes/metadata/v000`, ...json({ value: `${big}${'x'.repeat(11)}` }) });
    expect(grow.statusCode).toBe(409);
    expect(rbd('image-meta', 'get', `${pool.name}/bytes`, 'v000').trim()).toBe(big);
    expect((await t.app.inject({ method: 'GET', url: `${base}/bytes/metadata` })).body).toBe(before.body);
  });

  it('bytes count as GET …/metadata answers them: a control character takes 6 (\\u0001)', async () => {
    await makeImage('esc');
    const statuses: number[] = [];
    for (let i = 0; i < 18; i++) {
      statuses.push((await t.app.inject({ method: 'PUT', url: `${base}/esc/metadata/e${String(i).padStart(3, '0')}`, ...json({ value: '\u0001'.repeat(10000) }) })).statusCode);
    }
    expect(statuses).toEqual([...Array(17).fill(201), 409]); // 17 × 60 KB of JSON fit in 1 MiB, 18 do not
    const all = await t.app.inject({ method: 'GET', url: `${base}/esc/metadata` });
    expect(Object.keys(all.json())).toHaveLength(17);
    expect(Buffer.byteLength(all.body)).toBeLessThanOrEqual(METADATA_MAX_BYTES);
  });
});

describe('metadata pages are bounded in bytes', () => {
  it('1,600 values of 16 KB written outside the API: pages of at most 1 MiB, Link to the next, every key once', async () => {
    await makeImage('legacy');
    const pairs: [string, string][] = Array.from({ length: 1600 }, (_, i) => [`key${String(i).padStart(5, '0')}`, `${i}:`.padEnd(16000, 'v')]);
    await rawMetadata('legacy', pairs);
    expect((await t.app.inject({ method: 'GET', url: `${base}/legacy/metadata/key01599` })).json().value).toBe(pairs[1599]![1]);
    const t0 = performance.now();
    const { all, sizes } = await walk(`${base}/legacy/metadata?limit=1000`, (b) => Object.entries(b as Record<string, string>), linkNext);
    console.log(`${sizes.length} pages in ${Math.round(performance.now() - t0)} ms`);
    expect(sizes.length).toBeGreaterThanOrEqual(25); // 25.6 MB in pages of at most 1 MiB
    expect(all).toEqual(pairs); // in key order, none lost or repeated
    // a smaller limit pages by keys; a PUT on an image past the limits is refused, DELETE works
    const small = await walk(`${base}/legacy/metadata?limit=97`, (b) => Object.keys(b as Record<string, string>), linkNext);
    expect(small.all).toEqual(pairs.map(([k]) => k));
    expect((await t.app.inject({ method: 'PUT', url: `${base}/legacy/metadata/key00000`, ...json({ value: 'short' }) })).statusCode).toBe(409);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/legacy/metadata/key00000` })).statusCode).toBe(204);
  });

  it('a value larger than a page (written outside the API): the page before it ends there; it is 409 METADATA_TOO_LARGE', async () => {
    await makeImage('huge');
    await rawMetadata('huge', [['a', 'small'], ['b', 'x'.repeat(2 * 1024 * 1024)], ['c', 'after']]);
    const first = await t.app.inject({ method: 'GET', url: `${base}/huge/metadata` });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ a: 'small' });
    const next = linkNext(first)!;
    const r = await t.app.inject({ method: 'GET', url: next });
    expect(r.statusCode, r.body).toBe(409);
    expect(r.json().code).toBe('METADATA_TOO_LARGE');
    const one = await t.app.inject({ method: 'GET', url: `${base}/huge/metadata/b` });
    expect(one.statusCode).toBe(409);
    expect(one.json()).toMatchObject({ code: 'METADATA_TOO_LARGE', key: 'b' });
  });

  it('bad cursors and limits are 400', async () => {
    for (const q of ['cursor=nope!', `cursor=${Buffer.from('x').toString('base64url')}`, 'limit=0', `limit=${METADATA_MAX_KEYS + 1}`, 'other=1']) {
      const r = await t.app.inject({ method: 'GET', url: `${base}/legacy/metadata?${q}` });
      expect(r.statusCode, q).toBe(400);
    }
  });
});

describe('other listings are bounded in bytes', () => {
  it('image names of 1,200 characters: pages of at most 1 MiB (names and details), every image once', async () => {
    const prefix = `n${'x'.repeat(1200)}-`;
    if (!existsSync('bench/rbdbench')) execFileSync('gcc', ['-O2', '-o', 'bench/rbdbench', 'bench/rbdbench.c', '-lrbd', '-lrados', '-lpthread']);
    execFileSync('bench/rbdbench', ['-c', `${clusterDir()}/ceph.conf`, '-p', pool.name, '-N', '1000', '-t', '16', '-x', 'create',
      '-s', '1048576', '-P', prefix], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    const expected = Array.from({ length: 1000 }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
    const nextCursor = (r: { body: unknown }) => {
      const c = (r.body as { nextCursor: string | null }).nextCursor;
      return c === null ? undefined : `${base}?limit=1000&prefix=n&cursor=${c}`;
    };
    for (const details of [false, true]) {
      const first = `${base}?limit=1000&prefix=n${details ? '&details=true' : ''}`;
      const { all, sizes } = await walk(first, (b) => (b as { items: { name: string; size?: number }[] }).items,
        (r) => { const n = nextCursor(r); return n && (details ? `${n}&details=true` : n); });
      expect(sizes.length).toBe(2); // 1.2 MB of names: cut by bytes, not by limit
      expect(all.map((i) => i.name)).toEqual(expected);
      if (details) expect(all.every((i) => i.size === 1048576)).toBe(true);
    }
  }, 300_000);

  it('snapshots and children page with limit and cursor: every one once', async () => {
    await makeImage('snaps');
    for (let i = 0; i < 5; i++) {
      expect((await t.app.inject({ method: 'PUT', url: `${base}/snaps/snapshots/s${i}` })).statusCode).toBe(201);
    }
    for (const [i, snap] of [[0, 's1'], [1, 's1'], [2, 's3']] as const) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/clone${i}`, ...json({ size: '4MiB', source: { image: 'snaps', snapshot: snap } }) });
      expect(r.statusCode, r.body).toBe(201);
    }
    const next = (path: string) => (r: { body: unknown }) => {
      const c = (r.body as { nextCursor?: string }).nextCursor;
      return c === undefined ? undefined : `${base}/snaps/${path}?limit=2&cursor=${c}`;
    };
    const snaps = await walk(`${base}/snaps/snapshots?limit=2`, (b) => (b as { items: { name: string }[] }).items.map((s) => s.name), next('snapshots'));
    expect(snaps.all).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(snaps.sizes).toHaveLength(3);
    const children = await walk(`${base}/snaps/children?limit=2`, (b) => (b as { items: { image: string; snapshot: string }[] }).items.map((c) => `${c.snapshot}:${c.image}`), next('children'));
    expect(children.all).toEqual(['s1:clone0', 's1:clone1', 's3:clone2']);
    const whole = (await t.app.inject({ method: 'GET', url: `${base}/snaps/snapshots` })).json();
    expect(whole.items).toHaveLength(5);
    expect(whole.nextCursor).toBeUndefined();
    for (const url of [`${base}/snaps/snapshots?cursor=x`, `${base}/snaps/children?cursor=${Buffer.from('v1:[1]').toString('base64url')}`]) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    }
  });
});
