// librbd prototypes for clones (copy-on-write children of a snapshot): clone, parent, overlap, children,
// flatten (rbd/librbd.h, Ceph 16.2). Each binding's comment quotes the C prototype it wraps. Calls that can
// touch the network are only ever made through the async call helpers (src/ceph/call.ts).
//
// Hazards (shared/reference/rbd-lifecycle-facts.md §0, §2):
// - rbd_clone3 with an EMPTY parent snapshot name fails a ceph_assert (SIGABRT): callers check the name first;
// - rbd_flatten_with_progress calls its callback without a NULL check: never NULL, always `.async`;
// - the result structs are caller memory (Buffers here) whose strings librbd strdup()s: release them with the
//   matching *_cleanup on the same memory, and only when the call returned 0.
import { koffi, librbd } from './library.js';
import './types.js';
import './progress.js'; // declares librbd_progress_fn_t
import { layoutOf, type StructLayout } from './layout.js';
import { decodeStructs, structArray } from './memory.js';

/**
 * typedef struct {
 *   int64_t pool_id; char *pool_name; char *pool_namespace; char *image_id; char *image_name; bool trash;
 * } rbd_linked_image_spec_t;
 */
export const LinkedImageSpec = koffi.struct('rbd_linked_image_spec_t', {
  pool_id: 'int64_t',
  pool_name: 'char *',
  pool_namespace: 'char *',
  image_id: 'char *',
  image_name: 'char *',
  trash: 'bool',
});
export interface LinkedImageSpecValue {
  pool_id: number | bigint; pool_name: string | null; pool_namespace: string | null;
  image_id: string | null; image_name: string | null; trash: boolean;
}
export const LINKED_IMAGE_SPEC_SIZE = koffi.sizeof(LinkedImageSpec);

/** typedef struct { uint64_t id; rbd_snap_namespace_type_t namespace_type; char *name; } rbd_snap_spec_t; */
export const SnapSpec = koffi.struct('rbd_snap_spec_t', { id: 'uint64_t', namespace_type: 'int', name: 'char *' });
export interface SnapSpecValue { id: number | bigint; namespace_type: number; name: string | null }
export const SNAP_SPEC_SIZE = koffi.sizeof(SnapSpec);

/** enum rbd_image_option values for clones (FORMAT..DATA_POOL are in types.ts). */
export const RBD_IMAGE_OPTION_CLONE = { CLONE_FORMAT: 12 } as const;

export const rbdClone = {
  /**
   * int rbd_clone3(rados_ioctx_t p_ioctx, const char *p_name, const char *p_snapname,
   *                rados_ioctx_t c_ioctx, const char *c_name, rbd_image_options_t c_opts);
   * NEVER with p_snapname "" (process abort). -EEXIST: c_name taken; -ENOENT: parent or snapshot missing;
   * -EINVAL: a v1 clone of an unprotected snapshot (pass CLONE_FORMAT = 2); -ENOSYS: features without layering.
   */
  clone3: librbd.func('int rbd_clone3(rados_ioctx_t p_ioctx, const char *p_name, const char *p_snapname, '
    + 'rados_ioctx_t c_ioctx, const char *c_name, rbd_image_options_t c_opts)'),
  /**
   * int rbd_get_parent(rbd_image_t image, rbd_linked_image_spec_t *parent_image, rbd_snap_spec_t *parent_snap);
   * -ENOENT when the image is not a clone. Reads the open image context (its parent is opened with it).
   */
  getParent: librbd.func('int rbd_get_parent(rbd_image_t image, void *parent_image, void *parent_snap)'),
  /** void rbd_linked_image_spec_cleanup(rbd_linked_image_spec_t *image); — local memory */
  linkedImageSpecCleanup: librbd.func('void rbd_linked_image_spec_cleanup(void *image)'),
  /** void rbd_snap_spec_cleanup(rbd_snap_spec_t *snap); — local memory */
  snapSpecCleanup: librbd.func('void rbd_snap_spec_cleanup(void *snap)'),
  /** int rbd_get_overlap(rbd_image_t image, uint64_t *overlap); — bytes of the parent still seen through */
  getOverlap: librbd.func('int rbd_get_overlap(rbd_image_t image, _Out_ uint64_t *overlap)'),
  /**
   * int rbd_list_children3(rbd_image_t image, rbd_linked_image_spec_t *images, size_t *max_images);
   * Children of the snapshot the handle is set to (rbd_snap_set), of every snapshot at the head.
   * Returns 0 with the count in *max_images; -ERANGE sets *max_images to the count needed.
   */
  listChildren3: librbd.func('int rbd_list_children3(rbd_image_t image, void *images, _Inout_ size_t *max_images)'),
  /** void rbd_linked_image_spec_list_cleanup(rbd_linked_image_spec_t *images, size_t num_images); — local memory */
  linkedImageSpecListCleanup: librbd.func('void rbd_linked_image_spec_list_cleanup(void *images, size_t num_images)'),
  /**
   * int rbd_flatten_with_progress(rbd_image_t image, librbd_progress_fn_t cb, void *cbdata);
   * cb never NULL; a negative return from cb stops it (-ECANCELED). -EINVAL when the image has no parent.
   */
  flattenWithProgress: librbd.func('int rbd_flatten_with_progress(rbd_image_t image, librbd_progress_fn_t *cb, void *cbdata)'),
};

/** A zeroed rbd_linked_image_spec_t array (at least one entry, so the pointer is never NULL). */
export const linkedImageSpecArray = (count: number): Buffer => structArray(LinkedImageSpec, count);
export const decodeLinkedImageSpecs = (buf: Buffer, count: number): LinkedImageSpecValue[] => decodeStructs(buf, LinkedImageSpec, count);

export function snapSpecBuffer(): Buffer {
  return Buffer.alloc(SNAP_SPEC_SIZE);
}

export function decodeSnapSpec(buf: Buffer): SnapSpecValue {
  return koffi.decode(buf, SnapSpec) as SnapSpecValue;
}

/** Size and offsets (for test/unit/snapshot-clone-layout.test.ts, compared with gcc). */
export function cloneLayouts(): Record<string, StructLayout> {
  return {
    rbd_linked_image_spec_t: layoutOf(LinkedImageSpec, ['pool_id', 'pool_name', 'pool_namespace', 'image_id', 'image_name', 'trash']),
    rbd_snap_spec_t: layoutOf(SnapSpec, ['id', 'namespace_type', 'name']),
  };
}

export function cloneConstants(): Record<string, number> {
  return { RBD_IMAGE_OPTION_CLONE_FORMAT: RBD_IMAGE_OPTION_CLONE.CLONE_FORMAT };
}
