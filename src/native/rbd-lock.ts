// librbd locks of one image (rbd/librbd.h, Ceph 16.2): the exclusive lock's owners (managed by librbd, held by
// a writing client) and breaking it, and the advisory lockers (`rbd lock add/ls/rm`: cls_lock entries on the
// header object, the exclusive lock's own entry among them) and breaking one. Each binding's comment quotes the
// C prototype it wraps; every call here touches the network and is only made through the async call helpers.
import { librbd } from './library.js';
import './types.js';

/** typedef enum { RBD_LOCK_MODE_EXCLUSIVE = 0, RBD_LOCK_MODE_SHARED = 1 } rbd_lock_mode_t; */
export const RBD_LOCK_MODE = { EXCLUSIVE: 0, SHARED: 1 } as const;

export const rbdLock = {
  /**
   * int rbd_lock_get_owners(rbd_image_t image, rbd_lock_mode_t *lock_mode, char **lock_owners,
   *                         size_t *max_lock_owners);
   * lock_owners: an array of *max_lock_owners char* filled by librbd (the owners' client addresses), released
   * with rbd_lock_get_owners_cleanup; -ERANGE with the needed count in *max_lock_owners; -ENOENT: no owner.
   */
  getOwners: librbd.func('int rbd_lock_get_owners(rbd_image_t image, _Out_ int *lock_mode, void *lock_owners, _Inout_ size_t *max_lock_owners)'),
  /** void rbd_lock_get_owners_cleanup(char **lock_owners, size_t lock_owner_count); */
  getOwnersCleanup: librbd.func('void rbd_lock_get_owners_cleanup(void *lock_owners, size_t lock_owner_count)'),
  /**
   * int rbd_lock_break(rbd_image_t image, rbd_lock_mode_t lock_mode, const char *lock_owner);
   * librbd blocklists the owner first when rbd_blocklist_on_break is true (the service also does it itself).
   */
  lockBreak: librbd.func('int rbd_lock_break(rbd_image_t image, int lock_mode, const char *lock_owner)'),
  /**
   * ssize_t rbd_list_lockers(rbd_image_t image, int *exclusive, char *tag, size_t *tag_len,
   *                          char *clients, size_t *clients_len, char *cookies, size_t *cookies_len,
   *                          char *addrs, size_t *addrs_len);
   * The number of lockers; clients, cookies and addrs are NUL-separated lists. -ERANGE when a buffer is short,
   * with every *_len set to the bytes needed.
   */
  listLockers: librbd.func('int64_t rbd_list_lockers(rbd_image_t image, _Out_ int *exclusive, void *tag, _Inout_ size_t *tag_len, '
    + 'void *clients, _Inout_ size_t *clients_len, void *cookies, _Inout_ size_t *cookies_len, void *addrs, _Inout_ size_t *addrs_len)'),
  /** int rbd_break_lock(rbd_image_t image, const char *client, const char *cookie); -ENOENT: not held by (client, cookie) */
  breakLock: librbd.func('int rbd_break_lock(rbd_image_t image, const char *client, const char *cookie)'),
};

/** The C constants these bindings rely on, by their C names. */
export function lockConstants(): Record<string, number> {
  return { RBD_LOCK_MODE_EXCLUSIVE: RBD_LOCK_MODE.EXCLUSIVE, RBD_LOCK_MODE_SHARED: RBD_LOCK_MODE.SHARED };
}
