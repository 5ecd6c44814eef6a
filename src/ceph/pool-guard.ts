// The pool-deletion guard: a pool delete without `force` never destroys an image whose create was acknowledged.
//
// Check-then-delete alone loses images created between the emptiness check and the mon's delete. So:
//   deleter:  1. create the marker object `rbdapi.pool-deleting` (default namespace) EXCLUSIVELY, with an
//                owner xattr (one deleter at a time; a marker older than MARKER_STALE_MS is taken over);
//             2. scan every namespace: trash, directory, trash (an image moved to or restored from the trash
//                meanwhile is seen in one of the three reads: librbd adds the new entry before it drops the old);
//             3. empty → delete the pool; not empty → remove the marker (only if it is still its own: cmpxattr).
//   creator:  after rbd_create4 succeeded, before answering 201 (and PUT before answering 200):
//             a. stat the marker: present and fresh → remove what it made, answer 409 POOL_BEING_DELETED;
//             b. absent → stat the image's `rbd_id.<name>`: missing → the pool (or image) went away meanwhile.
// Why it holds (reads and writes on one object are linearizable at its primary OSD): if the deleter's scan did
// not see the image, its directory write came after the scan read, hence after the marker write; the creator's
// marker stat comes after its directory write, so it sees the marker — unless the pool was deleted first, and
// then (b) sees the image's own object gone. A 201/200 is only sent when neither happened.
import { randomUUID } from 'node:crypto';
import { radosObject } from '../native/rados-object.js';
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, PoolBeingDeletedError } from './errors.js';
import type { Handle } from './handle.js';
import { readImageId } from './image-directory.js';
import { cls, decodeString, directoryId, hasEntries, listInput, objectExists, removeStrayObjects } from './rbd-objects.js';
import { splitPoolSpec, poolSpec } from './spec.js';

export const DELETION_MARKER = 'rbdapi.pool-deleting';
const OWNER_XATTR = 'rbdapi.owner';
/** A marker this old is a crashed deleter's: creators ignore it, the next deleter takes it over. */
export const MARKER_STALE_MS = 5 * 60_000;
/** A deleter that took longer than this between its marker and the mon command gives up (marker stays fresh). */
export const DELETE_BUDGET_MS = 60_000;
const LIBRADOS_CREATE_EXCLUSIVE = 1;
const LIBRADOS_CMPXATTR_OP_EQ = 1;

export interface PoolContents {
  /** a namespace ('' = default) that holds an image, if any */
  imagesIn: string | undefined;
  /** a namespace that holds trash entries, if any */
  trashIn: string | undefined;
  namespaces: string[];
}

export type NameState =
  | { kind: 'absent' }
  | { kind: 'whole'; id: string }
  /** listed in rbd_directory, but the id object or the header is missing (interrupted create or delete) */
  | { kind: 'dangling'; listedId: string | undefined; idObject: string | undefined };
export type DanglingName = Extract<NameState, { kind: 'dangling' }>;

export class PoolGuard {
  constructor(private readonly conn: CephSession) {}

  /**
   * Take the marker of `pool` for a delete. Returns the owner token; throws CephError EBUSY (op
   * `pool_deletion_marker`) when another deleter holds a fresh one.
   */
  async begin(pool: string): Promise<string> {
    const owner = randomUUID();
    return this.conn.withIoctx(pool, async (io) => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const rc = await writeOp(io, DELETION_MARKER, (op) => {
          radosObject.writeOpCreate(op, LIBRADOS_CREATE_EXCLUSIVE, null);
          const v = Buffer.from(owner);
          radosObject.writeOpSetxattr(op, OWNER_XATTR, v, v.length);
        });
        if (rc === 0) return owner;
        if (rc !== -E.EEXIST) throw new CephError('object', 'pool_deletion_marker', rc, pool);
        const seen = await markerState(io);
        if (seen === undefined) continue; // removed meanwhile: try again
        if (Date.now() - seen.mtimeMs < MARKER_STALE_MS) break;
        // a crashed deleter's marker: remove it only if it is still that one (compare-and-remove), then retry
        await removeIfOwner(io, seen.owner);
      }
      throw new PoolBeingDeletedError(pool);
    });
  }

  /** Remove our marker (the delete was refused); a marker that is not ours any more is left alone. */
  async end(pool: string, owner: string): Promise<void> {
    await this.conn.withIoctx(pool, async (io) => { await removeIfOwner(io, owner); });
  }

  /**
   * Does anything live in the pool? Every namespace's trash, then directory, then trash again (see the top).
   * Reads at most one entry of each: the cost does not grow with the pool.
   */
  async contents(pool: string): Promise<PoolContents> {
    const namespaces = ['', ...await this.namespaces(pool)];
    let imagesIn: string | undefined;
    let trashIn: string | undefined;
    for (const ns of namespaces) {
      const spec = poolSpec(pool, ns);
      await this.conn.withIoctx(spec, async (io) => {
        if (trashIn === undefined && await hasEntries(io, 'rbd_trash', 'trash_list')) trashIn = ns;
        if (imagesIn === undefined && await hasEntries(io, 'rbd_directory', 'dir_list')) imagesIn = ns;
        if (trashIn === undefined && await hasEntries(io, 'rbd_trash', 'trash_list')) trashIn = ns;
      }).catch((e: unknown) => {
        // a namespace removed since it was listed holds nothing
        if (ns !== '' && e instanceof CephError && e.code === 'ENOENT') return;
        throw e;
      });
    }
    return { imagesIn, trashIn, namespaces: namespaces.filter((n) => n !== '') };
  }

  /** RBD namespaces of a pool (cls_rbd namespace_list on `rbd_namespace`, 64 at a time). */
  async namespaces(pool: string): Promise<string[]> {
    return this.conn.withIoctx(pool, async (io) => {
      const names: string[] = [];
      let after = '';
      for (;;) {
        const { rc, out } = await cls(io, 'rbd_namespace', 'namespace_list', listInput(after, 64), 1 << 16);
        if (rc === -E.ENOENT || rc === -E.EOPNOTSUPP) return names;
        if (rc < 0) throw new CephError('object', 'cls_rbd.namespace_list', rc, pool);
        const n = out.readUInt32LE(0);
        let at = 4;
        for (let i = 0; i < n; i++) {
          const [name, next] = decodeString(out, at);
          names.push(name);
          at = next;
        }
        if (n < 64) return names;
        after = names[names.length - 1]!;
      }
    });
  }

  /**
   * After a create (or before a PUT's 200) of `name` in `spec`: no verdict when it may be acknowledged (with
   * the image's id when it could be read); verdict 'deleting' when a delete of the pool is in progress, 'gone'
   * when the image (or its pool) vanished meanwhile.
   */
  async afterCreate(spec: string, name: string): Promise<{ verdict?: 'deleting' | 'gone'; id?: string }> {
    const { pool } = splitPoolSpec(spec);
    let marker: { mtimeMs: number } | undefined;
    try {
      marker = await this.conn.withIoctx(pool, (io) => markerState(io));
    } catch (e) {
      if (e instanceof CephError && e.code === 'ENOENT') return { verdict: 'gone' };
      throw e;
    }
    if (marker && Date.now() - marker.mtimeMs < MARKER_STALE_MS) return { verdict: 'deleting' };
    // the marker is absent: make sure the pool was not deleted before we looked (then nothing is found at all).
    // Reading rbd_id.<name> (rather than a stat) gives the caller the image's id as well: its answer then
    // needs no read of that object again (Images.describeNew's knownId)
    try {
      return await this.conn.withIoctx(spec, async (io) => {
        const id = await readImageId(io, name, `${spec}/${name}`);
        if (id !== undefined) return { id };
        return (await objectExists(io, `rbd_id.${name}`)) ? {} : { verdict: 'gone' as const };
      });
    } catch (e) {
      if (e instanceof CephError && e.code === 'ENOENT') return { verdict: 'gone' };
      throw e;
    }
  }

  /** Is a delete of `pool` in progress (a fresh marker)? */
  async deleting(pool: string): Promise<boolean> {
    const m = await this.conn.withIoctx(splitPoolSpec(pool).pool, (io) => markerState(io));
    return m !== undefined && Date.now() - m.mtimeMs < MARKER_STALE_MS;
  }

  /** See removeStrayObjects. */
  removeStrayId(spec: string, name: string, state: NameState): Promise<void> {
    return this.conn.withIoctx(spec, (io) => removeStrayObjects(io, name, state));
  }

  /** The id rbd_directory lists under `name` (one read); undefined when the directory does not list it. */
  listedId(spec: string, name: string): Promise<string | undefined> {
    return this.conn.withIoctx(spec, (io) => directoryId(io, spec, name));
  }

  /** What the raw objects say about `name`: absent, whole, or a dangling leftover. */
  async nameState(spec: string, name: string): Promise<NameState> {
    return this.conn.withIoctx(spec, async (io) => {
      const listedId = await directoryId(io, spec, name);
      const idObj = await cls(io, `rbd_id.${name}`, 'get_id', Buffer.alloc(0), 4096);
      const idObject = idObj.rc >= 0 && idObj.out.length >= 4 ? decodeString(idObj.out)[0] : undefined;
      if (idObj.rc < 0 && idObj.rc !== -E.ENOENT) throw new CephError('object', 'cls_rbd.get_id', idObj.rc, `${spec}/${name}`);
      if (listedId === undefined && idObject === undefined) return { kind: 'absent' };
      if (listedId !== undefined && listedId === idObject && await objectExists(io, `rbd_header.${listedId}`)) {
        return { kind: 'whole', id: listedId };
      }
      return { kind: 'dangling', listedId, idObject };
    });
  }
}

/**
 * Look at a state over ~2 s (7 looks, 100–600 ms apart), as leftovers are told from work in progress: a
 * create, remove or rename elsewhere passes through its intermediate states in milliseconds. Answers the last
 * look when every look found the state and `same` says it did not change, 'changed' when a later look
 * disagreed, undefined when the first look found nothing.
 */
export async function heldState<T>(look: () => Promise<T | undefined>, same: (first: T, now: T) => boolean): Promise<T | 'changed' | undefined> {
  const first = await look();
  if (first === undefined) return undefined;
  let last = first;
  for (let attempt = 0; attempt < 6; attempt++) {
    await new Promise((r) => setTimeout(r, 100 + attempt * 100));
    const now = await look();
    if (now === undefined || !same(first, now)) return 'changed';
    last = now;
  }
  return last;
}

async function writeOp(io: Handle<'rados_ioctx_t'>, oid: string, build: (op: Pointer) => void): Promise<number> {
  const op = radosObject.createWriteOp() as Pointer | null;
  if (!op) throw new CephError('object', 'rados_create_write_op', -E.ENOMEM, oid);
  try {
    build(op);
    return await io.use('rados_write_op_operate', (p) =>
      native<number>('rados_write_op_operate', radosObject.writeOpOperate, op, p, oid, null, 0));
  } finally {
    radosObject.releaseWriteOp(op);
  }
}

async function removeIfOwner(io: Handle<'rados_ioctx_t'>, owner: string): Promise<void> {
  const rc = await writeOp(io, DELETION_MARKER, (op) => {
    const v = Buffer.from(owner);
    radosObject.writeOpCmpxattr(op, OWNER_XATTR, LIBRADOS_CMPXATTR_OP_EQ, v, v.length);
    radosObject.writeOpRemove(op);
  });
  // ECANCELED: the xattr differs (another deleter's marker now); ENOENT: already gone
  if (rc < 0 && rc !== -E.ENOENT && rc !== -E.ECANCELED) throw new CephError('object', 'pool_deletion_marker', rc, DELETION_MARKER);
}

async function markerState(io: Handle<'rados_ioctx_t'>): Promise<{ mtimeMs: number; owner: string } | undefined> {
  const size: [number | bigint] = [0];
  const mtime: [number | bigint] = [0];
  const rc = await io.use('rados_stat', (p) => native<number>('rados_stat', radosObject.stat, p, DELETION_MARKER, size, mtime));
  if (rc === -E.ENOENT) return undefined;
  if (rc < 0) throw new CephError('object', 'rados_stat', rc, DELETION_MARKER);
  const buf = Buffer.alloc(128);
  const n = await io.use('rados_getxattr', (p) => native<number>('rados_getxattr', radosObject.getxattr, p, DELETION_MARKER, OWNER_XATTR, buf, buf.length));
  if (n === -E.ENOENT) return undefined;
  return { mtimeMs: Number(mtime[0]) * 1000, owner: n > 0 ? buf.toString('utf8', 0, n) : '' };
}

