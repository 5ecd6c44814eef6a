// librbd calls on a pool (rbd/librbd.h, Ceph 16.2): the library version, initialising a pool for RBD, the
// pool's image list (rbd_list2) and its RBD statistics. Calls on one image are in rbd-image.ts, namespaces in
// rbd-namespace.ts, the trash in rbd-trash.ts. Each binding's comment quotes the C prototype it wraps.
// Calls that can touch the network are only ever made through the async call helpers (src/ceph/call.ts);
// calls marked "local memory" only touch process memory and may run on the main thread.
import { koffi, librbd } from './library.js';
import './types.js';
import { cConstants } from './layout.js';

// typedef void *rbd_pool_stats_t;
koffi.pointer('rbd_pool_stats_t', koffi.opaque('rbd_pool_stats_s'));

/** rbd_pool_stat_option_t (librbd.h): the order is the enum's. */
export const RBD_POOL_STAT_OPTION = {
  IMAGES: 0,
  IMAGE_PROVISIONED_BYTES: 1,
  IMAGE_MAX_PROVISIONED_BYTES: 2,
  IMAGE_SNAPSHOTS: 3,
  TRASH_IMAGES: 4,
  TRASH_PROVISIONED_BYTES: 5,
  TRASH_MAX_PROVISIONED_BYTES: 6,
  TRASH_SNAPSHOTS: 7,
} as const;

export const rbdPool = {
  /** void rbd_version(int *major, int *minor, int *extra); */
  version: librbd.func('void rbd_version(_Out_ int *major, _Out_ int *minor, _Out_ int *extra)'),
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

  /** void rbd_pool_stats_create(rbd_pool_stats_t *stats); — local memory */
  poolStatsCreate: librbd.func('void rbd_pool_stats_create(_Out_ rbd_pool_stats_t *stats)'),
  /** void rbd_pool_stats_destroy(rbd_pool_stats_t stats); — local memory */
  poolStatsDestroy: librbd.func('void rbd_pool_stats_destroy(rbd_pool_stats_t stats)'),
  /**
   * int rbd_pool_stats_option_add_uint64(rbd_pool_stats_t stats, int stat_option, uint64_t* stat_val);
   * local memory; stat_val is written later, by rbd_pool_stats_get: a caller Buffer that must outlive it.
   */
  poolStatsOptionAddUint64: librbd.func('int rbd_pool_stats_option_add_uint64(rbd_pool_stats_t stats, int stat_option, void *stat_val)'),
  /** int rbd_pool_stats_get(rados_ioctx_t io, rbd_pool_stats_t stats); */
  poolStatsGet: librbd.func('int rbd_pool_stats_get(rados_ioctx_t io, rbd_pool_stats_t stats)'),
};

/** The C constants these bindings rely on, by their C names (for test/unit/manage-layout.test.ts). */
export const poolConstants = (): Record<string, number> => cConstants('RBD_POOL_STAT_OPTION_', RBD_POOL_STAT_OPTION);
