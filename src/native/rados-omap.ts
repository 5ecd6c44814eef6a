// Reads queued on a librados read op for the image directory and the id objects (rados/librados.h, Ceph
// 16.2): a cls method call whose output librados allocates, and a plain read. Each binding's comment
// quotes the C prototype it wraps.
//
// These functions only add an action to a rados_read_op_t; their output pointers (out_buf, out_len,
// buffer, bytes_read, prval) are written later, while rados_read_op_operate runs on a worker thread. So they
// are declared as plain `void *` here and the caller passes Buffers that it keeps referenced until operate
// has returned — never koffi out-parameters, which koffi reads back when the queueing call itself returns.
// (rados_read_op_omap_get_vals2 + rados_omap_get_next2 were tried for directory pages first: an FFI call
// and two copies per entry made a page of 1,000 names 2.7x slower than cls_rbd dir_list in one buffer.)
import { koffi, librados } from './library.js';
import { rados } from './rados.js';
import './types.js';

export const radosOmap = {
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
};

/** Copy `len` bytes of a librados-allocated buffer (rados_read_op_exec's out_buf) into a Buffer, then free it. */
export function takeRadosBytes(ptr: bigint, len: number): Buffer {
  if (ptr === 0n) return Buffer.alloc(0);
  try {
    return len > 0 ? Buffer.from(new Uint8Array(koffi.view(ptr, len))) : Buffer.alloc(0);
  } finally {
    rados.bufferFree(ptr);
  }
}
