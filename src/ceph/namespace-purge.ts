// A namespace removed with everything in it (DELETE /pools/{p}/namespaces/{ns}?confirm={ns}&force=true): the
// `namespace.purge` task.
//
// The plan (planPurge): every image of the namespace — listed ones and trash entries — opened read-only by id: its
// parent, its snapshots (every snapshot namespace), the clones of each snapshot, its watchers. Refused before anything
// is removed (PurgeRefusedError) when
//   - a clone in ANOTHER namespace or pool has its parent here (the documented choice: it is not flattened behind its
//     owner's back; flatten or delete it first), or
//   - an image is open by a client (removing it would fail half way anyway).
// The route makes the same plan up front (409 at once); the task makes it again on every run.
//
// The run: images deepest first (a clone before its parent, within the namespace), each one under its mutation lock:
//   1. its user snapshots removed with RBD_SNAP_REMOVE_UNPROTECT (a protected one is unprotected only now, once the
//      clones below it are gone). A snapshot in the trash namespace (removed while v2 clones used it) is not touched:
//      librbd deletes it when its last clone goes, which happened before.
//   2. a listed image is moved to the trash (rbd_trash_move, no deferment), then every entry is removed with
//      rbd_trash_remove_with_progress(force): one path with progress for data of any size, and one that a resumed
//      run continues from wherever the previous one stopped (an image already in the trash is just an entry).
// then the namespace itself (rbd_namespace_remove). Progress: one share per image. Idempotent: a resumed run (the
// runner killed, a replica took over after fencing it) plans again from what is left; every step tolerates its
// work already done (ENOENT). Cancel: between images (the removed ones stay removed).
import { noProgress } from '../native/progress.js';
import { RBD_SNAP_NAMESPACE_TYPE, RBD_SNAP_REMOVE, rbdSnapshot } from '../native/rbd-snapshot.js';
import { rbdTrash } from '../native/rbd-trash.js';
import { rbdNamespace } from '../native/rbd-namespace.js';
import type { Pointer } from '../native/types.js';
import { E } from '../native/errno.js';
import { native, nativeChecked } from './call.js';
import { childrenAt, listSnapshotIds, readParent } from './clones.js';
import type { CephSession } from './connection.js';
import { CephError, isCephError, PurgeRefusedError, TaskFailure, type ForeignClone } from './errors.js';
import { holdForTask, imageKey, trashKey } from './image-lock.js';
import { listWatchers } from './image-info.js';
import { listImages } from './image-names.js';
import { closeImage, openImage } from './open-image.js';
import { poolSpec } from './spec.js';
import type { TaskEngine } from './tasks/engine.js';
import type { TaskContext, TaskRecord } from './tasks/types.js';
import { listTrash } from './trash.js';
import { removeEntry } from './trash-tasks.js';

export const NAMESPACE_PURGE_ACTION = 'namespace.purge';

/** One image of the namespace, listed (`name`) or in its trash (`trash`). */
export interface PurgeItem { id: string; name: string; trash: boolean; depth: number; snapshots: number }
export interface PurgePlan { items: PurgeItem[] }

interface Inspected { item: Omit<PurgeItem, 'depth'>; parentId: string | undefined; foreign: ForeignClone[]; watchers: string[] }

/** Open `id` read-only in `p` and read what the plan needs. ENOENT: gone meanwhile. */
async function inspect(p: Pointer, pool: string, namespace: string, entry: { id: string; name: string; trash: boolean }): Promise<Inspected> {
  const spec = poolSpec(pool, namespace);
  const target = `${spec}/${entry.name || entry.id}`;
  const img = await openImage(p, target, entry.name, { readOnly: true, byId: entry.id });
  try {
    const parent = readParent(img, target);
    const parentId = parent && parent.pool === pool && parent.namespace === namespace ? parent.imageId : undefined;
    const snaps = await listSnapshotIds(img, target);
    const foreign: ForeignClone[] = [];
    for (const s of snaps) {
      for (const c of await childrenAt(img, s.id, target)) {
        if (c.pool !== pool || c.namespace !== namespace) {
          foreign.push({ pool: c.pool, namespace: c.namespace, image: c.image, parent: `${target}@${s.name}` });
        }
      }
    }
    const watchers = (await listWatchers(img, target)).map((w) => w.address);
    return { item: { ...entry, snapshots: snaps.length }, parentId, foreign, watchers };
  } finally {
    await closeImage(img);
  }
}

/**
 * What a purge of `pool`/`namespace` would remove, deepest clones first; PurgeRefusedError when a clone elsewhere
 * depends on it or an image is open. CephError ENOENT (subject namespace) when the namespace does not exist.
 */
export async function planPurge(session: CephSession, pool: string, namespace: string, opts: { ignoreWatchers?: boolean } = {}): Promise<PurgePlan> {
  const spec = poolSpec(pool, namespace);
  const exists = await session.withIoctx(pool, (io) => io.use('rbd_namespace_exists', async (p) => {
    const out: [boolean] = [false];
    await nativeChecked('namespace', 'rbd_namespace_exists', spec, rbdNamespace.exists, p, namespace, out);
    return out[0];
  }));
  if (!exists) throw new CephError('namespace', 'rbd_namespace_exists', -E.ENOENT, spec);
  return session.withIoctx(spec, (io) => io.use('namespace_purge_plan', async (p) => {
    const listed = (await listImages(p, spec, (names) => ({ page: names }))).picked.map((s) => ({ id: s.id, name: s.name, trash: false }));
    const trashed = (await listTrash(p, spec)).filter((e) => e.id).map((e) => ({ id: e.id!, name: e.name ?? '', trash: true }));
    const seen = new Map<string, Inspected>();
    for (const entry of [...listed, ...trashed]) {
      if (seen.has(entry.id)) continue;
      try {
        seen.set(entry.id, await inspect(p, pool, namespace, entry));
      } catch (e) {
        if (!isCephError(e, 'ENOENT')) throw e; // removed meanwhile
      }
    }
    const all = [...seen.values()];
    const foreign = all.flatMap((i) => i.foreign);
    const inUse = opts.ignoreWatchers ? [] : all.filter((i) => i.watchers.length > 0).map((i) => ({ image: i.item.name || i.item.id, watchers: i.watchers }));
    if (foreign.length > 0 || inUse.length > 0) throw new PurgeRefusedError(spec, foreign, inUse);
    const depth = (id: string, guard = 0): number => {
      const parent = seen.get(id)?.parentId;
      return parent && seen.has(parent) && guard < 64 ? 1 + depth(parent, guard + 1) : 0;
    };
    const items = all.map((i) => ({ ...i.item, depth: depth(i.item.id) }))
      .sort((a, b) => b.depth - a.depth || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { items };
  }));
}

/** Check up front, then queue the purge task (the route's one call). */
export async function startPurge(session: CephSession, tasks: TaskEngine, pool: string, namespace: string): Promise<{ task: TaskRecord; plan: PurgePlan }> {
  const plan = await planPurge(session, pool, namespace);
  const task = await tasks.submit(NAMESPACE_PURGE_ACTION, { pool, namespace, image: '' }, {});
  return { task, plan };
}

/** Remove every user snapshot of image `id` (unprotecting it first); the count removed. */
async function removeSnapshots(p: Pointer, target: string, id: string): Promise<number> {
  let img: Pointer;
  try {
    img = await openImage(p, target, '', { byId: id });
  } catch (e) {
    if (isCephError(e, 'ENOENT')) return 0;
    throw e;
  }
  let removed = 0;
  try {
    for (const s of await listSnapshotIds(img, target)) {
      const t: [number] = [-1];
      const rc = await native<number>('rbd_snap_get_namespace_type', rbdSnapshot.getNamespaceType, img, s.id, t);
      if (rc === -E.ENOENT || t[0] !== RBD_SNAP_NAMESPACE_TYPE.USER) continue; // gone, or librbd's own (trash, group, mirror)
      const r = await native<number>('rbd_snap_remove2', rbdSnapshot.remove2, img, s.name, RBD_SNAP_REMOVE.UNPROTECT, noProgress, null);
      if (r === -E.ENOENT) continue;
      if (r < 0) throw new CephError('snapshot', 'rbd_snap_remove2', r, `${target}@${s.name}`);
      removed++;
    }
  } finally {
    await closeImage(img);
  }
  return removed;
}

async function runPurge(ctx: TaskContext<Record<string, never>>): Promise<Record<string, unknown>> {
  const { pool, namespace } = ctx.task.target;
  const spec = poolSpec(pool, namespace);
  let plan: PurgePlan;
  try {
    // a resumed run: a watcher may be the dead runner's own (fenced, or dropped by the OSD within 30 s); the
    // removal itself retries EBUSY for a while (trash-tasks.ts removeEntry)
    plan = await planPurge(ctx.session, pool, namespace, { ignoreWatchers: ctx.attempt > 1 });
  } catch (e) {
    // a resumed run after the namespace itself went: done
    if (isCephError(e, 'ENOENT') && e.subject === 'namespace' && ctx.attempt > 1) return { namespaceRemoved: true, resumed: true };
    if (e instanceof PurgeRefusedError) throw new TaskFailure(e.foreign.length > 0 ? 'NAMESPACE_HAS_FOREIGN_CLONES' : 'IMAGE_IN_USE', e.message);
    throw e;
  }
  const total = plan.items.length + 1;
  const counts = { images: 0, trashEntries: 0, snapshots: 0 };
  for (let i = 0; i < plan.items.length; i++) {
    if (ctx.signal.aborted) throw new CephError('namespace', 'namespace_purge', -E.ECANCELED, spec);
    const it = plan.items[i]!;
    const target = `${spec}/${it.name || it.id}`;
    const keys = it.trash ? [trashKey(spec, it.id)] : [imageKey(spec, it.name), trashKey(spec, it.id)];
    await holdForTask(ctx.session, ctx.task.id, keys, () => ctx.io(async (p) => {
      counts.snapshots += await removeSnapshots(p, target, it.id);
      if (!it.trash) {
        const rc = await native<number>('rbd_trash_move', rbdTrash.move, p, it.name, 0);
        if (rc < 0 && rc !== -E.ENOENT) throw new CephError('image', 'rbd_trash_move', rc, target);
      }
      try {
        await removeEntry(ctx, `${spec} trash ${it.id}`, it.id, true, { from: i / total, to: (i + 1) / total });
      } catch (e) {
        if (!isCephError(e, 'ENOENT')) throw e;
      }
    }));
    if (it.trash) counts.trashEntries++; else counts.images++;
    ctx.progress((i + 1) / total);
  }
  await ctx.session.withIoctx(pool, (io) => io.use('rbd_namespace_remove', async (p) => {
    const rc = await native<number>('rbd_namespace_remove', rbdNamespace.remove, p, namespace);
    if (rc === -E.EBUSY || rc === -E.ENOTEMPTY) {
      throw new TaskFailure('NAMESPACE_NOT_EMPTY', `Namespace ${spec} got new images while it was being emptied; delete it again.`);
    }
    if (rc < 0 && rc !== -E.ENOENT) throw new CephError('namespace', 'rbd_namespace_remove', rc, spec);
  }));
  ctx.session.forgetPool?.(spec);
  return { namespaceRemoved: true, removed: counts };
}

export function registerNamespacePurge(tasks: TaskEngine): void {
  tasks.register<Record<string, never>>({ action: NAMESPACE_PURGE_ACTION, run: runPurge, interrupted: 'resume' });
}
