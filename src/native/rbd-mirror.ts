// librbd mirroring (rbd/librbd.h, Ceph 16.2): a pool's mirror mode and site name, peers by bootstrap token,
// the pool's status summary, and per image enable/disable, info, mode, promote/demote/resync, global status
// and mirror snapshots. Each binding's comment quotes the C prototype it wraps. Every call here can touch the
// network: they are only ever made through the async call helpers (src/ceph/call.ts).
import { koffi, librbd } from './library.js';
import './types.js';

/** typedef struct { char *global_id; rbd_mirror_image_state_t state; bool primary; } rbd_mirror_image_info_t; */
export const RbdMirrorImageInfo = koffi.struct('rbd_mirror_image_info_t', { global_id: 'char *', state: 'int', primary: 'bool' });

/**
 * typedef struct { char *uuid; rbd_mirror_peer_direction_t direction; char *site_name; char *mirror_uuid;
 *                  char *client_name; time_t last_seen; } rbd_mirror_peer_site_t;
 */
export const RbdMirrorPeerSite = koffi.struct('rbd_mirror_peer_site_t', {
  uuid: 'char *', direction: 'int', site_name: 'char *', mirror_uuid: 'char *', client_name: 'char *', last_seen: 'int64_t',
});

/**
 * typedef struct { char *mirror_uuid; rbd_mirror_image_status_state_t state; char *description;
 *                  time_t last_update; bool up; } rbd_mirror_image_site_status_t;
 */
export const RbdMirrorImageSiteStatus = koffi.struct('rbd_mirror_image_site_status_t', {
  mirror_uuid: 'char *', state: 'int', description: 'char *', last_update: 'int64_t', up: 'bool',
});

/**
 * typedef struct { char *name; rbd_mirror_image_info_t info; uint32_t site_statuses_count;
 *                  rbd_mirror_image_site_status_t *site_statuses; } rbd_mirror_image_global_status_t;
 * site_statuses is read with koffi.decode (an array of site_statuses_count structs).
 */
export const RbdMirrorImageGlobalStatus = koffi.struct('rbd_mirror_image_global_status_t', {
  name: 'char *', info: RbdMirrorImageInfo, site_statuses_count: 'uint32_t', site_statuses: 'void *',
});

export interface MirrorImageInfoValue { global_id: string | null; state: number; primary: boolean }
export interface MirrorPeerSiteValue {
  uuid: string | null; direction: number; site_name: string | null; mirror_uuid: string | null; client_name: string | null;
  last_seen: number | bigint;
}
export interface MirrorSiteStatusValue {
  mirror_uuid: string | null; state: number; description: string | null; last_update: number | bigint; up: boolean;
}
export interface MirrorGlobalStatusValue {
  name: string | null; info: MirrorImageInfoValue; site_statuses_count: number; site_statuses: bigint | null;
}

/** rbd_mirror_mode_t */
export const RBD_MIRROR_MODE = { DISABLED: 0, IMAGE: 1, POOL: 2 } as const;
/** rbd_mirror_peer_direction_t */
export const RBD_MIRROR_PEER_DIRECTION = { RX: 0, TX: 1, RX_TX: 2 } as const;
/** rbd_mirror_image_mode_t */
export const RBD_MIRROR_IMAGE_MODE = { JOURNAL: 0, SNAPSHOT: 1 } as const;
/** rbd_mirror_image_state_t */
export const RBD_MIRROR_IMAGE_STATE = { DISABLING: 0, ENABLED: 1, DISABLED: 2 } as const;
/** rbd_mirror_image_status_state_t, by value */
export const MIRROR_IMAGE_STATUS_STATES = ['unknown', 'error', 'syncing', 'starting_replay', 'replaying', 'stopping_replay', 'stopped'] as const;

export const rbdMirror = {
  /** int rbd_mirror_site_name_get(rados_t cluster, char *name, size_t *max_len); -ERANGE sets *max_len. */
  siteNameGet: librbd.func('int rbd_mirror_site_name_get(rados_t cluster, void *name, _Inout_ size_t *max_len)'),
  /** int rbd_mirror_site_name_set(rados_t cluster, const char *name); */
  siteNameSet: librbd.func('int rbd_mirror_site_name_set(rados_t cluster, const char *name)'),
  /** int rbd_mirror_mode_get(rados_ioctx_t io_ctx, rbd_mirror_mode_t *mirror_mode); */
  modeGet: librbd.func('int rbd_mirror_mode_get(rados_ioctx_t io_ctx, _Out_ int *mirror_mode)'),
  /** int rbd_mirror_mode_set(rados_ioctx_t io_ctx, rbd_mirror_mode_t mirror_mode); */
  modeSet: librbd.func('int rbd_mirror_mode_set(rados_ioctx_t io_ctx, int mirror_mode)'),
  /** int rbd_mirror_peer_bootstrap_create(rados_ioctx_t io_ctx, char *token, size_t *max_len); -ERANGE sets *max_len. */
  peerBootstrapCreate: librbd.func('int rbd_mirror_peer_bootstrap_create(rados_ioctx_t io_ctx, void *token, _Inout_ size_t *max_len)'),
  /**
   * int rbd_mirror_peer_bootstrap_import(rados_ioctx_t io_ctx, rbd_mirror_peer_direction_t direction,
   *                                      const char *token);
   */
  peerBootstrapImport: librbd.func('int rbd_mirror_peer_bootstrap_import(rados_ioctx_t io_ctx, int direction, const char *token)'),
  /** int rbd_mirror_peer_site_remove(rados_ioctx_t io_ctx, const char *uuid); */
  peerSiteRemove: librbd.func('int rbd_mirror_peer_site_remove(rados_ioctx_t io_ctx, const char *uuid)'),
  /**
   * int rbd_mirror_peer_site_list(rados_ioctx_t io_ctx, rbd_mirror_peer_site_t *peers, int *max_peers);
   * -ERANGE when the array is short, with the needed count in *max_peers.
   */
  peerSiteList: librbd.func('int rbd_mirror_peer_site_list(rados_ioctx_t io_ctx, void *peers, _Inout_ int *max_peers)'),
  /** void rbd_mirror_peer_site_list_cleanup(rbd_mirror_peer_site_t *peers, int max_peers); */
  peerSiteListCleanup: librbd.func('void rbd_mirror_peer_site_list_cleanup(void *peers, int max_peers)'),
  /**
   * int rbd_mirror_image_status_summary(rados_ioctx_t io_ctx, rbd_mirror_image_status_state_t *states, int *counts,
   *                                     size_t *maxlen);
   * Parallel arrays of states and counts; *maxlen in: their capacity, out: the entries filled.
   */
  imageStatusSummary: librbd.func('int rbd_mirror_image_status_summary(rados_ioctx_t io_ctx, void *states, void *counts, _Inout_ size_t *maxlen)'),
  /** int rbd_mirror_image_enable2(rbd_image_t image, rbd_mirror_image_mode_t mode); */
  imageEnable2: librbd.func('int rbd_mirror_image_enable2(rbd_image_t image, int mode)'),
  /** int rbd_mirror_image_disable(rbd_image_t image, bool force); */
  imageDisable: librbd.func('int rbd_mirror_image_disable(rbd_image_t image, bool force)'),
  /** int rbd_mirror_image_promote(rbd_image_t image, bool force); */
  imagePromote: librbd.func('int rbd_mirror_image_promote(rbd_image_t image, bool force)'),
  /** int rbd_mirror_image_demote(rbd_image_t image); */
  imageDemote: librbd.func('int rbd_mirror_image_demote(rbd_image_t image)'),
  /** int rbd_mirror_image_resync(rbd_image_t image); */
  imageResync: librbd.func('int rbd_mirror_image_resync(rbd_image_t image)'),
  /** int rbd_mirror_image_create_snapshot(rbd_image_t image, uint64_t *snap_id); */
  imageCreateSnapshot: librbd.func('int rbd_mirror_image_create_snapshot(rbd_image_t image, _Out_ uint64_t *snap_id)'),
  /**
   * int rbd_mirror_image_get_info(rbd_image_t image, rbd_mirror_image_info_t *mirror_image_info, size_t info_size);
   * global_id is allocated by librbd: rbd_mirror_image_get_info_cleanup releases it.
   */
  imageGetInfo: librbd.func('int rbd_mirror_image_get_info(rbd_image_t image, void *mirror_image_info, size_t info_size)'),
  /** void rbd_mirror_image_get_info_cleanup(rbd_mirror_image_info_t *mirror_image_info); */
  imageGetInfoCleanup: librbd.func('void rbd_mirror_image_get_info_cleanup(void *mirror_image_info)'),
  /** int rbd_mirror_image_get_mode(rbd_image_t image, rbd_mirror_image_mode_t *mode); */
  imageGetMode: librbd.func('int rbd_mirror_image_get_mode(rbd_image_t image, _Out_ int *mode)'),
  /**
   * int rbd_mirror_image_get_global_status(rbd_image_t image,
   *     rbd_mirror_image_global_status_t *mirror_image_global_status, size_t status_size);
   * Strings and the site_statuses array are allocated by librbd: rbd_mirror_image_global_status_cleanup releases them.
   */
  imageGetGlobalStatus: librbd.func('int rbd_mirror_image_get_global_status(rbd_image_t image, void *status, size_t status_size)'),
  /** void rbd_mirror_image_global_status_cleanup(rbd_mirror_image_global_status_t *mirror_image_global_status); */
  imageGlobalStatusCleanup: librbd.func('void rbd_mirror_image_global_status_cleanup(void *status)'),
};

export const MIRROR_SIZES = {
  rbd_mirror_image_info_t: koffi.sizeof(RbdMirrorImageInfo),
  rbd_mirror_peer_site_t: koffi.sizeof(RbdMirrorPeerSite),
  rbd_mirror_image_site_status_t: koffi.sizeof(RbdMirrorImageSiteStatus),
  rbd_mirror_image_global_status_t: koffi.sizeof(RbdMirrorImageGlobalStatus),
} as const;
