// Snapshots of an image: list (user snapshots, creation order), create, rename, protect/unprotect, remove
// (never of a snapshot with clones), rollback. One fresh image handle per operation, never shared between two
// calls at once (rbd_snap_get_timestamp's guard relies on it).
import { E } from '../native/errno.js';
import { noProgress } from '../native/progress.js';
import { RBD_SNAP_NAMESPACE_TYPE, rbdSnapshot } from '../native/rbd-snapshot.js';
import type { Pointer, TimespecValue } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { checkSnapshotName, childrenAt, listSnapshotIds, type ChildInfo } from './clones.js';
import type { CephSession } from './connection.js';
import { CephError, isCephError, SnapshotHasChildrenError, SnapshotLimitReachedError, SnapshotNotFoundError } from './errors.js';
import { readSnapshotLimit } from './snapshot-limit.js';
import type { Handle } from './handle.js';
import { imageKey, mutationLocks } from './image-lock.js';
import { withOpenImage } from './open-image.js';
import { toNumber } from '../native/memory.js';

export interface SnapshotInfo {
  name: string;
  id: number;
  /** the image's size when the snapshot was taken, bytes */
  size: number;
  createdAt: string;
  protected: boolean;
  /** clones of this snapshot */
  children: number;
}


export class Snapshots {
  constructor(private readonly conn: CephSession) {}

  /** `fn` in the image's pool spec, holding the image's mutation lock (image-lock.ts): every change goes through here. */
  private mutate<T>(spec: string, image: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return mutationLocks(this.conn).run([imageKey(spec, image)], () => this.conn.withIoctx(spec, fn));
  }

  /**
   * The user snapshots of an image, oldest first (snapshot ids grow with time): at most `limit` after the id
   * `afterId` (a page; `more` when others follow). Only the page's snapshots are read beyond their ids and names.
   */
  list(spec: string, image: string, page: { afterId?: number | undefined; limit: number } = { limit: Number.MAX_SAFE_INTEGER }):
    Promise<{ items: SnapshotInfo[]; more: boolean }> {
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
      const items = await describeSnapshots(img, `${spec}/${image}`, undefined, { afterId: page.afterId ?? -1, limit: page.limit + 1 });
      return { items: items.slice(0, page.limit), more: items.length > page.limit };
    }));
  }

  /** One user snapshot; SnapshotNotFoundError (ENOENT) when there is none of that name. */
  async get(spec: string, image: string, snap: string): Promise<SnapshotInfo> {
    checkSnapshotName('rbd_snap_list', snap, `${spec}/${image}`);
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
      const found = await describeSnapshots(img, `${spec}/${image}`, snap);
      if (!found[0]) throw new SnapshotNotFoundError(`${spec}/${image}@${snap}`);
      return found[0];
    }));
  }

  /** A user snapshot's id and size only (no timestamps, no children): SnapshotNotFoundError (ENOENT) when missing. */
  find(spec: string, image: string, snap: string): Promise<{ id: number; size: number }> {
    checkSnapshotName('rbd_snap_list', snap, `${spec}/${image}`);
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
      const s = (await userSnapshots(img, `${spec}/${image}`)).find((x) => x.name === snap);
      if (!s) throw new SnapshotNotFoundError(`${spec}/${image}@${snap}`);
      return { id: Number(s.id), size: s.size };
    }));
  }

  /** create() and get() in one hold of the image's lock: a DELETE of the snapshot cannot fall between them. */
  createDescribed(spec: string, image: string, snap: string): Promise<SnapshotInfo> {
    return mutationLocks(this.conn).run([imageKey(spec, image)], async () => {
      await this.create(spec, image, snap);
      return this.get(spec, image, snap);
    });
  }

  /**
   * The snapshot, taken unless it exists (`created` says which). An existing one is found first without the
   * image's lock (a read: a retry after a crash does not wait for the dead process's lock to expire); a missing
   * one is created and described in one hold of the lock, so a concurrent DELETE comes before or after, never between.
   */
  async ensure(spec: string, image: string, snap: string): Promise<{ created: boolean; info: SnapshotInfo }> {
    try {
      return { created: false, info: await this.get(spec, image, snap) };
    } catch (e) {
      if (!(e instanceof SnapshotNotFoundError)) throw e;
    }
    return mutationLocks(this.conn).run([imageKey(spec, image)], async () => {
      let created = true;
      try {
        await this.create(spec, image, snap);
      } catch (e) {
        if (!(e instanceof CephError && e.code === 'EEXIST')) throw e;
        created = false;
      }
      return { created, info: await this.get(spec, image, snap) };
    });
  }

  /** rbd_snap_create2 (quiesce hooks of rbd-nbd clients are notified, as `rbd snap create` does). EEXIST. */
  create(spec: string, image: string, snap: string): Promise<void> {
    checkSnapshotName('rbd_snap_create2', snap, `${spec}/${image}`);
    return this.mutate(spec, image, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      try {
        await nativeChecked('snapshot', 'rbd_snap_create2', `${spec}/${image}@${snap}`, rbdSnapshot.create2, img, snap, 0, noProgress, null);
      } catch (e) {
        // EDQUOT: the image's snapshot limit (snapshot-limit.ts) is reached
        if (isCephError(e, 'EDQUOT')) {
          throw new SnapshotLimitReachedError(`${spec}/${image}`, await readSnapshotLimit(img, `${spec}/${image}`).catch(() => null), e);
        }
        throw e;
      }
    }));
  }

  /**
   * Rename and/or protect/unprotect in one hold of the image's lock, checked before anything changes (an unprotect
   * of a snapshot with clones: SnapshotHasChildrenError, nothing renamed). Returns the snapshot as it is now.
   */
  patch(spec: string, image: string, snap: string, change: { name?: string | undefined; protected?: boolean | undefined }): Promise<SnapshotInfo> {
    const target = `${spec}/${image}`;
    return mutationLocks(this.conn).run([imageKey(spec, image)], async () => {
      checkSnapshotName('rbd_snap_list', snap, target);
      // one read-write open for the whole change: it describes, renames, (un)protects and describes again
      return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, async (img) => {
        const current = (await describeSnapshots(img, target, snap))[0];
        if (!current) throw new SnapshotNotFoundError(`${target}@${snap}`);
        if (change.protected === false && current.protected && current.children > 0) {
          throw new SnapshotHasChildrenError(`${target}@${snap}`, snap, await childrenOf(img, target, snap));
        }
        let now = snap;
        if (change.name !== undefined && change.name !== snap) {
          checkSnapshotName('rbd_snap_rename', change.name, target);
          await nativeChecked('snapshot', 'rbd_snap_rename', `${target}@${snap}`, rbdSnapshot.rename, img, snap, change.name);
          now = change.name;
        }
        if (change.protected !== undefined && (await isProtected(img, now, `${target}@${now}`)) !== change.protected) {
          try {
            if (change.protected) await nativeChecked('snapshot', 'rbd_snap_protect', `${target}@${now}`, rbdSnapshot.protect, img, now);
            else await nativeChecked('snapshot', 'rbd_snap_unprotect', `${target}@${now}`, rbdSnapshot.unprotect, img, now);
          } catch (e) {
            if (!(e instanceof CephError && e.code === 'EBUSY' && e.op === 'rbd_snap_unprotect')) throw e;
            throw new SnapshotHasChildrenError(`${target}@${now}`, now, await childrenOf(img, target, now));
          }
        }
        const after = (await describeSnapshots(img, target, now))[0];
        if (!after) throw new SnapshotNotFoundError(`${target}@${now}`);
        return after;
      }));
    });
  }

  /** rbd_snap_rename: ENOENT (from missing), EEXIST (to taken). */
  rename(spec: string, image: string, from: string, to: string): Promise<void> {
    checkSnapshotName('rbd_snap_rename', from, `${spec}/${image}`);
    checkSnapshotName('rbd_snap_rename', to, `${spec}/${image}`);
    return this.mutate(spec, image, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      await nativeChecked('snapshot', 'rbd_snap_rename', `${spec}/${image}@${from}`, rbdSnapshot.rename, img, from, to);
    }));
  }

  /**
   * Protect or unprotect; nothing to do when it already is as asked (returns false). Unprotecting a snapshot
   * with clones: EBUSY (op rbd_snap_unprotect).
   */
  setProtected(spec: string, image: string, snap: string, protect: boolean): Promise<boolean> {
    checkSnapshotName('rbd_snap_is_protected', snap, `${spec}/${image}`);
    const target = `${spec}/${image}@${snap}`;
    return this.mutate(spec, image, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      if ((await isProtected(img, snap, target)) === protect) return false;
      if (protect) await nativeChecked('snapshot', 'rbd_snap_protect', target, rbdSnapshot.protect, img, snap);
      else await nativeChecked('snapshot', 'rbd_snap_unprotect', target, rbdSnapshot.unprotect, img, snap);
      return true;
    }));
  }

  /** The clones of one snapshot. */
  children(spec: string, image: string, snap: string): Promise<ChildInfo[]> {
    checkSnapshotName('rbd_snap_list', snap, `${spec}/${image}`);
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, (img) => childrenOf(img, `${spec}/${image}`, snap)));
  }

  /**
   * Remove a user snapshot that has no clones and is not protected. librbd would remove one with clone-v2
   * children without an error and move it to the trash namespace: this refuses it (EBUSY, op
   * snapshot_has_children) after looking at its children on the same handle. A protected snapshot: EBUSY
   * (op rbd_snap_remove2). Flags 0: never unprotects or flattens anything.
   */
  remove(spec: string, image: string, snap: string): Promise<void> {
    checkSnapshotName('rbd_snap_remove2', snap, `${spec}/${image}`);
    const target = `${spec}/${image}@${snap}`;
    return this.mutate(spec, image, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      const s = (await userSnapshots(img, `${spec}/${image}`)).find((x) => x.name === snap);
      if (!s) throw new SnapshotNotFoundError(target);
      const children = await childrenAt(img, s.id, target);
      if (children.length > 0) throw new SnapshotHasChildrenError(target, snap, children.map((c) => ({ ...c, snapshot: snap })));
      if (await isProtected(img, snap, target)) throw new CephError('snapshot', 'rbd_snap_remove2', -E.EBUSY, target);
      await nativeChecked('snapshot', 'rbd_snap_remove2', target, rbdSnapshot.remove2, img, snap, 0, noProgress, null);
    }));
  }

  /**
   * Roll the image back to a snapshot (rewrites every object: minutes for big images; on the long-call
   * budget). `progress` is a librbd progress callback, never NULL. EROFS while another client holds the
   * exclusive lock; the caller checks watchers first (librbd does not refuse a client that merely has it open).
   */
  rollback(spec: string, image: string, snap: string, progress: unknown = noProgress): Promise<void> {
    checkSnapshotName('rbd_snap_rollback_with_progress', snap, `${spec}/${image}`);
    if (!progress) return Promise.reject(new CephError('snapshot', 'rbd_snap_rollback_with_progress', -E.EINVAL, 'a progress callback is required'));
    const target = `${spec}/${image}@${snap}`;
    return this.mutate(spec, image, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      await nativeLong('snapshot', 'rbd_snap_rollback_with_progress', target, rbdSnapshot.rollbackWithProgress, img, snap, progress, null);
    }));
  }
}

/** The clones of the user snapshot `snap` of an open image (`target`: its pool spec and name); ENOENT when there is none. */
async function childrenOf(img: Pointer, target: string, snap: string): Promise<ChildInfo[]> {
  const s = (await userSnapshots(img, target)).find((x) => x.name === snap);
  if (!s) throw new SnapshotNotFoundError(`${target}@${snap}`);
  return (await childrenAt(img, s.id, `${target}@${snap}`)).map((c) => ({ ...c, snapshot: snap }));
}

/** User-namespace snapshots of an open image, in id order. */
export async function userSnapshots(img: Pointer, target: string): Promise<{ id: bigint; name: string; size: number }[]> {
  const out: { id: bigint; name: string; size: number }[] = [];
  for (const s of await listSnapshotIds(img, target)) {
    const type = await namespaceType(img, s.id, target);
    if (type === RBD_SNAP_NAMESPACE_TYPE.USER) out.push(s);
  }
  return out;
}

/** rbd_snap_get_namespace_type; undefined when the id is gone (another client removed it). */
async function namespaceType(img: Pointer, id: bigint, target: string): Promise<number | undefined> {
  const t: [number] = [-1];
  const rc = await native<number>('rbd_snap_get_namespace_type', rbdSnapshot.getNamespaceType, img, id, t);
  if (rc === -E.ENOENT) return undefined;
  if (rc < 0) throw new CephError('snapshot', 'rbd_snap_get_namespace_type', rc, target);
  return t[0];
}

async function isProtected(img: Pointer, snap: string, target: string): Promise<boolean> {
  const p: [number] = [0];
  await nativeChecked('snapshot', 'rbd_snap_is_protected', target, rbdSnapshot.isProtected, img, snap, p);
  return p[0] !== 0;
}

/**
 * Details of the user snapshots of an open image (only `only`, when given). Each timestamp read is guarded:
 * rbd_snap_get_timestamp aborts the process for an id the handle does not know, so rbd_snap_get_namespace_type
 * (which refreshes the handle and answers ENOENT for such an id) runs right before it on the same handle.
 */
async function describeSnapshots(img: Pointer, target: string, only?: string,
  page: { afterId: number; limit: number } = { afterId: -1, limit: Number.MAX_SAFE_INTEGER }): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for (const s of await listSnapshotIds(img, target)) {
    if (out.length >= page.limit) break;
    if (Number(s.id) <= page.afterId) continue;
    if (only !== undefined && s.name !== only) continue;
    const type = await namespaceType(img, s.id, target);
    if (type !== RBD_SNAP_NAMESPACE_TYPE.USER) continue; // gone meanwhile, or trash/group/mirror
    const ts = {} as TimespecValue;
    await nativeChecked('snapshot', 'rbd_snap_get_timestamp', target, rbdSnapshot.getTimestamp, img, s.id, ts);
    let prot: boolean;
    try {
      prot = await isProtected(img, s.name, `${target}@${s.name}`);
    } catch (e) {
      if (e instanceof CephError && e.code === 'ENOENT') continue; // removed or renamed meanwhile
      throw e;
    }
    const children = await childrenAt(img, s.id, `${target}@${s.name}`);
    out.push({
      name: s.name,
      id: Number(s.id),
      size: s.size,
      createdAt: new Date(toNumber(ts.tv_sec) * 1000 + Math.floor(toNumber(ts.tv_nsec) / 1e6)).toISOString(),
      protected: prot,
      children: children.length,
    });
  }
  return out;
}
