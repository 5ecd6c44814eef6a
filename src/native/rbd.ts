// librbd prototypes (rbd/librbd.h, Ceph 16.2). Each binding's comment quotes the C prototype it wraps.
// Calls that can touch the network or disk are only ever made through callAsync() (async-call.ts).
import { koffi, librbd } from './library.js';
import './types.js';

/** typedef int (*librbd_progress_fn_t)(uint64_t offset, uint64_t total, void *ptr); */
const ProgressFn = koffi.proto('int librbd_progress_fn_t(uint64_t offset, uint64_t total, void *ptr)');

/**
 * A progress callback that does nothing. librbd calls the callback it is given without a NULL check, so NULL
 * crashes the process. A JS callback (koffi.register) would be run on the JS main thread for every object
 * librbd touches — a shrink or removal without object map calls it ~12,000 times a second and blocks a librbd
 * thread on each. So it is C code instead: libc's `int sched_yield(void)`, which ignores the arguments (passed
 * in registers on x86-64 and arm64) and returns 0 ("go on"). A JS no-op only if libc cannot be searched.
 */
export const noProgress: unknown = (() => {
  try {
    const dlsym = koffi.load('libc.so.6').func('void *dlsym(void *handle, const char *symbol)') as (h: null, s: string) => bigint | null;
    const p = dlsym(null, 'sched_yield'); // RTLD_DEFAULT
    if (p) return p;
  } catch { /* below */ }
  return koffi.register(() => 0, koffi.pointer(ProgressFn));
})();

export const rbd = {
  /** void rbd_version(int *major, int *minor, int *extra); */
  version: librbd.func('void rbd_version(_Out_ int *major, _Out_ int *minor, _Out_ int *extra)'),
  /** int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, bool *exists); */
  namespaceExists: librbd.func('int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, _Out_ bool *exists)'),
  /** int rbd_pool_init(rados_ioctx_t io, bool force); */
  poolInit: librbd.func('int rbd_pool_init(rados_ioctx_t io, bool force)'),
  /**
   * int rbd_list2(rados_ioctx_t io, rbd_image_spec_t* images, size_t *max_images);
   * images is a caller-owned array (a Buffer here) whose id/name strings librbd strdup()s;
   * they are released with rbd_image_spec_list_cleanup() on the same memory.
   */
  list2: librbd.func('int rbd_list2(rados_ioctx_t io, void *images, _Inout_ size_t *max_images)'),
  /** void rbd_image_spec_list_cleanup(rbd_image_spec_t *images, size_t num_images); */
  imageSpecListCleanup: librbd.func('void rbd_image_spec_list_cleanup(void *images, size_t num_images)'),
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
  /** int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); */
  open: librbd.func('int rbd_open(rados_ioctx_t io, const char *name, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); */
  openReadOnly: librbd.func('int rbd_open_read_only(rados_ioctx_t io, const char *name, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_close(rbd_image_t image); */
  close: librbd.func('int rbd_close(rbd_image_t image)'),
  /** int rbd_stat(rbd_image_t image, rbd_image_info_t *info, size_t infosize); */
  stat: librbd.func('int rbd_stat(rbd_image_t image, _Out_ rbd_image_info_t *info, size_t infosize)'),
  /** int rbd_get_features(rbd_image_t image, uint64_t *features); */
  getFeatures: librbd.func('int rbd_get_features(rbd_image_t image, _Out_ uint64_t *features)'),
  /** int rbd_get_stripe_unit(rbd_image_t image, uint64_t *stripe_unit); */
  getStripeUnit: librbd.func('int rbd_get_stripe_unit(rbd_image_t image, _Out_ uint64_t *stripe_unit)'),
  /** int rbd_get_stripe_count(rbd_image_t image, uint64_t *stripe_count); */
  getStripeCount: librbd.func('int rbd_get_stripe_count(rbd_image_t image, _Out_ uint64_t *stripe_count)'),
  /** int64_t rbd_get_data_pool_id(rbd_image_t image); */
  getDataPoolId: librbd.func('int64_t rbd_get_data_pool_id(rbd_image_t image)'),
  /** int rbd_get_id(rbd_image_t image, char *id, size_t id_len); */
  getId: librbd.func('int rbd_get_id(rbd_image_t image, void *id, size_t id_len)'),
  /** int rbd_get_create_timestamp(rbd_image_t image, struct timespec *timestamp); */
  getCreateTimestamp: librbd.func('int rbd_get_create_timestamp(rbd_image_t image, _Out_ rbd_timespec *timestamp)'),
  /** int rbd_resize2(rbd_image_t image, uint64_t size, bool allow_shrink, librbd_progress_fn_t cb, void *cbdata); */
  resize2: librbd.func('int rbd_resize2(rbd_image_t image, uint64_t size, bool allow_shrink, librbd_progress_fn_t *cb, void *cbdata)'),
  /** int rbd_remove(rados_ioctx_t io, const char *name); */
  remove: librbd.func('int rbd_remove(rados_ioctx_t io, const char *name)'),
  /**
   * int rbd_watchers_list(rbd_image_t image, rbd_image_watcher_t *watchers, size_t *max_watchers);
   * -ERANGE when the array is short, with the needed count in *max_watchers.
   */
  watchersList: librbd.func('int rbd_watchers_list(rbd_image_t image, void *watchers, _Inout_ size_t *max_watchers)'),
  /** void rbd_watchers_list_cleanup(rbd_image_watcher_t *watchers, size_t num_watchers); */
  watchersListCleanup: librbd.func('void rbd_watchers_list_cleanup(void *watchers, size_t num_watchers)'),
  /**
   * int rbd_snap_list(rbd_image_t image, rbd_snap_info_t *snaps, int *max_snaps);
   * -ERANGE when *max_snaps is short, with the needed count + 1 (a terminating entry) in *max_snaps.
   */
  snapList: librbd.func('int rbd_snap_list(rbd_image_t image, void *snaps, _Inout_ int *max_snaps)'),
  /** void rbd_snap_list_end(rbd_snap_info_t *snaps); */
  snapListEnd: librbd.func('void rbd_snap_list_end(void *snaps)'),
  /** int rbd_snap_create(rbd_image_t image, const char *snapname); (used by tests to make snapshots) */
  snapCreate: librbd.func('int rbd_snap_create(rbd_image_t image, const char *snapname)'),
  /** int rbd_snap_remove(rbd_image_t image, const char *snapname); */
  snapRemove: librbd.func('int rbd_snap_remove(rbd_image_t image, const char *snapname)'),
};
