// Clone chains: how deep an image sits below its oldest ancestor (cloneDepth), the chain itself, and the
// service's depth policy (CLONE_DEPTH_SOFT / CLONE_DEPTH_HARD, as ceph-csi's rbdsoftmaxclonedepth /
// rbdhardmaxclonedepth).
//
// Cost: a chain is walked through the parents' header objects, one cls_rbd `parent_get` per level (one OSD
// read each; the image is never opened), in the pool and namespace the header names. cls_rbd's older
// `get_parent` answers EXDEV for a parent in a namespace; `parent_get` (Nautilus and later) names the namespace.
// A pool id is turned into its name once per walk cache. A listing shares one cache between its images, so
// siblings and cousins read their common ancestors once; an image that is not a clone costs nothing.
//
// An ancestor that cannot be read (its pool deleted, a key without access to it) ends the count there: the image
// is still described, with the depth known so far.
// The walk stops after MAX_WALK levels (a loop of parent links cannot exist in librbd, but a corrupted header
// must not make the service spin): depth is then reported as that bound.
import { radosPool } from '../native/rados-pool.js';
import { cString } from '../native/memory.js';
import { E } from '../native/errno.js';
import { nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError } from './errors.js';
import { readImageId } from './image-directory.js';
import { cls, directoryName } from './rbd-objects.js';
import { poolSpec, splitPoolSpec } from './spec.js';

/** ceph-csi's defaults (cmd/cephcsi.go: rbdsoftmaxclonedepth 4, rbdhardmaxclonedepth 8). */
export const DEFAULT_CLONE_DEPTH = { soft: 4, hard: 8 } as const;
export interface CloneDepthLimits { soft: number; hard: number }

/** No chain is followed further than this (ceph-csi caps its hard limit at 14). */
export const MAX_WALK = 32;

/** One link of a chain: an image by pool, namespace and id (its name when known). */
export interface ChainLink { pool: string; namespace: string; imageId: string; image?: string | undefined; hidden?: boolean }

/** Shared by the images of one answer: depth by `pool/namespace/imageId`, pool names by id. */
export interface ChainCache { depths: Map<string, Promise<number>>; pools: Map<number, Promise<string>> }
export const newChainCache = (): ChainCache => ({ depths: new Map(), pools: new Map() });

const key = (l: ChainLink): string => `${l.pool}\0${l.namespace}\0${l.imageId}`;

/**
 * cls_rbd parent_get on `rbd_header.<id>`: the parent as (pool id, namespace, image id), or null for no parent.
 * Encoding: ENCODE_START(1,1) (u8, u8, u32 length), s64 pool id (-1: none), string namespace, string image id,
 * u64 snap id.
 */
async function parentOf(session: CephSession, link: ChainLink): Promise<{ poolId: number; namespace: string; imageId: string } | null> {
  const spec = poolSpec(link.pool, link.namespace || undefined);
  const target = `${spec} image id ${link.imageId}`;
  const { rc, out } = await session.withIoctx(spec, (io) => cls(io, `rbd_header.${link.imageId}`, 'parent_get', Buffer.alloc(0), 512));
  if (rc < 0) throw new CephError('image', 'cls_rbd.parent_get', rc, target);
  const bad = (): CephError => new CephError('image', 'cls_rbd.parent_get', -E.EIO, `${target}: unexpected parent_get answer`);
  if (out.length < 6 + 8 + 8) throw bad();
  let at = 6;
  const poolId = out.readBigInt64LE(at); at += 8;
  if (poolId < 0n) return null;
  const nsLen = out.readUInt32LE(at); at += 4;
  const namespace = out.toString('utf8', at, at + nsLen); at += nsLen;
  if (at + 4 > out.length) throw bad();
  const idLen = out.readUInt32LE(at); at += 4;
  const imageId = out.toString('utf8', at, at + idLen);
  if (!/^[0-9a-zA-Z]+$/.test(imageId)) throw bad();
  return { poolId: Number(poolId), namespace, imageId };
}

function poolName(session: CephSession, id: number, cache: ChainCache): Promise<string> {
  let p = cache.pools.get(id);
  if (!p) {
    p = session.withCluster('rados_pool_reverse_lookup', async (cluster) => {
      const buf = Buffer.alloc(256);
      await nativeChecked('pool', 'rados_pool_reverse_lookup', String(id), radosPool.poolReverseLookup, cluster, id, buf, buf.length);
      return cString(buf);
    });
    cache.pools.set(id, p);
  }
  return p;
}

/** The parent link of `link` (null: not a clone). */
async function parentLink(session: CephSession, link: ChainLink, cache: ChainCache): Promise<ChainLink | null> {
  const p = await parentOf(session, link);
  return p && { pool: await poolName(session, p.poolId, cache), namespace: p.namespace, imageId: p.imageId };
}

/** How many parent links lie above `link`: 0 for an image that is not a clone. Cached per `cache`. */
export function depthOf(session: CephSession, link: ChainLink, cache: ChainCache = newChainCache(), guard = 0): Promise<number> {
  const k = key(link);
  let d = cache.depths.get(k);
  if (!d) {
    d = (async () => {
      if (guard >= MAX_WALK) return MAX_WALK;
      let parent: ChainLink | null;
      try {
        parent = await parentLink(session, link, cache);
      } catch (e) {
        // an ancestor the service cannot read (its pool gone, no capability, an old OSD without parent_get): the
        // chain is counted up to it, and the image is still described (a timeout is not hidden)
        if (!(e instanceof CephError) || e.kind !== 'ceph' || e.code === 'ETIMEDOUT') throw e;
        return 0;
      }
      return parent ? Math.min(MAX_WALK, 1 + await depthOf(session, parent, cache, guard + 1)) : 0;
    })();
    cache.depths.set(k, d);
    d.catch(() => cache.depths.delete(k));
  }
  return d;
}

/** The chain from `link` up to its oldest ancestor (`link` first), names looked up in each directory. */
export async function chainOf(session: CephSession, link: ChainLink, cache: ChainCache = newChainCache()): Promise<ChainLink[]> {
  const out: ChainLink[] = [];
  let at: ChainLink | null = link;
  while (at && out.length < MAX_WALK) {
    const here: ChainLink = at;
    const spec = poolSpec(here.pool, here.namespace || undefined);
    const image = here.image ?? await session.withIoctx(spec, (io) => directoryName(io, spec, here.imageId)).catch(() => undefined);
    out.push({ ...here, image });
    at = await parentLink(session, here, cache).catch(() => null); // an unreadable ancestor ends the chain shown
  }
  return out;
}

/** The link of image `name` in pool spec `spec` (its id from rbd_id.<name>), undefined when it has none. */
export async function linkOfName(session: CephSession, spec: string, name: string): Promise<ChainLink | undefined> {
  const id = await session.withIoctx(spec, (io) => readImageId(io, name, `${spec}/${name}`));
  if (id === undefined) return undefined;
  const { pool, namespace } = splitPoolSpec(spec);
  return { pool, namespace, imageId: id, image: name };
}

/** "pool[/namespace]/image" (or the image id when its name is unknown: an image in the trash). */
export const linkText = (l: ChainLink): string => l.hidden ? '(an image in a pool or namespace this token may not use)' : `${poolSpec(l.pool, l.namespace || undefined)}/${l.image ?? `(id ${l.imageId})`}`;
