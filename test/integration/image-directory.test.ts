// Pages read straight from rbd_directory (src/ceph/image-directory.ts, GET …/images) held to rbd_list2 on
// the real cluster: the same names and ids, in byte order, for names of every shape (uppercase, UTF-8,
// names that look like directory keys); prefixes; cursors while images come and go; namespaces; missing
// pools and namespaces; an empty pool; total on request only; bad input → 400, never a 5xx.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { ImageDirectory, MAX_DIRECTORY_PAGE } from '../../src/ceph/image-directory.js';
import { Images } from '../../src/ceph/images.js';
import { clusterDir, makePool, uniqueName } from '../helpers/cluster.js';
import { testApp, type TestApp } from '../helpers/app.js';
import type { ImageSpec } from '../../src/ceph/image-info.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const it = usePoolApp({ prefix: 'dir', key: 'admin' });
let admin: CephConnection;
let images: Images;
let directory: ImageDirectory;
let t: TestApp;
let pool: TestPool;
let empty: { name: string; remove: () => Promise<void> };
const NS = 'tenant-a';

/** Names librbd accepts (the API validates only names it creates): case, UTF-8 of 1–4 bytes, key look-alikes. */
const SHAPES = [
  'A', 'B', 'Z', 'a', 'b', 'z', 'aa', 'aA', 'Aa', 'AA', '0', '00', '9', '9x', 'a.b', 'a-b', 'a_b', 'a b', ' lead',
  'name_', 'name_x', 'name', 'id_1234', 'state', 'é', 'e', 'f', 'éa', 'ä', '名前', '名', 'ｚ', '\u{1F600}', '\u{1F600}b',
  'x\u{10FFFF}', 'x\uFFFD', 'a\u{10FFFF}z', 'b\u0001', 'img-000', 'img-001', 'img-010', 'img-0100', 'IMG-002', 'Img-003', 'gold-1', 'GOLD-2', 'xgoldx',
  'q'.repeat(128), 'q'.repeat(127) + 'r',
];
/** byte order of the UTF-8 encodings (what the directory and rbd_list2's sorted answer mean by "sorted") */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const startsWithBytes = (s: string, p: string): boolean => Buffer.from(s, 'utf8').subarray(0, Buffer.byteLength(p)).equals(Buffer.from(p, 'utf8'));

async function rbdCli(...args: string[]): Promise<string> {
  const dir = clusterDir();
  const r = await run('rbd', ['-c', `${dir}/ceph.conf`, '--id', 'admin', '--keyring', `${dir}/ceph.client.admin.keyring`, ...args]);
  return r.stdout;
}

/** Every entry through pages of `limit` (the directory reader itself). */
async function allPages(spec: string, limit: number, prefix?: string): Promise<ImageSpec[]> {
  const out: ImageSpec[] = [];
  let after: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await directory.page(spec, { after, prefix, limit });
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    out.push(...page.entries);
    if (!page.more) return out;
    expect(page.entries.length).toBe(limit); // "more" is only set on a full page
    after = page.entries[page.entries.length - 1]!.name;
  }
  throw new Error('no end');
}

/** Every name through the HTTP route. */
async function allHttp(path: string, limit: number, extra = ''): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 10_000; guard++) {
    const q: string = `?limit=${limit}${extra}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await t.app.inject({ method: 'GET', url: `${path}${q}` });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as { items: { name: string }[]; nextCursor: string | null; total?: number };
    expect(body).not.toHaveProperty('total');
    out.push(...body.items.map((i) => i.name));
    cursor = body.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('no end');
}

/** rbd_list2's names and ids, in byte order. */
async function reference(spec: string): Promise<ImageSpec[]> {
  return (await images.listSpecs(spec)).sort((x, y) => byteOrder(x.name, y.name));
}

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; admin = c;
  images = new Images(admin);
  directory = new ImageDirectory(admin);
  empty = await makePool(admin, 'dir-empty');
  // shuffled creation order: the directory's order must not come from it
  const shuffled = [...SHAPES].sort(() => Math.random() - 0.5);
  for (let i = 0; i < shuffled.length; i += 8) {
    await Promise.all(shuffled.slice(i, i + 8).map((n) => images.create(pool.name, n, MiB)));
  }
  await rbdCli('namespace', 'create', `${pool.name}/${NS}`);
  await rbdCli('namespace', 'create', `${pool.name}/empty-ns`);
  // the namespace holds some names of the default namespace and some of its own
  for (const n of ['a', 'B', 'only-in-ns', 'é', 'name_x']) await images.create(`${pool.name}/${NS}`, n, MiB);
}, 120_000);

afterAll(async () => {
  for (const n of ['a', 'B', 'only-in-ns', 'é', 'name_x']) await images?.remove(`${pool.name}/${NS}`, n).catch(() => undefined);
  await rbdCli('namespace', 'remove', `${pool.name}/${NS}`).catch(() => undefined);
  await rbdCli('namespace', 'remove', `${pool.name}/empty-ns`).catch(() => undefined);
  await empty?.remove();
}, 120_000);

describe('pages from rbd_directory', () => {
  it('give exactly rbd_list2\'s names and ids, in byte order, for every page size', async () => {
    const ref = await reference(pool.name);
    expect(ref.map((s) => s.name)).toEqual([...SHAPES].sort(byteOrder));
    for (const limit of [1, 2, 3, 7, 10, 49, 50, 100, MAX_DIRECTORY_PAGE]) {
      expect(await allPages(pool.name, limit), `limit ${limit}`).toEqual(ref);
    }
  });

  it('the byte order puts uppercase before lowercase and sorts UTF-8 by bytes, not by UTF-16 units', async () => {
    const names = (await allPages(pool.name, 5)).map((e) => e.name);
    expect(names.indexOf('Z')).toBeLessThan(names.indexOf('a'));
    expect(names.indexOf('z')).toBeLessThan(names.indexOf('é'));
    // U+FFFD (3 bytes EF BF BD) sorts before U+10FFFF (4 bytes F4 …), although UTF-16 puts the surrogate first
    expect(names.indexOf('x\uFFFD')).toBeLessThan(names.indexOf('x\u{10FFFF}'));
    expect(names.indexOf('ｚ')).toBeLessThan(names.indexOf('\u{1F600}'));
  });

  it('the HTTP route pages the same names, total only on request', async () => {
    const ref = (await reference(pool.name)).map((s) => s.name);
    for (const limit of [1, 4, 13, 1000]) expect(await allHttp(`/api/v1/pools/${pool.name}/images`, limit), `limit ${limit}`).toEqual(ref);
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=3&total=true` });
    expect(r.json()).toMatchObject({ total: ref.length, items: ref.slice(0, 3).map((name) => ({ name })) });
    const all = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=1000` });
    expect(all.json()).toEqual({ items: ref.map((name) => ({ name })), nextCursor: null });
  });

  it('prefix= reads only matching names, byte for byte, across pages', async () => {
    const ref = (await reference(pool.name)).map((s) => s.name);
    // 'b': the read starts just below it ('a' then 0xFF), above 'a\u{10FFFF}z' (61 F4 8F BF BF 7A)
    for (const prefix of ['b', 'a\u{10FFFF}', 'a', 'A', 'img-0', 'img-01', 'name_', 'name', 'é', '名', '\u{1F600}', 'q', 'zzz-none', 'Z', 'x']) {
      const want = ref.filter((n) => startsWithBytes(n, prefix));
      for (const limit of [1, 2, 100]) {
        expect((await allPages(pool.name, limit, prefix)).map((e) => e.name), `prefix ${prefix} limit ${limit}`).toEqual(want);
      }
      expect(await allHttp(`/api/v1/pools/${pool.name}/images`, 2, `&prefix=${encodeURIComponent(prefix)}`), `http prefix ${prefix}`).toEqual(want);
      const counted = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=1&total=true&prefix=${encodeURIComponent(prefix)}` });
      expect(counted.json().total, `total prefix ${prefix}`).toBe(want.length);
    }
  });

  it('a cursor before the prefix jumps to it; a cursor past it ends the listing', async () => {
    const p1 = await directory.page(pool.name, { after: 'A', prefix: 'img-', limit: 2 });
    expect(p1.entries.map((e) => e.name)).toEqual(['img-000', 'img-001']);
    expect(p1.more).toBe(true);
    const p2 = await directory.page(pool.name, { after: 'img-0100', prefix: 'img-', limit: 2 });
    expect(p2).toEqual({ entries: [], more: false });
    const p3 = await directory.page(pool.name, { after: 'img-010', prefix: 'img-', limit: 1 });
    expect(p3.entries.map((e) => e.name)).toEqual(['img-0100']);
    expect(p3.more).toBe(false); // exact on the last page
  });

  it('search= is a case-insensitive substring, paged with cursors, total counts the matches', async () => {
    const ref = (await reference(pool.name)).map((s) => s.name);
    const want = ref.filter((n) => n.toLowerCase().includes('gold'));
    expect(want.length).toBe(3);
    for (const limit of [1, 2, 5]) expect(await allHttp(`/api/v1/pools/${pool.name}/images`, limit, '&search=GoLd'), `limit ${limit}`).toEqual(want);
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=2&search=gold&total=true` });
    expect(r.json()).toMatchObject({ total: 3, items: want.slice(0, 2).map((name) => ({ name })), nextCursor: expect.any(String) });
    const both = await allHttp(`/api/v1/pools/${pool.name}/images`, 1, '&search=img&prefix=I');
    expect(both).toEqual(ref.filter((n) => n.startsWith('I') && n.toLowerCase().includes('img')));
  });

  it('search and count read the directory in chunks: every chunk size gives the same pages and totals', async () => {
    const ref = (await reference(pool.name)).map((s) => s.name);
    for (const [needle, prefix] of [['a', undefined], ['GOLD', undefined], ['img', 'i'], ['\u{1F600}', undefined], ['zzz-none', undefined], ['a', 'a']] as const) {
      const want = ref.filter((n) => (prefix === undefined || n.startsWith(prefix)) && n.toLowerCase().includes(needle.toLowerCase()));
      for (const chunk of [1, 2, 3, 7, 1000]) {
        expect(await directory.count(pool.name, { search: needle, prefix }, chunk), `count ${needle} chunk ${chunk}`).toBe(want.length);
        for (const limit of [1, 2, 5]) {
          const got: string[] = [];
          let after: string | undefined;
          for (let guard = 0; guard < 100; guard++) {
            const page = await directory.search(pool.name, { search: needle, prefix, after, limit }, chunk);
            expect(page.entries.length).toBeLessThanOrEqual(limit);
            got.push(...page.entries.map((e) => e.name));
            if (!page.more) break;
            after = page.entries[page.entries.length - 1]!.name;
          }
          expect(got, `search ${needle} prefix ${prefix} chunk ${chunk} limit ${limit}`).toEqual(want);
        }
      }
    }
  }, 120_000);

  it('details=true describes the page with the directory\'s ids', async () => {
    const ref = await reference(pool.name);
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=7&details=true&prefix=a` });
    expect(r.statusCode).toBe(200);
    const want = ref.filter((s) => s.name.startsWith('a')).slice(0, 7);
    const body = r.json() as { items: { name: string; id: string; size: number; pool: string; blockNamePrefix: string }[] };
    expect(body.items.map((i) => [i.name, i.id])).toEqual(want.map((s) => [s.name, s.id]));
    for (const i of body.items) expect(i).toMatchObject({ size: MiB, pool: pool.name, blockNamePrefix: `rbd_data.${i.id}` });
  });
});

describe('the service\'s temporaries (a copy in progress)', () => {
  it('are neither listed nor counted; pages around them stay full and cursors exact', async () => {
    const tmp = await makePool(admin, 'dir-tmp');
    try {
      const names = ['-x', '.rbdapi-copy-0001', '.rbdapi-copy-0002', '.rbdapi-copy-0003', 'a', 'b', 'c'];
      for (const n of names) await images.create(tmp.name, n, MiB);
      const visible = ['-x', 'a', 'b', 'c'];
      expect((await reference(tmp.name)).map((s) => s.name)).toEqual(names); // rbd_list2 sees them all
      for (const limit of [1, 2, 3, 4, 10]) {
        expect((await allPages(tmp.name, limit)).map((e) => e.name), `limit ${limit}`).toEqual(visible);
        expect(await allHttp(`/api/v1/pools/${tmp.name}/images`, limit), `HTTP limit ${limit}`).toEqual(visible);
      }
      const first = await directory.page(tmp.name, { limit: 2 });
      expect(first).toMatchObject({ entries: [{ name: '-x' }, { name: 'a' }], more: true });
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${tmp.name}/images?limit=1&total=true` });
      expect(r.json()).toMatchObject({ total: 4, items: [{ name: '-x' }] });
      expect(await directory.count(tmp.name, { search: 'copy' })).toBe(0);
      expect(await allHttp(`/api/v1/pools/${tmp.name}/images`, 1, '&search=rbdapi')).toEqual([]);
      expect(await allHttp(`/api/v1/pools/${tmp.name}/images`, 1, '&prefix=.')).toEqual([]);
    } finally {
      await tmp.remove();
    }
  });
});

describe('with the least-privilege key (client.rbdapi: profile rbd)', () => {
  it('pages, prefix, search, total, details, and the full answer of a create work as with admin', async () => {
    const limited = await testApp('rbdapi');
    try {
      const ref = (await reference(pool.name)).map((s) => s.name);
      const base = `/api/v1/pools/${pool.name}/images`;
      const all = await limited.app.inject({ method: 'GET', url: `${base}?limit=1000&total=true` });
      expect(all.json()).toEqual({ items: ref.map((name) => ({ name })), total: ref.length, nextCursor: null });
      const pre = await limited.app.inject({ method: 'GET', url: `${base}?limit=3&prefix=img-&details=true` });
      expect(pre.json().items.map((i: { name: string; size: number }) => [i.name, i.size])).toEqual(ref.filter((n) => n.startsWith('img-')).slice(0, 3).map((n) => [n, MiB]));
      const found = await limited.app.inject({ method: 'GET', url: `${base}?search=GOLD` });
      expect(found.json().items.length).toBe(3);
      const put = await limited.app.inject({ method: 'PUT', url: `${base}/n-limited`, payload: { size: '1MiB' } });
      expect(put.statusCode, put.body).toBe(201);
      expect(put.json()).toEqual((await limited.app.inject({ method: 'GET', url: `${base}/n-limited` })).json());
      await images.remove(pool.name, 'n-limited');
    } finally {
      await limited.close();
    }
  });
});

describe('cursors under churn', () => {
  it('pages neither lose nor repeat images that exist throughout, while others are made and removed', async () => {
    const spec = pool.name;
    const stable = (await reference(spec)).map((s) => s.name);
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    const made: string[] = [];
    do {
      const q: string = `?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const body = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${spec}/images${q}` })).json() as { items: { name: string }[]; nextCursor: string | null };
      seen.push(...body.items.map((i) => i.name));
      cursor = body.nextCursor;
      // between pages: new names before the cursor, at it, and after it; remove one made earlier
      const last = seen[seen.length - 1] ?? '';
      const fresh = [`${last}-after-${round}`, `0churn-${round}`, `zz-churn-${round}`];
      for (const n of fresh) { await images.create(spec, n, MiB); made.push(n); }
      if (round % 2 === 1) { const gone = made.shift()!; await images.remove(spec, gone); }
      round++;
    } while (cursor && round < 100);
    expect(new Set(seen).size).toBe(seen.length); // nothing repeated
    expect(seen.filter((n) => stable.includes(n))).toEqual(stable); // nothing that stayed was lost, order kept
    expect([...seen].sort(byteOrder)).toEqual(seen); // the answer itself is in byte order
    for (const n of made) await images.remove(spec, n);
    expect((await reference(spec)).map((s) => s.name)).toEqual(stable);
  }, 120_000);
});

describe('namespaces, empty and missing pools', () => {
  it('a namespace pages its own directory, matching rbd_list2 there', async () => {
    const spec = `${pool.name}/${NS}`;
    const ref = await reference(spec);
    expect(ref.map((s) => s.name)).toEqual(['B', 'a', 'name_x', 'only-in-ns', 'é']);
    for (const limit of [1, 2, 10]) expect(await allPages(spec, limit)).toEqual(ref);
    expect(await allHttp(`/api/v1/pools/${pool.name}/namespaces/${NS}/images`, 2)).toEqual(ref.map((s) => s.name));
    expect((await allPages(spec, 10, 'o')).map((e) => e.name)).toEqual(['only-in-ns']);
    // its ids differ from the default namespace's images of the same name
    const dflt = await reference(pool.name);
    expect(ref.find((s) => s.name === 'a')!.id).not.toBe(dflt.find((s) => s.name === 'a')!.id);
    const details = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/${NS}/images?details=true&limit=2` });
    expect(details.json().items.map((i: { name: string; id: string }) => [i.name, i.id])).toEqual(ref.slice(0, 2).map((s) => [s.name, s.id]));
  });

  it('an empty pool and an empty namespace answer an empty page (no directory object), total 0', async () => {
    expect(await directory.page(empty.name, { limit: 10 })).toEqual({ entries: [], more: false });
    expect(await directory.page(`${pool.name}/empty-ns`, { limit: 10 })).toEqual({ entries: [], more: false });
    for (const url of [`/api/v1/pools/${empty.name}/images?total=true`, `/api/v1/pools/${pool.name}/namespaces/empty-ns/images?total=true&details=true`]) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.json()).toEqual({ items: [], total: 0, nextCursor: null });
    }
    expect(await images.listNames(empty.name)).toEqual([]);
  });

  it('a missing pool or namespace is a 404 with its own code', async () => {
    const cases: [string, string][] = [
      [`/api/v1/pools/${uniqueName('nopool')}/images`, 'POOL_NOT_FOUND'],
      [`/api/v1/pools/${uniqueName('nopool')}/images?prefix=a&total=true`, 'POOL_NOT_FOUND'],
      [`/api/v1/pools/${pool.name}/namespaces/no-such-ns/images`, 'NAMESPACE_NOT_FOUND'],
      [`/api/v1/pools/${pool.name}/namespaces/no-such-ns/images?search=a`, 'NAMESPACE_NOT_FOUND'],
    ];
    for (const [url, code] of cases) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().code, url).toBe(code);
    }
  });

  it('a namespace removed after it was listed is a 404, not an empty page', async () => {
    const ns = `gone-${Date.now().toString(36)}`;
    await rbdCli('namespace', 'create', `${pool.name}/${ns}`);
    const url = `/api/v1/pools/${pool.name}/namespaces/${ns}/images`;
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(200); // its I/O context is now cached
    await rbdCli('namespace', 'remove', `${pool.name}/${ns}`);
    const r = await t.app.inject({ method: 'GET', url });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('NAMESPACE_NOT_FOUND');
  });

  // removed by another client (the rbd CLI, another replica): the service learns it from the next OSD map. A
  // fresh-clone CI run once got one more 200 right after the removal — an OSD still on the older map served
  // the read — so the answer must become 404 within a few seconds, never a 5xx on the way
  it('a pool removed by another client after it was listed is a 404 (once the OSD map says so), never a 5xx', async () => {
    const gone = await makePool(admin, 'dir-gone');
    await images.create(gone.name, 'x', MiB);
    const url = `/api/v1/pools/${gone.name}/images`;
    expect((await t.app.inject({ method: 'GET', url })).json().items).toEqual([{ name: 'x' }]);
    await gone.remove();
    const end = Date.now() + 10_000;
    let r = await t.app.inject({ method: 'GET', url });
    while (r.statusCode === 200 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 100));
      r = await t.app.inject({ method: 'GET', url });
    }
    expect(r.statusCode, r.body).toBe(404);
    expect(r.json().code).toBe('POOL_NOT_FOUND');
  });
});

describe('bad input', () => {
  it('answers 400 VALIDATION_FAILED, never a 5xx', async () => {
    const base = `/api/v1/pools/${pool.name}/images`;
    const nulCursor = Buffer.from('v1:a\0b', 'utf8').toString('base64url');
    const bad = [
      '?cursor=!!!', '?cursor=', '?cursor=djE', `?cursor=${nulCursor}`, `?cursor=${'A'.repeat(9000)}`,
      '?prefix=%00', `?prefix=${'p'.repeat(257)}`, '?limit=0', '?limit=1001', '?limit=abc', '?limit=1.5',
      '?total=maybe', '?total=2', '?details=yes', '?search=' + 's'.repeat(257), '?unknown=1',
    ];
    for (const q of bad) {
      const r = await t.app.inject({ method: 'GET', url: base + q });
      expect(r.statusCode, q).toBe(400);
      expect(r.json().code, q).toBe('VALIDATION_FAILED');
    }
    // odd but valid: answered
    // booleans take true/false/1/0
    for (const q of ['?total=1', '?details=0', '?prefix=', '?search=', '?prefix=%F0%9F%98%80', '?prefix=%25', '?search=%00x', `?cursor=${Buffer.from('v1:\u{10FFFF}').toString('base64url')}`]) {
      const r = await t.app.inject({ method: 'GET', url: base + q });
      expect(r.statusCode, q).toBe(200);
    }
  });

  it('the reader refuses page sizes the OSD would cut, and NUL in what reaches C', async () => {
    for (const limit of [0, -1, 1.5, MAX_DIRECTORY_PAGE + 1]) {
      await expect(directory.page(pool.name, { limit })).rejects.toMatchObject({ code: 'EINVAL' });
    }
    await expect(directory.page(pool.name, { limit: 1, prefix: 'a\0' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(directory.page(pool.name, { limit: 1, after: 'a\0' })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('the representation of a new image without opening it (describeNew)', () => {
  const KiB = 1024;
  /** name → [size, options]: every shape the API can create */
  const NEW: Record<string, [number, Parameters<Images['create']>[3]]> = {
    'n-default': [MiB, {}],
    'n-zero': [0, {}],
    'n-odd': [4 * MiB + 1, {}],
    'n-no-features': [10 * MiB, { features: 0n }],
    'n-layering': [10 * MiB, { features: 1n }],
    'n-order-12': [5 * 4096 + 7, { order: 12 }],
    'n-striped': [3 * 256 * KiB + 5, { features: 1n | 2n, stripeUnit: 64 * KiB, stripeCount: 4 }],
    'n-journaling': [8 * MiB, { features: 1n | 4n | 64n }],
  };

  it('matches the open path (rbd_open_read_only + rbd_stat & co.) field for field, default and namespace', async () => {
    for (const spec of [pool.name, `${pool.name}/${NS}`]) {
      for (const [name, [size, opts]] of Object.entries(NEW)) {
        const described = await images.createDescribed(spec, name, size, opts);
        const opened = await images.stat(spec, name);
        expect(described, `${spec}/${name}`).toEqual(opened);
        expect(described.watchers).toEqual([]);
      }
      const withDataPool = await images.createDescribed(spec, 'n-data-pool', MiB, { dataPool: empty.name });
      expect(withDataPool).toEqual(await images.stat(spec, 'n-data-pool'));
      expect(withDataPool.dataPool).toBe(empty.name);
      for (const name of [...Object.keys(NEW), 'n-data-pool']) await images.remove(spec, name);
    }
  });

  it('never opens the image: one id read and one header read after rbd_create4', async () => {
    const { observeCephCalls } = await import('../../src/ceph/process.js');
    const calls: string[] = [];
    // the observer sees every Ceph call of this process: the app's task scans and schedule ticks stop meanwhile
    // (a CI run counted one of them: rados_pool_list and three omap reads)
    await t.ceph.schedules.stop();
    await t.ceph.tasks.stop();
    observeCephCalls((op) => calls.push(op));
    try {
      await images.createDescribed(pool.name, 'n-counted', MiB);
    } finally {
      observeCephCalls(undefined);
      t.ceph.tasks.start();
      t.ceph.schedules.start();
    }
    expect(calls.filter((c) => c.startsWith('rbd_open'))).toEqual([]);
    expect(calls).toEqual(['rbd_create4', 'rados_read_op_operate', 'rados_read_op_operate']);
    await images.remove(pool.name, 'n-counted');
  });

  it('imageId reads the id a listing gives; describeNew takes it instead of reading it again', async () => {
    await images.create(pool.name, 'n-id', MiB);
    const id = await images.imageId(pool.name, 'n-id');
    expect(id).toBe((await reference(pool.name)).find((s) => s.name === 'n-id')!.id);
    expect(await images.describeNew(pool.name, 'n-id', id)).toEqual(await images.describeNew(pool.name, 'n-id'));
    expect(await images.imageId(pool.name, 'no-such-image')).toBeUndefined();
    expect(await images.imageId(pool.name, '')).toBeUndefined();
    await images.remove(pool.name, 'n-id');
  });

  it('PUT and POST answer the same image GET does', async () => {
    const base = `/api/v1/pools/${pool.name}/namespaces/${NS}/images`;
    const post = await t.app.inject({ method: 'POST', url: base, payload: { name: 'n-post', size: '3MiB', objectSize: '1MiB' } });
    expect(post.statusCode, post.body).toBe(201);
    const put = await t.app.inject({ method: 'PUT', url: `${base}/n-put`, payload: { size: '5MiB', features: ['layering'] } });
    expect(put.statusCode, put.body).toBe(201);
    for (const [name, r] of [['n-post', post], ['n-put', put]] as const) {
      const got = await t.app.inject({ method: 'GET', url: `${base}/${name}` });
      expect(r.json(), name).toEqual(got.json());
      expect(r.headers.location).toBe(`${base}/${name}`);
      await images.remove(`${pool.name}/${NS}`, name);
    }
  });
});
