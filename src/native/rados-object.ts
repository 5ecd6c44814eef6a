// Plain RADOS objects (rados/librados.h, Ceph 16.2): whole-object reads and writes, stat, xattrs, cls method
// calls, advisory locks with a duration (leases), and compound write and read operations (compare-and-swap,
// queued reads). Omap calls are in rados-omap.ts. Each binding's comment quotes the C prototype it wraps.
// Calls that can touch the network or disk are only ever made through callAsync() (async-call.ts).
//
// The read-op actions (rados_read_op_*) only add an action to a rados_read_op_t; their output pointers
// (out_buf, out_len, buffer, bytes_read, used_len, prval) are written later, while rados_read_op_operate
// runs on a worker thread. So they are declared as plain `void *` here and the caller passes Buffers that it
// keeps referenced until operate has returned — never koffi out-parameters, which koffi reads back when the
// queueing call itself returns.
import { librados } from './library.js';
import './types.js';

/** enum { LIBRADOS_CMPXATTR_OP_EQ = 1, ... } */
export const LIBRADOS_CMPXATTR_OP_EQ = 1;
/** #define LIBRADOS_LOCK_FLAG_MAY_RENEW LIBRADOS_LOCK_FLAG_RENEW (1u<<0) */
export const LIBRADOS_LOCK_FLAG_MAY_RENEW = 1;

export const radosObject = {
  /** int rados_read(rados_ioctx_t io, const char *oid, char *buf, size_t len, uint64_t off); — bytes read */
  read: librados.func('int rados_read(rados_ioctx_t io, const char *oid, void *buf, size_t len, uint64_t off)'),
  /** int rados_write_full(rados_ioctx_t io, const char *oid, const char *buf, size_t len); */
  writeFull: librados.func('int rados_write_full(rados_ioctx_t io, const char *oid, const void *buf, size_t len)'),
  /** int rados_remove(rados_ioctx_t io, const char *oid); */
  remove: librados.func('int rados_remove(rados_ioctx_t io, const char *oid)'),
  /** int rados_stat(rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime); */
  stat: librados.func('int rados_stat(rados_ioctx_t io, const char *o, _Out_ uint64_t *psize, _Out_ int64_t *pmtime)'),
  /** int rados_getxattr(rados_ioctx_t io, const char *o, const char *name, char *buf, size_t len); */
  getxattr: librados.func('int rados_getxattr(rados_ioctx_t io, const char *o, const char *name, void *buf, size_t len)'),
  /** int rados_setxattr(rados_ioctx_t io, const char *o, const char *name, const char *buf, size_t len); */
  setxattr: librados.func('int rados_setxattr(rados_ioctx_t io, const char *o, const char *name, const void *buf, size_t len)'),
  /**
   * int rados_exec(rados_ioctx_t io, const char *oid, const char *cls, const char *method,
   *                const char *in_buf, size_t in_len, char *buf, size_t out_len);
   */
  exec: librados.func('int rados_exec(rados_ioctx_t io, const char *oid, const char *cls, const char *method, const void *in_buf, size_t in_len, void *buf, size_t out_len)'),

  /**
   * int rados_lock_exclusive(rados_ioctx_t io, const char * oid, const char * name, const char * cookie,
   *                          const char * desc, struct timeval * duration, uint8_t flags);
   * duration: a 16-byte Buffer {int64 tv_sec; int64 tv_usec} (see timeval), NULL = forever.
   * -EBUSY: held by another (client, cookie); -EEXIST: held by this one (without LIBRADOS_LOCK_FLAG_MAY_RENEW).
   */
  lockExclusive: librados.func('int rados_lock_exclusive(rados_ioctx_t io, const char *oid, const char *name, const char *cookie, const char *desc, void *duration, uint8_t flags)'),
  /** int rados_unlock(rados_ioctx_t io, const char *o, const char *name, const char *cookie); -ENOENT when not held */
  unlock: librados.func('int rados_unlock(rados_ioctx_t io, const char *o, const char *name, const char *cookie)'),

  /** rados_write_op_t rados_create_write_op(void); — local memory */
  createWriteOp: librados.func('rados_write_op_t rados_create_write_op(void)'),
  /** void rados_release_write_op(rados_write_op_t write_op); — local memory */
  releaseWriteOp: librados.func('void rados_release_write_op(rados_write_op_t write_op)'),
  /** void rados_write_op_create(rados_write_op_t write_op, int exclusive, const char* category); — queues only */
  writeOpCreate: librados.func('void rados_write_op_create(rados_write_op_t write_op, int exclusive, const char *category)'),
  /** void rados_write_op_assert_exists(rados_write_op_t write_op); — queues only */
  writeOpAssertExists: librados.func('void rados_write_op_assert_exists(rados_write_op_t write_op)'),
  /**
   * void rados_write_op_cmpxattr(rados_write_op_t write_op, const char *name, uint8_t comparison_operator,
   *                              const char *value, size_t value_len);
   * Queues only; name and value are copied. A failed comparison fails the whole op with -ECANCELED.
   */
  writeOpCmpxattr: librados.func('void rados_write_op_cmpxattr(rados_write_op_t write_op, const char *name, uint8_t comparison_operator, const void *value, size_t value_len)'),
  /** void rados_write_op_setxattr(rados_write_op_t write_op, const char *name, const char *value, size_t value_len); — copies value */
  writeOpSetxattr: librados.func('void rados_write_op_setxattr(rados_write_op_t write_op, const char *name, const void *value, size_t value_len)'),
  /** void rados_write_op_write_full(rados_write_op_t write_op, const char *buffer, size_t len); — copies */
  writeOpWriteFull: librados.func('void rados_write_op_write_full(rados_write_op_t write_op, const void *buffer, size_t len)'),
  /**
   * void rados_write_op_exec(rados_write_op_t write_op, const char *cls, const char *method,
   *                          const char *in_buf, size_t in_len, int *prval);
   * Queues a class method call; in_buf is copied. prval may be NULL (the op's result is the method's).
   */
  writeOpExec: librados.func('void rados_write_op_exec(rados_write_op_t write_op, const char *cls, const char *method, const void *in_buf, size_t in_len, void *prval)'),
  /** void rados_write_op_remove(rados_write_op_t write_op); — queues only */
  writeOpRemove: librados.func('void rados_write_op_remove(rados_write_op_t write_op)'),
  /** int rados_write_op_operate(rados_write_op_t write_op, rados_ioctx_t io, const char *oid, time_t *mtime, int flags); */
  writeOpOperate: librados.func('int rados_write_op_operate(rados_write_op_t write_op, rados_ioctx_t io, const char *oid, void *mtime, int flags)'),

  /** rados_read_op_t rados_create_read_op(void); — local memory */
  createReadOp: librados.func('rados_read_op_t rados_create_read_op(void)'),
  /** void rados_release_read_op(rados_read_op_t read_op); — local memory */
  releaseReadOp: librados.func('void rados_release_read_op(rados_read_op_t read_op)'),
  /**
   * void rados_read_op_exec(rados_read_op_t read_op,
   *                         const char *cls,
   *                         const char *method,
   *                         const char *in_buf,
   *                         size_t in_len,
   *                         char **out_buf,
   *                         size_t *out_len,
   *                         int *prval);
   * cls, method and in_buf are copied while queueing. librados allocates *out_buf during operate (release
   * it with rados_buffer_free, see takeRadosBytes); out_buf and out_len: 8-byte Buffers, prval: 4 bytes.
   */
  readOpExec: librados.func(
    'void rados_read_op_exec(rados_read_op_t read_op, const char *cls, const char *method, const void *in_buf, size_t in_len, ' +
      'void *out_buf, void *out_len, void *prval)',
  ),
  /**
   * void rados_read_op_exec_user_buf(rados_read_op_t read_op, const char *cls, const char *method,
   *                                  const char *in_buf, size_t in_len, char *out_buf, size_t out_len,
   *                                  size_t *used_len, int *prval);
   * Only queues the action (cls, method and in_buf are copied). out_buf, used_len and prval are written
   * later, while rados_read_op_operate runs: they are caller Buffers that must outlive that call, so they
   * are plain pointers here, not koffi out-parameters (which are read back when this call returns).
   */
  readOpExecUserBuf: librados.func(
    'void rados_read_op_exec_user_buf(rados_read_op_t read_op, const char *cls, const char *method, ' +
      'const void *in_buf, size_t in_len, void *out_buf, size_t out_len, void *used_len, void *prval)',
  ),
  /**
   * void rados_read_op_read(rados_read_op_t read_op,
   *                         uint64_t offset,
   *                         size_t len,
   *                         char *buffer,
   *                         size_t *bytes_read,
   *                         int *prval);
   * buffer: a caller Buffer of len bytes; bytes_read: 8 bytes; prval: 4 bytes.
   */
  readOpRead: librados.func(
    'void rados_read_op_read(rados_read_op_t read_op, uint64_t offset, size_t len, void *buffer, void *bytes_read, void *prval)',
  ),
  /** void rados_read_op_set_flags(rados_read_op_t read_op, int flags); — flags of the last action added */
  readOpSetFlags: librados.func('void rados_read_op_set_flags(rados_read_op_t read_op, int flags)'),
  /** int rados_read_op_operate(rados_read_op_t read_op, rados_ioctx_t io, const char *oid, int flags); */
  readOpOperate: librados.func('int rados_read_op_operate(rados_read_op_t read_op, rados_ioctx_t io, const char *oid, int flags)'),
};

/** struct timeval { time_t tv_sec; suseconds_t tv_usec; } (LP64: two int64) as a Buffer. */
export function timeval(ms: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  b.writeBigInt64LE(BigInt(Math.round((ms % 1000) * 1000)), 8);
  return b;
}
