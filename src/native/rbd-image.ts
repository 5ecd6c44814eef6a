// librbd calls on one image (rbd/librbd.h, Ceph 16.2): create (with image options), remove and rename by name;
// open and close a handle (rbd_image_t); what an open image says about itself (stat, id, size, features,
// flags, striping, data pool, creation time, watchers); resize, features and object map rebuild, reads and
// writes, copies, and the allocated-extent walk (diff iterate). Snapshots are in rbd-snapshot.ts, clones in
// rbd-clone.ts, metadata and per-image config in rbd-metadata.ts. Each binding's comment quotes the C
// prototype it wraps. Calls that can touch the network are only ever made through the async call helpers
// (src/ceph/call.ts); calls marked "local memory" only touch process memory and may run on the main thread.
// Progress callbacks (librbd_progress_fn_t) come from progress.ts: NEVER pass NULL.
import { koffi, librbd } from './library.js';
import './types.js';
import './progress.js'; // declares librbd_progress_fn_t
import { cConstants } from './layout.js';

/** typedef struct { char *name; int64_t pool; } rbd_group_info_t; */
export const RbdGroupInfo = koffi.struct('rbd_group_info_t', { name: 'char *', pool: 'int64_t' });
export const GROUP_INFO_SIZE = koffi.sizeof(RbdGroupInfo);

/** enum rbd_image_option values used by copies (the others are in types.ts). */
export const RBD_IMAGE_OPTION_COPY = { FLATTEN: 11, CLONE_FORMAT: 12 } as const;

/** #define RBD_FLAG_OBJECT_MAP_INVALID (1<<0); #define RBD_FLAG_FAST_DIFF_INVALID (1<<1) */
export const RBD_FLAG = { OBJECT_MAP_INVALID: 1n, FAST_DIFF_INVALID: 2n } as const;

/** int (*cb)(uint64_t, size_t, int, void *)  — the callback of rbd_diff_iterate2 (offset, length, exists, arg) */
export const DiffCallback = koffi.proto('int rbd_diff_cb(uint64_t offset, size_t length, int exists, void *arg)');

/**
 * Register a diff callback (a koffi pointer valid until unregister). librbd calls it on its own threads or
 * on the calling worker; koffi runs it on the JS main thread either way. A negative return stops the walk.
 */
export function registerDiffCallback(fn: (offset: number | bigint, length: number | bigint, exists: number) => number): unknown {
  return koffi.register((o: number | bigint, l: number | bigint, e: number) => fn(o, l, e), koffi.pointer(DiffCallback));
}

export function unregisterCallback(cb: unknown): void {
  koffi.unregister(cb as never);
}

export const rbdImage = {
  /** void rbd_image_options_create(rbd_image_options_t* opts); */
  imageOptionsCreate: librbd.func('void rbd_image_options_create(_Out_ rbd_image_options_t *opts)'),
  /** void rbd_image_options_destroy(rbd_image_options_t opts); */
  imageOptionsDestroy: librbd.func('void rbd_image_options_destroy(rbd_image_options_t opts)'),
  /** int rbd_image_options_set_uint64(rbd_image_options_t opts, int optname, uint64_t optval); */
  imageOptionsSetUint64: librbd.func('int rbd_image_options_set_uint64(rbd_image_options_t opts, int optname, uint64_t optval)'),
  /** int rbd_image_options_set_string(rbd_image_options_t opts, int optname, const char* optval); */
  imageOptionsSetString: librbd.func('int rbd_image_options_set_string(rbd_image_options_t opts, int optname, const char *optval)'),
  /** int rbd_create4(rados_ioctx_t io, const char *name, uint64_t size, rbd_image_options_t opts); */
  create4: librbd.func('int rbd_create4(rados_ioctx_t io, const char *name, uint64_t size, rbd_image_options_t opts)'),
  /** int rbd_remove(rados_ioctx_t io, const char *name); */
  remove: librbd.func('int rbd_remove(rados_ioctx_t io, const char *name)'),
  /** int rbd_rename(rados_ioctx_t src_io_ctx, const char *srcname, const char *destname); */
  rename: librbd.func('int rbd_rename(rados_ioctx_t src_io_ctx, const char *srcname, const char *destname)'),

  /** int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); */
  open: librbd.func('int rbd_open(rados_ioctx_t io, const char *name, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); (no watcher of its own) */
  openReadOnly: librbd.func('int rbd_open_read_only(rados_ioctx_t io, const char *name, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_open_by_id(rados_ioctx_t io, const char *id, rbd_image_t *image, const char *snap_name); */
  openById: librbd.func('int rbd_open_by_id(rados_ioctx_t io, const char *id, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_open_by_id_read_only(rados_ioctx_t io, const char *id, rbd_image_t *image, const char *snap_name); */
  openByIdReadOnly: librbd.func('int rbd_open_by_id_read_only(rados_ioctx_t io, const char *id, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_close(rbd_image_t image); */
  close: librbd.func('int rbd_close(rbd_image_t image)'),

  /** int rbd_stat(rbd_image_t image, rbd_image_info_t *info, size_t infosize); */
  stat: librbd.func('int rbd_stat(rbd_image_t image, _Out_ rbd_image_info_t *info, size_t infosize)'),
  /** int rbd_get_id(rbd_image_t image, char *id, size_t id_len); */
  getId: librbd.func('int rbd_get_id(rbd_image_t image, void *id, size_t id_len)'),
  /**
   * int rbd_get_group(rbd_image_t image, rbd_group_info_t *group_info, size_t group_info_size);
   * typedef struct { char *name; int64_t pool; } rbd_group_info_t; — local memory (the header read at open);
   * name "" and pool -1 when the image is in no group. group_info: a GROUP_INFO_SIZE Buffer (decode with
   * decodeStructs); its name is librbd's until rbd_group_info_cleanup on the same Buffer.
   */
  getGroup: librbd.func('int rbd_get_group(rbd_image_t image, void *group_info, size_t group_info_size)'),
  /** void rbd_group_info_cleanup(rbd_group_info_t *group_info, size_t group_info_size); */
  groupInfoCleanup: librbd.func('void rbd_group_info_cleanup(void *group_info, size_t group_info_size)'),
  /** int rbd_get_size(rbd_image_t image, uint64_t *size); */
  getSize: librbd.func('int rbd_get_size(rbd_image_t image, _Out_ uint64_t *size)'),
  /** int rbd_get_features(rbd_image_t image, uint64_t *features); */
  getFeatures: librbd.func('int rbd_get_features(rbd_image_t image, _Out_ uint64_t *features)'),
  /** int rbd_get_flags(rbd_image_t image, uint64_t *flags); */
  getFlags: librbd.func('int rbd_get_flags(rbd_image_t image, _Out_ uint64_t *flags)'),
  /** int rbd_get_stripe_unit(rbd_image_t image, uint64_t *stripe_unit); */
  getStripeUnit: librbd.func('int rbd_get_stripe_unit(rbd_image_t image, _Out_ uint64_t *stripe_unit)'),
  /** int rbd_get_stripe_count(rbd_image_t image, uint64_t *stripe_count); */
  getStripeCount: librbd.func('int rbd_get_stripe_count(rbd_image_t image, _Out_ uint64_t *stripe_count)'),
  /** int64_t rbd_get_data_pool_id(rbd_image_t image); */
  getDataPoolId: librbd.func('int64_t rbd_get_data_pool_id(rbd_image_t image)'),
  /** int rbd_get_create_timestamp(rbd_image_t image, struct timespec *timestamp); */
  getCreateTimestamp: librbd.func('int rbd_get_create_timestamp(rbd_image_t image, _Out_ rbd_timespec *timestamp)'),
  /**
   * int rbd_watchers_list(rbd_image_t image, rbd_image_watcher_t *watchers, size_t *max_watchers);
   * watchers: an array of rbd_image_watcher_t {char *addr; int64_t id; uint64_t cookie;} (24 bytes each).
   * -ERANGE when the array is short, with the needed count in *max_watchers.
   */
  watchersList: librbd.func('int rbd_watchers_list(rbd_image_t image, void *watchers, _Inout_ size_t *max_watchers)'),
  /** void rbd_watchers_list_cleanup(rbd_image_watcher_t *watchers, size_t num_watchers); */
  watchersListCleanup: librbd.func('void rbd_watchers_list_cleanup(void *watchers, size_t num_watchers)'),

  /** int rbd_resize2(rbd_image_t image, uint64_t size, bool allow_shrink, librbd_progress_fn_t cb, void *cbdata); */
  resize2: librbd.func('int rbd_resize2(rbd_image_t image, uint64_t size, bool allow_shrink, librbd_progress_fn_t *cb, void *cbdata)'),
  /** int rbd_update_features(rbd_image_t image, uint64_t features, uint8_t enabled); */
  updateFeatures: librbd.func('int rbd_update_features(rbd_image_t image, uint64_t features, uint8_t enabled)'),
  /** int rbd_rebuild_object_map(rbd_image_t image, librbd_progress_fn_t cb, void *cbdata); cb never NULL */
  rebuildObjectMap: librbd.func('int rbd_rebuild_object_map(rbd_image_t image, librbd_progress_fn_t *cb, void *cbdata)'),
  /** ssize_t rbd_read(rbd_image_t image, uint64_t ofs, size_t len, char *buf); — bytes read (a clone reads through to its parent) */
  read: librbd.func('int64_t rbd_read(rbd_image_t image, uint64_t ofs, size_t len, void *buf)'),
  /** ssize_t rbd_write(rbd_image_t image, uint64_t ofs, size_t len, const char *buf); — bytes written */
  write: librbd.func('int64_t rbd_write(rbd_image_t image, uint64_t ofs, size_t len, const void *buf)'),

  /**
   * int rbd_sparsify_with_progress(rbd_image_t image, size_t sparse_size, librbd_progress_fn_t cb, void *cbdata);
   * sparse_size: a power of two from 4 KiB to the object size (-EINVAL otherwise); cb must never be NULL.
   */
  sparsifyWithProgress: librbd.func('int rbd_sparsify_with_progress(rbd_image_t image, size_t sparse_size, librbd_progress_fn_t *cb, void *cbdata)'),

  /**
   * int rbd_copy_with_progress4(rbd_image_t image, rados_ioctx_t dest_p, const char *destname,
   *                             rbd_image_options_t dest_opts, librbd_progress_fn_t cb, void *cbdata,
   *                             size_t sparse_size);
   * cb must never be NULL (librbd calls it without a check).
   */
  copyWithProgress4: librbd.func('int rbd_copy_with_progress4(rbd_image_t image, rados_ioctx_t dest_p, const char *destname, '
    + 'rbd_image_options_t dest_opts, librbd_progress_fn_t *cb, void *cbdata, size_t sparse_size)'),
  /**
   * int rbd_deep_copy_with_progress(rbd_image_t image, rados_ioctx_t dest_io_ctx, const char *destname,
   *                                 rbd_image_options_t dest_opts, librbd_progress_fn_t cb, void *cbdata);
   */
  deepCopyWithProgress: librbd.func('int rbd_deep_copy_with_progress(rbd_image_t image, rados_ioctx_t dest_io_ctx, '
    + 'const char *destname, rbd_image_options_t dest_opts, librbd_progress_fn_t *cb, void *cbdata)'),

  /**
   * int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len,
   *                       uint8_t include_parent, uint8_t whole_object,
   *                       int (*cb)(uint64_t, size_t, int, void *), void *arg);
   */
  diffIterate2: librbd.func('int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len, '
    + 'uint8_t include_parent, uint8_t whole_object, rbd_diff_cb *cb, void *arg)'),
};

/** The C constants these bindings rely on, by their C names (for test/unit/manage-layout.test.ts). */
export function imageConstants(): Record<string, number> {
  return {
    ...cConstants('RBD_IMAGE_OPTION_', RBD_IMAGE_OPTION_COPY),
    RBD_FLAG_OBJECT_MAP_INVALID: Number(RBD_FLAG.OBJECT_MAP_INVALID),
    RBD_FLAG_FAST_DIFF_INVALID: Number(RBD_FLAG.FAST_DIFF_INVALID),
  };
}
