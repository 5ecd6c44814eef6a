// The whole tree of clones below an image (GET …/images/{image}/descendants): breadth first, each image's
// children as librbd lists them (rbd_list_children3 per snapshot, in every pool and namespace the service's key
// can read; a snapshot in the trash namespace — removed while v2 clones still use it — counts too). A child in the
// image trash is listed and opened by its id, so its own clones are found as well. Bounded: at most
// DESCENDANTS_MAX images are gathered (`truncated` says when more exist); each image costs one read-only open.
import type { CephSession } from './connection.js';
import { childrenAt, compareChildren, listSnapshotIds, specOfLinked } from './clones.js';
import { isCephError } from './errors.js';
import { withOpenImage } from './open-image.js';
import { splitPoolSpec } from './spec.js';

/** The most descendants one answer gathers (every page of it re-reads the tree up to here). */
export const DESCENDANTS_MAX = 1000;

export interface DescendantInfo {
  pool: string;
  namespace: string;
  image: string;
  /** the clone sits in the image trash */
  trash: boolean;
  /** 1 for a clone of the image itself, 2 for a clone of such a clone, … */
  depth: number;
  /** the image and snapshot it is a clone of */
  parent: { pool: string; namespace: string; image: string; snapshot: string };
}

interface Node { spec: string; image: string; imageId?: string | undefined; depth: number }

/** Every clone below `spec`/`image`, breadth first (each level by parent, then snapshot id, pool, namespace, name). */
export async function descendants(session: CephSession, spec: string, image: string, max = DESCENDANTS_MAX):
  Promise<{ items: DescendantInfo[]; truncated: boolean }> {
  const items: DescendantInfo[] = [];
  const seen = new Set<string>();
  const queue: Node[] = [{ spec, image, depth: 0 }];
  let first = true;
  while (queue.length > 0) {
    const node = queue.shift()!;
    let children: { pool: string; namespace: string; image: string; imageId?: string; trash: boolean; snapshot: string; snapshotId: number }[];
    try {
      children = await session.withIoctx(node.spec, (io) => withOpenImage(io, node.spec, node.image,
        { readOnly: true, byId: node.imageId || undefined }, async (img) => {
          const target = `${node.spec}/${node.image}`;
          const out = [];
          for (const s of await listSnapshotIds(img, target)) {
            const at = (await childrenAt(img, s.id, target)).map((c) => ({ ...c, snapshot: s.name, snapshotId: Number(s.id) }));
            out.push(...at.sort(compareChildren));
          }
          return out;
        }));
    } catch (e) {
      // the image asked for must exist (404); a descendant removed since it was listed has no clones any more
      if (!first && isCephError(e, 'ENOENT')) continue;
      throw e;
    }
    first = false;
    const { pool, namespace } = splitPoolSpec(node.spec);
    for (const c of children) {
      const key = `${c.pool}\0${c.namespace}\0${c.imageId || c.image}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (items.length >= max) return { items, truncated: true };
      items.push({
        pool: c.pool, namespace: c.namespace, image: c.image, trash: c.trash, depth: node.depth + 1,
        parent: { pool, namespace, image: node.image, snapshot: c.snapshot },
      });
      queue.push({ spec: specOfLinked(c.pool, c.namespace), image: c.image, imageId: c.trash ? c.imageId : undefined, depth: node.depth + 1 });
    }
  }
  return { items, truncated: false };
}
