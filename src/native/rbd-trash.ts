// librbd trash (rbd/librbd.h, Ceph 16.2): move an image to the trash, list, get, restore and remove entries.
// Each binding's comment quotes the C prototype it wraps. Facts: shared/reference/rbd-lifecycle-facts.md §3.
// Progress callbacks (librbd_progress_fn_t) come from progress.ts: NEVER pass NULL.
import { koffi, librbd } from './library.js';
import './types.js';
import './progress.js'; // declares librbd_progress_fn_t
import { cConstants, layoutOf, type StructLayout } from './layout.js';
import { decodeStructs } from './memory.js';

/**
 * typedef struct {
 *   char *id;
 *   char *name;
 *   rbd_trash_image_source_t source;
 *   time_t deletion_time;
 *   time_t deferment_end_time;
 * } rbd_trash_image_info_t;
 */
export const RbdTrashImageInfo = koffi.struct('rbd_trash_image_info_t', {
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
  move: librbd.func('int rbd_trash_move(rados_ioctx_t io, const char *name, uint64_t delay)'),
  /**
   * int rbd_trash_get(rados_ioctx_t io, const char *id, rbd_trash_image_info_t *info);
   * info: a TRASH_INFO_SIZE Buffer; its strings are librbd's until rbd_trash_get_cleanup.
   */
  get: librbd.func('int rbd_trash_get(rados_ioctx_t io, const char *id, void *info)'),
  /** void rbd_trash_get_cleanup(rbd_trash_image_info_t *info); */
  getCleanup: librbd.func('void rbd_trash_get_cleanup(void *info)'),
  /**
   * int rbd_trash_list(rados_ioctx_t io, rbd_trash_image_info_t *trash_entries, size_t *num_entries);
   * -ERANGE with the count in *num_entries when the array is short; returns the count on success.
   * With NULL and *num_entries = 0 it only counts.
   */
  list: librbd.func('int rbd_trash_list(rados_ioctx_t io, void *trash_entries, _Inout_ size_t *num_entries)'),
  /** void rbd_trash_list_cleanup(rbd_trash_image_info_t *trash_entries, size_t num_entries); */
  listCleanup: librbd.func('void rbd_trash_list_cleanup(void *trash_entries, size_t num_entries)'),
  /** int rbd_trash_restore(rados_ioctx_t io, const char *id, const char *name); ("" = the original name) */
  restore: librbd.func('int rbd_trash_restore(rados_ioctx_t io, const char *id, const char *name)'),
  /**
   * int rbd_trash_remove_with_progress(rados_ioctx_t io, const char *id, bool force,
   *                                    librbd_progress_fn_t cb, void *cbdata);
   */
  removeWithProgress: librbd.func('int rbd_trash_remove_with_progress(rados_ioctx_t io, const char *id, bool force, librbd_progress_fn_t *cb, void *cbdata)'),
};

/** Decode `count` entries of an rbd_trash_image_info_t array. */
export const decodeTrashInfos = (buf: Buffer, count: number): TrashInfoValue[] => decodeStructs(buf, RbdTrashImageInfo, count);

/** Size and offsets (for the layout test against gcc). */
export function trashLayouts(): Record<string, StructLayout> {
  return { rbd_trash_image_info_t: layoutOf(RbdTrashImageInfo, ['id', 'name', 'source', 'deletion_time', 'deferment_end_time']) };
}

export const trashConstants = (): Record<string, number> => cConstants('RBD_TRASH_IMAGE_SOURCE_', RBD_TRASH_IMAGE_SOURCE);
