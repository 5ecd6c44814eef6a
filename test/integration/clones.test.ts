// Clones through POST/PUT /images with `source`, parent in every image representation, GET …/children,
// on the real cluster; data read through clones compared byte for byte with what was written to the parent.
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { makePool } from '../helpers/cluster.js';
import { exportImage, importRandom, radosCli, rbdCli } from '../helpers/cli.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Images } from '../../src/ceph/images.js';
import { TokenStore } from '../../src/http/auth.js';
import { waitTask } from '../helpers/wait-task.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const it = usePoolApp({ prefix: 'clone', key: 'rbdapi' });
let t: TestApp;
let admin: CephConnection;
let images: Images;
let pool: TestPool;
let other: { name: string; remove: () => Promise<void> };
let base: string;
let pattern: Buffer;
const MiB = 1024 * 1024;

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; admin = c;
  images = new Images(admin);
  other = await makePool(admin, 'clone-other');
  base = `/api/v1/pools/${pool.name}/images`;
  pattern = await importRandom(pool.name, 'golden', 12 * MiB + 4096);
  await t.app.inject({ method: 'PUT', url: `${base}/golden/snapshots/v1` });
});
afterAll(async () => {
  // clones first (a parent with clone-v2 children cannot go), then the pools
  await other.remove();
});

const put = (name: string, body: unknown, b = base) => t.app.inject({ method: 'PUT', url: `${b}/${name}`, ...json(body) });
const golden = { image: 'golden', snapshot: 'v1' };
/** a new clone's 201 answer (read from its header, not by opening it) equals GET's (an open), field by field */
const answersAsGet = async (r: { json: () => unknown }, url: string): Promise<void> => {
  const got = await t.app.inject({ method: 'GET', url });
  expect(got.statusCode, got.body).toBe(200);
  expect(r.json()).toEqual(got.json());
};

describe('clone by PUT / POST', () => {
  it('PUT with source: 201, the image is a clone (parent, format 2) that reads the parent\'s data byte for byte', async () => {
    const opens = async (): Promise<number> => {
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/rbdapi_ceph_call_duration_seconds_count\{op="rbd_open_read_only",result="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const opensBefore = await opens();
    const r = await put('c1', { source: golden });
    expect(await opens()).toBe(opensBefore); // the answer was read from the clone's header, not by opening it
    expect(r.statusCode, r.body).toBe(201);
    expect(r.headers.location).toBe(`${base}/c1`);
    expect(r.json()).toMatchObject({
      name: 'c1', size: pattern.length,
      parent: { pool: pool.name, namespace: '', image: 'golden', snapshot: 'v1', overlap: pattern.length },
    });
    expect(r.json().features).toContain('operations'); // clone format 2, asked for explicitly
    await answersAsGet(r, `${base}/c1`);
    const info = JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/c1`));
    expect(info.parent).toMatchObject({ pool: pool.name, image: 'golden', snapshot: 'v1' });
    expect((await exportImage(pool.name, 'c1')).equals(pattern)).toBe(true);
    // the snapshot was never protected: format 2 does not need it
    expect((await t.app.inject({ method: 'GET', url: `${base}/golden/snapshots/v1` })).json()).toMatchObject({ protected: false, children: 1 });
  });

  it('PUT again: 200 with the same image; another source or size: 409 IMAGE_SPEC_CONFLICT; a plain image of that name: 409', async () => {
    const again = await put('c1', { source: golden });
    expect(again.statusCode).toBe(200);
    expect(again.json().parent).toMatchObject({ image: 'golden', snapshot: 'v1' });
    await t.app.inject({ method: 'PUT', url: `${base}/golden/snapshots/v2` });
    const other2 = await put('c1', { source: { image: 'golden', snapshot: 'v2' } });
    expect(other2.statusCode).toBe(409);
    expect(other2.json().code).toBe('IMAGE_SPEC_CONFLICT');
    expect(other2.json().differences.join()).toContain('golden@v1');
    const size = await put('c1', { source: golden, size: '1GiB' });
    expect(size.json().code).toBe('IMAGE_SPEC_CONFLICT');
    await images.create(pool.name, 'plain', 4 * MiB);
    const plain = await put('plain', { source: golden });
    expect(plain.statusCode).toBe(409);
    expect(plain.json().code).toBe('IMAGE_SPEC_CONFLICT');
    expect(plain.json().detail).toContain('not a clone');
    // a plain PUT on the clone's name compares as before (size differs)
    expect((await put('c1', { size: '1MiB' })).json().code).toBe('IMAGE_SPEC_CONFLICT');
  });

  it('POST with source: 201; the same name again: 409 IMAGE_EXISTS', async () => {
    const r = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'c2', source: golden }) });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().parent).toMatchObject({ image: 'golden', snapshot: 'v1' });
    const dup = await t.app.inject({ method: 'POST', url: base, ...json({ name: 'c2', source: golden }) });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('IMAGE_EXISTS');
  });

  it('Prefer: return=minimal: 201 {name, pool, size} for a new clone (PUT and POST, with and without size); a PUT again answers 200 in full', async () => {
    const minimal = { prefer: 'return=minimal' };
    const a = await t.app.inject({ method: 'PUT', url: `${base}/m1`, headers: { ...minimal, 'content-type': 'application/json' }, payload: JSON.stringify({ source: golden }) });
    expect(a.statusCode, a.body).toBe(201);
    expect(a.headers['preference-applied']).toBe('return=minimal');
    expect(a.headers.location).toBe(`${base}/m1`);
    expect(a.json()).toEqual({ name: 'm1', pool: pool.name, size: pattern.length });
    const b = await t.app.inject({ method: 'POST', url: base, headers: { ...minimal, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'm2', source: golden, size: '16MiB' }) });
    expect(b.statusCode, b.body).toBe(201);
    expect(b.json()).toEqual({ name: 'm2', pool: pool.name, size: 16 * MiB });
    expect(JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/m2`))).toMatchObject({ size: 16 * MiB, parent: { image: 'golden', snapshot: 'v1' } });
    expect((await exportImage(pool.name, 'm1')).equals(pattern)).toBe(true);
    const again = await t.app.inject({ method: 'PUT', url: `${base}/m1`, headers: { ...minimal, 'content-type': 'application/json' }, payload: JSON.stringify({ source: golden }) });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.headers['preference-applied']).toBeUndefined();
    expect(again.json()).toMatchObject({ name: 'm1', parent: { image: 'golden', snapshot: 'v1' } });
    for (const m of ['m1', 'm2']) await rbdCli('rm', '--no-progress', `${pool.name}/${m}`); // the later tests count golden's children
  });

  it('a larger size grows the clone (the parent\'s data still read through, zeros after); a smaller one is refused', async () => {
    const r = await put('big', { source: golden, size: '32MiB' });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ size: 32 * MiB, parent: { overlap: pattern.length } });
    await answersAsGet(r, `${base}/big`);
    const data = await exportImage(pool.name, 'big');
    expect(data.length).toBe(32 * MiB);
    expect(data.subarray(0, pattern.length).equals(pattern)).toBe(true);
    expect(data.subarray(pattern.length).every((b) => b === 0)).toBe(true);
    expect((await put('big', { source: golden, size: '32MiB' })).statusCode).toBe(200);
    const small = await put('small', { source: golden, size: '1MiB' });
    expect(small.statusCode).toBe(400);
    expect(await images.listNames(pool.name)).not.toContain('small');
  });

  it('features for the clone are honoured and compared on PUT', async () => {
    const r = await put('lay', { source: golden, features: ['layering'] });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().features.filter((f: string) => f !== 'operations')).toEqual(['layering']);
    await answersAsGet(r, `${base}/lay`);
    expect((await put('lay', { source: golden, features: ['layering'] })).statusCode).toBe(200);
    expect((await put('lay', { source: golden, features: ['layering', 'exclusive-lock'] })).json().code).toBe('IMAGE_SPEC_CONFLICT');
  });

  it('a clone in another pool and in a namespace; the parent names its pool; children lists them across pools', async () => {
    const r = await put('x1', { source: { pool: pool.name, ...golden } }, `/api/v1/pools/${other.name}/images`);
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().parent).toMatchObject({ pool: pool.name, namespace: '', image: 'golden', snapshot: 'v1' });
    await answersAsGet(r, `/api/v1/pools/${other.name}/images/x1`);
    expect((await exportImage(other.name, 'x1')).equals(pattern)).toBe(true);
    await rbdCli('namespace', 'create', `${other.name}/ns1`);
    const nsBase = `/api/v1/pools/${other.name}/namespaces/ns1/images`;
    const n = await put('n1', { source: { pool: pool.name, ...golden } }, nsBase);
    expect(n.statusCode, n.body).toBe(201);
    expect(n.headers.location).toBe(`${nsBase}/n1`);
    await answersAsGet(n, `${nsBase}/n1`);
    // without source.pool, the source is looked for in the new image's own pool and namespace
    const same = await put('n2', { source: golden }, nsBase);
    expect(same.statusCode).toBe(404);
    expect(same.json().code).toBe('IMAGE_NOT_FOUND');
    const children = (await t.app.inject({ method: 'GET', url: `${base}/golden/children` })).json().items;
    expect(children.every((c: { trash: boolean }) => c.trash === false)).toBe(true);
    const key = (c: { pool: string; namespace: string; image: string; snapshot: string }) => `${c.pool}/${c.namespace}/${c.image}@${c.snapshot}`;
    expect(children.map(key).sort()).toEqual([
      `${other.name}//x1@v1`, `${other.name}/ns1/n1@v1`,
      `${pool.name}//big@v1`, `${pool.name}//c1@v1`, `${pool.name}//c2@v1`, `${pool.name}//lay@v1`,
    ].sort());
    const rbdChildren = (await rbdCli('children', `${pool.name}/golden@v1`)).trim().split('\n').sort();
    expect(rbdChildren).toEqual([`${other.name}/x1`, `${other.name}/ns1/n1`, `${pool.name}/big`, `${pool.name}/c1`, `${pool.name}/c2`, `${pool.name}/lay`].sort());
    expect((await t.app.inject({ method: 'GET', url: `${base}/c1/children` })).json()).toEqual({ items: [], hidden: 0 });
    expect((await t.app.inject({ method: 'GET', url: `${base}/nope/children` })).json().code).toBe('IMAGE_NOT_FOUND');
  });

  it('every image representation carries parent: GET, listings with details (header reads), null for non-clones', async () => {
    const list = (await t.app.inject({ method: 'GET', url: `${base}?details=true&limit=100` })).json().items as { name: string; parent: unknown }[];
    const by = new Map(list.map((i) => [i.name, i.parent]));
    expect(by.get('golden')).toBeNull();
    expect(by.get('plain')).toBeNull();
    expect(by.get('c1')).toEqual({ pool: pool.name, namespace: '', image: 'golden', snapshot: 'v1', overlap: pattern.length });
    expect((await t.app.inject({ method: 'GET', url: `${base}/plain` })).json().parent).toBeNull();
    expect((await t.app.inject({ method: 'GET', url: `${base}/c2` })).json().parent).toMatchObject({ image: 'golden' });
  });

  it('source namespace "" is the pool\'s default namespace, with or without pool (as in parent and a copy\'s destination)', async () => {
    await rbdCli('namespace', 'create', `${pool.name}/nsd`);
    const nsd = `/api/v1/pools/${pool.name}/namespaces/nsd/images`;
    const parent = { pool: pool.name, namespace: '', image: 'golden', snapshot: 'v1', overlap: pattern.length };
    for (const [name, source] of [['d1', { namespace: '', ...golden }], ['d2', { pool: pool.name, namespace: '', ...golden }]] as const) {
      const r = await put(name, { source }, nsd);
      expect(r.statusCode, `${JSON.stringify(source)}: ${r.body}`).toBe(201);
      expect(r.json().parent).toEqual(parent);
      const again = await put(name, { source }, nsd); // the same clone: 200, not a conflict with itself
      expect(again.statusCode, again.body).toBe(200);
      const posted = await t.app.inject({ method: 'POST', url: nsd, ...json({ name: `${name}p`, source }) });
      expect(posted.statusCode, posted.body).toBe(201);
      expect(posted.json().parent).toEqual(parent);
    }
    // without `namespace` (and without pool) the source is looked for in the new image's own namespace
    expect((await put('d3', { source: golden }, nsd)).json().code).toBe('IMAGE_NOT_FOUND');
    const rbdChildren = (await rbdCli('children', `${pool.name}/golden@v1`)).trim().split('\n');
    expect(rbdChildren).toEqual(expect.arrayContaining(['d1', 'd2', 'd1p', 'd2p'].map((n) => `${pool.name}/nsd/${n}`)));
  });
});

describe('flatten (a task)', () => {
  it('400 NOT_A_CLONE for an image without parent; 202 + task; afterwards parent is null, the data unchanged, the snapshot deletable', async () => {
    const notClone = await t.app.inject({ method: 'POST', url: `${base}/golden/flatten` });
    expect(notClone.statusCode).toBe(400);
    expect(notClone.json().code).toBe('NOT_A_CLONE');
    expect((await t.app.inject({ method: 'POST', url: `${base}/nope/flatten` })).json().code).toBe('IMAGE_NOT_FOUND');
    const data = await importRandom(pool.name, 'fparent', 6 * MiB);
    await t.app.inject({ method: 'PUT', url: `${base}/fparent/snapshots/f1` });
    expect((await put('fchild', { source: { image: 'fparent', snapshot: 'f1' } })).statusCode).toBe(201);
    const blocked = await t.app.inject({ method: 'DELETE', url: `${base}/fparent/snapshots/f1` });
    expect(blocked.json().code).toBe('SNAPSHOT_HAS_CHILDREN');
    const r = await t.app.inject({ method: 'POST', url: `${base}/fchild/flatten` });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({ action: 'image.flatten', target: { pool: pool.name, image: 'fchild' } });
    const { task: done } = await waitTask(t.app, r.headers.location as string);
    expect(done).toMatchObject({ state: 'succeeded', progress: 1 });
    expect((await t.app.inject({ method: 'GET', url: `${base}/fchild` })).json().parent).toBeNull();
    expect(JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/fchild`)).parent).toBeUndefined();
    expect((await exportImage(pool.name, 'fchild')).equals(data)).toBe(true);
    expect((await t.app.inject({ method: 'POST', url: `${base}/fchild/flatten` })).json().code).toBe('NOT_A_CLONE');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/fparent/snapshots/f1` })).statusCode).toBe(204);
    expect(JSON.parse(await rbdCli('snap', 'ls', '--all', '--format', 'json', `${pool.name}/fparent`))).toEqual([]);
    expect((await exportImage(pool.name, 'fchild')).equals(data)).toBe(true);
  });
});

describe('missing or forbidden sources', () => {
  it('404 POOL_NOT_FOUND / NAMESPACE_NOT_FOUND / IMAGE_NOT_FOUND / SNAPSHOT_NOT_FOUND name the missing part; nothing is created', async () => {
    const cases: [unknown, string, string][] = [
      [{ pool: 'no-such-pool-zz', ...golden }, 'POOL_NOT_FOUND', 'no-such-pool-zz'],
      [{ pool: pool.name, namespace: 'nons', ...golden }, 'NAMESPACE_NOT_FOUND', 'nons'],
      [{ image: 'nope', snapshot: 'v1' }, 'IMAGE_NOT_FOUND', 'nope'],
      [{ image: 'golden', snapshot: 'nope' }, 'SNAPSHOT_NOT_FOUND', 'golden@nope'],
    ];
    for (const [source, code, mention] of cases) {
      for (const r of [await put('miss', { source }), await t.app.inject({ method: 'POST', url: base, ...json({ name: 'miss', source }) })]) {
        expect({ status: r.statusCode, code: r.json().code }).toEqual({ status: 404, code });
        expect(r.json().detail).toContain('clone source');
        expect(r.json().detail).toContain(mention);
      }
    }
    expect(await images.listNames(pool.name)).not.toContain('miss');
  });

  it('bad sources are 400 before librbd sees them (empty snapshot name would abort librbd)', async () => {
    for (const source of [{ image: 'golden', snapshot: '' }, { image: '', snapshot: 'v1' }, { image: 'golden' }, { snapshot: 'v1' },
      { image: 'golden', snapshot: 'v1', extra: 1 }, { image: 'golden', snapshot: 'a\0b' }, 'golden@v1', null]) {
      const r = await put('bad', { source });
      expect(r.statusCode, JSON.stringify(source)).toBe(400);
    }
    expect(await images.listNames(pool.name)).not.toContain('bad');
  });

  it('a source pool the token may not use: 403', async () => {
    const auth = TokenStore.parse(`tok-limited-0123456789 write ${other.name} tenant\n`);
    const limited = await testApp('rbdapi', { auth });
    try {
      const r = await limited.app.inject({
        method: 'PUT', url: `/api/v1/pools/${other.name}/images/steal`, headers: { authorization: 'Bearer tok-limited-0123456789', 'content-type': 'application/json' },
        payload: JSON.stringify({ source: { pool: pool.name, ...golden } }),
      });
      expect(r.statusCode).toBe(403);
      expect(r.json().code).toBe('FORBIDDEN');
    } finally {
      await limited.close();
    }
    expect(await images.listNames(other.name)).not.toContain('steal');
  });
});

describe('an interrupted clone (intent record)', () => {
  const intent = async (name: string, startedAt: Date) => {
    const dir = mkdtempSync(join(tmpdir(), 'intent-'));
    writeFileSync(join(dir, 'i'), JSON.stringify({ source: { spec: pool.name, image: 'golden', snapshot: 'v1' }, startedAt: startedAt.toISOString() }));
    await radosCli('-p', pool.name, 'put', `rbdapi_clone_intent.${name}`, join(dir, 'i'));
  };
  const intentLeft = async (name: string) => (await radosCli('-p', pool.name, 'ls')).split('\n').includes(`rbdapi_clone_intent.${name}`);

  it('an image made after the record that is not a whole clone is the attempt\'s leftover: removed and cloned again (201)', async () => {
    await intent('half', new Date(Date.now() - 10_000));
    await images.create(pool.name, 'half', 4 * MiB); // what a crash between librbd's create and its parent link leaves
    const r = await put('half', { source: golden });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().parent).toMatchObject({ image: 'golden', snapshot: 'v1' });
    expect((await exportImage(pool.name, 'half')).equals(pattern)).toBe(true);
    expect(await intentLeft('half')).toBe(false);
  });

  it('an image made before the record is never removed: 409 IMAGE_SPEC_CONFLICT, the image and its data stay', async () => {
    await images.create(pool.name, 'mine', 4 * MiB);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4096', '--io-total', '65536', `${pool.name}/mine`);
    const before = await exportImage(pool.name, 'mine');
    await intent('mine', new Date(Date.now() + 60_000)); // a record from a (skewed) later attempt
    const r = await put('mine', { source: golden });
    expect(r.statusCode).toBe(409);
    expect(r.json().code).toBe('IMAGE_SPEC_CONFLICT');
    expect((await exportImage(pool.name, 'mine')).equals(before)).toBe(true);
    expect(await intentLeft('mine')).toBe(false);
  });

  it('a PUT with source on an existing plain image writes no record at all', async () => {
    expect((await put('plain', { source: golden })).statusCode).toBe(409);
    expect(await intentLeft('plain')).toBe(false);
  });
});

describe('concurrency', () => {
  it('50 concurrent PUTs of one clone name make exactly one clone', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => put('fifty', { source: golden })));
    const codes = rs.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201), rs.find((r) => r.statusCode >= 300)?.body).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(49);
    expect(new Set(rs.map((r) => r.json().id)).size).toBe(1);
    expect((await images.listNames(pool.name)).filter((n) => n === 'fifty')).toHaveLength(1);
    expect((await exportImage(pool.name, 'fifty')).equals(pattern)).toBe(true);
  });
});
