// C types shared by the librados and librbd prototypes. Layouts follow rados/librados.h and
// rbd/librbd.h of Ceph 16.2 (x86_64 / arm64 LP64); test/unit/struct-layout.test.ts checks them against gcc.
import { koffi } from './library.js';

/** C pointers and opaque handles are BigInts in koffi 3. */
export type Pointer = bigint;

// typedef void *rados_t;
koffi.pointer('rados_t', koffi.opaque('rados_s'));
// typedef void *rados_ioctx_t;
koffi.pointer('rados_ioctx_t', koffi.opaque('rados_ioctx_s'));
// typedef void *rbd_image_t;
koffi.pointer('rbd_image_t', koffi.opaque('rbd_image_s'));
// typedef void *rbd_image_options_t;
koffi.pointer('rbd_image_options_t', koffi.opaque('rbd_image_options_s'));
// typedef void *rados_read_op_t;
koffi.pointer('rados_read_op_t', koffi.opaque('rados_read_op_s'));
// typedef void *rados_write_op_t;
koffi.pointer('rados_write_op_t', koffi.opaque('rados_write_op_s'));

/** typedef struct { char *id; char *name; } rbd_image_spec_t; */
export const RbdImageSpec = koffi.struct('rbd_image_spec_t', { id: 'char *', name: 'char *' });

/**
 * typedef struct {
 *   uint64_t size; uint64_t obj_size; uint64_t num_objs; int order;
 *   char block_name_prefix[RBD_MAX_BLOCK_NAME_SIZE];  // 24
 *   int64_t parent_pool;
 *   char parent_name[RBD_MAX_IMAGE_NAME_SIZE];        // 96
 * } rbd_image_info_t;
 */
export const RbdImageInfo = koffi.struct('rbd_image_info_t', {
  size: 'uint64_t',
  obj_size: 'uint64_t',
  num_objs: 'uint64_t',
  order: 'int',
  block_name_prefix: koffi.array('char', 24, 'String'),
  parent_pool: 'int64_t',
  parent_name: koffi.array('char', 96, 'String'),
});

/** typedef struct { char *addr; int64_t id; uint64_t cookie; } rbd_image_watcher_t; */
export const RbdImageWatcher = koffi.struct('rbd_image_watcher_t', { addr: 'char *', id: 'int64_t', cookie: 'uint64_t' });

/** struct timespec { time_t tv_sec; long tv_nsec; }; */
export const Timespec = koffi.struct('rbd_timespec', { tv_sec: 'int64_t', tv_nsec: 'long' });

/** struct rados_pool_stat_t { uint64_t num_bytes, num_kb, num_objects, ... compressed_bytes_alloc; }; 16 × uint64 */
export const RadosPoolStat = koffi.struct('rados_pool_stat_t', {
  num_bytes: 'uint64_t',
  num_kb: 'uint64_t',
  num_objects: 'uint64_t',
  num_object_clones: 'uint64_t',
  num_object_copies: 'uint64_t',
  num_objects_missing_on_primary: 'uint64_t',
  num_objects_unfound: 'uint64_t',
  num_objects_degraded: 'uint64_t',
  num_rd: 'uint64_t',
  num_rd_kb: 'uint64_t',
  num_wr: 'uint64_t',
  num_wr_kb: 'uint64_t',
  num_user_bytes: 'uint64_t',
  compressed_bytes_orig: 'uint64_t',
  compressed_bytes: 'uint64_t',
  compressed_bytes_alloc: 'uint64_t',
});

export interface RbdImageInfoValue {
  size: number | bigint;
  obj_size: number | bigint;
  num_objs: number | bigint;
  order: number;
  block_name_prefix: string;
  parent_pool: number | bigint;
  parent_name: string;
}
export interface TimespecValue { tv_sec: number | bigint; tv_nsec: number | bigint }
export type RadosPoolStatValue = Record<keyof typeof poolStatFields, number | bigint>;
const poolStatFields = {
  num_bytes: 0, num_kb: 0, num_objects: 0, num_object_clones: 0, num_object_copies: 0,
  num_objects_missing_on_primary: 0, num_objects_unfound: 0, num_objects_degraded: 0,
  num_rd: 0, num_rd_kb: 0, num_wr: 0, num_wr_kb: 0, num_user_bytes: 0,
  compressed_bytes_orig: 0, compressed_bytes: 0, compressed_bytes_alloc: 0,
};

export const SIZES = {
  rbd_image_spec_t: koffi.sizeof(RbdImageSpec),
  rbd_image_info_t: koffi.sizeof(RbdImageInfo),
  rbd_image_watcher_t: koffi.sizeof(RbdImageWatcher),
  timespec: koffi.sizeof(Timespec),
  rados_pool_stat_t: koffi.sizeof(RadosPoolStat),
} as const;

/** enum rbd_image_option values from librbd.h */
export const RBD_IMAGE_OPTION = {
  FORMAT: 0,
  FEATURES: 1,
  ORDER: 2,
  STRIPE_UNIT: 3,
  STRIPE_COUNT: 4,
  DATA_POOL: 10,
} as const;

/** LIBRADOS_OP_FLAG_FAILOK (librados.h): a failing action does not fail the whole compound operation. */
export const LIBRADOS_OP_FLAG_FAILOK = 0x2;
