// The omap primitives the task store is built on (store.ts): set, remove, and read a page of an object's omap,
// each one write or read op.
import { E } from '../../native/errno.js';
import { radosObject as R } from '../../native/rados-object.js';
import { drainOmap, radosOmap, stringArray, type OmapPair } from '../../native/rados-omap.js';
import type { Pointer } from '../../native/types.js';
import { native } from '../call.js';
import { CephError } from '../errors.js';

export async function omapSet(io: Pointer, oid: string, pairs: readonly OmapPair[]): Promise<void> {
  if (pairs.length === 0) return;
  const k = stringArray(pairs.map((p) => p.key));
  const v = stringArray(pairs.map((p) => p.value));
  const op = R.createWriteOp();
  try {
    radosOmap.writeOpOmapSet2(op, k.ptrs, v.ptrs, k.lens, v.lens, pairs.length);
    const rc = await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, oid, null, 0);
    if (rc < 0) throw new CephError('object', 'rados_write_op_operate', rc, oid);
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
    if (rc < 0 && rc !== -E.ENOENT) throw new CephError('object', 'rados_write_op_operate', rc, oid);
  } finally {
    R.releaseWriteOp(op);
  }
}

/** Up to `max` entries after `startAfter` (key order), only keys starting with `prefix`; a missing object has none. */
export async function omapPage(io: Pointer, oid: string, startAfter: string, max: number, prefix = ''): Promise<{ entries: OmapPair[]; more: boolean }> {
  const op = R.createReadOp();
  const iter = Buffer.alloc(8), more = Buffer.alloc(1), prval = Buffer.alloc(4);
  try {
    radosOmap.readOpOmapGetVals2(op, startAfter, prefix, max, iter, more, prval);
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
      throw new CephError('object', 'rados_read_op_operate', rc, oid);
    }
    return { entries: drainOmap(iterPtr), more: more[0] !== 0 };
  } finally {
    R.releaseReadOp(op);
    void [iter, more, prval];
  }
}
