// RBD images: list, inspect, create with options, resize, remove.
import { radosPool } from '../native/rados-pool.js';
import { noProgress } from '../native/progress.js';
import { rbdImage } from '../native/rbd-image.js';
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import { type Pointer, type TimespecValue } from '../native/types.js';
import { cString, toNumber } from '../native/memory.js';
import { E } from '../native/errno.js';
import { nativeChecked, nativeInline, nativeLong } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, isCephError, type CephSubject } from './errors.js';
import type { Handle } from './handle.js';
import { FEATURE_BITS, featureNames } from './features.js';
import { readImageHeader, readImageSize, type ParentRef } from './image-header.js';
import {
  countSnapshots, fromHeader, listWatchers, readBasics, type CloneOrigin, type CreateImageOptions, type ImageInfo, type ImageParent, type ImageSpec,
} from './image-info.js';
import { imageMirroring } from './mirroring/image.js';
import { listImages } from './image-names.js';
import { withImageOptions } from './image-options.js';
import { readParent } from './clones.js';
import { readSnapshotLimit } from './snapshot-limit.js';
import { depthOf, newChainCache, type ChainCache } from './clone-chain.js';
import { readImageId } from './image-directory.js';
import { withOpenImage } from './open-image.js';
import { splitPoolSpec } from './spec.js';

/** RBD image ids are alphanumeric (cls_rbd's is_valid_id): anything else never becomes part of an object name. */
const VALID_ID = /^[A-Za-z0-9]{1,64}$/;


/**
 * koffi converts a JS number to uint64_t without complaint: -1 became a 16 EiB image, 1.5 and NaN
 * silently 1 and 0 bytes. Sizes must be whole, non-negative and exact in a double.
 */
function badSize(subject: CephSubject, op: string, pool: string, name: string, size: number): CephError | undefined {
  if (Number.isSafeInteger(size) && size >= 0) return undefined;
  return new CephError(subject, op, -E.EINVAL, `${pool}/${name}: size must be a whole number of bytes from 0 to 2^53-1, got ${size}`);
}

export class Images {
  constructor(private readonly conn: CephSession) {}

  /** Image names in a pool, sorted (byte order). rbd_list2 never opens an image. */
  async listNames(pool: string): Promise<string[]> {
    return (await this.listPicking(pool)).names;
  }

  /** Names and ids of the images in a pool, sorted by name (byte order). */
  async listSpecs(pool: string): Promise<ImageSpec[]> {
    return (await this.listPicking(pool, (names) => ({ page: names }))).picked;
  }

  /**
   * rbd_list2: every name, sorted (byte order); `pick` chooses a page from them, and the ids of that page's
   * names come back as `picked`. Ids are decoded only for those: a pool of thousands of images costs no
   * more than its names.
   */
  listPicking<T extends { page: readonly string[] }>(pool: string, pick?: (sortedNames: readonly string[]) => T):
    Promise<{ names: string[]; chosen: T | undefined; picked: ImageSpec[] }> {
    return this.conn.withIoctx(pool, (io) => io.use('rbd_list2', (p) => listImages(p, pool, pick)));
  }

  /** Full details of one image (opened read-only, so it adds no watcher of its own). */
  stat(pool: string, name: string): Promise<ImageInfo> {
    return this.conn.withIoctx(pool, (io) => this.statIn(io, pool, name));
  }

  /**
   * Details of several images of one pool (as listed by listSpecs), at most `concurrency` at a time,
   * sharing one I/O context. Each image's header is read in one OSD operation (image-header.ts); an image
   * that only an open can describe exactly (snapshots, an unusual header) is opened read-only instead.
   * An image removed since it was listed comes back as undefined. No watchers (one more round trip each).
   */
  statMany(pool: string, specs: readonly ImageSpec[], concurrency: number): Promise<(ImageInfo | undefined)[]> {
    return this.conn.withIoctx(pool, async (io) => {
      const dataPools = new Map<number, Promise<string | null>>(); // one reverse lookup per data pool, not per image
      const chains = newChainCache(); // clones of one page share their ancestors' reads
      return mapSkippingRemoved(specs, concurrency, async ({ name, id }) => {
        const h = await readImageHeader(io, id, `${pool}/${name}`);
        // opened by name, as librbd resolves it now (an image remade under the name since the listing is shown as
        // it is); by id only for a name that is not valid UTF-8 (made with the rbd CLI): it came back with U+FFFD,
        // and opening by that spelling would find nothing and silently drop the image from the page
        if (!h) return this.statIn(io, pool, name, false, name.includes('\uFFFD') && VALID_ID.test(id) ? id : undefined, chains);
        return fromHeader(name, id, pool, h, await this.dataPoolName(io, h.dataPoolId, dataPools));
      });
    });
  }

  /** statMany through rbd_open_read_only + rbd_stat only (what the header reader is checked against). */
  statManyByOpening(pool: string, names: readonly string[], concurrency: number): Promise<(ImageInfo | undefined)[]> {
    return this.conn.withIoctx(pool, (io) => mapSkippingRemoved(names, concurrency, (name) => this.statIn(io, pool, name, false)));
  }

  /** rbd_create4. EEXIST when the name is taken; EDOM/EINVAL for bad order or striping. */
  create(pool: string, name: string, size: number, opts: CreateImageOptions = {}): Promise<void> {
    const bad = badSize('newImage', 'rbd_create4', pool, name, size);
    if (bad) return Promise.reject(bad);
    return this.conn.withIoctx(pool, (io) => io.use('rbd_create4', (p) => withImageOptions({ format: 2, ...opts }, (o) =>
      nativeChecked('newImage', 'rbd_create4', `${pool}/${name}`, rbdImage.create4, p, name, size, o).then(() => undefined))));
  }

  /** create(), then describeNew(): the full representation of the new image without opening it. */
  async createDescribed(pool: string, name: string, size: number, opts: CreateImageOptions = {}): Promise<ImageInfo> {
    await this.create(pool, name, size, opts);
    return this.describeNew(pool, name);
  }

  /**
   * Full details of an image this service has just created, without opening it (an open registers a watch
   * and costs ~10 OSD round trips; a clone's opens its parent too): its id from `rbd_id.<name>` (one read),
   * then its header in one compound read (image-header.ts). Watchers are given as [] — nobody has had the time
   * to open an image made a moment ago, and listing them would cost another round trip. When the header
   * reader cannot answer exactly, the image is opened read-only as stat() does. `knownId`: the id when the
   * caller has just read `rbd_id.<name>` itself (imageId()), which saves that read. `cloneOf`: the source of a
   * clone just made (a pool spec, image and snapshot): the header's parent ids (pool id, image id) are checked
   * against it and the answer names it; anything that differs, or a parent in a namespace (cls_rbd's
   * get_parent answers EXDEV for it), is opened instead.
   */
  describeNew(pool: string, name: string, knownId?: string, cloneOf?: CloneOrigin): Promise<ImageInfo> {
    const target = `${pool}/${name}`;
    return this.conn.withIoctx(pool, async (io) => {
      const id = knownId ?? await readImageId(io, name, target);
      const h = id === undefined ? undefined : await readImageHeader(io, id, target, { clone: cloneOf !== undefined });
      const parent = h?.parentRef && cloneOf ? await this.namedParent(h.parentRef, cloneOf) : null;
      // a journaled image may be mirrored from birth (a pool of mirror mode "pool"): opened, as stat() says it;
      // any other new image is not mirrored (image mode mirrors only what is enabled by hand)
      const journaled = h !== undefined && (h.featureBits & FEATURE_BITS.journaling) !== 0n;
      if (id === undefined || !h || parent === undefined || journaled) return this.statIn(io, pool, name);
      const cloneDepth = parent && h.parentRef
        ? 1 + await depthOf(this.conn, { pool: parent.pool, namespace: parent.namespace, imageId: h.parentRef.imageId })
        : 0;
      // a new image has no snapshot limit and no watchers yet
      return { ...fromHeader(name, id, pool, h, await this.dataPoolName(io, h.dataPoolId)), parent, cloneDepth, snapshotLimit: null, watchers: [], mirroring: null };
    });
  }

  /** `ref` (a clone header's parent) named as `origin`, when its pool id and image id are origin's; else undefined */
  private async namedParent(ref: ParentRef, origin: CloneOrigin): Promise<ImageParent | undefined> {
    const { pool, namespace } = splitPoolSpec(origin.spec);
    if (namespace !== '') return undefined;
    const same = await this.conn.withIoctx(origin.spec, async (src) =>
      ref.poolId === await src.use('rados_ioctx_get_id', async (p) => toNumber(radosPool.ioctxGetId(p) as number | bigint))
      && ref.imageId === await readImageId(src, origin.image, `${origin.spec}/${origin.image}`))
      .catch(() => false); // the source's pool gone meanwhile, or any doubt: the caller opens the clone
    return same ? { pool, namespace: '', image: origin.image, snapshot: origin.snapshot, overlap: ref.overlap } : undefined;
  }

  /**
   * The size of an image this service has just made (a clone, whose details only an open gives): its id
   * from `rbd_id.<name>`, then its header's size — two reads instead of an open. Opens it when they cannot answer.
   */
  sizeOfNew(pool: string, name: string): Promise<number> {
    const target = `${pool}/${name}`;
    return this.conn.withIoctx(pool, async (io) => {
      const id = await readImageId(io, name, target);
      const size = id === undefined ? undefined : await readImageSize(io, id, target);
      return size ?? (await this.statIn(io, pool, name)).size;
    });
  }

  /** The id of image `name` from its `rbd_id.<name>` object (one read); undefined when there is none. */
  imageId(pool: string, name: string): Promise<string | undefined> {
    return this.conn.withIoctx(pool, (io) => readImageId(io, name, `${pool}/${name}`));
  }

  /**
   * Resize. Shrinking discards data beyond the new size, so it needs allowShrink; without it
   * librbd refuses with EINVAL and nothing changes.
   */
  resize(pool: string, name: string, size: number, allowShrink: boolean): Promise<void> {
    const bad = badSize('image', 'rbd_resize2', pool, name, size);
    if (bad) return Promise.reject(bad);
    return this.conn.withIoctx(pool, (io) =>
      withImage(io, pool, name, false, (img) =>
        // a shrink trims objects (without an object map: every object number): on the long-call budget
        (allowShrink ? nativeLong : nativeChecked)('image', 'rbd_resize2', `${pool}/${name}`, rbdImage.resize2, img, size, allowShrink, noProgress, null)
          .then(() => undefined)));
  }

  /** rbd_remove: EBUSY while the image has watchers, ENOTEMPTY while it has snapshots. */
  remove(pool: string, name: string): Promise<void> {
    return this.conn.withIoctx(pool, (io) => io.use('rbd_remove', async (p) => {
      await nativeChecked('image', 'rbd_remove', `${pool}/${name}`, rbdImage.remove, p, name);
    }));
  }

  /** Create a snapshot (used by tests and tools; the API never deletes snapshots on its own). */
  snapshotCreate(pool: string, name: string, snap: string): Promise<void> {
    return this.conn.withIoctx(pool, (io) =>
      withImage(io, pool, name, false, (img) =>
        nativeChecked('snapshot', 'rbd_snap_create', `${pool}/${name}@${snap}`, rbdSnapshot.create, img, snap).then(() => undefined)));
  }

  snapshotRemove(pool: string, name: string, snap: string): Promise<void> {
    return this.conn.withIoctx(pool, (io) =>
      withImage(io, pool, name, false, (img) =>
        nativeChecked('snapshot', 'rbd_snap_remove', `${pool}/${name}@${snap}`, rbdSnapshot.remove, img, snap).then(() => undefined)));
  }

  /**
   * Open an image read-write and keep it open (a watcher) until the returned function is called.
   * For tests and tools that need an image "in use".
   */
  async hold(pool: string, name: string): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    let opened!: () => void;
    let failed!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => { opened = res; failed = rej; });
    const done = this.conn.withIoctx(pool, (io) => withImage(io, pool, name, false, async () => {
      opened();
      await released;
    })).catch((e: unknown) => failed(e));
    await ready;
    return async () => { release(); await done; };
  }

  private statIn(io: Handle<'rados_ioctx_t'>, pool: string, name: string, withWatchers = true, byId?: string,
    chains: ChainCache = newChainCache()): Promise<ImageInfo> {
    const target = `${pool}/${name}`;
    return withImage(io, pool, name, true, async (img) => {
      const b = readBasics(img, target);
      const ts = {} as TimespecValue;
      nativeInline('image', 'rbd_get_create_timestamp', target, rbdImage.getCreateTimestamp, img, ts);
      const dataPoolIdRaw = rbdImage.getDataPoolId(img) as number | bigint;
      const snapshotCount = countSnapshots(img, target);
      const p = readParent(img, target); // inline: the parent is opened with the image (clones.ts)
      const parent = p && { pool: p.pool, namespace: p.namespace, image: p.image, snapshot: p.snapshot, overlap: p.overlap };
      // the parent's own ancestors from their headers (clone-chain.ts), not by opening them
      const cloneDepth = p ? 1 + await depthOf(this.conn, { pool: p.pool, namespace: p.namespace, imageId: p.imageId }, chains) : 0;
      const watchers = withWatchers ? await listWatchers(img, target) : undefined;
      // one image asked for (not a listing): its snapshot limit too (one more OSD read)
      const snapshotLimit = withWatchers ? await readSnapshotLimit(img, target) : undefined;
      const mirroring = withWatchers ? await imageMirroring(img, target) : undefined;
      const dataPoolId = toNumber(dataPoolIdRaw);
      const dataPool = await this.dataPoolName(io, dataPoolId);
      return {
        name,
        id: b.id,
        pool,
        size: b.size,
        objectSize: b.objectSize,
        order: b.order,
        objects: b.objects,
        features: featureNames(b.featureBits),
        featureBits: b.featureBits,
        stripeUnit: b.stripeUnit,
        stripeCount: b.stripeCount,
        dataPool,
        blockNamePrefix: b.blockNamePrefix,
        createdAt: new Date(toNumber(ts.tv_sec) * 1000 + Math.floor(toNumber(ts.tv_nsec) / 1e6)).toISOString(),
        snapshotCount,
        parent,
        cloneDepth,
        ...(snapshotLimit !== undefined ? { snapshotLimit } : {}),
        ...(watchers ? { watchers } : {}),
        ...(mirroring !== undefined ? { mirroring } : {}),
      };
    }, byId);
  }

  /**
   * The name of an image's data pool, or null when its data live in the image's own pool (librbd reports
   * that pool's id, the header -1). `cache` shares the lookups of one listing.
   */
  private dataPoolName(io: Handle<'rados_ioctx_t'>, dataPoolId: number, cache?: Map<number, Promise<string | null>>): Promise<string | null> {
    if (dataPoolId < 0) return Promise.resolve(null);
    let name = cache?.get(dataPoolId);
    if (!name) {
      name = io.use('rados_ioctx_get_id', async (p) => toNumber(radosPool.ioctxGetId(p) as number | bigint))
        .then((own) => (own === dataPoolId ? null : this.poolName(dataPoolId)));
      cache?.set(dataPoolId, name);
    }
    return name;
  }

  private poolName(id: number): Promise<string> {
    return this.conn.withCluster('rados_pool_reverse_lookup', async (cluster) => {
      const buf = Buffer.alloc(256);
      await nativeChecked('cluster', 'rados_pool_reverse_lookup', String(id), radosPool.poolReverseLookup, cluster, id, buf, buf.length);
      return cString(buf);
    });
  }
}

/**
 * `fn` over `items`, at most `concurrency` at a time, results in order; an item whose image is gone
 * (ENOENT: removed since it was listed) gives undefined, any other error fails the whole.
 */
async function mapSkippingRemoved<I, R>(items: readonly I[], concurrency: number, fn: (item: I) => Promise<R>): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (e) {
        if (!isCephError(e, 'ENOENT')) throw e;
        results[i] = undefined;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
  return results;
}

/** Open an image (by name, or read-only by `byId`) for the duration of `fn`, always closing it. */
async function withImage<T>(io: Handle<'rados_ioctx_t'>, pool: string, name: string, readOnly: boolean,
  fn: (img: Pointer) => Promise<T>, byId?: string): Promise<T> {
  // by id only read-only (a listing's fallback for a name that is not valid UTF-8)
  return withOpenImage(io, pool, name, { readOnly, byId: readOnly ? byId : undefined }, fn);
}
