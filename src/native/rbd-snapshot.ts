// librbd prototypes for snapshots (rbd/librbd.h, Ceph 16.2). Each binding's comment quotes the C prototype it
// wraps. Calls that can touch the network are only ever made through the async call helpers (src/ceph/call.ts).
//
// Hazards (shared/reference/rbd-lifecycle-facts.md §0):
// - every librbd_progress_fn_t argument is called without a NULL check: pass noProgress (progress.ts) or a task's
//   callback, never NULL, and always call such functions with `.async` (the callback runs on the JS thread);
// - rbd_snap_get_timestamp with an id the handle does not know fails a ceph_assert (SIGABRT): call
//   rbd_snap_get_namespace_type with the same id on the same handle right before it (that one refreshes and
//   answers -ENOENT), and never run two calls on one handle at once;
// - librbd accepts any snapshot name ("", "a/b", "x@y"): callers validate names first.
import { koffi, librbd } from './library.js';
import './types.js';
import './progress.js'; // declares librbd_progress_fn_t
import { cConstants, layoutOf, type StructLayout } from './layout.js';
import { decodeStructs, structArray } from './memory.js';

/** typedef struct { uint64_t id; uint64_t size; const char *name; } rbd_snap_info_t; */
export const SnapInfo = koffi.struct('rbd_snap_info_t', { id: 'uint64_t', size: 'uint64_t', name: 'const char *' });
export interface SnapInfoValue { id: number | bigint; size: number | bigint; name: string | null }
export const SNAP_INFO_SIZE = koffi.sizeof(SnapInfo);

/** enum rbd_snap_namespace_type_t */
export const RBD_SNAP_NAMESPACE_TYPE = { USER: 0, GROUP: 1, TRASH: 2, MIRROR: 3 } as const;
/** #define RBD_SNAP_CREATE_SKIP_QUIESCE (1 << 0); #define RBD_SNAP_CREATE_IGNORE_QUIESCE_ERROR (1 << 1) */
export const RBD_SNAP_CREATE = { SKIP_QUIESCE: 1, IGNORE_QUIESCE_ERROR: 2 } as const;
/** #define RBD_SNAP_REMOVE_UNPROTECT (1 << 0); RBD_SNAP_REMOVE_FLATTEN (1 << 1) — the service never passes them */
export const RBD_SNAP_REMOVE = { UNPROTECT: 1, FLATTEN: 2 } as const;

export const rbdSnapshot = {
  /**
   * int rbd_snap_list(rbd_image_t image, rbd_snap_info_t *snaps, int *max_snaps);
   * Needs *max_snaps >= count + 1 (a terminating entry: id 0, name NULL); -ERANGE sets *max_snaps to that.
   * Returns the count. Every namespace is listed (user, group, trash, mirror).
   */
  list: librbd.func('int rbd_snap_list(rbd_image_t image, void *snaps, _Inout_ int *max_snaps)'),
  /** void rbd_snap_list_end(rbd_snap_info_t *snaps); — frees the names; local memory */
  listEnd: librbd.func('void rbd_snap_list_end(void *snaps)'),
  /** int rbd_snap_create(rbd_image_t image, const char *snapname); (used by tests to make snapshots) */
  create: librbd.func('int rbd_snap_create(rbd_image_t image, const char *snapname)'),
  /**
   * int rbd_snap_create2(rbd_image_t image, const char *snap_name, uint32_t flags,
   *                      librbd_progress_fn_t cb, void *cbdata);
   * cb never NULL (SIGSEGV). -EEXIST when the name is taken.
   */
  create2: librbd.func('int rbd_snap_create2(rbd_image_t image, const char *snap_name, uint32_t flags, librbd_progress_fn_t *cb, void *cbdata)'),
  /**
   * int rbd_snap_remove2(rbd_image_t image, const char *snap_name, uint32_t flags,
   *                      librbd_progress_fn_t cb, void *cbdata);
   * cb never NULL. With clone-v2 children it returns 0 and moves the snapshot to the trash namespace.
   */
  remove2: librbd.func('int rbd_snap_remove2(rbd_image_t image, const char *snap_name, uint32_t flags, librbd_progress_fn_t *cb, void *cbdata)'),
  /** int rbd_snap_remove(rbd_image_t image, const char *snapname); */
  remove: librbd.func('int rbd_snap_remove(rbd_image_t image, const char *snapname)'),
  /** int rbd_snap_rename(rbd_image_t image, const char *snapname, const char* dstsnapsname); */
  rename: librbd.func('int rbd_snap_rename(rbd_image_t image, const char *snapname, const char *dstsnapsname)'),
  /** int rbd_snap_protect(rbd_image_t image, const char *snap_name); -EBUSY when already protected */
  protect: librbd.func('int rbd_snap_protect(rbd_image_t image, const char *snap_name)'),
  /** int rbd_snap_unprotect(rbd_image_t image, const char *snap_name); -EINVAL when not protected, -EBUSY with children */
  unprotect: librbd.func('int rbd_snap_unprotect(rbd_image_t image, const char *snap_name)'),
  /** int rbd_snap_is_protected(rbd_image_t image, const char *snap_name, int *is_protected); */
  isProtected: librbd.func('int rbd_snap_is_protected(rbd_image_t image, const char *snap_name, _Out_ int *is_protected)'),
  /**
   * int rbd_snap_get_timestamp(rbd_image_t image, uint64_t snap_id, struct timespec *timestamp);
   * ABORTS THE PROCESS for an id the handle does not know: guard with getNamespaceType (see above).
   */
  getTimestamp: librbd.func('int rbd_snap_get_timestamp(rbd_image_t image, uint64_t snap_id, _Out_ rbd_timespec *timestamp)'),
  /**
   * int rbd_snap_get_namespace_type(rbd_image_t image, uint64_t snap_id,
   *                                 rbd_snap_namespace_type_t *namespace_type);
   * Refreshes the handle if needed; -ENOENT for an unknown id.
   */
  getNamespaceType: librbd.func('int rbd_snap_get_namespace_type(rbd_image_t image, uint64_t snap_id, _Out_ int *namespace_type)'),
  /**
   * int rbd_snap_rollback_with_progress(rbd_image_t image, const char *snapname,
   *                                     librbd_progress_fn_t cb, void *cbdata);
   * cb never NULL. -EROFS while another client holds the exclusive lock.
   */
  rollbackWithProgress: librbd.func('int rbd_snap_rollback_with_progress(rbd_image_t image, const char *snapname, librbd_progress_fn_t *cb, void *cbdata)'),
  /**
   * int rbd_snap_get_limit(rbd_image_t image, uint64_t *limit);
   * A cls call to the OSD. UINT64_MAX when no limit is set.
   */
  getLimit: librbd.func('int rbd_snap_get_limit(rbd_image_t image, _Out_ uint64_t *limit)'),
  /**
   * int rbd_snap_set_limit(rbd_image_t image, uint64_t limit);
   * UINT64_MAX removes the limit; -ERANGE when the image already has more snapshots than `limit`.
   */
  setLimit: librbd.func('int rbd_snap_set_limit(rbd_image_t image, uint64_t limit)'),
  /** int rbd_snap_set(rbd_image_t image, const char *snapname); — NULL = the image head */
  set: librbd.func('int rbd_snap_set(rbd_image_t image, const char *snapname)'),
  /** int rbd_snap_set_by_id(rbd_image_t image, uint64_t snap_id); — CEPH_NOSNAP = the image head */
  setById: librbd.func('int rbd_snap_set_by_id(rbd_image_t image, uint64_t snap_id)'),
};

/** A zeroed array of `count` rbd_snap_info_t (never empty, so the pointer is never NULL). */
export const snapInfoArray = (count: number): Buffer => structArray(SnapInfo, count);
/** The first `count` entries of an rbd_snap_info_t array filled by rbd_snap_list. */
export const decodeSnapInfo = (buf: Buffer, count: number): SnapInfoValue[] => decodeStructs(buf, SnapInfo, count);

/** Size and offsets (for test/unit/snapshot-clone-layout.test.ts, compared with gcc). */
export function snapshotLayouts(): Record<string, StructLayout> {
  return { rbd_snap_info_t: layoutOf(SnapInfo, ['id', 'size', 'name']) };
}

export function snapshotConstants(): Record<string, number> {
  return {
    ...cConstants('RBD_SNAP_NAMESPACE_TYPE_', RBD_SNAP_NAMESPACE_TYPE),
    ...cConstants('RBD_SNAP_CREATE_', RBD_SNAP_CREATE),
    ...cConstants('RBD_SNAP_REMOVE_', RBD_SNAP_REMOVE),
  };
}
