// librbd's own objects read raw through cls_rbd and librados (no image open): rbd_directory's entries, rbd_id
// objects, their existence, and the removal of what an interrupted create, delete or rename left of a name.
import { radosObject } from '../native/rados-object.js';
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { CephError } from './errors.js';
import type { Handle } from './handle.js';
import type { NameState } from './pool-guard.js';

export interface ClsResult { rc: number; out: Buffer }

export const str = (s: string): Buffer => { const b = Buffer.from(s, 'utf8'); const h = Buffer.alloc(4); h.writeUInt32LE(b.length); return Buffer.concat([h, b]); };
export const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
export const listInput = (startAfter: string, max: number): Buffer => Buffer.concat([str(startAfter), u64(max)]);

/** One cls method call on one object (a compound read of one action). */
export async function cls(io: Handle<'rados_ioctx_t'>, oid: string, method: string, input: Buffer, capacity: number): Promise<ClsResult> {
  const op = radosObject.createReadOp() as Pointer | null;
  if (!op) throw new CephError('object', 'rados_create_read_op', -E.ENOMEM, oid);
  const out = Buffer.alloc(capacity);
  const used = Buffer.alloc(8);
  const prval = Buffer.alloc(4);
  try {
    radosObject.readOpExecUserBuf(op, 'rbd', method, input, input.length, out, out.length, used, prval);
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>(`cls_rbd.${method}`, radosObject.readOpOperate, op, p, oid, 0));
    if (rc < 0) return { rc, out: Buffer.alloc(0) };
    const r = prval.readInt32LE(0);
    return { rc: r, out: r < 0 ? Buffer.alloc(0) : Buffer.from(out.subarray(0, Number(used.readBigUInt64LE(0)))) };
  } finally {
    void [out, used, prval, input];
    radosObject.releaseReadOp(op);
  }
}

export function decodeString(b: Buffer, at = 0): [string, number] {
  const n = b.readUInt32LE(at);
  return [b.toString('utf8', at + 4, at + 4 + n), at + 4 + n];
}

/** cls_rbd dir_get_id on rbd_directory: the id listed under `name`, undefined when it is not listed. */
export async function directoryId(io: Handle<'rados_ioctx_t'>, spec: string, name: string): Promise<string | undefined> {
  const listed = await cls(io, 'rbd_directory', 'dir_get_id', str(name), 4096);
  if (listed.rc < 0 && listed.rc !== -E.ENOENT) throw new CephError('object', 'cls_rbd.dir_get_id', listed.rc, `${spec}/${name}`);
  return listed.rc >= 0 && listed.out.length >= 4 ? decodeString(listed.out)[0] : undefined;
}

/** cls_rbd dir_get_name on rbd_directory: the name image `id` is listed under, undefined when it is not listed. */
export async function directoryName(io: Handle<'rados_ioctx_t'>, spec: string, id: string): Promise<string | undefined> {
  const listed = await cls(io, 'rbd_directory', 'dir_get_name', str(id), 4096);
  if (listed.rc < 0 && listed.rc !== -E.ENOENT) throw new CephError('object', 'cls_rbd.dir_get_name', listed.rc, `${spec} image id ${id}`);
  return listed.rc >= 0 && listed.out.length >= 4 ? decodeString(listed.out)[0] : undefined;
}

/**
 * Clean what rbd_remove left of a dangling name: an id object that no directory entry matches, and a
 * directory entry whose image header does not exist. Never touches a whole image.
 */
export async function removeStrayObjects(io: Handle<'rados_ioctx_t'>, name: string, state: NameState): Promise<void> {
  if (state.kind !== 'dangling') return;
  if (state.idObject !== undefined && state.idObject !== state.listedId) {
    const rc = await io.use('rados_remove', (p) => native<number>('rados_remove', radosObject.remove, p, `rbd_id.${name}`));
    if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_remove', rc, `rbd_id.${name}`);
  }
  if (state.listedId !== undefined && !(await objectExists(io, `rbd_header.${state.listedId}`))) {
    await removeDirectoryEntry(io, name, state.listedId);
  }
}

export async function objectExists(io: Handle<'rados_ioctx_t'>, oid: string): Promise<boolean> {
  const size: [number | bigint] = [0];
  const mtime: [number | bigint] = [0];
  const rc = await io.use('rados_stat', (p) => native<number>('rados_stat', radosObject.stat, p, oid, size, mtime));
  if (rc === -E.ENOENT) return false;
  if (rc < 0) throw new CephError('object', 'rados_stat', rc, oid);
  return true;
}

export async function hasEntries(io: Handle<'rados_ioctx_t'>, oid: string, method: string): Promise<boolean> {
  const { rc, out } = await cls(io, oid, method, listInput('', 1), 1 << 16);
  if (rc === -E.ENOENT) return false;
  // ERANGE: the one entry did not fit in 64 KiB — it exists
  if (rc === -E.ERANGE) return true;
  if (rc < 0) throw new CephError('object', `cls_rbd.${method}`, rc, oid);
  return out.length >= 4 && out.readUInt32LE(0) > 0;
}

/** cls::rbd::TrashImageState: where an entry of rbd_trash is in librbd's move/remove/restore protocol. */
export const TRASH_STATE = { NORMAL: 0, MOVING: 1, REMOVING: 2, RESTORING: 3 } as const;

export interface TrashSpecState { name: string; source: number; deletedAtMs: number; state: number }

/**
 * cls_rbd trash_get on rbd_trash: an entry's name, source, deletion time and STATE (rbd_trash_get does not report
 * the state). Undefined when there is no such entry. The encoding: ENCODE_START(v, compat, length: u32), source u8,
 * name, deletion and deferment-end utime (u32 sec, u32 nsec each), from v2 the state u8.
 */
export async function readTrashState(io: Handle<'rados_ioctx_t'>, spec: string, id: string): Promise<TrashSpecState | undefined> {
  const { rc, out } = await cls(io, 'rbd_trash', 'trash_get', str(id), 4096);
  if (rc === -E.ENOENT) return undefined;
  if (rc < 0) throw new CephError('trashEntry', 'cls_rbd.trash_get', rc, `${spec} trash ${id}`);
  const version = out.readUInt8(0);
  const source = out.readUInt8(6);
  const [name, at] = decodeString(out, 7);
  const deletedAtMs = out.readUInt32LE(at) * 1000;
  const state = version >= 2 && out.length > at + 16 ? out.readUInt8(at + 16) : TRASH_STATE.NORMAL;
  return { name, source, deletedAtMs, state };
}

/** cls_rbd trash_state_set: `state` when the entry is in `expected` (or already in `state`); ESTALE otherwise. */
export async function setTrashState(io: Handle<'rados_ioctx_t'>, spec: string, id: string, state: number, expected: number): Promise<number> {
  const input = Buffer.concat([str(id), Buffer.from([state, expected])]);
  const rc = await io.use('rados_exec', (p) =>
    native<number>('cls_rbd.trash_state_set', radosObject.exec, p, 'rbd_trash', 'rbd', 'trash_state_set', input, input.length, null, 0));
  void input;
  if (rc < 0 && rc !== -E.ESTALE && rc !== -E.ENOENT) throw new CephError('trashEntry', 'cls_rbd.trash_state_set', rc, `${spec} trash ${id}`);
  return rc;
}

/** cls_rbd dir_remove_image: the directory entry name ↔ id, only when it maps exactly these two (ENOENT, ESTALE: not). */
export async function removeDirectoryEntry(io: Handle<'rados_ioctx_t'>, name: string, id: string): Promise<void> {
  const input = Buffer.concat([str(name), str(id)]);
  const rc = await io.use('rados_exec', (p) =>
    native<number>('cls_rbd.dir_remove_image', radosObject.exec, p, 'rbd_directory', 'rbd', 'dir_remove_image', input, input.length, null, 0));
  void input;
  if (rc < 0 && rc !== -E.ENOENT && rc !== -E.ESTALE) throw new CephError('object', 'cls_rbd.dir_remove_image', rc, name);
}
