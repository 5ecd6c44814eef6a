// librados omap reads and plain reads queued on a read op (rados/librados.h, Ceph 16.2). Each binding's
// comment quotes the C prototype it wraps.
//
// The "queue" functions only add an action to a rados_read_op_t; their output pointers (iter, pmore, prval,
// bytes_read, buffer) are written later, while rados_read_op_operate runs on a worker thread. So they are
// declared as plain `void *` here and the caller passes Buffers that it keeps referenced until operate has
// returned — never koffi out-parameters, which koffi reads back when the queueing call itself returns.
// The iterator functions only walk memory librados already holds (no network): safe on the main thread.
import { koffi, librados } from './library.js';
import './types.js';

// typedef void *rados_omap_iter_t;
koffi.pointer('rados_omap_iter_t', koffi.opaque('rados_omap_iter_s'));

export const radosOmap = {
  /**
   * void rados_read_op_omap_get_vals2(rados_read_op_t read_op,
   *                                   const char *start_after,
   *                                   const char *filter_prefix,
   *                                   uint64_t max_return,
   *                                   rados_omap_iter_t *iter,
   *                                   unsigned char *pmore,
   *                                   int *prval);
   * iter: 8-byte Buffer (a rados_omap_iter_t is written there); pmore: 1 byte; prval: 4 bytes.
   */
  readOpOmapGetVals2: librados.func(
    'void rados_read_op_omap_get_vals2(rados_read_op_t read_op, const char *start_after, const char *filter_prefix, ' +
      'uint64_t max_return, void *iter, void *pmore, void *prval)',
  ),
  /**
   * void rados_read_op_omap_get_vals_by_keys(rados_read_op_t read_op,
   *                                          char const* const* keys,
   *                                          size_t keys_len,
   *                                          rados_omap_iter_t *iter,
   *                                          int *prval);
   * The keys are copied while queueing; iter and prval as above.
   */
  readOpOmapGetValsByKeys: librados.func(
    'void rados_read_op_omap_get_vals_by_keys(rados_read_op_t read_op, const char **keys, size_t keys_len, void *iter, void *prval)',
  ),
  /**
   * void rados_read_op_read(rados_read_op_t read_op,
   *                         uint64_t offset,
   *                         size_t len,
   *                         char *buffer,
   *                         size_t *bytes_read,
   *                         int *prval);
   */
  readOpRead: librados.func(
    'void rados_read_op_read(rados_read_op_t read_op, uint64_t offset, size_t len, void *buffer, void *bytes_read, void *prval)',
  ),
  /**
   * int rados_omap_get_next2(rados_omap_iter_t iter,
   *                          char **key,
   *                          char **val,
   *                          size_t *key_len,
   *                          size_t *val_len);
   * Local memory. `out` is one 32-byte Buffer: key pointer at 0, value pointer at 8, key length at 16,
   * value length at 24 (pass it four times with those offsets: see omapNext below). At the end key and val
   * are NULL and the lengths 0.
   */
  omapGetNext2: librados.func('int rados_omap_get_next2(rados_omap_iter_t iter, void *key, void *val, void *key_len, void *val_len)'),
  /** unsigned int rados_omap_iter_size(rados_omap_iter_t iter); — local memory */
  omapIterSize: librados.func('unsigned int rados_omap_iter_size(rados_omap_iter_t iter)'),
  /** void rados_omap_get_end(rados_omap_iter_t iter); — frees the iterator and the keys/values it holds */
  omapGetEnd: librados.func('void rados_omap_get_end(rados_omap_iter_t iter)'),
};

/** One omap entry, copied out of librados' memory: the key as UTF-8 text, the value as bytes. */
export interface OmapEntry { key: string; value: Buffer }

/**
 * Every entry of an iterator (in key order), copied into JS memory; then the iterator is ended. `iter` is
 * the rados_omap_iter_t librados wrote (NULL reads as no entries).
 */
export function drainOmapIter(iter: bigint | null): OmapEntry[] {
  if (!iter) return [];
  const out = Buffer.alloc(32);
  const at = (off: number): bigint => out.readBigUInt64LE(off);
  // subarray views of the one Buffer: koffi passes each view's own address
  const keyP = out.subarray(0, 8), valP = out.subarray(8, 16), keyL = out.subarray(16, 24), valL = out.subarray(24, 32);
  const entries: OmapEntry[] = [];
  try {
    for (;;) {
      const rc = radosOmap.omapGetNext2(iter, keyP, valP, keyL, valL) as number;
      if (rc < 0) throw new Error(`rados_omap_get_next2 returned ${rc}`);
      const kp = at(0);
      if (kp === 0n) break;
      const klen = Number(at(16));
      const vp = at(8);
      const vlen = Number(at(24));
      const key = klen > 0 ? Buffer.from(koffi.view(kp, klen)).toString('utf8') : '';
      // copy: the value's memory belongs to the iterator
      const value = vp !== 0n && vlen > 0 ? Buffer.from(new Uint8Array(koffi.view(vp, vlen))) : Buffer.alloc(0);
      entries.push({ key, value });
    }
  } finally {
    radosOmap.omapGetEnd(iter);
  }
  void out;
  return entries;
}
