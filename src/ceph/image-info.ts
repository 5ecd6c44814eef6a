// What an image is described as (ImageInfo and its parts), built from a header read (fromHeader) or from an
// open image (its snapshot count and watchers).
import { rbdImage } from '../native/rbd-image.js';
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import { SIZES, type Pointer, type RbdImageInfoValue } from '../native/types.js';
import { cString, decodeWatchers, toNumber, watcherArray } from '../native/memory.js';
import { E } from '../native/errno.js';
import { native, nativeInline } from './call.js';
import { check } from './errors.js';
import { featureNames } from './features.js';
import type { HeaderDetails } from './image-header.js';
import type { ImageMirroring } from './mirroring/image.js';
import { withGrowingCapacity } from './retry.js';


export interface CreateImageOptions {
  /** feature bits; undefined = the cluster's default (rbd_default_features) */
  features?: bigint | undefined;
  /** object size as a power of two (12–25); undefined = default (22, 4 MiB) */
  order?: number | undefined;
  stripeUnit?: number | undefined;
  stripeCount?: number | undefined;
  /** separate pool for the data objects (e.g. an erasure-coded pool) */
  dataPool?: string | undefined;
}

/** An image as rbd_list2 names it. */
export interface ImageSpec { name: string; id: string }

export interface Watcher { address: string; id: number; cookie: number }

export interface ImageParent { pool: string; namespace: string; image: string; snapshot: string; overlap: number }

/** Where a clone was made from: a pool spec ("pool" or "pool/namespace"), an image and a snapshot name. */
export interface CloneOrigin { spec: string; image: string; snapshot: string }

export interface ImageInfo {
  name: string;
  id: string;
  pool: string;
  size: number;
  objectSize: number;
  order: number;
  objects: number;
  features: string[];
  featureBits: bigint;
  stripeUnit: number;
  stripeCount: number;
  dataPool: string | null;
  blockNamePrefix: string;
  createdAt: string;
  snapshotCount: number;
  /** the snapshot this image is a clone of (null: not a clone); overlap = bytes still read from it */
  parent: ImageParent | null;
  /** parent links above this image: 0 for an image that is not a clone, 1 for a clone of one, … (clone-chain.ts) */
  cloneDepth: number;
  /** librbd's snapshot count limit (null: none); only when one image is read (one more OSD read) */
  snapshotLimit?: number | null;
  /** clients that have the image open; absent in listings (one OSD round trip per image) */
  watchers?: Watcher[];
  /** its mirroring (null: not mirrored); read for one image, and in listings only when they filter by it */
  mirroring?: ImageMirroring | null;
}

export function fromHeader(name: string, id: string, pool: string, h: HeaderDetails, dataPool: string | null): ImageInfo {
  return {
    name, id, pool,
    size: h.size, objectSize: 2 ** h.order, order: h.order, objects: h.objects,
    features: featureNames(h.featureBits), featureBits: h.featureBits,
    stripeUnit: h.stripeUnit, stripeCount: h.stripeCount, dataPool,
    blockNamePrefix: h.blockNamePrefix, createdAt: h.createdAt, snapshotCount: h.snapshotCount,
    parent: h.parent, cloneDepth: 0,
  };
}

/** Snapshot count of an image opened read-only (memory only, see statIn). */
/** What a read-only handle says of its image without a round trip (readBasics). */
export interface ImageBasics {
  id: string; size: number; objectSize: number; order: number; objects: number; blockNamePrefix: string;
  featureBits: bigint; stripeUnit: number; stripeCount: number;
}

/**
 * Size, layout, features and id of an image opened read-only: these read the image context loaded at open (no
 * watch is registered, so no refresh can be pending), inline, without a threadpool round trip each.
 */
export function readBasics(img: Pointer, target: string): ImageBasics {
  const info = {} as RbdImageInfoValue;
  const features: [bigint | number] = [0];
  const su: [number | bigint] = [0];
  const sc: [number | bigint] = [0];
  const idBuf = Buffer.alloc(64);
  nativeInline('image', 'rbd_stat', target, rbdImage.stat, img, info, SIZES.rbd_image_info_t);
  nativeInline('image', 'rbd_get_features', target, rbdImage.getFeatures, img, features);
  nativeInline('image', 'rbd_get_stripe_unit', target, rbdImage.getStripeUnit, img, su);
  nativeInline('image', 'rbd_get_stripe_count', target, rbdImage.getStripeCount, img, sc);
  nativeInline('image', 'rbd_get_id', target, rbdImage.getId, img, idBuf, idBuf.length);
  return {
    id: cString(idBuf), size: toNumber(info.size), objectSize: toNumber(info.obj_size), order: info.order, objects: toNumber(info.num_objs),
    blockNamePrefix: info.block_name_prefix, featureBits: BigInt(features[0]), stripeUnit: toNumber(su[0]), stripeCount: toNumber(sc[0]),
  };
}

export function countSnapshots(img: Pointer, target: string): number {
  // A NULL array with *max_snaps = 0 always gets -ERANGE and the count needed (+1 for the terminator).
  const max: [number] = [0];
  const rc = rbdSnapshot.list(img, null, max) as number;
  if (rc === -E.ERANGE) return Math.max(0, max[0] - 1);
  check('snapshot', 'rbd_snap_list', rc, target);
  return 0;
}

/** The clients that have an open image open (rbd_watchers_list; a read-only handle registers no watch of its own). */
export function listWatchers(img: Pointer, target: string): Promise<Watcher[]> {
  return withGrowingCapacity<Watcher[]>('image', 'rbd_watchers_list', target, 8, async (capacity) => {
    const buf = watcherArray(capacity);
    const count: [number] = [capacity];
    const rc = await native<number>('rbd_watchers_list', rbdImage.watchersList, img, buf, count);
    if (rc === -E.ERANGE) return { needed: count[0] };
    check('image', 'rbd_watchers_list', rc, target);
    try {
      return { value: decodeWatchers(buf, count[0]).map((w) => ({ address: w.addr, id: toNumber(w.id), cookie: toNumber(w.cookie) })) };
    } finally {
      rbdImage.watchersListCleanup(buf, count[0]);
    }
  });
}
