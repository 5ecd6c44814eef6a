// librbd image metadata (key/value pairs kept in the image header) and the image's effective configuration
// (rbd/librbd.h, Ceph 16.2). Each binding's comment quotes the C prototype it wraps. Calls that can touch the
// network are only ever made through the async call helpers (src/ceph/call.ts); calls marked "local memory"
// only touch process memory and may run on the main thread.
import { koffi, librbd } from './library.js';
import './types.js';
import { cConstants, layoutOf, type StructLayout } from './layout.js';
import { decodeStructs, structArray } from './memory.js';

/**
 * typedef struct {
 *   char *name;
 *   char *value;
 *   rbd_config_source_t source;   // enum: CONFIG = 0, POOL = 1, IMAGE = 2
 * } rbd_config_option_t;
 */
export const RbdConfigOption = koffi.struct('rbd_config_option_t', { name: 'char *', value: 'char *', source: 'int' });
export interface RbdConfigOptionValue { name: string; value: string; source: number }
export const RBD_CONFIG_OPTION_SIZE = koffi.sizeof(RbdConfigOption);

/** enum rbd_config_source_t */
export const RBD_CONFIG_SOURCE = { CONFIG: 0, POOL: 1, IMAGE: 2 } as const;

export const rbdMetadata = {
  /** int rbd_metadata_get(rbd_image_t image, const char *key, char *value, size_t *val_len); -ERANGE sets *val_len */
  get: librbd.func('int rbd_metadata_get(rbd_image_t image, const char *key, void *value, _Inout_ size_t *val_len)'),
  /** int rbd_metadata_set(rbd_image_t image, const char *key, const char *value); */
  set: librbd.func('int rbd_metadata_set(rbd_image_t image, const char *key, const char *value)'),
  /** int rbd_metadata_remove(rbd_image_t image, const char *key); */
  remove: librbd.func('int rbd_metadata_remove(rbd_image_t image, const char *key)'),
  /**
   * int rbd_metadata_list(rbd_image_t image, const char *start, uint64_t max,
   *                       char *keys, size_t *key_len, char *values, size_t *vals_len);
   * Keys and values NUL-separated; -ERANGE sets *key_len / *vals_len to the bytes needed; 0 on success.
   */
  list: librbd.func('int rbd_metadata_list(rbd_image_t image, const char *start, uint64_t max, '
    + 'void *keys, _Inout_ size_t *key_len, void *values, _Inout_ size_t *vals_len)'),

  /**
   * int rbd_config_image_list(rbd_image_t image, rbd_config_option_t *options, int *max_options);
   * -ERANGE with the count needed in *max_options when the array is short.
   */
  configImageList: librbd.func('int rbd_config_image_list(rbd_image_t image, void *options, _Inout_ int *max_options)'),
  /** void rbd_config_image_list_cleanup(rbd_config_option_t *options, int max_options); — local memory */
  configImageListCleanup: librbd.func('void rbd_config_image_list_cleanup(void *options, int max_options)'),

  // Pool metadata: key/value pairs in the pool's rbd_info object. `conf_<option>` keys are the pool's librbd
  // overrides (`rbd config pool set`); librbd reads them from the pool's default namespace only, whatever the
  // I/O context's namespace (librbd/api/Config.cc: Options::Options sets the namespace to "").
  /** int rbd_pool_metadata_set(rados_ioctx_t io_ctx, const char *key, const char *value); */
  poolSet: librbd.func('int rbd_pool_metadata_set(rados_ioctx_t io_ctx, const char *key, const char *value)'),
  /** int rbd_pool_metadata_remove(rados_ioctx_t io_ctx, const char *key); — ENOENT when missing */
  poolRemove: librbd.func('int rbd_pool_metadata_remove(rados_ioctx_t io_ctx, const char *key)'),
  /**
   * int rbd_config_pool_list(rados_ioctx_t io_ctx, rbd_config_option_t *options, int *max_options);
   * -ERANGE with the count needed in *max_options when the array is short.
   */
  configPoolList: librbd.func('int rbd_config_pool_list(rados_ioctx_t io_ctx, void *options, _Inout_ int *max_options)'),
  /** void rbd_config_pool_list_cleanup(rbd_config_option_t *options, int max_options); — local memory */
  configPoolListCleanup: librbd.func('void rbd_config_pool_list_cleanup(void *options, int max_options)'),
};

/** A zeroed array of `count` rbd_config_option_t (never empty, so the pointer is never NULL). */
export const configOptionArray = (count: number): Buffer => structArray(RbdConfigOption, count);
export const decodeConfigOptions = (buf: Buffer, count: number): RbdConfigOptionValue[] => decodeStructs(buf, RbdConfigOption, count);

/** Field offsets and sizes, for test/unit/manage-layout.test.ts (compared with gcc on the real headers). */
export function metadataLayouts(): Record<string, StructLayout> {
  return { rbd_config_option_t: layoutOf(RbdConfigOption, ['name', 'value', 'source']) };
}

/** The C constants these bindings rely on, by their C names. */
export const metadataConstants = (): Record<string, number> => cConstants('RBD_CONFIG_SOURCE_', RBD_CONFIG_SOURCE);
