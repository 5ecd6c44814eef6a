// The RBD trash of a pool spec: list, get, move an image in (after the checks rbd_trash_move does not make),
// restore, and queue removals as tasks (their handlers: trash-tasks.ts). Facts: rbd-lifecycle-facts §3.
import { E } from '../native/errno.js';
import { GROUP_INFO_SIZE, RbdGroupInfo, rbdImage } from '../native/rbd-image.js';
import { decodeStructs, toNumber } from '../native/memory.js';
import { rbdSnapshot } from '../native/rbd-snapshot.js';
import { decodeTrashInfos, RBD_TRASH_IMAGE_SOURCE, rbdTrash, TRASH_INFO_SIZE, type TrashInfoValue } from '../native/rbd-trash.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, isCephError, TrashEntryGone, TrashMoveRefused } from './errors.js';
import { imageKey, mutationLocks, trashKey } from './image-lock.js';
import { readImageId } from './image-directory.js';
import { directoryName } from './rbd-objects.js';
import type { Handle } from './handle.js';
import { finishInterruptedMove, retryAfterInterruptedMove } from './trash-moves.js';
import type { TaskEngine } from './tasks/engine.js';
import type { TaskRecord } from './tasks/types.js';
import { closeImage, openImage } from './open-image.js';
import { listWatchers } from './image-info.js';
import { readOnlyLockOwners } from './image-locks.js';
import { splitPoolSpec } from './spec.js';

export type TrashSource = 'user' | 'mirroring' | 'migration' | 'removing' | 'user_parent';
const SOURCES: Record<number, TrashSource> = {
  [RBD_TRASH_IMAGE_SOURCE.USER]: 'user',
  [RBD_TRASH_IMAGE_SOURCE.MIRRORING]: 'mirroring',
  [RBD_TRASH_IMAGE_SOURCE.MIGRATION]: 'migration',
  [RBD_TRASH_IMAGE_SOURCE.REMOVING]: 'removing',
  [RBD_TRASH_IMAGE_SOURCE.USER_PARENT]: 'user_parent',
};

export interface TrashEntry {
  id: string;
  /** the name the image had */
  name: string;
  deletedAt: string;
  /** until then, removal needs force; restorable until it is removed */
  deferredUntil: string;
  source: TrashSource;
}

/** RBD image ids are short hex strings; anything else is refused before librbd sees it. */
export const TRASH_ID_PATTERN = /^[A-Za-z0-9]{1,64}$/;

export interface MovedImage { id: string; name: string; pool: string; deferredUntil: string }

const iso = (sec: number | bigint): string => new Date(toNumber(sec) * 1000).toISOString();

function toEntry(v: TrashInfoValue): TrashEntry {
  return {
    id: v.id ?? '', name: v.name ?? '', deletedAt: iso(v.deletion_time), deferredUntil: iso(v.deferment_end_time),
    source: SOURCES[v.source] ?? 'user',
  };
}

export class Trash {
  constructor(private readonly session: CephSession, private readonly tasks: TaskEngine) {}

  /** Every entry, newest deletion first (then by id). */
  list(spec: string): Promise<TrashEntry[]> {
    return this.session.withIoctx(spec, (io) => io.use('rbd_trash_list', async (p) => {
      const entries = (await listTrash(p, spec)).map(toEntry);
      return entries.sort((a, b) => (a.deletedAt === b.deletedAt ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.deletedAt < b.deletedAt ? 1 : -1));
    }));
  }

  /** One entry; CephError ENOENT (op rbd_trash_get) when there is none. */
  get(spec: string, id: string): Promise<TrashEntry> {
    if (!TRASH_ID_PATTERN.test(id)) return Promise.reject(new CephError('trashEntry', 'rbd_trash_get', -E.ENOENT, `${spec} trash ${id}`));
    return this.session.withIoctx(spec, (io) => io.use('rbd_trash_get', (p) => getTrash(p, spec, id)));
  }

  /**
   * Move an image to the trash, after checking what rbd_trash_move does not: no watchers, no snapshots.
   * `keepForSeconds` defers its removal (restorable until then). ENOENT when the image is not there (or
   * another request moved it first). `remove`: record the image.remove task before the move, and return it; a
   * caller that gets no task (the record failed, or a retried DELETE finished an interrupted move) queues it.
   */
  moveImage(spec: string, name: string, keepForSeconds = 0, opts: { remove?: boolean } = {}): Promise<MovedImage & { task?: TaskRecord }> {
    // the image's mutation lock (this process and every replica): two DELETEs never move one image twice (two
    // concurrent rbd_trash_move calls of one image both returned 0 here), and no change of the image (a snapshot,
    // metadata) lands between the checks below and the move, nor after it on the trashed image
    return mutationLocks(this.session).run([imageKey(spec, name)], () =>
      this.session.withIoctx(spec, (io) => io.use('rbd_trash_move', async (p) => {
        const target = `${spec}/${name}`;
        let found: Awaited<ReturnType<typeof inspect>>;
        try {
          found = await inspect(p, target, name);
        } catch (e) {
          // not there: a DELETE retried after its move was interrupted (the process killed inside rbd_trash_move)
          // finishes that move, and answers as the first one would have
          const resumed = isCephError(e, 'ENOENT') ? await resumeMoveOf(io, p, spec, name) : undefined;
          if (!resumed) throw e;
          return { id: resumed.id, name, pool: spec, deferredUntil: resumed.deferredUntil };
        }
        const { id, watchers, snapshotCount, lockOwners } = found;
        if (watchers.length > 0) throw new TrashMoveRefused('in-use', target, watchers, snapshotCount, lockOwners);
        if (snapshotCount > 0) throw new TrashMoveRefused('has-snapshots', target, watchers, snapshotCount);
        // the removal is recorded before the move (TaskEngine.prepare): a process killed between the two leaves
        // the task, which another replica runs once its reservation ends. Without a task store (it failed) the
        // move still goes ahead; the entry's space then comes back with the next purge
        const prepared = opts.remove ? await this.prepareRemove(spec, { id, name }).catch(() => undefined) : undefined;
        try {
          await nativeChecked('image', 'rbd_trash_move', target, rbdTrash.move, p, name, keepForSeconds);
        } catch (e) {
          await prepared?.abandon();
          throw e;
        }
        prepared?.start();
        return {
          id, name, pool: spec, deferredUntil: new Date(Date.now() + keepForSeconds * 1000).toISOString(),
          ...(prepared ? { task: prepared.task } : {}),
        };
      })));
  }

  /** Restore under `name` (default: the original name). EEXIST when the name is taken, ENOENT for no such entry. */
  async restore(spec: string, id: string, name?: string): Promise<string> {
    if (!TRASH_ID_PATTERN.test(id)) throw new CephError('trashEntry', 'rbd_trash_get', -E.ENOENT, `${spec} trash ${id}`);
    const restoreAs = async (finalName: string): Promise<string> => {
      await this.session.withIoctx(spec, (io) => io.use('rbd_trash_restore', async (p) => {
        // again, holding the entry: a restore or a removal that ran while this one waited may have taken it
        await getTrash(p, spec, id).catch(async (e: unknown) => {
          throw isCephError(e, 'ENOENT') ? new TrashEntryGone(spec, id, await directoryName(io, spec, id).catch(() => undefined)) : e;
        });
        // an entry an interrupted move left: finished, then restored (librbd 16.2 answers EBUSY for it, like an
        // entry being restored; later ones EUCLEAN)
        await retryAfterInterruptedMove(
          () => nativeChecked('trashEntry', 'rbd_trash_restore', `${spec}/${finalName}`, rbdTrash.restore, p, id, name ?? ''),
          () => finishInterruptedMove(io, spec, id), ['EUCLEAN', 'EBUSY']);
        // acknowledged only when the name opens this image (librbd writes rbd_id.<name> first, then the directory)
        const now = await readImageId(io, finalName, `${spec}/${finalName}`);
        if (now !== id) throw new CephError('trashEntry', 'rbd_trash_restore', -E.EBUSY, `${spec}/${finalName}: not this entry's image after the restore`);
      }));
      return finalName;
    };
    // the entry's key and the name's (image-lock.ts orders them): two restores of one entry, or a restore and a
    // create of the name, never run at once in any replica
    // an entry that is gone because its image was restored (it is listed again under its id) is a 409 for this
    // restore, not a 404: two restores of one entry give one 201, whichever order they arrive in
    const entry = await this.get(spec, id).catch(async (e: unknown) => {
      const restoredAs = isCephError(e, 'ENOENT') && e.subject === 'trashEntry'
        ? await this.session.withIoctx(spec, (io) => directoryName(io, spec, id)).catch(() => undefined) : undefined;
      throw restoredAs !== undefined ? new TrashEntryGone(spec, id, restoredAs) : e;
    });
    const finalName = name ?? entry.name;
    return mutationLocks(this.session).run([trashKey(spec, id), imageKey(spec, finalName)], () => restoreAs(finalName));
  }

  /** Queue the removal of a trash entry: `image.remove` after a DELETE of the image, `trash.remove` for DELETE /trash/{id}. */
  queueRemove(spec: string, entry: { id: string; name: string }, action: 'image.remove' | 'trash.remove', force: boolean): Promise<TaskRecord> {
    const { pool, namespace } = splitPoolSpec(spec);
    return this.tasks.submit(action, { pool, namespace, image: entry.name, imageId: entry.id }, { id: entry.id, force });
  }

  /** The image.remove task of a DELETE, recorded before its move (see moveImage). */
  private prepareRemove(spec: string, entry: { id: string; name: string }) {
    const { pool, namespace } = splitPoolSpec(spec);
    return this.tasks.prepare('image.remove', { pool, namespace, image: entry.name, imageId: entry.id }, { id: entry.id, force: true });
  }

  /** Queue a purge of every entry whose deferment has ended. */
  queuePurge(spec: string): Promise<TaskRecord> {
    const { pool, namespace } = splitPoolSpec(spec);
    return this.tasks.submit('trash.purge', { pool, namespace, image: '' }, {});
  }

}

/** The user trash entry of `name` an interrupted move left in MOVING, finished (finishInterruptedMove); undefined when there is none. */
async function resumeMoveOf(io: Handle<'rados_ioctx_t'>, p: Pointer, spec: string, name: string): Promise<TrashEntry | undefined> {
  for (const e of await listTrash(p, spec)) {
    if (e.name !== name || e.source !== RBD_TRASH_IMAGE_SOURCE.USER || !e.id) continue;
    if (await finishInterruptedMove(io, spec, e.id)) return toEntry(e);
  }
  return undefined;
}

export async function listTrash(p: Pointer, spec: string): Promise<TrashInfoValue[]> {
  let capacity = 64;
  for (let attempt = 0; attempt < 8; attempt++) {
    const buf = Buffer.alloc(Math.max(1, capacity) * TRASH_INFO_SIZE);
    const count: [number] = [capacity];
    const rc = await native<number>('rbd_trash_list', rbdTrash.list, p, buf, count);
    if (rc === -E.ERANGE) {
      capacity = Math.max(count[0], capacity * 2);
      continue;
    }
    if (rc < 0) throw new CephError('image', 'rbd_trash_list', rc, spec);
    try {
      return decodeTrashInfos(buf, rc);
    } finally {
      rbdTrash.listCleanup(buf, rc);
    }
  }
  throw new CephError('image', 'rbd_trash_list', -E.ERANGE, `${spec}: trash kept growing`);
}

async function getTrash(p: Pointer, spec: string, id: string): Promise<TrashEntry> {
  const buf = Buffer.alloc(TRASH_INFO_SIZE);
  await nativeChecked('trashEntry', 'rbd_trash_get', `${spec} trash ${id}`, rbdTrash.get, p, id, buf);
  try {
    return toEntry(decodeTrashInfos(buf, 1)[0]!);
  } finally {
    rbdTrash.getCleanup(buf);
  }
}

/** id, watchers and snapshot count of an image, through a read-only handle (which adds no watcher). */
async function inspect(p: Pointer, target: string, name: string):
  Promise<{ id: string; watchers: { address: string; id: number; cookie: number }[]; snapshotCount: number; lockOwners: string[] }> {
  const img = await openImage(p, target, name, { readOnly: true });
  try {
    const idBuf = Buffer.alloc(64);
    // read-only handle: these read memory loaded at open (see images.ts statIn)
    const rcId = rbdImage.getId(img, idBuf, idBuf.length) as number;
    if (rcId < 0) throw new CephError('image', 'rbd_get_id', rcId, target);
    const max: [number] = [0];
    const rcSnap = rbdSnapshot.list(img, null, max) as number;
    const snapshotCount = rcSnap === -E.ERANGE ? Math.max(0, max[0] - 1) : 0;
    if (rcSnap < 0 && rcSnap !== -E.ERANGE) throw new CephError('snapshot', 'rbd_snap_list', rcSnap, target);
    // librbd 16.2 moves a group's member to the trash and then refuses to remove it (EMLINK); later ones refuse
    // the move: refused here, before anything changes, on every version
    const group = Buffer.alloc(GROUP_INFO_SIZE);
    const rcGroup = rbdImage.getGroup(img, group, GROUP_INFO_SIZE) as number;
    if (rcGroup === 0) {
      const name = (decodeStructs(group, RbdGroupInfo, 1)[0] as { name: string | null }).name;
      rbdImage.groupInfoCleanup(group, GROUP_INFO_SIZE);
      if (name) throw new CephError('image', 'rbd_get_group', -E.EMLINK, `${target} (group ${name})`);
    }
    const watchers = await listWatchers(img, target);
    // the exclusive lock's owner, for the refusal's answer (only looked up when there is one to refuse)
    const lockOwners = watchers.length > 0 ? await readOnlyLockOwners(img, target) : [];
    const end = idBuf.indexOf(0);
    return { id: idBuf.toString('utf8', 0, end < 0 ? idBuf.length : end), watchers, snapshotCount, lockOwners };
  } finally {
    await closeImage(img);
  }
}
