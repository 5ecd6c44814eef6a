// librbd prototypes for managing images and namespaces: rename, copy, metadata and per-image config,
// features, object map rebuild, disk usage (diff iterate), pool RBD stats, namespaces.
// Each binding's comment quotes the C prototype it wraps (rbd/librbd.h, Ceph 16.2).
// Calls that can touch the network are only ever made through the async call helpers (src/ceph/call.ts);
// calls marked "local memory" only touch process memory and may run on the main thread.
import { koffi, librbd } from './library.js';
import './types.js';
import './rbd.js'; // declares librbd_progress_fn_t
import type { Pointer } from './types.js';

// typedef void *rbd_pool_stats_t;  (a type name of our own: koffi type names are process-wide)
koffi.pointer('rbd_manage_pool_stats_t', koffi.opaque('rbd_manage_pool_stats_s'));

/**
 * typedef struct {
 *   char *name;
 *   char *value;
 *   rbd_config_source_t source;   // enum: CONFIG = 0, POOL = 1, IMAGE = 2
 * } rbd_config_option_t;
 */
export const RbdConfigOption = koffi.struct('rbd_manage_config_option_t', { name: 'char *', value: 'char *', source: 'int' });
export interface RbdConfigOptionValue { name: string; value: string; source: number }
export const RBD_CONFIG_OPTION_SIZE = koffi.sizeof(RbdConfigOption);


/** enum rbd_config_source_t */
export const RBD_CONFIG_SOURCE = { CONFIG: 0, POOL: 1, IMAGE: 2 } as const;

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

/** enum rbd_image_option values used by copies (the others are in types.ts). */
export const RBD_IMAGE_OPTION_COPY = { FLATTEN: 11, CLONE_FORMAT: 12 } as const;

/** #define RBD_FLAG_OBJECT_MAP_INVALID (1<<0); #define RBD_FLAG_FAST_DIFF_INVALID (1<<1) */
export const RBD_FLAG = { OBJECT_MAP_INVALID: 1n, FAST_DIFF_INVALID: 2n } as const;

/** int (*cb)(uint64_t, size_t, int, void *)  — the callback of rbd_diff_iterate2 (offset, length, exists, arg) */
export const DiffCallback = koffi.proto('int rbd_manage_diff_cb(uint64_t offset, size_t length, int exists, void *arg)');

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

export const rbdManage = {
  /** int rbd_rename(rados_ioctx_t src_io_ctx, const char *srcname, const char *destname); */
  rename: librbd.func('int rbd_rename(rados_ioctx_t src_io_ctx, const char *srcname, const char *destname)'),

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

  /** int rbd_open_by_id(rados_ioctx_t io, const char *id, rbd_image_t *image, const char *snap_name); */
  openById: librbd.func('int rbd_open_by_id(rados_ioctx_t io, const char *id, _Out_ rbd_image_t *image, const char *snap_name)'),
  /** int rbd_open_by_id_read_only(rados_ioctx_t io, const char *id, rbd_image_t *image, const char *snap_name); */
  openByIdReadOnly: librbd.func('int rbd_open_by_id_read_only(rados_ioctx_t io, const char *id, _Out_ rbd_image_t *image, const char *snap_name)'),

  /** int rbd_metadata_get(rbd_image_t image, const char *key, char *value, size_t *val_len); -ERANGE sets *val_len */
  metadataGet: librbd.func('int rbd_metadata_get(rbd_image_t image, const char *key, void *value, _Inout_ size_t *val_len)'),
  /** int rbd_metadata_set(rbd_image_t image, const char *key, const char *value); */
  metadataSet: librbd.func('int rbd_metadata_set(rbd_image_t image, const char *key, const char *value)'),
  /** int rbd_metadata_remove(rbd_image_t image, const char *key); */
  metadataRemove: librbd.func('int rbd_metadata_remove(rbd_image_t image, const char *key)'),
  /**
   * int rbd_metadata_list(rbd_image_t image, const char *start, uint64_t max,
   *                       char *keys, size_t *key_len, char *values, size_t *vals_len);
   * Keys and values NUL-separated; -ERANGE sets *key_len / *vals_len to the bytes needed; 0 on success.
   */
  metadataList: librbd.func('int rbd_metadata_list(rbd_image_t image, const char *start, uint64_t max, '
    + 'void *keys, _Inout_ size_t *key_len, void *values, _Inout_ size_t *vals_len)'),

  /**
   * int rbd_config_image_list(rbd_image_t image, rbd_config_option_t *options, int *max_options);
   * -ERANGE with the count needed in *max_options when the array is short.
   */
  configImageList: librbd.func('int rbd_config_image_list(rbd_image_t image, void *options, _Inout_ int *max_options)'),
  /** void rbd_config_image_list_cleanup(rbd_config_option_t *options, int max_options); — local memory */
  configImageListCleanup: librbd.func('void rbd_config_image_list_cleanup(void *options, int max_options)'),

  /** int rbd_update_features(rbd_image_t image, uint64_t features, uint8_t enabled); */
  updateFeatures: librbd.func('int rbd_update_features(rbd_image_t image, uint64_t features, uint8_t enabled)'),
  /** int rbd_get_features(rbd_image_t image, uint64_t *features); */
  getFeatures: librbd.func('int rbd_get_features(rbd_image_t image, _Out_ uint64_t *features)'),
  /** int rbd_get_flags(rbd_image_t image, uint64_t *flags); */
  getFlags: librbd.func('int rbd_get_flags(rbd_image_t image, _Out_ uint64_t *flags)'),
  /** int rbd_rebuild_object_map(rbd_image_t image, librbd_progress_fn_t cb, void *cbdata); cb never NULL */
  rebuildObjectMap: librbd.func('int rbd_rebuild_object_map(rbd_image_t image, librbd_progress_fn_t *cb, void *cbdata)'),
  /** int rbd_get_size(rbd_image_t image, uint64_t *size); */
  getSize: librbd.func('int rbd_get_size(rbd_image_t image, _Out_ uint64_t *size)'),
  /** int rbd_snap_set(rbd_image_t image, const char *snapname); NULL = HEAD */
  snapSet: librbd.func('int rbd_snap_set(rbd_image_t image, const char *snapname)'),

  /**
   * int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len,
   *                       uint8_t include_parent, uint8_t whole_object,
   *                       int (*cb)(uint64_t, size_t, int, void *), void *arg);
   */
  diffIterate2: librbd.func('int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len, '
    + 'uint8_t include_parent, uint8_t whole_object, rbd_manage_diff_cb *cb, void *arg)'),

  /** void rbd_pool_stats_create(rbd_pool_stats_t *stats); — local memory */
  poolStatsCreate: librbd.func('void rbd_pool_stats_create(_Out_ rbd_manage_pool_stats_t *stats)'),
  /** void rbd_pool_stats_destroy(rbd_pool_stats_t stats); — local memory */
  poolStatsDestroy: librbd.func('void rbd_pool_stats_destroy(rbd_manage_pool_stats_t stats)'),
  /**
   * int rbd_pool_stats_option_add_uint64(rbd_pool_stats_t stats, int stat_option, uint64_t* stat_val);
   * local memory; stat_val is written later, by rbd_pool_stats_get: a caller Buffer that must outlive it.
   */
  poolStatsOptionAddUint64: librbd.func('int rbd_pool_stats_option_add_uint64(rbd_manage_pool_stats_t stats, int stat_option, void *stat_val)'),
  /** int rbd_pool_stats_get(rados_ioctx_t io, rbd_pool_stats_t stats); */
  poolStatsGet: librbd.func('int rbd_pool_stats_get(rados_ioctx_t io, rbd_manage_pool_stats_t stats)'),

  /** int rbd_namespace_create(rados_ioctx_t io, const char *namespace_name); */
  namespaceCreate: librbd.func('int rbd_namespace_create(rados_ioctx_t io, const char *namespace_name)'),
  /** int rbd_namespace_remove(rados_ioctx_t io, const char *namespace_name); */
  namespaceRemove: librbd.func('int rbd_namespace_remove(rados_ioctx_t io, const char *namespace_name)'),
  /**
   * int rbd_namespace_list(rados_ioctx_t io, char *namespace_names, size_t *size);
   * Names NUL-separated; returns the byte length; -ERANGE sets *size to the bytes needed.
   */
  namespaceList: librbd.func('int rbd_namespace_list(rados_ioctx_t io, void *namespace_names, _Inout_ size_t *size)'),
  /** int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, bool *exists); */
  namespaceExists: librbd.func('int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, _Out_ bool *exists)'),

  /** int rbd_trash_list(rados_ioctx_t io, rbd_trash_image_info_t *trash_entries, size_t *num_entries); (count only: NULL, 0) */
  trashCount: librbd.func('int rbd_trash_list(rados_ioctx_t io, void *trash_entries, _Inout_ size_t *num_entries)'),
};

/** A zeroed array of `count` rbd_config_option_t (never empty, so the pointer is never NULL). */
export function configOptionArray(count: number): Buffer {
  return Buffer.alloc(Math.max(1, count) * RBD_CONFIG_OPTION_SIZE);
}

export function decodeConfigOptions(buf: Buffer, count: number): RbdConfigOptionValue[] {
  if (count <= 0) return [];
  return koffi.decode(buf, RbdConfigOption, count) as RbdConfigOptionValue[];
}

/** Field offsets and sizes, for test/unit/manage-layout.test.ts (compared with gcc on the real headers). */
export function manageLayouts(): Record<string, { size: number; offsets: Record<string, number> }> {
  return {
    rbd_config_option_t: {
      size: RBD_CONFIG_OPTION_SIZE,
      offsets: { name: koffi.offsetof(RbdConfigOption, 'name'), value: koffi.offsetof(RbdConfigOption, 'value'), source: koffi.offsetof(RbdConfigOption, 'source') },
    },
  };
}

/** The C constants these bindings rely on, by their C names. */
export function manageConstants(): Record<string, number> {
  return {
    ...Object.fromEntries(Object.entries(RBD_POOL_STAT_OPTION).map(([k, v]) => [`RBD_POOL_STAT_OPTION_${k}`, v])),
    ...Object.fromEntries(Object.entries(RBD_IMAGE_OPTION_COPY).map(([k, v]) => [`RBD_IMAGE_OPTION_${k}`, v])),
    ...Object.fromEntries(Object.entries(RBD_CONFIG_SOURCE).map(([k, v]) => [`RBD_CONFIG_SOURCE_${k}`, v])),
    RBD_FLAG_OBJECT_MAP_INVALID: Number(RBD_FLAG.OBJECT_MAP_INVALID),
    RBD_FLAG_FAST_DIFF_INVALID: Number(RBD_FLAG.FAST_DIFF_INVALID),
  };
}

export type { Pointer };
