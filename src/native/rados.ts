// librados prototypes (rados/librados.h, Ceph 16.2). Each binding's comment quotes the C prototype it wraps.
// Calls that can touch the network or disk are only ever made through callAsync() (async-call.ts).
import { librados } from './library.js';
import './types.js';

export const rados = {
  /** void rados_version(int *major, int *minor, int *extra); */
  version: librados.func('void rados_version(_Out_ int *major, _Out_ int *minor, _Out_ int *extra)'),
  /** int rados_create2(rados_t *pcluster, const char *const clustername, const char * const name, uint64_t flags); */
  create2: librados.func('int rados_create2(_Out_ rados_t *pcluster, const char *clustername, const char *name, uint64_t flags)'),
  /** int rados_conf_read_file(rados_t cluster, const char *path); */
  confReadFile: librados.func('int rados_conf_read_file(rados_t cluster, const char *path)'),
  /** int rados_conf_set(rados_t cluster, const char *option, const char *value); */
  confSet: librados.func('int rados_conf_set(rados_t cluster, const char *option, const char *value)'),
  /** int rados_conf_get(rados_t cluster, const char *option, char *buf, size_t len); */
  confGet: librados.func('int rados_conf_get(rados_t cluster, const char *option, void *buf, size_t len)'),
  /** int rados_connect(rados_t cluster); */
  connect: librados.func('int rados_connect(rados_t cluster)'),
  /** void rados_shutdown(rados_t cluster); */
  shutdown: librados.func('void rados_shutdown(rados_t cluster)'),
  /** int rados_cluster_fsid(rados_t cluster, char *buf, size_t len); */
  clusterFsid: librados.func('int rados_cluster_fsid(rados_t cluster, void *buf, size_t len)'),
  /** int rados_wait_for_latest_osdmap(rados_t cluster); */
  waitForLatestOsdmap: librados.func('int rados_wait_for_latest_osdmap(rados_t cluster)'),
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
  /**
   * int rados_mon_command(rados_t cluster, const char **cmd, size_t cmdlen,
   *                       const char *inbuf, size_t inbuflen,
   *                       char **outbuf, size_t *outbuflen, char **outs, size_t *outslen);
   * outbuf and outs are allocated by librados and released with rados_buffer_free().
   */
  monCommand: librados.func(
    'int rados_mon_command(rados_t cluster, const char **cmd, size_t cmdlen, const char *inbuf, size_t inbuflen, ' +
      '_Out_ void **outbuf, _Out_ size_t *outbuflen, _Out_ void **outs, _Out_ size_t *outslen)',
  ),
  /** rados_read_op_t rados_create_read_op(void); — local memory */
  createReadOp: librados.func('rados_read_op_t rados_create_read_op(void)'),
  /** void rados_release_read_op(rados_read_op_t read_op); — local memory */
  releaseReadOp: librados.func('void rados_release_read_op(rados_read_op_t read_op)'),
  /**
   * void rados_read_op_exec_user_buf(rados_read_op_t read_op, const char *cls, const char *method,
   *                                  const char *in_buf, size_t in_len, char *out_buf, size_t out_len,
   *                                  size_t *used_len, int *prval);
   * Only queues the action (cls, method and in_buf are copied). out_buf, used_len and prval are written
   * later, while rados_read_op_operate runs: they are caller Buffers that must outlive that call, so they
   * are plain pointers here, not koffi out-parameters (which are read back when this call returns).
   */
  readOpExecUserBuf: librados.func(
    'void rados_read_op_exec_user_buf(rados_read_op_t read_op, const char *cls, const char *method, ' +
      'const void *in_buf, size_t in_len, void *out_buf, size_t out_len, void *used_len, void *prval)',
  ),
  /** void rados_read_op_set_flags(rados_read_op_t read_op, int flags); — flags of the last action added */
  readOpSetFlags: librados.func('void rados_read_op_set_flags(rados_read_op_t read_op, int flags)'),
  /** int rados_read_op_operate(rados_read_op_t read_op, rados_ioctx_t io, const char *oid, int flags); */
  readOpOperate: librados.func('int rados_read_op_operate(rados_read_op_t read_op, rados_ioctx_t io, const char *oid, int flags)'),
  /** void rados_buffer_free(char *buf); */
  bufferFree: librados.func('void rados_buffer_free(void *buf)'),
  /**
   * int rados_exec(rados_ioctx_t io, const char *oid, const char *cls, const char *method,
   *                const char *in_buf, size_t in_len, char *buf, size_t out_len);
   */
  exec: librados.func('int rados_exec(rados_ioctx_t io, const char *oid, const char *cls, const char *method, const void *in_buf, size_t in_len, void *buf, size_t out_len)'),
  /** int rados_remove(rados_ioctx_t io, const char *oid); */
  remove: librados.func('int rados_remove(rados_ioctx_t io, const char *oid)'),
  /** int rados_stat(rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime); */
  stat: librados.func('int rados_stat(rados_ioctx_t io, const char *o, _Out_ uint64_t *psize, _Out_ int64_t *pmtime)'),
  /** int rados_getxattr(rados_ioctx_t io, const char *o, const char *name, char *buf, size_t len); */
  getxattr: librados.func('int rados_getxattr(rados_ioctx_t io, const char *o, const char *name, void *buf, size_t len)'),
  /** rados_write_op_t rados_create_write_op(void); — local memory */
  createWriteOp: librados.func('rados_write_op_t rados_create_write_op(void)'),
  /** void rados_release_write_op(rados_write_op_t write_op); — local memory */
  releaseWriteOp: librados.func('void rados_release_write_op(rados_write_op_t write_op)'),
  /** void rados_write_op_create(rados_write_op_t write_op, int exclusive, const char* category); — queues only */
  writeOpCreate: librados.func('void rados_write_op_create(rados_write_op_t write_op, int exclusive, const char *category)'),
  /** void rados_write_op_setxattr(rados_write_op_t write_op, const char *name, const char *value, size_t value_len); — copies value */
  writeOpSetxattr: librados.func('void rados_write_op_setxattr(rados_write_op_t write_op, const char *name, const void *value, size_t value_len)'),
  /**
   * void rados_write_op_cmpxattr(rados_write_op_t write_op, const char *name, uint8_t comparison_operator,
   *                              const char *value, size_t value_len); — copies value
   */
  writeOpCmpxattr: librados.func('void rados_write_op_cmpxattr(rados_write_op_t write_op, const char *name, uint8_t comparison_operator, const void *value, size_t value_len)'),
  /** void rados_write_op_remove(rados_write_op_t write_op); — queues only */
  writeOpRemove: librados.func('void rados_write_op_remove(rados_write_op_t write_op)'),
  /** int rados_write_op_operate(rados_write_op_t write_op, rados_ioctx_t io, const char *oid, time_t *mtime, int flags); */
  writeOpOperate: librados.func('int rados_write_op_operate(rados_write_op_t write_op, rados_ioctx_t io, const char *oid, void *mtime, int flags)'),
};
