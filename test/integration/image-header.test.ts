// Listings read each image's header in one OSD operation (src/ceph/image-header.ts) instead of opening it.
// These tests hold that reader to rbd_open_read_only + rbd_stat & co. on the real cluster, field by field,
// for images of every shape the API can make, and check that it really does not open them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { objectCount } from '../../src/ceph/image-header.js';
import { featureBits } from '../../src/ceph/features.js';
import { connect, makePool } from '../helpers/cluster.js';
import { observeCephCalls } from '../../src/ceph/process.js';
import type { ImageInfo, ImageSpec } from '../../src/ceph/image-info.js';

let admin: CephConnection;
let limited: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let dataPool: { name: string; remove: () => Promise<void> };
let images: Images;

const KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

/** name → [size, options] */
const SHAPES: Record<string, [number, Parameters<Images['create']>[3]]> = {
  'default-1g': [GiB, {}],
  'zero-bytes': [0, {}],
  'one-byte': [1, {}],
  'odd-size': [4 * MiB + 1, {}],
  'huge-16t': [2 ** 44, {}],
  'layering-only': [10 * MiB, { features: featureBits(['layering']) }],
  'no-features': [10 * MiB, { features: 0n }],
  'all-creatable': [64 * MiB, { features: featureBits(['layering', 'striping', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten', 'journaling']) }],
  'order-12': [5 * 4096 + 7, { order: 12 }],
  'order-25': [100 * MiB, { order: 25 }],
  'striped-64k-x4': [3 * 256 * KiB + 5, { features: featureBits(['layering', 'striping']), stripeUnit: 64 * KiB, stripeCount: 4 }],
  'striped-64k-x4-big': [64 * MiB + 3 * 64 * KiB, { features: featureBits(['layering', 'striping']), stripeUnit: 64 * KiB, stripeCount: 4 }],
  'striped-1m-x16': [1 * GiB + 12345, { features: featureBits(['layering', 'striping']), order: 22, stripeUnit: MiB, stripeCount: 16 }],
  'striping-default': [8 * MiB, { features: featureBits(['layering', 'striping']) }],
};

beforeAll(async () => {
  admin = await connect('admin');
  limited = await connect('rbdapi');
  pool = await makePool(admin, 'hdr');
  dataPool = await makePool(admin, 'hdr-data');
  images = new Images(admin);
  for (const [name, [size, opts]] of Object.entries(SHAPES)) await images.create(pool.name, name, size, opts);
  await images.create(pool.name, 'with-data-pool', 20 * MiB, { dataPool: dataPool.name });
  await images.create(pool.name, 'with-snapshot', 20 * MiB, {});
  await images.snapshotCreate(pool.name, 'with-snapshot', 's1');
  await images.create(pool.name, 'unicode-é-名前', 3 * MiB, {});
});
afterAll(async () => {
  await images?.snapshotRemove(pool.name, 'with-snapshot', 's1').catch(() => undefined);
  await pool?.remove();
  await dataPool?.remove();
  await limited?.close();
  await admin?.close();
});

/** Count the librados/librbd calls made while `fn` runs, by name. */
async function countingCalls<T>(fn: () => Promise<T>): Promise<{ value: T; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  observeCephCalls((op) => calls.set(op, (calls.get(op) ?? 0) + 1));
  try {
    return { value: await fn(), calls };
  } finally {
    observeCephCalls(undefined);
  }
}

describe('image details from the header object', () => {
  it('equal what rbd_open_read_only + rbd_stat report, field by field, for every shape of image', async () => {
    const specs = await images.listSpecs(pool.name);
    expect(specs.length).toBe(Object.keys(SHAPES).length + 3);
    const { value: fast, calls } = await countingCalls(() => images.statMany(pool.name, specs, 4));
    const opened = await images.statManyByOpening(pool.name, specs.map((s) => s.name), 4);
    expect(fast.every((i) => i !== undefined)).toBe(true);
    for (let i = 0; i < specs.length; i++) {
      expect({ image: specs[i]!.name, info: fast[i] }).toEqual({ image: specs[i]!.name, info: opened[i] });
    }
    // spot checks against what was asked for, so that both paths cannot be wrong the same way
    const by = new Map(fast.map((i) => [i!.name, i!]));
    expect(by.get('huge-16t')!.size).toBe(2 ** 44);
    expect(by.get('order-12')!.objectSize).toBe(4096);
    expect(by.get('order-12')!.objects).toBe(6);
    expect(by.get('striped-64k-x4')).toMatchObject({ stripeUnit: 64 * KiB, stripeCount: 4, objects: 4 });
    expect(by.get('with-data-pool')!.dataPool).toBe(dataPool.name);
    expect(by.get('with-data-pool')!.features).toContain('data-pool');
    expect(by.get('with-snapshot')!.snapshotCount).toBe(1);
    expect(by.get('zero-bytes')!.objects).toBe(0);
    // one open for the one image with a snapshot (its count is rbd_snap_list's); none for the others
    expect(calls.get('rbd_open_read_only') ?? 0).toBe(1);
    expect(calls.get('rados_read_op_operate')).toBe(specs.length);
  });

  it('work with the least-privilege key (profile rbd) exactly as with admin', async () => {
    const specs = await new Images(limited).listSpecs(pool.name);
    const { value, calls } = await countingCalls(() => new Images(limited).statMany(pool.name, specs, 4));
    expect(value).toEqual(await images.statMany(pool.name, specs, 4));
    expect(calls.get('rbd_open_read_only') ?? 0).toBe(1);
  });

  it('an image removed after it was listed comes back as undefined; a stale id falls back to its name', async () => {
    await images.create(pool.name, 'going', MiB, {});
    await images.create(pool.name, 'remade', MiB, {});
    const specs = (await images.listSpecs(pool.name)).filter((s) => s.name === 'going' || s.name === 'remade');
    await images.remove(pool.name, 'going');
    await images.remove(pool.name, 'remade');
    await images.create(pool.name, 'remade', 2 * MiB, {}); // same name, new id
    const [going, remade] = await images.statMany(pool.name, specs, 2);
    expect(going).toBeUndefined();
    expect(remade).toMatchObject({ name: 'remade', size: 2 * MiB });
    expect(remade!.id).not.toBe(specs.find((s) => s.name === 'remade')!.id);
    await images.remove(pool.name, 'remade');
  });

  it('a bogus id is never sent to the OSD as part of an object name; the image is opened instead', async () => {
    const specs: ImageSpec[] = [{ name: 'default-1g', id: '../x' }, { name: 'one-byte', id: '' }];
    const { value, calls } = await countingCalls(() => images.statMany(pool.name, specs, 2));
    expect(value.map((i) => (i as ImageInfo).size)).toEqual([GiB, 1]);
    expect(calls.get('rados_read_op_operate') ?? 0).toBe(0);
    expect(calls.get('rbd_open_read_only')).toBe(2);
  });
});

describe('objectCount (rbd_stat num_objs)', () => {
  it('counts whole and partial periods as librbd does', () => {
    const c = (size: number, order: number, su: number, sc: number) =>
      Number(objectCount(BigInt(size), 1n << BigInt(order), BigInt(su), BigInt(sc)));
    expect(c(0, 22, 4 * MiB, 1)).toBe(0);
    expect(c(1, 22, 4 * MiB, 1)).toBe(1);
    expect(c(4 * MiB, 22, 4 * MiB, 1)).toBe(1);
    expect(c(4 * MiB + 1, 22, 4 * MiB, 1)).toBe(2);
    // 64 KiB × 4: the first 256 KiB touch all four objects; 64 KiB touches one
    expect(c(64 * KiB, 22, 64 * KiB, 4)).toBe(1);
    expect(c(3 * 64 * KiB, 22, 64 * KiB, 4)).toBe(3);
    expect(c(256 * KiB, 22, 64 * KiB, 4)).toBe(4);
    expect(c(16 * MiB, 22, 64 * KiB, 4)).toBe(4);
    expect(c(16 * MiB + 1, 22, 64 * KiB, 4)).toBe(5);
  });
});

describe('clones (parent) in header reads', () => {
  it('a clone is opened (its parent comes from librbd), a flattened clone is read from its header; both equal the open path field by field', async () => {
    const { Clones } = await import('../../src/ceph/clones.js');
    const { Snapshots } = await import('../../src/ceph/snapshots.js');
    const { noProgress } = await import('../../src/native/progress.js');
    const { rbdCli } = await import('../helpers/cli.js');
    const clones = new Clones(admin);
    const snaps = new Snapshots(admin);
    const cp = await makePool(admin, 'hdr-clone');
    try {
      await rbdCli('namespace', 'create', `${cp.name}/ns`);
      await images.create(cp.name, 'parent', 8 * MiB, {});
      await snaps.create(cp.name, 'parent', 'p1');
      await images.create(`${cp.name}/ns`, 'ns-parent', 4 * MiB, {});
      await snaps.create(`${cp.name}/ns`, 'ns-parent', 'q1');
      const src = { spec: cp.name, image: 'parent', snapshot: 'p1' };
      await clones.clone(src, cp.name, 'clone-plain');
      await clones.clone(src, cp.name, 'clone-layering', { features: featureBits(['layering']) });
      await clones.clone(src, cp.name, 'clone-grown');
      await images.resize(cp.name, 'clone-grown', 64 * MiB, false);
      await clones.clone({ spec: `${cp.name}/ns`, image: 'ns-parent', snapshot: 'q1' }, cp.name, 'clone-of-ns-parent');
      await clones.clone(src, cp.name, 'clone-flattened');
      await clones.flatten(cp.name, 'clone-flattened', noProgress);
      const specs = await images.listSpecs(cp.name);
      const { value: fast, calls } = await countingCalls(() => images.statMany(cp.name, specs, 4));
      const opened = await images.statManyByOpening(cp.name, specs.map((s) => s.name), 4);
      for (let i = 0; i < specs.length; i++) {
        expect({ image: specs[i]!.name, info: fast[i] }).toEqual({ image: specs[i]!.name, info: opened[i] });
      }
      const by = new Map(fast.map((i) => [i!.name, i!]));
      expect(by.get('clone-plain')!.parent).toEqual({ pool: cp.name, namespace: '', image: 'parent', snapshot: 'p1', overlap: 8 * MiB });
      expect(by.get('clone-grown')!.parent).toMatchObject({ overlap: 8 * MiB });
      expect(by.get('clone-grown')!.size).toBe(64 * MiB);
      expect(by.get('clone-of-ns-parent')!.parent).toEqual({ pool: cp.name, namespace: 'ns', image: 'ns-parent', snapshot: 'q1', overlap: 4 * MiB });
      expect(by.get('clone-flattened')!.parent).toBeNull();
      expect(by.get('parent')!.parent).toBeNull();
      // opened: the parent (it has a snapshot) and the four clones; read from the header: the flattened clone
      expect(calls.get('rbd_open_read_only')).toBe(5);
      expect(calls.get('rados_read_op_operate')).toBe(specs.length);
      for (const n of ['clone-plain', 'clone-layering', 'clone-grown', 'clone-of-ns-parent', 'clone-flattened']) await images.remove(cp.name, n);
      await snaps.remove(cp.name, 'parent', 'p1');
      await snaps.remove(`${cp.name}/ns`, 'ns-parent', 'q1');
      await images.remove(`${cp.name}/ns`, 'ns-parent');
    } finally {
      await cp.remove();
    }
  });
});
