// Dry runs (`?dryRun=true`): what a destructive operation would remove or change, read and nothing changed —
// the images, snapshots, trash entries, the clones elsewhere that depend on them, the watchers, the bytes. Each
// preview makes the checks the real operation makes first and refuses as it would (the same domain errors:
// in use, has snapshots, not empty), so a 200 preview means the real call would go ahead with exactly this
// (unless something changes in between: send the preview's ETag as If-Match to make sure it does not).
// docs/management.md "Dry runs". New destructive operations (a forced namespace removal) add their preview here.
import type { CephClient } from './client.js';
import { Clones, type ChildInfo } from './clones.js';
import { walkExtents } from './content/extents.js';
import { ImageHasSnapshotsError, ImageInUseError, isMissingInScope } from './errors.js';
import type { Watcher } from './image-info.js';
import { Namespaces } from './namespaces.js';
import { withOpenImage } from './open-image.js';
import { Snapshots } from './snapshots.js';
import { poolSpec, splitPoolSpec } from './spec.js';

export interface PreviewImage { pool: string; namespace: string; name: string; id: string; size: number; snapshots: number }
export interface PreviewSnapshot { pool: string; namespace: string; image: string; name: string; id: number; size: number }
export interface PreviewTrashEntry { pool: string; namespace: string; id: string; name: string; deferredUntil: string }
export type PreviewClone = Omit<ChildInfo, 'trash'> & { trash: boolean; parent: { pool: string; namespace: string; image: string; snapshot: string } };

export interface Preview {
  dryRun: true;
  /** deleteImage, deleteNamespace, deletePool, rollbackSnapshot, shrinkImage, purgeTrash */
  operation: string;
  /** the images removed — or changed in place (rollback, shrink) */
  images: PreviewImage[];
  /** the snapshots removed with them (a rollback: the snapshot it goes back to) */
  snapshots: PreviewSnapshot[];
  /** the trash entries removed */
  trashEntries: PreviewTrashEntry[];
  /** clones outside what is removed that read from a snapshot that goes (they would be left without a parent) */
  clones: PreviewClone[];
  /** clients with an image open (a rollback or delete refuses them; a pool delete cuts them off) */
  watchers: Watcher[];
  /** provisioned bytes removed; rollback: bytes rewritten (changed since the snapshot, whole objects); shrink: bytes cut off */
  bytes: number;
  /** data (allocated, whole objects) among those bytes, when it was counted */
  allocatedBytes?: number;
  sizeBefore?: number;
  sizeAfter?: number;
  /** more than the lists hold (they stop at LIST_MAX items each) */
  truncated: boolean;
}

/** The most items a preview lists of each kind (counts in `bytes` cover everything read). */
export const LIST_MAX = 1000;

const empty = (operation: string): Preview => ({
  dryRun: true, operation, images: [], snapshots: [], trashEntries: [], clones: [], watchers: [], bytes: 0, truncated: false,
});

/** Allocated bytes of `spec`/`image` in [start, end) changed since `from` (null: since creation), whole objects. */
function allocated(ceph: CephClient, spec: string, image: string, start: number, end: number, from: string | null): Promise<number> {
  if (end <= start) return Promise.resolve(0);
  return ceph.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
    let n = 0;
    for await (const e of walkExtents(img, `${spec}/${image}`, start, end, { from, includeParent: false, wholeObject: true, window: 1 << 30, cancelled: () => false })) {
      if (e.exists || from !== null) n += e.length;
    }
    return n;
  }));
}

/** DELETE of an image: refused as the real DELETE is (open, snapshots); else the image and its bytes. */
export async function previewImageDelete(ceph: CephClient, spec: string, image: string): Promise<Preview> {
  const info = await ceph.images.stat(spec, image);
  const watchers = info.watchers ?? [];
  if (watchers.length > 0) throw new ImageInUseError(spec, image, watchers);
  if (info.snapshotCount > 0) throw new ImageHasSnapshotsError(spec, image, info.snapshotCount);
  const { pool, namespace } = splitPoolSpec(spec);
  return {
    ...empty('deleteImage'),
    images: [{ pool, namespace, name: image, id: info.id, size: info.size, snapshots: 0 }],
    bytes: info.size,
    allocatedBytes: await allocated(ceph, spec, image, 0, info.size, null),
  };
}

/** Rollback of `image` to `snapshot`: refused while open (as the real one); else what it rewrites. */
export async function previewRollback(ceph: CephClient, spec: string, image: string, snapshot: string): Promise<Preview> {
  const snap = await new Snapshots(ceph).find(spec, image, snapshot);
  const info = await ceph.images.stat(spec, image);
  const watchers = info.watchers ?? [];
  if (watchers.length > 0) throw new ImageInUseError(spec, image, watchers);
  const { pool, namespace } = splitPoolSpec(spec);
  const changed = await allocated(ceph, spec, image, 0, Math.max(info.size, snap.size), snapshot);
  return {
    ...empty('rollbackSnapshot'),
    images: [{ pool, namespace, name: image, id: info.id, size: info.size, snapshots: info.snapshotCount }],
    snapshots: [{ pool, namespace, image, name: snapshot, id: snap.id, size: snap.size }],
    bytes: changed, sizeBefore: info.size, sizeAfter: snap.size,
  };
}

/** A shrink of `image` to `size`: the bytes cut off and the data among them. */
export async function previewShrink(ceph: CephClient, spec: string, image: string, size: number): Promise<Preview> {
  const info = await ceph.images.stat(spec, image);
  const { pool, namespace } = splitPoolSpec(spec);
  return {
    ...empty('shrinkImage'),
    images: [{ pool, namespace, name: image, id: info.id, size: info.size, snapshots: info.snapshotCount }],
    watchers: info.watchers ?? [],
    bytes: Math.max(0, info.size - size), allocatedBytes: await allocated(ceph, spec, image, size, info.size, null),
    sizeBefore: info.size, sizeAfter: size,
  };
}

/** A trash purge of `spec`: the entries whose deferment has ended (the real purge skips those it cannot remove). */
export async function previewPurge(ceph: CephClient, spec: string): Promise<Preview> {
  const now = Date.now();
  const { pool, namespace } = splitPoolSpec(spec);
  const due = (await ceph.trash.list(spec)).filter((e) => (e.source === 'user' || e.source === 'user_parent') && Date.parse(e.deferredUntil) <= now);
  return {
    ...empty('purgeTrash'),
    trashEntries: due.slice(0, LIST_MAX).map((e) => ({ pool, namespace, id: e.id, name: e.name, deferredUntil: e.deferredUntil })),
    truncated: due.length > LIST_MAX,
  };
}

/** What is in one pool spec: its images (with snapshot counts and sizes), their snapshots and outside clones, its trash. */
async function contents(ceph: CephClient, spec: string, into: Preview, removedPools: ReadonlySet<string>): Promise<void> {
  const { pool, namespace } = splitPoolSpec(spec);
  const specs = await ceph.images.listSpecs(spec);
  const infos = (await ceph.images.statMany(spec, specs, 8)).filter((i) => i !== undefined);
  const snapshots = new Snapshots(ceph);
  const clones = new Clones(ceph);
  for (const i of infos) {
    into.bytes += i.size;
    if (into.images.length < LIST_MAX) into.images.push({ pool, namespace, name: i.name, id: i.id, size: i.size, snapshots: i.snapshotCount });
    else into.truncated = true;
    if (i.snapshotCount === 0) continue;
    const snaps = await snapshots.list(spec, i.name).catch((e: unknown) => { if (isMissingInScope(e)) return { items: [] }; throw e; });
    for (const s of snaps.items) {
      if (into.snapshots.length < LIST_MAX) into.snapshots.push({ pool, namespace, image: i.name, name: s.name, id: s.id, size: s.size });
      else into.truncated = true;
    }
    const children = await clones.children(spec, i.name).catch((e: unknown) => { if (isMissingInScope(e)) return []; throw e; });
    for (const c of children) {
      if (removedPools.has(c.pool) && (namespace === c.namespace || removedPools.has(`${c.pool}/*`))) continue; // removed too
      if (into.clones.length < LIST_MAX) {
        into.clones.push({ pool: c.pool, namespace: c.namespace, image: c.image, snapshot: c.snapshot, trash: c.trash,
          parent: { pool, namespace, image: i.name, snapshot: c.snapshot } });
      } else into.truncated = true;
    }
  }
  for (const e of await ceph.trash.list(spec)) {
    if (into.trashEntries.length < LIST_MAX) into.trashEntries.push({ pool, namespace, id: e.id, name: e.name, deferredUntil: e.deferredUntil });
    else into.truncated = true;
  }
}

/** DELETE of a namespace: everything in it (today's DELETE refuses a namespace that is not empty: the route says so). */
export async function previewNamespaceDelete(ceph: CephClient, pool: string, namespace: string): Promise<Preview> {
  if (!(await new Namespaces(ceph).exists(pool, namespace))) {
    await ceph.withIoctx(poolSpec(pool, namespace), async () => undefined); // NAMESPACE_NOT_FOUND / POOL_NOT_FOUND
  }
  const out = empty('deleteNamespace');
  await contents(ceph, poolSpec(pool, namespace), out, new Set());
  return out;
}

/** DELETE of a pool (with force): every image, snapshot and trash entry of every namespace, and clones elsewhere. */
export async function previewPoolDelete(ceph: CephClient, pool: string): Promise<Preview> {
  await ceph.pools.lookup(pool);
  const out = empty('deletePool');
  const namespaces = ['', ...(await new Namespaces(ceph).list(pool).catch(() => [] as string[]))];
  for (const ns of namespaces) await contents(ceph, poolSpec(pool, ns || undefined), out, new Set([pool, `${pool}/*`]));
  return out;
}
