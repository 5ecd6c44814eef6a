// Image details read from the image's header object in ONE OSD operation.
//
// rbd_open_read_only + rbd_stat + rbd_close costs librbd about ten OSD round trips one after the other
// (the id object, then the header several times over: metadata, parent, snapshots, op features, group,
// image-level config…) plus building and tearing down an image context. A listing only needs what the
// header object answers to seven cls_rbd methods — the methods librbd calls itself while it opens an
// image — so they go to the OSD together, in one compound read on `rbd_header.<id>`.
//
// The encodings are cls_rbd's wire format (Ceph's little-endian `encode`): stable across releases, since
// clients and OSDs of different versions talk through it. Anything this reader does not fully understand
// (an answer of an unexpected length, a method that failed, an image with snapshots whose namespaces decide
// what rbd_snap_list counts, a clone — unless the caller asks for the parent's ids, `clone: true` —, feature bits
// beyond the known ones) makes it answer `undefined`, and the
// caller opens the image the usual way. test/integration/image-header.test.ts checks every field against
// rbd_open_read_only + rbd_stat on images of every shape the API can make.
import { radosObject } from '../native/rados-object.js';
import { E } from '../native/errno.js';
import { LIBRADOS_OP_FLAG_FAILOK, type Pointer } from '../native/types.js';
import { native } from './call.js';
import { CephError } from './errors.js';
import { FEATURE_BITS } from './features.js';
import type { Handle } from './handle.js';

export interface HeaderDetails {
  size: number;
  order: number;
  featureBits: bigint;
  /** the data objects' name prefix ("rbd_data.<id>"), cut as rbd_stat's block_name_prefix is */
  blockNamePrefix: string;
  stripeUnit: number;
  stripeCount: number;
  /** data objects, as rbd_stat's num_objs (Striper::get_num_objects) */
  objects: number;
  createdAt: string;
  /** -1 when the data objects live in the image's own pool */
  dataPoolId: number;
  /** always 0: an image with snapshots is read by opening it */
  snapshotCount: 0;
  /** always null: a clone is read by opening it (or, asked for with `clone: true`, described by parentRef) */
  parent: null;
  /** with `clone: true`: the parent as the header names it (ids, not names) */
  parentRef?: ParentRef;
}

/** A clone's parent in cls_rbd's terms: pool id, image id, snapshot id, and the overlap in bytes. */
export interface ParentRef { poolId: number; imageId: string; snapId: bigint; overlap: number }

/** CEPH_NOSNAP = (uint64_t)-2: the image head, not a snapshot */
const CEPH_NOSNAP = 0xfffffffffffffffen;
/** RBD_MAX_BLOCK_NAME_SIZE (librbd.h): rbd_stat copies at most 23 bytes of the prefix and a NUL */
const BLOCK_NAME_MAX = 24;
const KNOWN_FEATURES = Object.values(FEATURE_BITS).reduce((a, b) => a | b, 0n);

const u64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };
const NOSNAP_IN = u64(CEPH_NOSNAP);
/** get_features(snap_id, read_only = true) */
const FEATURES_IN = Buffer.concat([NOSNAP_IN, Buffer.from([1])]);
const NO_INPUT = Buffer.alloc(0);

interface Action { method: string; input: Buffer; capacity: number; failOk?: boolean }

// In the order they are queued; outputs are decoded by index below.
const ACTIONS: readonly Action[] = [
  /* 0 */ { method: 'get_size', input: NOSNAP_IN, capacity: 16 },              // u8 order, u64 size
  /* 1 */ { method: 'get_features', input: FEATURES_IN, capacity: 16 },        // u64 features, u64 incompatible
  /* 2 */ { method: 'get_object_prefix', input: NO_INPUT, capacity: 256 },     // string (u32 length + bytes)
  /* 3 */ { method: 'get_create_timestamp', input: NO_INPUT, capacity: 16 },   // utime_t (u32 sec, u32 nsec)
  /* 4 */ { method: 'get_data_pool', input: NO_INPUT, capacity: 16 },          // s64 pool id or -1
  /* 5 */ { method: 'get_snapcontext', input: NO_INPUT, capacity: 256 },       // u64 seq, u32 n, n × u64
  // ENOEXEC unless the image has the striping feature: then stripe unit = object size, count = 1
  /* 6 */ { method: 'get_stripe_unit_count', input: NO_INPUT, capacity: 16, failOk: true }, // u64, u64
  // s64 pool id (-1: not a clone), string image id, u64 snap id, u64 overlap; EXDEV for a parent in a namespace
  /* 7 */ { method: 'get_parent', input: NOSNAP_IN, capacity: 128, failOk: true },
];

interface Slot { out: Buffer; used: Buffer; prval: Buffer }

// One Buffer per read holds every action's output, used length and return value (views into it): one
// allocation instead of twenty-one. size_t slots first (8-byte aligned), then the ints, then the outputs.
const USED_AT = 0;
const PRVAL_AT = USED_AT + 8 * ACTIONS.length;
const OUT_AT = PRVAL_AT + 4 * ACTIONS.length;
const OUT_OFFSETS = ACTIONS.reduce<number[]>((acc, a, i) => { acc.push(i === 0 ? OUT_AT : acc[i - 1]! + ACTIONS[i - 1]!.capacity); return acc; }, []);
const SLAB_BYTES = OUT_OFFSETS[ACTIONS.length - 1]! + ACTIONS[ACTIONS.length - 1]!.capacity;

function slots(slab: Buffer): Slot[] {
  return ACTIONS.map((a, i) => ({
    out: slab.subarray(OUT_OFFSETS[i]!, OUT_OFFSETS[i]! + a.capacity),
    used: slab.subarray(USED_AT + 8 * i, USED_AT + 8 * i + 8),
    prval: slab.subarray(PRVAL_AT + 4 * i, PRVAL_AT + 4 * i + 4),
  }));
}

/**
 * Details of the image with id `imageId` from its header, or undefined when only opening the image can
 * answer exactly — including when the operation failed (ENOENT: the image was removed or is being made;
 * a method an older OSD lacks; no permission): opening it then gives the exact answer or error. Only a
 * timeout is thrown at once, so that a slow cluster is not waited for twice.
 */
export async function readImageHeader(io: Handle<'rados_ioctx_t'>, imageId: string, target: string,
  opts: { clone?: boolean } = {}): Promise<HeaderDetails | undefined> {
  if (!/^[0-9a-zA-Z]+$/.test(imageId)) return undefined; // format 1 images have no id and no rbd_header object
  const op = radosObject.createReadOp() as Pointer | null;
  if (!op) throw new CephError('object', 'rados_create_read_op', -E.ENOMEM, target);
  // librados writes into these views of one Buffer during rados_read_op_operate; they are used after it
  // returns, so the memory is referenced until then
  const views = slots(Buffer.alloc(SLAB_BYTES));
  try {
    for (let i = 0; i < ACTIONS.length; i++) {
      const a = ACTIONS[i]!;
      const v = views[i]!;
      radosObject.readOpExecUserBuf(op, 'rbd', a.method, a.input, a.input.length, v.out, v.out.length, v.used, v.prval);
      if (a.failOk) radosObject.readOpSetFlags(op, LIBRADOS_OP_FLAG_FAILOK);
    }
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>('rados_read_op_operate', radosObject.readOpOperate, op, p, `rbd_header.${imageId}`, 0));
    if (rc === -E.ETIMEDOUT) throw new CephError('object', 'rados_read_op_operate', rc, target);
    if (rc < 0) return undefined;
    return decode(views, opts.clone === true);
  } finally {
    void views; // referenced here so that every path keeps the memory librados wrote into until now
    radosObject.releaseReadOp(op);
  }
}

/** get_parent's answer: s64 pool id, string image id, u64 snap id, u64 overlap — exactly, or undefined */
function decodeParent(b: Buffer): ParentRef | undefined {
  if (b.length < 12) return undefined;
  const poolId = b.readBigInt64LE(0);
  const idLength = b.readUInt32LE(8);
  if (poolId < 0n || poolId > BigInt(Number.MAX_SAFE_INTEGER) || b.length !== 12 + idLength + 16) return undefined;
  const imageId = b.toString('utf8', 12, 12 + idLength);
  const overlap = b.readBigUInt64LE(12 + idLength + 8);
  if (!/^[0-9a-zA-Z]+$/.test(imageId) || overlap > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { poolId: Number(poolId), imageId, snapId: b.readBigUInt64LE(12 + idLength), overlap: Number(overlap) };
}

function decode(views: Slot[], clone: boolean): HeaderDetails | undefined {
  const result = (i: number): Buffer | number => {
    const s = views[i]!;
    const rc = s.prval.readInt32LE(0);
    return rc < 0 ? rc : s.out.subarray(0, Number(s.used.readBigUInt64LE(0)));
  };
  const [size, features, prefix, created, dataPool, snapc, striping, parent] = ACTIONS.map((_, i) => result(i));
  if (!(size instanceof Buffer) || size.length !== 9) return undefined;
  if (!(features instanceof Buffer) || features.length !== 16) return undefined;
  if (!(prefix instanceof Buffer) || prefix.length < 4 || prefix.length !== 4 + prefix.readUInt32LE(0)) return undefined;
  if (!(created instanceof Buffer) || created.length !== 8) return undefined;
  if (!(dataPool instanceof Buffer) || dataPool.length !== 8) return undefined;
  if (!(snapc instanceof Buffer) || snapc.length < 12 || snapc.readUInt32LE(8) !== 0) return undefined;
  // a clone (or anything but a clear "no parent") is opened: its parent's names need lookups elsewhere —
  // unless the caller asked for the parent's ids (it knows the names: a clone it has just made)
  if (!(parent instanceof Buffer) || parent.length < 8) return undefined;
  const parentRef = parent.readBigInt64LE(0) === -1n ? undefined : clone ? decodeParent(parent) : undefined;
  if (parent.readBigInt64LE(0) !== -1n && !parentRef) return undefined;

  const order = size.readUInt8(0);
  const bytes = size.readBigUInt64LE(1);
  const featureBits = features.readBigUInt64LE(0);
  if ((featureBits & ~KNOWN_FEATURES) !== 0n || bytes > BigInt(Number.MAX_SAFE_INTEGER) || order > 63) return undefined;
  const objectSize = 1n << BigInt(order);

  let stripeUnit = objectSize, stripeCount = 1n;
  if (striping instanceof Buffer) {
    if (striping.length !== 16) return undefined;
    stripeUnit = striping.readBigUInt64LE(0);
    stripeCount = striping.readBigUInt64LE(8);
  } else if (striping !== -E.ENOEXEC) {
    return undefined;
  }
  // librbd's image context does the same with a layout that has a zero in it
  if (stripeUnit === 0n || stripeCount === 0n) { stripeUnit = objectSize; stripeCount = 1n; }

  const prefixBytes = prefix.subarray(4);
  const cut = Math.min(prefixBytes.length, BLOCK_NAME_MAX - 1);
  const nul = prefixBytes.indexOf(0);
  const blockNamePrefix = prefixBytes.toString('utf8', 0, nul >= 0 && nul < cut ? nul : cut);

  const sec = created.readUInt32LE(0);
  const nsec = created.readUInt32LE(4);
  return {
    size: Number(bytes),
    order,
    featureBits,
    blockNamePrefix,
    stripeUnit: Number(stripeUnit),
    stripeCount: Number(stripeCount),
    objects: Number(objectCount(bytes, objectSize, stripeUnit, stripeCount)),
    createdAt: new Date(sec * 1000 + Math.floor(nsec / 1e6)).toISOString(),
    dataPoolId: Number(dataPool.readBigInt64LE(0)),
    snapshotCount: 0,
    parent: null,
    ...(parentRef ? { parentRef } : {}),
  };
}

/**
 * The size of the image head from `rbd_header.<id>` (cls_rbd get_size, one OSD read), for any image —
 * a clone too; undefined when it cannot be read exactly (the caller opens the image). Timeouts are thrown.
 */
export async function readImageSize(io: Handle<'rados_ioctx_t'>, imageId: string, target: string): Promise<number | undefined> {
  const out = Buffer.alloc(16);
  const rc = await io.use('rados_exec', (p) =>
    native<number>('rados_exec', radosObject.exec, p, `rbd_header.${imageId}`, 'rbd', 'get_size', NOSNAP_IN, NOSNAP_IN.length, out, out.length));
  void out; // librados wrote into it until the call ended
  if (rc === -E.ETIMEDOUT) throw new CephError('object', 'rados_exec', rc, target);
  if (rc !== 9) return undefined;
  const bytes = out.readBigUInt64LE(1);
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(bytes);
}

/**
 * Data objects an image of `size` bytes spans, as rbd_stat counts them: whole periods (stripe count ×
 * object size) times the stripe count, less the objects of the last, partial period that no stripe unit
 * reaches.
 */
export function objectCount(size: bigint, objectSize: bigint, stripeUnit: bigint, stripeCount: bigint): bigint {
  const period = objectSize * stripeCount;
  const periods = (size + period - 1n) / period;
  const rest = size % period;
  let unused = 0n;
  if (rest > 0n && rest < stripeCount * stripeUnit) unused = stripeCount - (rest + stripeUnit - 1n) / stripeUnit;
  return periods * stripeCount - unused;
}
