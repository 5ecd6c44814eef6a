// Where tasks live: RADOS objects in the default namespace of the task's pool (never only in memory).
//   rbdapi_task.<id>      one object per task: the JSON record; xattr "v" = its version. Every update is a
//                         compare-and-swap write op (cmpxattr v == old, setxattr v = new, write_full), so two
//                         replicas never overwrite each other. An advisory lock on it is the runner's lease.
//   rbdapi_tasks          omap index of every task, newest first: key "<13 digits: 9999999999999 - created ms>.<id>",
//                         value {"s": state, "a": action, "ns": namespace}
//   rbdapi_tasks.active   omap of the tasks not finished yet (queued, running), oldest first: key <id>, value
//                         {"ns": namespace}; what runners scan
//   rbdapi_tasks.finished omap of finished tasks by end time, oldest first: what retention (TASK_RETENTION_DAYS) trims
//
// Besides the record I/O, this file keeps the three omap indexes in step with a record: a new task enters the
// index and the active list; an ended one stays in the index with its final state, leaves the active list and
// enters the finished list, from which retention trims it.
import { randomBytes } from 'node:crypto';
import { E } from '../../native/errno.js';
import { LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_LOCK_FLAG_MAY_RENEW, radosObject as R, timeval } from '../../native/rados-object.js';
import type { Pointer } from '../../native/types.js';
import { native } from '../call.js';
import { CephError } from '../errors.js';
import { omapPage, omapRemove, omapSet } from './omap.js';
import { isFinished, type StoredTask, type TaskListOptions, type TaskRecord, type TaskState } from './types.js';

export const RECORD_PREFIX = 'rbdapi_task.';
export const INDEX_OBJECT = 'rbdapi_tasks';
export const ACTIVE_OBJECT = 'rbdapi_tasks.active';
/** omap of finished tasks, oldest end first: key "<finished ms, 13 digits>.<id>" (what retention trims) */
export const FINISHED_OBJECT = 'rbdapi_tasks.finished';
export const LEASE_LOCK = 'rbdapi.task-runner';
/** the records of Idempotency-Keys (src/ceph/idempotency.ts), trimmed with the tasks they started (or on their own) */
export const IDEMPOTENCY_PREFIX = 'rbdapi_idem.';

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
    if (n < 0) throw new CephError('object', 'rados_read', n, recordOid(id));
    if (n === buf.length) { size *= 4; continue; }
    if (n === 0) return undefined;
    try {
      return JSON.parse(buf.toString('utf8', 0, n)) as StoredTask;
    } catch {
      throw new CephError('task', 'task_record', -E.EINVAL, `${recordOid(id)} is not a task record`);
    }
  }
  throw new CephError('object', 'rados_read', -E.EFBIG, recordOid(id));
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
    if (rc < 0) throw new CephError('object', 'rados_write_op_operate', rc, recordOid(rec.id));
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
    if (rc < 0) throw new CephError('object', 'rados_write_op_operate', rc, recordOid(rec.id));
    return true;
  } finally {
    R.releaseWriteOp(op);
  }
}

export async function removeRecord(io: Pointer, id: string): Promise<void> {
  const rc = await native<number>('rados_remove', R.remove, io, recordOid(id));
  if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_remove', rc, recordOid(id));
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
  const { v: _v, runner: _r, runnerAddr: _a, commit: _c, reservedFor: _rf, reservedUntil: _ru, idempotency: _i, ...rest } = s;
  return rest;
}

export const nowIso = (): string => new Date().toISOString();

// ------------------------------------------------------------------------------------------------ the indexes

function indexValue(t: StoredTask): string {
  return JSON.stringify({ s: t.state, a: t.action, ns: t.target.namespace });
}

/** Write the task's entry in the main index (its current state). */
export function setIndexEntry(p: Pointer, t: StoredTask): Promise<void> {
  return omapSet(p, INDEX_OBJECT, [{ key: indexKey(t.id), value: indexValue(t) }]);
}

/** A new task: its record, then its entries in the index and the active list (all undone if one fails). */
export async function addTask(p: Pointer, task: StoredTask): Promise<void> {
  await createRecord(p, task);
  try {
    await Promise.all([
      setIndexEntry(p, task),
      omapSet(p, ACTIVE_OBJECT, [{ key: task.id, value: JSON.stringify({ ns: task.target.namespace }) }]),
    ]);
  } catch (e) {
    await removeIndexEntries(p, task).catch(() => undefined);
    await removeRecord(p, task.id).catch(() => undefined);
    throw e;
  }
}

/** Update the main index's state and (when finished) drop the task from the active list. */
export async function removeIndexEntries(p: Pointer, t: StoredTask, keepInIndex = false): Promise<void> {
  const ended = t.finishedAt ? Date.parse(t.finishedAt) : NaN;
  await Promise.all([
    keepInIndex ? setIndexEntry(p, t) : omapRemove(p, INDEX_OBJECT, [indexKey(t.id)]),
    isFinished(t.state) || !keepInIndex ? omapRemove(p, ACTIVE_OBJECT, [t.id]) : Promise.resolve(),
    keepInIndex && isFinished(t.state) && Number.isFinite(ended)
      ? omapSet(p, FINISHED_OBJECT, [{ key: `${String(ended).padStart(13, '0')}.${t.id}`, value: t.idempotency ?? '' }]) : Promise.resolve(),
  ]);
}

/**
 * End a task (compare-and-swap on the latest version), then update both indexes; `ended` hears of it. Only
 * the run that wrote `from` may end it: 'lost' (nothing written) when the record names another runner or
 * attempt (a takeover).
 */
export async function finishRecord(p: Pointer, from: StoredTask, state: TaskState, patch: Partial<StoredTask>,
  ended: (next: StoredTask, was: TaskState) => void): Promise<StoredTask | 'lost'> {
  let rec = from;
  for (let attempt = 0; attempt < 20; attempt++) {
    const fresh = await readRecord(p, rec.id);
    if (!fresh) return rec;
    if (isFinished(fresh.state)) return fresh;
    if (fresh.runner !== from.runner || fresh.attempts !== from.attempts) return 'lost';
    const next: StoredTask = { ...fresh, ...patch, v: fresh.v + 1, state, finishedAt: nowIso() };
    if (state !== 'failed') delete next.error;
    // a cancel that did not take effect is not kept on a task that succeeded or failed
    if (state !== 'cancelled') delete next.cancelRequested;
    if (await casRecord(p, next)) {
      await removeIndexEntries(p, next, true).catch(() => undefined);
      ended(next, fresh.state);
      return next;
    }
    rec = fresh;
  }
  throw new CephError('task', 'task_finish', -E.EAGAIN, rec.id);
}

/**
 * Remove the records and index entries of tasks that ended before `before` (ms); at most `max`. The
 * Idempotency-Key record a task names (the entry's value) goes with it; an entry naming a key's record itself
 * (an answer that started no task) removes that record.
 */
export async function trimFinished(p: Pointer, before: number, max: number): Promise<number> {
  const { entries } = await omapPage(p, FINISHED_OBJECT, '', max);
  const old = entries.filter((e) => Number(e.key.slice(0, 13)) < before);
  if (old.length === 0) return 0;
  const ids = old.map((e) => e.key.slice(14)).filter((id) => parseTaskId(id) !== undefined);
  const keyRecords = old.flatMap((e) => [e.key.slice(14), e.value]).filter((o) => o.startsWith(IDEMPOTENCY_PREFIX) && o.length <= 64);
  await Promise.all(keyRecords.map(async (oid) => {
    const rc = await native<number>('rados_remove', R.remove, p, oid);
    if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_remove', rc, oid);
  }));
  await Promise.all(ids.map((id) => removeRecord(p, id)));
  await omapRemove(p, INDEX_OBJECT, ids.map(indexKey));
  await omapRemove(p, FINISHED_OBJECT, old.map((e) => e.key));
  return old.length;
}

/** One pool's index keys after the cursor that pass the listing's filters: up to limit + 1 (more), newest first. */
export async function indexPage(p: Pointer, pool: string, o: TaskListOptions): Promise<{ keys: { key: string; pool: string }[]; more: boolean }> {
  const keys: { key: string; pool: string }[] = [];
  let after = o.cursor ?? '';
  // scan at most 50,000 index entries per request (a state filter over a long history)
  for (let pages = 0; pages < 50; pages++) {
    const { entries, more } = await omapPage(p, INDEX_OBJECT, after, 1000);
    for (const e of entries) {
      after = e.key;
      if (!isIndexKey(e.key)) continue;
      let v: { s?: string; ns?: string } = {};
      try { v = JSON.parse(e.value) as typeof v; } catch { /* keep */ }
      if (o.state !== undefined && v.s !== o.state) continue;
      if (o.visible && !o.visible(pool, v.ns ?? '')) continue;
      keys.push({ key: e.key, pool });
      if (keys.length > o.limit) return { keys, more: true };
    }
    if (!more) return { keys, more: false };
  }
  return { keys, more: true };
}
