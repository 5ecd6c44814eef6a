// Plain RADOS objects for the task engine (rados/librados.h, Ceph 16.2): whole-object reads and writes,
// xattrs, compare-and-swap write ops, omap set/get/remove, and advisory locks with a duration (leases).
// Each binding's comment quotes the C prototype it wraps. Handles (rados_ioctx_t, rados_write_op_t,
// rados_read_op_t, rados_omap_iter_t) are passed as `void *` here so that this file declares no koffi type
// names of its own (two files declaring one name would fail at load).
//
// Output pointers of queued read-op actions (iter, pmore, prval) are written while rados_read_op_operate
// runs on a worker thread: they are caller Buffers kept referenced until operate has returned.
import { koffi, librados } from './library.js';

/** enum { LIBRADOS_CMPXATTR_OP_EQ = 1, ... } */
export const LIBRADOS_CMPXATTR_OP_EQ = 1;
/** #define LIBRADOS_LOCK_FLAG_MAY_RENEW LIBRADOS_LOCK_FLAG_RENEW (1u<<0) */
export const LIBRADOS_LOCK_FLAG_MAY_RENEW = 1;

export const radosObjects = {
  /** int rados_read(rados_ioctx_t io, const char *oid, char *buf, size_t len, uint64_t off); */
  read: librados.func('int rados_read(void *io, const char *oid, void *buf, size_t len, uint64_t off)'),
  /** int rados_write_full(rados_ioctx_t io, const char *oid, const char *buf, size_t len); */
  writeFull: librados.func('int rados_write_full(void *io, const char *oid, const void *buf, size_t len)'),
  /** int rados_remove(rados_ioctx_t io, const char *oid); */
  remove: librados.func('int rados_remove(void *io, const char *oid)'),
  /** int rados_stat(rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime); */
  stat: librados.func('int rados_stat(void *io, const char *o, _Out_ uint64_t *psize, _Out_ int64_t *pmtime)'),
  /** int rados_getxattr(rados_ioctx_t io, const char *o, const char *name, char *buf, size_t len); */
  getxattr: librados.func('int rados_getxattr(void *io, const char *o, const char *name, void *buf, size_t len)'),
  /** int rados_setxattr(rados_ioctx_t io, const char *o, const char *name, const char *buf, size_t len); */
  setxattr: librados.func('int rados_setxattr(void *io, const char *o, const char *name, const void *buf, size_t len)'),

  /** rados_write_op_t rados_create_write_op(void); — local memory */
  createWriteOp: librados.func('void *rados_create_write_op(void)'),
  /** void rados_release_write_op(rados_write_op_t write_op); — local memory */
  releaseWriteOp: librados.func('void rados_release_write_op(void *write_op)'),
  /** void rados_write_op_create(rados_write_op_t write_op, int exclusive, const char* category); — queues only */
  writeOpCreate: librados.func('void rados_write_op_create(void *write_op, int exclusive, const char *category)'),
  /** void rados_write_op_assert_exists(rados_write_op_t write_op); — queues only */
  writeOpAssertExists: librados.func('void rados_write_op_assert_exists(void *write_op)'),
  /**
   * void rados_write_op_cmpxattr(rados_write_op_t write_op, const char *name, uint8_t comparison_operator,
   *                              const char *value, size_t value_len);
   * Queues only; name and value are copied. A failed comparison fails the whole op with -ECANCELED.
   */
  writeOpCmpxattr: librados.func('void rados_write_op_cmpxattr(void *write_op, const char *name, uint8_t comparison_operator, const void *value, size_t value_len)'),
  /** void rados_write_op_setxattr(rados_write_op_t write_op, const char *name, const char *value, size_t value_len); — copies */
  writeOpSetxattr: librados.func('void rados_write_op_setxattr(void *write_op, const char *name, const void *value, size_t value_len)'),
  /** void rados_write_op_write_full(rados_write_op_t write_op, const char *buffer, size_t len); — copies */
  writeOpWriteFull: librados.func('void rados_write_op_write_full(void *write_op, const void *buffer, size_t len)'),
  /**
   * void rados_write_op_exec(rados_write_op_t write_op, const char *cls, const char *method,
   *                          const char *in_buf, size_t in_len, int *prval);
   * Queues a class method call; in_buf is copied. prval may be NULL (the op's result is the method's).
   */
  writeOpExec: librados.func('void rados_write_op_exec(void *write_op, const char *cls, const char *method, const void *in_buf, size_t in_len, void *prval)'),
  /** void rados_write_op_remove(rados_write_op_t write_op); — queues only */
  writeOpRemove: librados.func('void rados_write_op_remove(void *write_op)'),
  /**
   * void rados_write_op_omap_set2(rados_write_op_t write_op, char const* const* keys, char const* const* vals,
   *                               const size_t *key_lens, const size_t *val_lens, size_t num);
   * Copies keys and values while queueing (librados builds a bufferlist map at once).
   */
  writeOpOmapSet2: librados.func('void rados_write_op_omap_set2(void *write_op, const char **keys, const char **vals, const size_t *key_lens, const size_t *val_lens, size_t num)'),
  /**
   * void rados_write_op_omap_rm_keys2(rados_write_op_t write_op, char const* const* keys,
   *                                   const size_t* key_lens, size_t keys_len);
   */
  writeOpOmapRmKeys2: librados.func('void rados_write_op_omap_rm_keys2(void *write_op, const char **keys, const size_t *key_lens, size_t keys_len)'),
  /** int rados_write_op_operate(rados_write_op_t write_op, rados_ioctx_t io, const char *oid, time_t *mtime, int flags); */
  writeOpOperate: librados.func('int rados_write_op_operate(void *write_op, void *io, const char *oid, void *mtime, int flags)'),

  /** rados_read_op_t rados_create_read_op(void); — local memory */
  createReadOp: librados.func('void *rados_create_read_op(void)'),
  /** void rados_release_read_op(rados_read_op_t read_op); — local memory */
  releaseReadOp: librados.func('void rados_release_read_op(void *read_op)'),
  /**
   * void rados_read_op_omap_get_vals2(rados_read_op_t read_op, const char *start_after, const char *filter_prefix,
   *                                   uint64_t max_return, rados_omap_iter_t *iter, unsigned char *pmore, int *prval);
   * iter: an 8-byte Buffer; pmore: 1 byte; prval: 4 bytes (written during operate).
   */
  readOpOmapGetVals2: librados.func('void rados_read_op_omap_get_vals2(void *read_op, const char *start_after, const char *filter_prefix, uint64_t max_return, void *iter, void *pmore, void *prval)'),
  /** int rados_read_op_operate(rados_read_op_t read_op, rados_ioctx_t io, const char *oid, int flags); */
  readOpOperate: librados.func('int rados_read_op_operate(void *read_op, void *io, const char *oid, int flags)'),
  /**
   * int rados_omap_get_next2(rados_omap_iter_t iter, char **key, char **val, size_t *key_len, size_t *val_len);
   * Local memory. The four outputs are 8-byte views of one Buffer (see drainOmap).
   */
  omapGetNext2: librados.func('int rados_omap_get_next2(void *iter, void *key, void *val, void *key_len, void *val_len)'),
  /** void rados_omap_get_end(rados_omap_iter_t iter); — frees the iterator and what it holds */
  omapGetEnd: librados.func('void rados_omap_get_end(void *iter)'),

  /**
   * int rados_lock_exclusive(rados_ioctx_t io, const char * oid, const char * name, const char * cookie,
   *                          const char * desc, struct timeval * duration, uint8_t flags);
   * duration: a 16-byte Buffer {int64 tv_sec; int64 tv_usec} (see timeval), NULL = forever.
   * -EBUSY: held by another (client, cookie); -EEXIST: held by this one (without LIBRADOS_LOCK_FLAG_MAY_RENEW).
   */
  lockExclusive: librados.func('int rados_lock_exclusive(void *io, const char *oid, const char *name, const char *cookie, const char *desc, void *duration, uint8_t flags)'),
  /** int rados_unlock(rados_ioctx_t io, const char *o, const char *name, const char *cookie); -ENOENT when not held */
  unlock: librados.func('int rados_unlock(void *io, const char *o, const char *name, const char *cookie)'),
  /**
   * int rados_getaddrs(rados_t cluster, char** addrs);
   * Local memory: this client's address ("127.0.0.1:0/808367455"), strdup()ed by librados: free() it (clientAddress does).
   */
  getaddrs: librados.func('int rados_getaddrs(void *cluster, _Out_ void **addrs)'),
};

const libc = koffi.load('libc.so.6');
/** void free(void *ptr); */
const free = libc.func('void free(void *ptr)');

/** This rados_t's client address, as `osd blocklist add` takes it; undefined if librados cannot say. */
export function clientAddress(cluster: bigint): string | undefined {
  const out: [bigint | null] = [null];
  const rc = radosObjects.getaddrs(cluster, out) as number;
  if (rc < 0 || !out[0]) return undefined;
  try {
    return koffi.decode(out[0], 'char', -1) as string;
  } finally {
    free(out[0]);
  }
}

/** struct timeval { time_t tv_sec; suseconds_t tv_usec; } (LP64: two int64) as a Buffer. */
export function timeval(ms: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  b.writeBigInt64LE(BigInt(Math.round((ms % 1000) * 1000)), 8);
  return b;
}

/** An array of C strings for koffi (`const char **`) plus their byte lengths (`const size_t *`). */
export function stringArray(items: readonly string[]): { ptrs: string[]; lens: bigint[] } {
  return { ptrs: [...items], lens: items.map((s) => BigInt(Buffer.byteLength(s, 'utf8'))) };
}

export interface OmapPair { key: string; value: string }

/** Copy every entry of an omap iterator (key order), then end it. NULL reads as no entries. */
export function drainOmap(iter: bigint): OmapPair[] {
  if (!iter) return [];
  const out = Buffer.alloc(32);
  const keyP = out.subarray(0, 8), valP = out.subarray(8, 16), keyL = out.subarray(16, 24), valL = out.subarray(24, 32);
  const entries: OmapPair[] = [];
  try {
    for (;;) {
      const rc = radosObjects.omapGetNext2(iter, keyP, valP, keyL, valL) as number;
      if (rc < 0) throw new Error(`rados_omap_get_next2 returned ${rc}`);
      const kp = out.readBigUInt64LE(0);
      if (kp === 0n) break;
      const klen = Number(out.readBigUInt64LE(16));
      const vp = out.readBigUInt64LE(8);
      const vlen = Number(out.readBigUInt64LE(24));
      const key = klen > 0 ? Buffer.from(koffi.view(kp, klen)).toString('utf8') : '';
      const value = vp !== 0n && vlen > 0 ? Buffer.from(koffi.view(vp, vlen)).toString('utf8') : '';
      entries.push({ key, value });
    }
  } finally {
    radosObjects.omapGetEnd(iter);
  }
  return entries;
}
