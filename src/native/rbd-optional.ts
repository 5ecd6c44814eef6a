// librbd functions that only newer librbd has. One build of the service loads librbd 1.16 (Ceph 16 Pacific)
// to 1.20 (Ceph 20 Tentacle): koffi throws when a library lacks a symbol, so each of these is bound inside
// optional(), which turns that throw into `undefined` at load — the probe — and the Ceph layer reports
// which features are available (src/ceph/cluster-info.ts) and refuses the ones that are not (501).
// Prototypes are quoted from the rbd/librbd.h of Debian's librbd-dev 20.2.4 (forky); "18.2" means the
// function is also in 18.2.7's header (trixie), none is in 16.2.15's (bookworm).
// Nothing here is called yet: a feature's binding is used by the routes that need it.
import { librbd } from './library.js';
import './rbd-image.js'; // the rbd_diff_cb callback type
import './types.js';

/** A binding, or undefined when the loaded librbd has no such function (any other error, a bad prototype, throws). */
function optional<T>(bind: () => T): T | undefined {
  try {
    return bind();
  } catch (e) {
    if (e instanceof Error && /^Cannot find function /.test(e.message)) return undefined;
    throw e;
  }
}

export const rbdOptional = {
  /**
   * int rbd_diff_iterate3(rbd_image_t image, uint64_t from_snap_id, uint64_t ofs, uint64_t len, uint32_t flags,
   *                       int (*cb)(uint64_t, size_t, int, void *), void *arg);   (18.2)
   */
  diffIterate3: optional(() => librbd.func('int rbd_diff_iterate3(rbd_image_t image, uint64_t from_snap_id, uint64_t ofs, '
    + 'uint64_t len, uint32_t flags, rbd_diff_cb *cb, void *arg)')),
  /** int rbd_encryption_load2(rbd_image_t image, const rbd_encryption_spec_t *specs, size_t spec_count);   (18.2) */
  encryptionLoad2: optional(() => librbd.func('int rbd_encryption_load2(rbd_image_t image, const void *specs, size_t spec_count)')),
  /**
   * int rbd_clone4(rados_ioctx_t p_ioctx, const char *p_name, uint64_t p_snap_id, rados_ioctx_t c_ioctx,
   *                const char *c_name, rbd_image_options_t c_opts);   (20.2)
   */
  clone4: optional(() => librbd.func('int rbd_clone4(rados_ioctx_t p_ioctx, const char *p_name, uint64_t p_snap_id, '
    + 'rados_ioctx_t c_ioctx, const char *c_name, rbd_image_options_t c_opts)')),
  /**
   * int rbd_snap_get_trash_namespace2(rbd_image_t image, uint64_t snap_id,
   *                                   rbd_snap_trash_namespace_t *trash_snap, size_t trash_snap_size);   (20.2)
   */
  snapGetTrashNamespace2: optional(() => librbd.func('int rbd_snap_get_trash_namespace2(rbd_image_t image, uint64_t snap_id, '
    + 'void *trash_snap, size_t trash_snap_size)')),
  /**
   * int rbd_group_snap_get_info(rados_ioctx_t group_p, const char *group_name, const char *snap_name,
   *                             rbd_group_snap_info2_t *group_snap);   (20.2)
   */
  groupSnapGetInfo: optional(() => librbd.func('int rbd_group_snap_get_info(rados_ioctx_t group_p, const char *group_name, '
    + 'const char *snap_name, void *group_snap)')),
  /** int rbd_mirror_remote_namespace_get(rados_ioctx_t io_ctx, char *remote_namespace, size_t *max_len);   (20.2) */
  mirrorRemoteNamespaceGet: optional(() => librbd.func('int rbd_mirror_remote_namespace_get(rados_ioctx_t io_ctx, '
    + 'void *remote_namespace, _Inout_ size_t *max_len)')),
  /** int rbd_mirror_remote_namespace_set(rados_ioctx_t io_ctx, const char *remote_namespace);   (20.2) */
  mirrorRemoteNamespaceSet: optional(() => librbd.func('int rbd_mirror_remote_namespace_set(rados_ioctx_t io_ctx, '
    + 'const char *remote_namespace)')),
};

export type OptionalFunction = keyof typeof rbdOptional;

/** Which optional functions the loaded librbd has. */
export function optionalFunctions(): Record<OptionalFunction, boolean> {
  return Object.fromEntries(Object.entries(rbdOptional).map(([k, v]) => [k, v !== undefined])) as Record<OptionalFunction, boolean>;
}
