// librbd namespaces of a pool (rbd/librbd.h, Ceph 16.2): create, remove, list, exists. Each binding's comment
// quotes the C prototype it wraps. Calls that can touch the network are only ever made through the async
// call helpers (src/ceph/call.ts).
import { librbd } from './library.js';
import './types.js';

export const rbdNamespace = {
  /** int rbd_namespace_create(rados_ioctx_t io, const char *namespace_name); */
  create: librbd.func('int rbd_namespace_create(rados_ioctx_t io, const char *namespace_name)'),
  /** int rbd_namespace_remove(rados_ioctx_t io, const char *namespace_name); */
  remove: librbd.func('int rbd_namespace_remove(rados_ioctx_t io, const char *namespace_name)'),
  /**
   * int rbd_namespace_list(rados_ioctx_t io, char *namespace_names, size_t *size);
   * Names NUL-separated; returns the byte length; -ERANGE sets *size to the bytes needed.
   */
  list: librbd.func('int rbd_namespace_list(rados_ioctx_t io, void *namespace_names, _Inout_ size_t *size)'),
  /** int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, bool *exists); */
  exists: librbd.func('int rbd_namespace_exists(rados_ioctx_t io, const char *namespace_name, _Out_ bool *exists)'),
};
