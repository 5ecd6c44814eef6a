// librados pools (rados/librados.h, Ceph 16.2): list, look up and delete pools on the cluster handle, and the
// I/O context of one pool (rados_ioctx_t: its id, namespace and usage). Each binding's comment quotes the C
// prototype it wraps. Calls that can touch the network or disk are only ever made through callAsync()
// (async-call.ts).
import { librados } from './library.js';
import './types.js';

export const radosPool = {
  /** int rados_pool_list(rados_t cluster, char *buf, size_t len); */
  poolList: librados.func('int rados_pool_list(rados_t cluster, void *buf, size_t len)'),
  /** int64_t rados_pool_lookup(rados_t cluster, const char *pool_name); */
  poolLookup: librados.func('int64_t rados_pool_lookup(rados_t cluster, const char *pool_name)'),
  /** int rados_pool_reverse_lookup(rados_t cluster, int64_t id, char *buf, size_t maxlen); */
  poolReverseLookup: librados.func('int rados_pool_reverse_lookup(rados_t cluster, int64_t id, void *buf, size_t maxlen)'),
  /** int rados_pool_delete(rados_t cluster, const char *pool_name); */
  poolDelete: librados.func('int rados_pool_delete(rados_t cluster, const char *pool_name)'),
  /** int rados_ioctx_create(rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx); */
  ioctxCreate: librados.func('int rados_ioctx_create(rados_t cluster, const char *pool_name, _Out_ rados_ioctx_t *ioctx)'),
  /** void rados_ioctx_destroy(rados_ioctx_t io); */
  ioctxDestroy: librados.func('void rados_ioctx_destroy(rados_ioctx_t io)'),
  /** int64_t rados_ioctx_get_id(rados_ioctx_t io); */
  ioctxGetId: librados.func('int64_t rados_ioctx_get_id(rados_ioctx_t io)'),
  /** void rados_ioctx_set_namespace(rados_ioctx_t io, const char *nspace); (local memory; NULL = default namespace) */
  ioctxSetNamespace: librados.func('void rados_ioctx_set_namespace(rados_ioctx_t io, const char *nspace)'),
  /** int rados_ioctx_pool_stat(rados_ioctx_t io, struct rados_pool_stat_t *stats); */
  ioctxPoolStat: librados.func('int rados_ioctx_pool_stat(rados_ioctx_t io, _Out_ rados_pool_stat_t *stats)'),
};
