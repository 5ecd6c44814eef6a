// Omap (an object's sorted key/value map; rados/librados.h, Ceph 16.2): set and remove keys in a write op, read
// a page of keys in a read op, and walk the iterator it gives back. The task engine keeps its indexes here.
// Each binding's comment quotes the C prototype it wraps. The rados_omap_iter_t is passed as `void *`.
//
// Output pointers of queued read-op actions (iter, pmore, prval) are written while rados_read_op_operate
// runs on a worker thread: they are caller Buffers kept referenced until operate has returned.
// (rados_read_op_omap_get_vals2 + rados_omap_get_next2 were tried for image directory pages first: an FFI
// call and two copies per entry made a page of 1,000 names 2.7x slower than cls_rbd dir_list in one buffer,
// which image-directory.ts reads with rados_read_op_exec.)
import { koffi, librados } from './library.js';
import './types.js';

export const radosOmap = {
  /**
   * void rados_write_op_omap_set2(rados_write_op_t write_op, char const* const* keys, char const* const* vals,
   *                               const size_t *key_lens, const size_t *val_lens, size_t num);
   * Copies keys and values while queueing (librados builds a bufferlist map at once).
   */
  writeOpOmapSet2: librados.func('void rados_write_op_omap_set2(rados_write_op_t write_op, const char **keys, const char **vals, const size_t *key_lens, const size_t *val_lens, size_t num)'),
  /**
   * void rados_write_op_omap_rm_keys2(rados_write_op_t write_op, char const* const* keys,
   *                                   const size_t* key_lens, size_t keys_len);
   */
  writeOpOmapRmKeys2: librados.func('void rados_write_op_omap_rm_keys2(rados_write_op_t write_op, const char **keys, const size_t *key_lens, size_t keys_len)'),
  /**
   * void rados_read_op_omap_get_vals2(rados_read_op_t read_op, const char *start_after, const char *filter_prefix,
   *                                   uint64_t max_return, rados_omap_iter_t *iter, unsigned char *pmore, int *prval);
   * iter: an 8-byte Buffer; pmore: 1 byte; prval: 4 bytes (written during operate).
   */
  readOpOmapGetVals2: librados.func('void rados_read_op_omap_get_vals2(rados_read_op_t read_op, const char *start_after, const char *filter_prefix, uint64_t max_return, void *iter, void *pmore, void *prval)'),
  /**
   * int rados_omap_get_next2(rados_omap_iter_t iter, char **key, char **val, size_t *key_len, size_t *val_len);
   * Local memory. The four outputs are 8-byte views of one Buffer (see drainOmap).
   */
  omapGetNext2: librados.func('int rados_omap_get_next2(void *iter, void *key, void *val, void *key_len, void *val_len)'),
  /** void rados_omap_get_end(rados_omap_iter_t iter); — frees the iterator and what it holds */
  omapGetEnd: librados.func('void rados_omap_get_end(void *iter)'),
};

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
      const rc = radosOmap.omapGetNext2(iter, keyP, valP, keyL, valL) as number;
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
    radosOmap.omapGetEnd(iter);
  }
  return entries;
}
