// The memory layout koffi uses for each C struct we pass to librados/librbd, for checking against the C
// compiler's view of the real headers (test/unit/struct-layout.test.ts). A mismatch would corrupt memory.
import { koffi } from './library.js';
import { RbdMirrorImageGlobalStatus, RbdMirrorImageInfo, RbdMirrorImageSiteStatus, RbdMirrorPeerSite } from './rbd-mirror.js';
import { RadosPoolStat, RBD_IMAGE_OPTION, RbdImageInfo, RbdImageSpec, RbdImageWatcher, Timespec } from './types.js';

export interface StructLayout { size: number; offsets: Record<string, number> }

/** Size and field offsets, in bytes, of one koffi struct. */
export function layoutOf(type: Parameters<typeof koffi.sizeof>[0], fields: readonly string[]): StructLayout {
  return { size: koffi.sizeof(type), offsets: Object.fromEntries(fields.map((f) => [f, koffi.offsetof(type, f)])) };
}

/** { A: 1 } with prefix "RBD_X_" → { RBD_X_A: 1 }: constants by their C names, for comparing with gcc. */
export function cConstants(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}${k}`, v]));
}

const STRUCTS = {
  rbd_image_spec_t: [RbdImageSpec, ['id', 'name']],
  rbd_image_info_t: [RbdImageInfo, ['size', 'obj_size', 'num_objs', 'order', 'block_name_prefix', 'parent_pool', 'parent_name']],
  rbd_image_watcher_t: [RbdImageWatcher, ['addr', 'id', 'cookie']],
  'struct timespec': [Timespec, ['tv_sec', 'tv_nsec']],
  'struct rados_pool_stat_t': [RadosPoolStat, [
    'num_bytes', 'num_kb', 'num_objects', 'num_object_clones', 'num_object_copies', 'num_objects_missing_on_primary',
    'num_objects_unfound', 'num_objects_degraded', 'num_rd', 'num_rd_kb', 'num_wr', 'num_wr_kb', 'num_user_bytes',
    'compressed_bytes_orig', 'compressed_bytes', 'compressed_bytes_alloc',
  ]],
  rbd_mirror_image_info_t: [RbdMirrorImageInfo, ['global_id', 'state', 'primary']],
  rbd_mirror_peer_site_t: [RbdMirrorPeerSite, ['uuid', 'direction', 'site_name', 'mirror_uuid', 'client_name', 'last_seen']],
  rbd_mirror_image_site_status_t: [RbdMirrorImageSiteStatus, ['mirror_uuid', 'state', 'description', 'last_update', 'up']],
  rbd_mirror_image_global_status_t: [RbdMirrorImageGlobalStatus, ['name', 'info', 'site_statuses_count', 'site_statuses']],
} as const;

/** Size and field offsets, in bytes, of every struct the bindings declare, keyed by the C type name. */
export function structLayouts(): Record<string, StructLayout> {
  return Object.fromEntries(Object.entries(STRUCTS).map(([cName, [type, fields]]) => [cName, layoutOf(type, fields)]));
}

/** The RBD_IMAGE_OPTION_* values the bindings use. */
export function imageOptionValues(): Record<string, number> {
  return cConstants('RBD_IMAGE_OPTION_', RBD_IMAGE_OPTION);
}
