// Clones: copy-on-write children of a snapshot (clone format 2, always asked for explicitly), their parent
// link, the children of an image's snapshots, flatten, and the intent record that lets an interrupted clone be
// told apart from an image someone made on purpose.
import { E } from '../native/errno.js';
import { decodeSnapInfo, rbdSnapshot, snapInfoArray } from '../native/rbd-snapshot.js';
import { decodeLinkedImageSpecs, decodeSnapSpec, linkedImageSpecArray, rbdClone, snapSpecBuffer } from '../native/rbd-clone.js';
import { radosObject } from '../native/rados-object.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, check } from './errors.js';
import { withImageOptions } from './image-options.js';
import { withOpenImage } from './open-image.js';
import { withGrowingCapacity } from './retry.js';
import { poolSpec } from './spec.js';
import { toNumber } from '../native/memory.js';

/** Where a clone's data come from. `overlap`: bytes of the image still read through from the parent. */
export interface ParentInfo {
  pool: string;
  namespace: string;
  image: string;
  imageId: string;
  snapshot: string;
  snapshotId: number;
  overlap: number;
  /** the parent image is in the trash */
  trash: boolean;
}

/** A clone of one of an image's snapshots. */
export interface ChildInfo { pool: string; namespace: string; image: string; snapshot: string; trash: boolean; imageId?: string }

export interface CloneSource {
  /** pool spec: "pool" or "pool/namespace" */
  spec: string;
  image: string;
  snapshot: string;
}

export interface CloneOptions {
  features?: bigint | undefined;
  order?: number | undefined;
  stripeUnit?: number | undefined;
  stripeCount?: number | undefined;
  dataPool?: string | undefined;
}

/** What an interrupted clone left behind says it was to become. */
export interface CloneIntent { source: CloneSource; startedAt: string }

const CEPH_NOSNAP = 0xfffffffffffffffen;
/** The intent record of a clone named `name`, in the child's pool and namespace. */
const intentObject = (name: string): string => `rbdapi_clone_intent.${name}`;

/** Refuse what librbd would abort on (an empty snapshot name) or misread (NUL), before any C call. */
export function checkSnapshotName(op: string, name: string, target: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0')) {
    throw new CephError('snapshot', op, -E.EINVAL, `${target}: a snapshot name must be a non-empty string without NUL`);
  }
}

export class Clones {
  constructor(private readonly conn: CephSession) {}

  /**
   * rbd_clone3 of `source` as `spec`/`name`, clone format 2 (no protection needed; this cluster's default is
   * format 1). EEXIST when the name is taken, ENOENT when the parent image or snapshot is missing.
   */
  clone(source: CloneSource, spec: string, name: string, opts: CloneOptions = {}): Promise<void> {
    checkSnapshotName('rbd_clone3', source.snapshot, `${source.spec}/${source.image}`);
    if (!name || name.includes('\0') || !source.image || source.image.includes('\0')) {
      return Promise.reject(new CephError('image', 'rbd_clone3', -E.EINVAL, `${spec}/${name}: empty image name`));
    }
    const target = `${source.spec}/${source.image}@${source.snapshot} -> ${spec}/${name}`;
    return this.conn.withIoctx(source.spec, (pio) => this.conn.withIoctx(spec, (cio) =>
      pio.use('rbd_clone3', (p) => cio.use('rbd_clone3', async (c) => {
        await withImageOptions({ cloneFormat: 2, ...opts }, (o) =>
          nativeChecked('image', 'rbd_clone3', target, rbdClone.clone3, p, source.image, source.snapshot, c, name, o));
      }))));
  }

  /** The parent of `spec`/`image`, or null when it is not a clone (a fresh read-only handle). */
  parent(spec: string, image: string): Promise<ParentInfo | null> {
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => readParent(img, `${spec}/${image}`)));
  }

  /**
   * The clones of every snapshot of `spec`/`image` (in every pool the key can read): by snapshot id, then pool,
   * namespace and image name (the order a listing pages in; `snapshotId` is for its cursor).
   */
  children(spec: string, image: string): Promise<(ChildInfo & { snapshotId: number })[]> {
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
      const target = `${spec}/${image}`;
      const out: (ChildInfo & { snapshotId: number })[] = [];
      for (const s of await listSnapshotIds(img, target)) {
        const children = (await childrenAt(img, s.id, target)).map((c) => ({ ...c, snapshot: s.name, snapshotId: Number(s.id) }));
        out.push(...children.sort(compareChildren));
      }
      return out;
    }));
  }

  /**
   * Copy every block the clone still reads from its parent, then detach it. May take minutes: runs on the
   * long-call budget. `progress` is a librbd progress callback (never NULL); returning a negative value from it
   * stops the flatten (-ECANCELED), leaving the clone linked and partly copied (a later flatten finishes it).
   * EINVAL when the image has no parent.
   */
  flatten(spec: string, image: string, progress: unknown): Promise<void> {
    if (!progress) return Promise.reject(new CephError('image', 'rbd_flatten_with_progress', -E.EINVAL, 'a progress callback is required'));
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      await nativeLong('image', 'rbd_flatten_with_progress', `${spec}/${image}`, rbdClone.flattenWithProgress, img, progress, null);
    }));
  }

  /** Does `name` exist (its id object, the first thing librbd makes and the last it removes)? */
  nameTaken(spec: string, name: string): Promise<boolean> {
    return this.conn.withIoctx(spec, (io) => io.use('rados_read', async (p) => {
      const buf = Buffer.alloc(64);
      const rc = await native<number>('rados_read', radosObject.read, p, `rbd_id.${name}`, buf, buf.length, 0);
      if (rc === -E.ENOENT) return false;
      check('object', 'rados_read', rc, `rbd_id.${name}`);
      return true;
    }));
  }

  /** Write the intent record of a clone about to be made (replaces an older one). */
  recordIntent(spec: string, name: string, source: CloneSource): Promise<void> {
    const body = Buffer.from(JSON.stringify({ source, startedAt: new Date().toISOString() } satisfies CloneIntent));
    return this.conn.withIoctx(spec, (io) => io.use('rados_write_full', async (p) => {
      await nativeChecked('object', 'rados_write_full', intentObject(name), radosObject.writeFull, p, intentObject(name), body, body.length);
    }));
  }

  /** The intent record of `name`, if a clone of that name was started and never finished. */
  readIntent(spec: string, name: string): Promise<CloneIntent | undefined> {
    return this.conn.withIoctx(spec, (io) => io.use('rados_read', async (p) => {
      const buf = Buffer.alloc(16 * 1024);
      const rc = await native<number>('rados_read', radosObject.read, p, intentObject(name), buf, buf.length, 0);
      if (rc === -E.ENOENT) return undefined;
      check('object', 'rados_read', rc, intentObject(name));
      try {
        const v = JSON.parse(buf.toString('utf8', 0, rc)) as CloneIntent;
        return typeof v?.source?.image === 'string' && typeof v.source.snapshot === 'string' && typeof v.source.spec === 'string' ? v : undefined;
      } catch {
        return undefined;
      }
    }));
  }

  clearIntent(spec: string, name: string): Promise<void> {
    return this.conn.withIoctx(spec, (io) => io.use('rados_remove', async (p) => {
      const rc = await native<number>('rados_remove', radosObject.remove, p, intentObject(name));
      if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_remove', rc, intentObject(name));
    }));
  }
}

/**
 * rbd_get_parent + rbd_get_overlap on an open handle, or null when the image is not a clone. Both read the
 * image context (librbd opens the parent with the image), so on a read-only handle they may run inline.
 */
export function readParent(img: Pointer, target: string): ParentInfo | null {
  const spec = linkedImageSpecArray(1);
  const snap = snapSpecBuffer();
  const rc = rbdClone.getParent(img, spec, snap) as number;
  if (rc === -E.ENOENT) return null;
  check('image', 'rbd_get_parent', rc, target);
  try {
    const p = decodeLinkedImageSpecs(spec, 1)[0]!;
    const s = decodeSnapSpec(snap);
    const overlap: [number | bigint] = [0];
    check('image', 'rbd_get_overlap', rbdClone.getOverlap(img, overlap) as number, target);
    return {
      pool: p.pool_name ?? '',
      namespace: p.pool_namespace ?? '',
      image: p.image_name ?? '',
      imageId: p.image_id ?? '',
      snapshot: s.name ?? '',
      snapshotId: toNumber(s.id),
      overlap: toNumber(overlap[0]),
      trash: Boolean(p.trash),
    };
  } finally {
    rbdClone.linkedImageSpecCleanup(spec);
    rbdClone.snapSpecCleanup(snap);
  }
}

/** Ids and names of every snapshot of an open image (every namespace), in id order. */
export function listSnapshotIds(img: Pointer, target: string): Promise<{ id: bigint; name: string; size: number }[]> {
  return withGrowingCapacity<{ id: bigint; name: string; size: number }[]>('snapshot', 'rbd_snap_list', target, 16, async (capacity) => {
    const buf = snapInfoArray(capacity);
    const max: [number] = [capacity];
    const rc = await native<number>('rbd_snap_list', rbdSnapshot.list, img, buf, max);
    if (rc === -E.ERANGE) return { needed: max[0] };
    check('snapshot', 'rbd_snap_list', rc, target);
    try {
      return {
        value: decodeSnapInfo(buf, rc)
          .map((s) => ({ id: BigInt(s.id), name: s.name ?? '', size: toNumber(s.size) }))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      };
    } finally {
      rbdSnapshot.listEnd(buf);
    }
  });
}

/**
 * The clones of snapshot `snapId` of an open image: sets the handle to that snapshot, lists, and sets it back
 * to the head. The handle must not be used by anything else meanwhile.
 */
export async function childrenAt(img: Pointer, snapId: bigint, target: string): Promise<Omit<ChildInfo, 'snapshot'>[]> {
  await nativeChecked('snapshot', 'rbd_snap_set_by_id', target, rbdSnapshot.setById, img, snapId);
  try {
    let capacity = 16;
    for (let attempt = 0; attempt < 8; attempt++) {
      const buf = linkedImageSpecArray(capacity);
      const max: [number | bigint] = [capacity];
      const rc = await native<number>('rbd_list_children3', rbdClone.listChildren3, img, buf, max);
      if (rc === -E.ERANGE) {
        capacity = Math.max(toNumber(max[0]), capacity * 2);
        continue;
      }
      check('image', 'rbd_list_children3', rc, target);
      const n = toNumber(max[0]);
      try {
        return decodeLinkedImageSpecs(buf, n).map((c) => ({
          pool: c.pool_name ?? '', namespace: c.pool_namespace ?? '', image: c.image_name ?? '', trash: Boolean(c.trash), imageId: c.image_id ?? '',
        }));
      } finally {
        rbdClone.linkedImageSpecListCleanup(buf, n);
      }
    }
    throw new CephError('image', 'rbd_list_children3', -E.ERANGE, `${target}: the children list kept growing`);
  } finally {
    await native('rbd_snap_set_by_id', rbdSnapshot.setById, img, CEPH_NOSNAP);
  }
}

/** The order of clones in a listing: snapshot id, then pool, namespace and image name. */
export function compareChildren(a: { snapshotId: number; pool: string; namespace: string; image: string },
  b: { snapshotId: number; pool: string; namespace: string; image: string }): number {
  if (a.snapshotId !== b.snapshotId) return a.snapshotId - b.snapshotId;
  for (const k of ['pool', 'namespace', 'image'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}

/** "pool" + "ns" → "pool/ns" (the pool spec of a child or parent). */
export const specOfLinked = (pool: string, namespace: string): string => poolSpec(pool, namespace || undefined);

