// librbd trash (rbd/librbd.h, Ceph 16.2), and the long image calls tasks run with a progress callback.
// Each binding's comment quotes the C prototype it wraps. Facts: shared/reference/rbd-lifecycle-facts.md §3.
// Handles are `void *` and the struct has its own type name, so this file clashes with no other binding file.
// Progress callbacks (librbd_progress_fn_t) come from progress.ts: NEVER pass NULL.
import { koffi, librbd } from './library.js';
import './rbd.js'; // declares librbd_progress_fn_t

/**
 * typedef struct {
 *   char *id;
 *   char *name;
 *   rbd_trash_image_source_t source;
 *   time_t deletion_time;
 *   time_t deferment_end_time;
 * } rbd_trash_image_info_t;
 */
export const RbdTrashImageInfo = koffi.struct('rbdapi_trash_image_info_t', {
  id: 'char *',
  name: 'char *',
  source: 'int',
  deletion_time: 'int64_t',
  deferment_end_time: 'int64_t',
});
export const TRASH_INFO_SIZE = koffi.sizeof(RbdTrashImageInfo);

/** typedef enum { RBD_TRASH_IMAGE_SOURCE_USER = 0, MIRRORING = 1, MIGRATION = 2, REMOVING = 3, USER_PARENT = 4 } */
export const RBD_TRASH_IMAGE_SOURCE = { USER: 0, MIRRORING: 1, MIGRATION: 2, REMOVING: 3, USER_PARENT: 4 } as const;

export interface TrashInfoValue {
  id: string | null;
  name: string | null;
  source: number;
  deletion_time: number | bigint;
  deferment_end_time: number | bigint;
}

export const rbdTrash = {
  /** int rbd_trash_move(rados_ioctx_t io, const char *name, uint64_t delay); */
  move: librbd.func('int rbd_trash_move(void *io, const char *name, uint64_t delay)'),
  /**
   * int rbd_trash_get(rados_ioctx_t io, const char *id, rbd_trash_image_info_t *info);
   * info: a TRASH_INFO_SIZE Buffer; its strings are librbd's until rbd_trash_get_cleanup.
   */
  get: librbd.func('int rbd_trash_get(void *io, const char *id, void *info)'),
  /** void rbd_trash_get_cleanup(rbd_trash_image_info_t *info); */
  getCleanup: librbd.func('void rbd_trash_get_cleanup(void *info)'),
  /**
   * int rbd_trash_list(rados_ioctx_t io, rbd_trash_image_info_t *trash_entries, size_t *num_entries);
   * -ERANGE with the count in *num_entries when the array is short; returns the count on success.
   */
  list: librbd.func('int rbd_trash_list(void *io, void *trash_entries, _Inout_ size_t *num_entries)'),
  /** void rbd_trash_list_cleanup(rbd_trash_image_info_t *trash_entries, size_t num_entries); */
  listCleanup: librbd.func('void rbd_trash_list_cleanup(void *trash_entries, size_t num_entries)'),
  /** int rbd_trash_restore(rados_ioctx_t io, const char *id, const char *name); ("" = the original name) */
  restore: librbd.func('int rbd_trash_restore(void *io, const char *id, const char *name)'),
  /**
   * int rbd_trash_remove_with_progress(rados_ioctx_t io, const char *id, bool force,
   *                                    librbd_progress_fn_t cb, void *cbdata);
   */
  removeWithProgress: librbd.func('int rbd_trash_remove_with_progress(void *io, const char *id, bool force, librbd_progress_fn_t *cb, void *cbdata)'),
  /** int rbd_open_by_id(rados_ioctx_t io, const char *id, rbd_image_t *image, const char *snap_name); */
  openById: librbd.func('int rbd_open_by_id(void *io, const char *id, _Out_ void **image, const char *snap_name)'),
  /** int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); */
  open: librbd.func('int rbd_open(void *io, const char *name, _Out_ void **image, const char *snap_name)'),
  /** int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name); (no watcher of its own) */
  openReadOnly: librbd.func('int rbd_open_read_only(void *io, const char *name, _Out_ void **image, const char *snap_name)'),
  /** int rbd_close(rbd_image_t image); */
  close: librbd.func('int rbd_close(void *image)'),
  /** int rbd_get_id(rbd_image_t image, char *id, size_t id_len); */
  getId: librbd.func('int rbd_get_id(void *image, void *id, size_t id_len)'),
  /** int rbd_get_size(rbd_image_t image, uint64_t *size); */
  getSize: librbd.func('int rbd_get_size(void *image, _Out_ uint64_t *size)'),
  /**
   * int rbd_snap_list(rbd_image_t image, rbd_snap_info_t *snaps, int *max_snaps);
   * Called with NULL and *max_snaps = 0 only: -ERANGE with count + 1 (a terminating entry) in *max_snaps.
   */
  snapCount: librbd.func('int rbd_snap_list(void *image, void *snaps, _Inout_ int *max_snaps)'),
  /**
   * int rbd_watchers_list(rbd_image_t image, rbd_image_watcher_t *watchers, size_t *max_watchers);
   * watchers: an array of rbd_image_watcher_t {char *addr; int64_t id; uint64_t cookie;} (24 bytes each).
   */
  watchersList: librbd.func('int rbd_watchers_list(void *image, void *watchers, _Inout_ size_t *max_watchers)'),
  /** void rbd_watchers_list_cleanup(rbd_image_watcher_t *watchers, size_t num_watchers); */
  watchersListCleanup: librbd.func('void rbd_watchers_list_cleanup(void *watchers, size_t num_watchers)'),
  /** int rbd_resize2(rbd_image_t image, uint64_t size, bool allow_shrink, librbd_progress_fn_t cb, void *cbdata); */
  resize2: librbd.func('int rbd_resize2(void *image, uint64_t size, bool allow_shrink, librbd_progress_fn_t *cb, void *cbdata)'),
};

/** Decode `count` entries of an rbd_trash_image_info_t array. */
export function decodeTrashInfos(buf: Buffer, count: number): TrashInfoValue[] {
  if (count === 0) return [];
  return koffi.decode(buf, RbdTrashImageInfo, count) as TrashInfoValue[];
}

/** Size and offsets (for the layout test against gcc). */
export function trashLayouts(): Record<string, { size: number; offsets: Record<string, number> }> {
  const fields = ['id', 'name', 'source', 'deletion_time', 'deferment_end_time'];
  return {
    rbd_trash_image_info_t: {
      size: koffi.sizeof(RbdTrashImageInfo),
      offsets: Object.fromEntries(fields.map((f) => [f, koffi.offsetof(RbdTrashImageInfo, f)])),
    },
  };
}

export function trashConstants(): Record<string, number> {
  return Object.fromEntries(Object.entries(RBD_TRASH_IMAGE_SOURCE).map(([k, v]) => [`RBD_TRASH_IMAGE_SOURCE_${k}`, v]));
}
