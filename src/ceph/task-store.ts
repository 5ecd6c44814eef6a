// Where tasks live: RADOS objects in the default namespace of the task's pool (never only in memory).
//   rbdapi_task.<id>      one object per task: the JSON record; xattr "v" = its version. Every update is a
//                         compare-and-swap write op (cmpxattr v == old, setxattr v = new, write_full), so two
//                         replicas never overwrite each other. An advisory lock on it is the runner's lease.
//   rbdapi_tasks          omap index of every task, newest first: key "<13 digits: 9999999999999 - created ms>.<id>",
//                         value {"s": state, "a": action, "ns": namespace}
//   rbdapi_tasks.active   omap of the tasks not finished yet (queued, running), oldest first: key <id>, value
//                         {"ns": namespace}; what runners scan
//   rbdapi_tasks.finished omap of finished tasks by end time, oldest first: what retention (TASK_RETENTION_DAYS) trims
import { randomBytes } from 'node:crypto';
import { E } from '../native/errno.js';
import { LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_LOCK_FLAG_MAY_RENEW, radosObject as R, timeval } from '../native/rados-object.js';
import { drainOmap, radosOmap, stringArray, type OmapPair } from '../native/rados-omap.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { CephError } from './errors.js';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const isFinished = (s: TaskState): boolean => s === 'succeeded' || s === 'failed' || s === 'cancelled';

export interface TaskTarget { pool: string; namespace: string; image: string; imageId?: string; snapshot?: string }
export interface TaskError { code: string; detail: string; errno?: string }
export interface TaskRecord {
  id: string;
  action: string;
  target: TaskTarget;
  state: TaskState;
  progress: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  error?: TaskError;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  /** a cancel was asked for while the task ran; the runner stops at its next step */
  cancelRequested?: boolean;
  /** runs started: 1 = first run; more = a replica took it over after its runner died and ran it again */
  attempts?: number;
}

/** The record as stored: the public fields plus the version and the runner's bookkeeping. */
export interface StoredTask extends TaskRecord {
  v: number;
  /** the instance running it (host:pid:random) */
  runner?: string;
  /** its librados client address: blocklisted by the replica that takes the task over (fencing) */
  runnerAddr?: string;
  /** a handler with a commit point: 'pending' (a cancel is accepted at once) or 'passed' (refused) */
  commit?: 'pending' | 'passed';
}

export const RECORD_PREFIX = 'rbdapi_task.';
export const INDEX_OBJECT = 'rbdapi_tasks';
export const ACTIVE_OBJECT = 'rbdapi_tasks.active';
/** omap of finished tasks, oldest end first: key "<finished ms, 13 digits>.<id>" (what retention trims) */
export const FINISHED_OBJECT = 'rbdapi_tasks.finished';
export const LEASE_LOCK = 'rbdapi.task-runner';

const ID_RE = /^([0-9]{1,10})-([0-9a-z]{9})-([0-9a-f]{8})$/;
const KEY_RE = /^[0-9]{13}\.[0-9]{1,10}-[0-9a-z]{9}-[0-9a-f]{8}$/;
const MAX_MS = 9_999_999_999_999;

/** A new task id: "<pool id>-<created ms, base 36>-<random>" (the pool is found from the id alone). */
export function newTaskId(poolId: number, now = Date.now()): string {
  return `${poolId}-${now.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}

/** The pool id and creation time in a task id, or undefined when it is not one. */
export function parseTaskId(id: string): { poolId: number; createdMs: number } | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  const poolId = Number(m[1]);
  const createdMs = Number.parseInt(m[2]!, 36);
  if (!Number.isSafeInteger(poolId) || poolId > 2 ** 31 || createdMs > MAX_MS) return undefined;
  return { poolId, createdMs };
}

/** The index key of a task: sorts newest first. Also the listing cursor. */
export function indexKey(id: string): string {
  const p = parseTaskId(id);
  if (!p) throw new RangeError(`not a task id: ${id}`);
  return `${String(MAX_MS - p.createdMs).padStart(13, '0')}.${id}`;
}

export const isIndexKey = (s: string): boolean => KEY_RE.test(s);
export const idOfKey = (key: string): string => key.slice(14);

const recordOid = (id: string): string => `${RECORD_PREFIX}${id}`;

/** The record, or undefined when there is none (an empty object, which a lease taken on a removed record leaves, counts as none). */
export async function readRecord(io: Pointer, id: string): Promise<StoredTask | undefined> {
  let size = 16 * 1024;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = Buffer.alloc(size);
    const n = await native<number>('rados_read', R.read, io, recordOid(id), buf, buf.length, 0);
    if (n === -E.ENOENT) return undefined;
    if (n < 0) throw new CephError('rados_read', n, recordOid(id));
    if (n === buf.length) { size *= 4; continue; }
    if (n === 0) return undefined;
    try {
      return JSON.parse(buf.toString('utf8', 0, n)) as StoredTask;
    } catch {
      throw new CephError('task_record', -E.EINVAL, `${recordOid(id)} is not a task record`);
    }
  }
  throw new CephError('rados_read', -E.EFBIG, recordOid(id));
}

/** Write a new record (exclusive create; EEXIST if the id is taken). */
export async function createRecord(io: Pointer, rec: StoredTask): Promise<void> {
  const body = Buffer.from(JSON.stringify(rec));
  const v = Buffer.from(String(rec.v));
  const op = R.createWriteOp();
  try {
    R.writeOpCreate(op, 1, null);
    R.writeOpSetxattr(op, 'v', v, v.length);
    R.writeOpWriteFull(op, body, body.length);
    const rc = await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, recordOid(rec.id), null, 0);
    if (rc < 0) throw new CephError('rados_write_op_operate', rc, recordOid(rec.id));
  } finally {
    R.releaseWriteOp(op);
  }
}

/**
 * Replace the record if its version is still `rec.v - 1` (the caller bumps v). false when another writer
 * got there first (-ECANCELED from cmpxattr) or the record is gone.
 */
export async function casRecord(io: Pointer, rec: StoredTask): Promise<boolean> {
  const body = Buffer.from(JSON.stringify(rec));
  const old = Buffer.from(String(rec.v - 1));
  const v = Buffer.from(String(rec.v));
  const op = R.createWriteOp();
  try {
    R.writeOpAssertExists(op);
    R.writeOpCmpxattr(op, 'v', LIBRADOS_CMPXATTR_OP_EQ, old, old.length);
    R.writeOpSetxattr(op, 'v', v, v.length);
    R.writeOpWriteFull(op, body, body.length);
    const rc = await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, recordOid(rec.id), null, 0);
    if (rc === -E.ECANCELED || rc === -E.ENOENT) return false;
    if (rc < 0) throw new CephError('rados_write_op_operate', rc, recordOid(rec.id));
    return true;
  } finally {
    R.releaseWriteOp(op);
  }
}

export async function removeRecord(io: Pointer, id: string): Promise<void> {
  const rc = await native<number>('rados_remove', R.remove, io, recordOid(id));
  if (rc < 0 && rc !== -E.ENOENT) throw new CephError('rados_remove', rc, recordOid(id));
}

export async function omapSet(io: Pointer, oid: string, pairs: readonly OmapPair[]): Promise<void> {
  if (pairs.length === 0) return;
  const k = stringArray(pairs.map((p) => p.key));
  const v = stringArray(pairs.map((p) => p.value));
  const op = R.createWriteOp();
  try {
    radosOmap.writeOpOmapSet2(op, k.ptrs, v.ptrs, k.lens, v.lens, pairs.length);
    const rc = await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, oid, null, 0);
    if (rc < 0) throw new CephError('rados_write_op_operate', rc, oid);
  } finally {
    R.releaseWriteOp(op);
  }
}

export async function omapRemove(io: Pointer, oid: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const k = stringArray(keys);
  const op = R.createWriteOp();
  try {
    R.writeOpAssertExists(op);
    radosOmap.writeOpOmapRmKeys2(op, k.ptrs, k.lens, keys.length);
    const rc = await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, oid, null, 0);
    if (rc < 0 && rc !== -E.ENOENT) throw new CephError('rados_write_op_operate', rc, oid);
  } finally {
    R.releaseWriteOp(op);
  }
}

/** Up to `max` entries after `startAfter` (key order); a missing object has none. */
export async function omapPage(io: Pointer, oid: string, startAfter: string, max: number): Promise<{ entries: OmapPair[]; more: boolean }> {
  const op = R.createReadOp();
  const iter = Buffer.alloc(8), more = Buffer.alloc(1), prval = Buffer.alloc(4);
  try {
    radosOmap.readOpOmapGetVals2(op, startAfter, '', max, iter, more, prval);
    const rc = await native<number>('rados_read_op_operate', R.readOpOperate, op, io, oid, 0);
    const iterPtr = iter.readBigUInt64LE(0);
    // a failed read (ENOENT, or ETIMEDOUT with an OSD gone) never filled the iterator: walking it reads
    // uninitialised memory (SIGSEGV in rados_omap_get_next2, seen with a killed OSD); only free it
    if (rc === -E.ENOENT) {
      if (iterPtr) radosOmap.omapGetEnd(iterPtr);
      return { entries: [], more: false };
    }
    if (rc < 0) {
      if (iterPtr) radosOmap.omapGetEnd(iterPtr);
      throw new CephError('rados_read_op_operate', rc, oid);
    }
    return { entries: drainOmap(iterPtr), more: more[0] !== 0 };
  } finally {
    R.releaseReadOp(op);
    void [iter, more, prval];
  }
}

/**
 * Take (or, with renew, extend) the runner's lease on a task record. 0 = ours; -EBUSY = another runner holds
 * it; -EEXIST = we hold it already. (Locking a missing object creates it empty: readRecord treats that as none.)
 */
export function lockLease(io: Pointer, id: string, cookie: string, who: string, ms: number, renew: boolean): Promise<number> {
  const d = timeval(ms);
  return native<number>('rados_lock_exclusive', R.lockExclusive, io, recordOid(id), LEASE_LOCK, cookie, who, d,
    renew ? LIBRADOS_LOCK_FLAG_MAY_RENEW : 0);
}

export async function unlockLease(io: Pointer, id: string, cookie: string): Promise<void> {
  await native<number>('rados_unlock', R.unlock, io, recordOid(id), LEASE_LOCK, cookie);
}

/** Remove an empty object that a lease on a vanished record left behind. */
export async function removeIfEmpty(io: Pointer, id: string): Promise<void> {
  const size: [number | bigint] = [0];
  const mtime: [number | bigint] = [0];
  const rc = await native<number>('rados_stat', R.stat, io, recordOid(id), size, mtime);
  if (rc === 0 && Number(size[0]) === 0) await removeRecord(io, id);
}

/** The public view of a stored record. */
export function publicView(s: StoredTask): TaskRecord {
  const { v: _v, runner: _r, runnerAddr: _a, commit: _c, ...rest } = s;
  return rest;
}
