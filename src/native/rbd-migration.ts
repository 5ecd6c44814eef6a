// librbd prototypes for live migration (rbd/librbd.h, Ceph 16.2): prepare (from an image, or import-only from a
// source spec), execute, commit, abort, status. Each binding's comment quotes the C prototype it wraps.
//
// Hazards (shared/reference/rbd-lifecycle-facts.md §0):
// - the *_with_progress calls call their callback without a NULL check: never NULL, always `.async` (nativeLong);
//   a negative return from the callback stops execute (-ECANCELED; the migration stays prepared/executing and
//   can be executed again or aborted);
// - rbd_image_migration_status_t is caller memory whose strings librbd strdup()s: release them with
//   rbd_migration_status_cleanup on the same memory, and only when the call returned 0.
// The calls take an image name in the given I/O context: the destination's, or the source's (librbd finds a
// source moved to the trash by prepare through its migration header).
import { koffi, librbd } from './library.js';
import './types.js';
import './progress.js'; // declares librbd_progress_fn_t
import { layoutOf, type StructLayout } from './layout.js';

/**
 * typedef struct {
 *   int64_t source_pool_id; char *source_pool_namespace; char *source_image_name; char *source_image_id;
 *   int64_t dest_pool_id; char *dest_pool_namespace; char *dest_image_name; char *dest_image_id;
 *   rbd_image_migration_state_t state; char *state_description;
 * } rbd_image_migration_status_t;
 */
export const MigrationStatus = koffi.struct('rbd_image_migration_status_t', {
  source_pool_id: 'int64_t',
  source_pool_namespace: 'char *',
  source_image_name: 'char *',
  source_image_id: 'char *',
  dest_pool_id: 'int64_t',
  dest_pool_namespace: 'char *',
  dest_image_name: 'char *',
  dest_image_id: 'char *',
  state: 'int',
  state_description: 'char *',
});
export interface MigrationStatusValue {
  source_pool_id: number | bigint; source_pool_namespace: string | null; source_image_name: string | null; source_image_id: string | null;
  dest_pool_id: number | bigint; dest_pool_namespace: string | null; dest_image_name: string | null; dest_image_id: string | null;
  state: number; state_description: string | null;
}
export const MIGRATION_STATUS_SIZE = koffi.sizeof(MigrationStatus);

/** rbd_image_migration_state_t */
export const RBD_MIGRATION_STATE = {
  UNKNOWN: -1, ERROR: 0, PREPARING: 1, PREPARED: 2, EXECUTING: 3, EXECUTED: 4, ABORTING: 5,
} as const;

export const rbdMigration = {
  /**
   * int rbd_migration_prepare(rados_ioctx_t ioctx, const char *image_name, rados_ioctx_t dest_ioctx,
   *                           const char *dest_image_name, rbd_image_options_t opts);
   * Links a new destination image to the source (moved to the trash, reads go through to it). -EEXIST: the
   * destination name is taken; -EBUSY: the source is open by a client (or already migrating); -ENOENT.
   */
  prepare: librbd.func('int rbd_migration_prepare(rados_ioctx_t ioctx, const char *image_name, rados_ioctx_t dest_ioctx, '
    + 'const char *dest_image_name, rbd_image_options_t opts)'),
  /**
   * int rbd_migration_prepare_import(const char *source_spec, rados_ioctx_t dest_ioctx,
   *                                  const char *dest_image_name, rbd_image_options_t opts);
   * source_spec: JSON, e.g. {"type":"raw","stream":{"type":"http","url":"…"}} (types raw, qcow; streams file,
   * http, s3 in 16.2).
   */
  prepareImport: librbd.func('int rbd_migration_prepare_import(const char *source_spec, rados_ioctx_t dest_ioctx, '
    + 'const char *dest_image_name, rbd_image_options_t opts)'),
  /**
   * int rbd_migration_execute_with_progress(rados_ioctx_t ioctx, const char *image_name,
   *                                         librbd_progress_fn_t cb, void *cbdata);
   */
  executeWithProgress: librbd.func('int rbd_migration_execute_with_progress(rados_ioctx_t ioctx, const char *image_name, '
    + 'librbd_progress_fn_t *cb, void *cbdata)'),
  /**
   * int rbd_migration_abort_with_progress(rados_ioctx_t ioctx, const char *image_name,
   *                                       librbd_progress_fn_t cb, void *cbdata);
   */
  abortWithProgress: librbd.func('int rbd_migration_abort_with_progress(rados_ioctx_t ioctx, const char *image_name, '
    + 'librbd_progress_fn_t *cb, void *cbdata)'),
  /**
   * int rbd_migration_commit_with_progress(rados_ioctx_t ioctx, const char *image_name,
   *                                        librbd_progress_fn_t cb, void *cbdata);
   */
  commitWithProgress: librbd.func('int rbd_migration_commit_with_progress(rados_ioctx_t ioctx, const char *image_name, '
    + 'librbd_progress_fn_t *cb, void *cbdata)'),
  /**
   * int rbd_migration_status(rados_ioctx_t ioctx, const char *image_name,
   *                          rbd_image_migration_status_t *status, size_t status_size);
   * -EINVAL when the image is not migrating.
   */
  status: librbd.func('int rbd_migration_status(rados_ioctx_t ioctx, const char *image_name, void *status, size_t status_size)'),
  /**
   * int rbd_get_migration_source_spec(rbd_image_t image, char* source_spec, size_t* max_len);
   * The JSON source spec of a migration's destination image; -ERANGE sets *max_len to the bytes needed.
   */
  getSourceSpec: librbd.func('int rbd_get_migration_source_spec(rbd_image_t image, char *source_spec, _Inout_ size_t *max_len)'),
  /** void rbd_migration_status_cleanup(rbd_image_migration_status_t *status); — local memory */
  statusCleanup: librbd.func('void rbd_migration_status_cleanup(void *status)'),
};

export const migrationStatusBuffer = (): Buffer => Buffer.alloc(MIGRATION_STATUS_SIZE);
export const decodeMigrationStatus = (buf: Buffer): MigrationStatusValue => koffi.decode(buf, MigrationStatus) as MigrationStatusValue;

/** Size and offsets (for a layout test, compared with gcc). */
export function migrationLayouts(): Record<string, StructLayout> {
  return {
    rbd_image_migration_status_t: layoutOf(MigrationStatus, ['source_pool_id', 'source_pool_namespace', 'source_image_name',
      'source_image_id', 'dest_pool_id', 'dest_pool_namespace', 'dest_image_name', 'dest_image_id', 'state', 'state_description']),
  };
}

export function migrationConstants(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(RBD_MIGRATION_STATE)) out[`RBD_IMAGE_MIGRATION_STATE_${k}`] = v;
  return out;
}
