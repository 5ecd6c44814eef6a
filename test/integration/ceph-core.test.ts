// The typed Ceph layer (src/ceph over src/native) against the real throwaway cluster: no HTTP.
// Every assertion is about real cluster state, cross-checked through a second, independent connection
// or the ceph/rbd CLI (tests may shell out; src/ never does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephConnection } from '../../src/ceph/connection.js';
import { CephError, isCephError } from '../../src/ceph/errors.js';
import { featureBits } from '../../src/ceph/features.js';
import { Handle } from '../../src/ceph/handle.js';
import { Images } from '../../src/ceph/images.js';
import { Pools } from '../../src/ceph/pools.js';
import { radosPool } from '../../src/native/rados-pool.js';
import { clusterDir, connect, makePool, uniqueName } from '../helpers/cluster.js';
import { cephSync, radosSync, rbdSync as cli } from '../helpers/cli.js';

let admin: CephConnection;
let other: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let images: Images;
let pools: Pools;
const MiB = 1024 * 1024;

const expectCephError = async (p: Promise<unknown>, code: string, op?: string) => {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, `expected ${code}`).toBeInstanceOf(CephError);
  expect((e as CephError).code).toBe(code);
  if (op) expect((e as CephError).op).toBe(op);
  expect((e as CephError).message).toMatch(new RegExp(`\\(${code}\\)`));
  return e as CephError;
};

beforeAll(async () => {
  admin = await connect('admin');
  other = await connect('admin');
  pool = await makePool(admin, 'core');
  images = new Images(admin);
  pools = new Pools(admin);
});

afterAll(async () => {
  await pool?.remove();
  await other?.close();
  await admin?.close();
});

describe('connection', () => {
  it('sets the three librados timeouts (no 300 s waits)', async () => {
    const c = await CephConnection.connect({ ...connectionOpts(), mountTimeout: 7, monOpTimeout: 8, osdOpTimeout: 9 });
    try {
      expect(Number(await c.configValue('client_mount_timeout'))).toBe(7);
      expect(Number(await c.configValue('rados_mon_op_timeout'))).toBe(8);
      expect(Number(await c.configValue('rados_osd_op_timeout'))).toBe(9);
      expect(await c.fsid()).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await c.close();
    }
  });

  it('close is idempotent; every call after close is a clear `closed` CephError, never a crash', async () => {
    const c = await connect('admin');
    const p = new Pools(c);
    const i = new Images(c);
    expect(await p.exists(pool.name)).toBe(true);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    expect(c.isOpen).toBe(false);
    for (const call of [p.listNames(), i.listNames(pool.name), i.stat(pool.name, 'x'), c.fsid(), c.configValue('fsid')]) {
      const e = await call.then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(CephError);
      expect((e as CephError).kind).toBe('closed');
    }
  });

  it('close waits for calls in flight instead of freeing the handle under them', async () => {
    const c = await connect('admin');
    const i = new Images(c);
    const inFlight = Array.from({ length: 8 }, () => i.listNames(pool.name));
    const closing = c.close();
    const results = await Promise.allSettled(inFlight);
    await closing;
    for (const r of results) expect(r.status).toBe('fulfilled');
  });

  it('a wrong key is EACCES/EPERM-class at connect, a missing keyring file a clear error', async () => {
    const bad = await CephConnection.connect({ ...connectionOpts(), keyring: '/nonexistent/keyring', mountTimeout: 3 }).then(() => undefined, (e: unknown) => e);
    expect(bad).toBeInstanceOf(CephError);
    expect(['ENOENT', 'EACCES', 'EPERM', 'ETIMEDOUT', 'ENOTCONN', 'EINVAL']).toContain((bad as CephError).code);
  });
});

function connectionOpts() {
  return { confFile: `${clusterDir()}/ceph.conf`, clientId: 'admin', keyring: `${clusterDir()}/ceph.client.admin.keyring` };
}

describe('pools', () => {
  it('list, get with stats, create (+ rbd_pool_init, application rbd), delete', async () => {
    const name = uniqueName('core-pool');
    const created = await pools.create(name, { pgNum: 8 });
    expect(created).toMatchObject({ name, applications: ['rbd'] });
    expect(created.id).toBeGreaterThan(0);
    // seen by an independent connection, and initialised for RBD (rbd_info object written by rbd_pool_init)
    expect(await new Pools(other).listNames()).toContain(name);
    const got = await new Pools(other).get(name);
    expect(got.stats).toMatchObject({ objects: expect.any(Number), storedBytes: expect.any(Number) });
    // rbd_pool_init wrote the pool's rbd_info object
    radosSync('-p', name, 'stat', 'rbd_info');
    expect(JSON.parse(cephSync('osd', 'pool', 'application', 'get', name, '-f', 'json'))).toHaveProperty('rbd');
    await expectCephError(pools.create(name, { pgNum: 8 }), 'EEXIST');
    await pools.delete(name);
    expect(await new Pools(other).exists(name)).toBe(false);
    await expectCephError(pools.get(name), 'ENOENT');
    await expectCephError(pools.delete(name), 'ENOENT');
  });

  it('least privilege: the profile-rbd key cannot create or delete pools; the pools key can', async () => {
    const rbdKey = await connect('rbdapi');
    const poolsKey = await connect('rbdapi-pools');
    const name = uniqueName('core-lp');
    try {
      const e = await new Pools(rbdKey).create(name, { pgNum: 8 }).then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(CephError);
      expect(['EACCES', 'EPERM']).toContain((e as CephError).code);
      expect(await pools.exists(name)).toBe(false);
      // but it may work with images
      await new Images(rbdKey).create(pool.name, 'lp-img', MiB);
      expect(await images.listNames(pool.name)).toContain('lp-img');
      await new Images(rbdKey).remove(pool.name, 'lp-img');
      await new Pools(poolsKey).create(name, { pgNum: 8 });
      expect(await pools.exists(name)).toBe(true);
      const d = await new Pools(rbdKey).delete(name).then(() => undefined, (err: unknown) => err);
      expect(['EACCES', 'EPERM']).toContain((d as CephError).code);
      await new Pools(poolsKey).delete(name);
      expect(await pools.exists(name)).toBe(false);
    } finally {
      if (await pools.exists(name)) await pools.delete(name);
      await rbdKey.close();
      await poolsKey.close();
    }
  });
});

describe('several clients (replicas of the service)', () => {
  it('a pool made or deleted by another client is seen at once by this one', async () => {
    const b = await connect('admin'); // its OSD map is current now and will be stale in a moment
    const name = uniqueName('core-rep');
    try {
      await pools.create(name, { pgNum: 8 });
      await new Images(b).create(name, 'from-b', MiB); // ioctx on a pool newer than b's map
      expect(await new Pools(b).exists(name)).toBe(true);
      expect((await new Pools(b).get(name)).name).toBe(name);
      expect(await images.listNames(name)).toEqual(['from-b']);
      await pools.delete(name);
      expect(await new Pools(b).exists(name)).toBe(false);
      await expectCephError(new Pools(b).get(name), 'ENOENT');
    } finally {
      if (await pools.exists(name)) await pools.delete(name);
      await b.close();
    }
  });
});

describe('cached I/O contexts', () => {
  it('a pool deleted and made again by another client is used, not the stale context; image ENOENT stays ENOENT', async () => {
    const a = await connect('admin');
    const b = await connect('admin');
    const name = uniqueName('core-ioctx');
    try {
      await new Pools(b).create(name, { pgNum: 8 });
      await new Images(a).create(name, 'first', MiB); // a caches an I/O context for the pool
      await expectCephError(new Images(a).stat(name, 'missing'), 'ENOENT', 'rbd_open_read_only');
      await new Pools(b).delete(name);
      await new Pools(b).create(name, { pgNum: 8 }); // same name, new pool id
      await new Images(a).create(name, 'second', MiB);
      expect(await new Images(b).listNames(name)).toEqual(['second']);
      expect((await new Images(a).stat(name, 'second')).size).toBe(MiB);
    } finally {
      if (await new Pools(b).exists(name)) await new Pools(b).delete(name);
      await a.close();
      await b.close();
    }
  });
});

describe('images', () => {
  it('create with options, list, stat (features, timestamps, watchers, snapshots), resize, remove', async () => {
    const before = Date.now();
    await images.create(pool.name, 'img-a', 64 * MiB, { features: featureBits(['layering', 'exclusive-lock']), order: 20, stripeUnit: 256 * 1024, stripeCount: 4 });
    const info = await new Images(other).stat(pool.name, 'img-a');
    expect(info).toMatchObject({ name: 'img-a', pool: pool.name, size: 64 * MiB, objectSize: MiB, order: 20, stripeUnit: 256 * 1024, stripeCount: 4, snapshotCount: 0, watchers: [], dataPool: null });
    expect(info.features).toEqual(expect.arrayContaining(['layering', 'exclusive-lock']));
    expect(info.features).not.toContain('object-map');
    expect(Date.parse(info.createdAt)).toBeGreaterThanOrEqual(before - 5000);
    // the rbd CLI sees the same image
    const cliInfo = JSON.parse(cli('info', `${pool.name}/img-a`, '--format', 'json'));
    expect(cliInfo).toMatchObject({ size: 64 * MiB, order: 20, stripe_unit: 256 * 1024, stripe_count: 4, id: info.id });
    expect(await images.listNames(pool.name)).toContain('img-a');

    await images.resize(pool.name, 'img-a', 128 * MiB, false);
    expect((await images.stat(pool.name, 'img-a')).size).toBe(128 * MiB);
    // shrinking needs the explicit flag; without it nothing changes
    await expectCephError(images.resize(pool.name, 'img-a', 32 * MiB, false), 'EINVAL');
    expect((await images.stat(pool.name, 'img-a')).size).toBe(128 * MiB);
    await images.resize(pool.name, 'img-a', 32 * MiB, true);
    expect(JSON.parse(cli('info', `${pool.name}/img-a`, '--format', 'json')).size).toBe(32 * MiB);

    await images.snapshotCreate(pool.name, 'img-a', 's1');
    expect((await images.stat(pool.name, 'img-a')).snapshotCount).toBe(1);
    await expectCephError(images.remove(pool.name, 'img-a'), 'ENOTEMPTY', 'rbd_remove');
    await images.snapshotRemove(pool.name, 'img-a', 's1');
    await images.remove(pool.name, 'img-a');
    expect(await new Images(other).listNames(pool.name)).not.toContain('img-a');
  });

  it('EEXIST on a duplicate; ENOENT for a missing image and a missing pool', async () => {
    await images.create(pool.name, 'dup', MiB);
    await expectCephError(images.create(pool.name, 'dup', MiB), 'EEXIST', 'rbd_create4');
    await expectCephError(images.stat(pool.name, 'missing'), 'ENOENT', 'rbd_open_read_only');
    await expectCephError(images.remove(pool.name, 'missing'), 'ENOENT');
    await expectCephError(images.resize(pool.name, 'missing', MiB, false), 'ENOENT');
    await expectCephError(images.listNames(`${pool.name}-nope`), 'ENOENT', 'rados_ioctx_create');
    await expectCephError(images.create(`${pool.name}-nope`, 'x', MiB), 'ENOENT', 'rados_ioctx_create');
    await images.remove(pool.name, 'dup');
  });

  it('EBUSY when another client holds the image open, and the image survives', async () => {
    await images.create(pool.name, 'held', MiB);
    const release = await new Images(other).hold(pool.name, 'held');
    try {
      const info = await images.stat(pool.name, 'held');
      expect(info.watchers).toHaveLength(1);
      await expectCephError(images.remove(pool.name, 'held'), 'EBUSY', 'rbd_remove');
      expect(await images.listNames(pool.name)).toContain('held');
    } finally {
      await release();
    }
    expect((await images.stat(pool.name, 'held')).watchers).toEqual([]);
    await images.remove(pool.name, 'held');
  });

  it('EDOM/EINVAL for bad object sizes, striping and sizes, with nothing created', async () => {
    await expectCephError(images.create(pool.name, 'bad-order', MiB, { order: 9 }), 'EDOM');
    await expectCephError(images.create(pool.name, 'bad-order2', MiB, { order: 40 }), 'EDOM');
    const stripe = await images.create(pool.name, 'bad-stripe', MiB, { order: 22, stripeUnit: 3 * MiB, stripeCount: 2 }).then(() => undefined, (e: unknown) => e);
    expect(isCephError(stripe, 'EINVAL', 'EDOM')).toBe(true);
    const feat = await images.create(pool.name, 'bad-feat', MiB, { features: featureBits(['object-map']) }).then(() => undefined, (e: unknown) => e);
    expect(isCephError(feat, 'EINVAL')).toBe(true);
    const names = await images.listNames(pool.name);
    for (const n of ['bad-order', 'bad-order2', 'bad-stripe', 'bad-feat']) expect(names).not.toContain(n);
  });

  it('lists every image past the first buffer (ERANGE retry), in byte order', async () => {
    const many = await makePool(admin, 'core-many');
    try {
      const n = 1100; // > the first rbd_list2 buffer of 1024 specs
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < n) {
          const i = next++;
          await images.create(many.name, `m-${String(i).padStart(5, '0')}`, MiB);
        }
      }));
      const names = await new Images(other).listNames(many.name);
      expect(names).toHaveLength(n);
      expect(names[0]).toBe('m-00000');
      expect(names[n - 1]).toBe(`m-${String(n - 1).padStart(5, '0')}`);
      expect(cli('ls', many.name).trim().split('\n')).toHaveLength(n);
    } finally {
      await many.remove();
    }
  }, 180_000);
});

describe('sizes, list buffers and handles', () => {
  it('size 0 is a valid empty image; negative, fractional, NaN and unsafe sizes are EINVAL before C, nothing created or changed', async () => {
    await images.create(pool.name, 'zero', 0);
    expect((await new Images(other).stat(pool.name, 'zero')).size).toBe(0);
    expect(JSON.parse(cli('info', `${pool.name}/zero`, '--format', 'json')).size).toBe(0);
    // koffi would pass these to librbd as uint64: -1 used to create a 16 EiB image, 1.5 and NaN 1 and 0 bytes
    for (const [name, size] of [['neg', -1], ['frac', 1.5], ['nan', Number.NaN], ['inf', Number.POSITIVE_INFINITY], ['unsafe', 2 ** 53 + 2]] as const) {
      const e = await expectCephError(images.create(pool.name, `bad-size-${name}`, size), 'EINVAL', 'rbd_create4');
      expect(e.message).toContain('size must be');
    }
    const names = await images.listNames(pool.name);
    expect(names.filter((n) => n.startsWith('bad-size-'))).toEqual([]);
    await expectCephError(images.resize(pool.name, 'zero', -1, true), 'EINVAL', 'rbd_resize2');
    await expectCephError(images.resize(pool.name, 'zero', 0.5, true), 'EINVAL', 'rbd_resize2');
    expect(JSON.parse(cli('info', `${pool.name}/zero`, '--format', 'json')).size).toBe(0);
    await images.resize(pool.name, 'zero', MiB, false);
    expect((await images.stat(pool.name, 'zero')).size).toBe(MiB);
    await images.remove(pool.name, 'zero');
  });

  it('lists every watcher past the first buffer of 8 (ERANGE retry): ten opens by another client', async () => {
    await images.create(pool.name, 'many-watchers', MiB);
    const releases: (() => Promise<void>)[] = [];
    try {
      for (let i = 0; i < 10; i++) releases.push(await new Images(other).hold(pool.name, 'many-watchers'));
      const { watchers } = await images.stat(pool.name, 'many-watchers');
      expect(watchers).toHaveLength(10);
      expect(new Set(watchers!.map((w) => w.cookie)).size).toBe(10);
      for (const w of watchers!) expect(w.address).toMatch(/^(v[12]:)?127\.0\.0\.1:\d+\/\d+$/);
      // the rbd CLI sees the same watchers
      const status = JSON.parse(cli('status', `${pool.name}/many-watchers`, '--format', 'json')) as { watchers: { cookie: number }[] };
      expect(status.watchers.map((w) => w.cookie).sort()).toEqual(watchers!.map((w) => w.cookie).sort());
      await expectCephError(images.remove(pool.name, 'many-watchers'), 'EBUSY');
    } finally {
      for (const r of releases) await r();
    }
    expect((await images.stat(pool.name, 'many-watchers')).watchers).toEqual([]);
    await images.remove(pool.name, 'many-watchers');
  });

  it('lists every pool past the first 256-byte rados_pool_list buffer', async () => {
    const long = Array.from({ length: 3 }, (_, i) => `${uniqueName(`core-long${i}`)}-${'x'.repeat(90)}`);
    try {
      for (const name of long) await pools.create(name, { pgNum: 1 });
      // these three alone need more than the first buffer: the retry with the size asked for must have run
      expect(long.reduce((n, name) => n + Buffer.byteLength(name) + 1, 1)).toBeGreaterThan(256);
      const listed = await new Pools(other).listNames();
      expect(listed).toEqual(expect.arrayContaining(long));
      expect(listed).toEqual([...listed].sort());
      const cliPools = cephSync('osd', 'pool', 'ls').trim().split('\n');
      for (const name of long) expect(cliPools).toContain(name);
    } finally {
      for (const name of long) if (await pools.exists(name)) await pools.delete(name);
    }
  });

  it('a handle cannot reach C once its connection closed or its pool was forgotten; NULL and non-pointers are refused', async () => {
    // I/O contexts are cached per pool and live until the pool is deleted or the connection closes
    const owner = await connect('admin');
    let escaped: Handle<'rados_ioctx_t'> | undefined;
    const id = await owner.withIoctx(pool.name, async (io) => {
      escaped = io;
      return io.use('rados_ioctx_get_id', async (p) => Number(radosPool.ioctxGetId(p) as number | bigint));
    });
    expect(id).toBe(await pools.lookup(pool.name));
    expect(escaped!.isOpen).toBe(true);
    await owner.close();
    expect(escaped!.isOpen).toBe(false);
    let reached = false;
    const e = await escaped!.use('rados_ioctx_get_id', async () => { reached = true; return 0; }).then(() => undefined, (err: unknown) => err);
    expect(reached).toBe(false);
    expect(e).toBeInstanceOf(CephError);
    expect(e).toMatchObject({ kind: 'closed', code: 'ENOTCONN', op: 'rados_ioctx_get_id' });
    expect(() => new Handle('rados_t', 0n, () => undefined)).toThrow(TypeError);
    // koffi checks the JS type of a handle argument before calling C
    expect(() => radosPool.ioctxGetId('not a pointer' as never)).toThrow(TypeError);
    expect(() => radosPool.ioctxGetId({} as never)).toThrow(TypeError);
    // the raw rados_t of a closed connection is never handed out again
    const c = await connect('admin');
    let raw: unknown;
    await c.withCluster('probe', async (p) => { raw = p; });
    expect(typeof raw).toBe('bigint');
    await c.close();
    await expect(c.withCluster('probe', async () => { reached = true; })).rejects.toMatchObject({ kind: 'closed' });
    expect(reached).toBe(false);
  });
});
