// librados cluster handle (rados_t; rados/librados.h, Ceph 16.2): create, configure, connect and shut down,
// the cluster's identity and osdmap, this client's address, and monitor / manager commands. Pools and their
// I/O contexts are in rados-pool.ts. Each binding's comment quotes the C prototype it wraps.
// Calls that can touch the network or disk are only ever made through callAsync() (async-call.ts).
import { koffi, librados } from './library.js';
import './types.js';

export const radosCluster = {
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
  /** uint64_t rados_get_instance_id(rados_t cluster); local memory: this client's global id (client.<id>) */
  getInstanceId: librados.func('uint64_t rados_get_instance_id(rados_t cluster)'),
  /**
   * int rados_getaddrs(rados_t cluster, char** addrs);
   * Local memory: this client's address ("127.0.0.1:0/808367455"), strdup()ed by librados: free() it (clientAddress does).
   */
  getaddrs: librados.func('int rados_getaddrs(rados_t cluster, _Out_ void **addrs)'),
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
  /**
   * int rados_mgr_command(rados_t cluster, const char **cmd, size_t cmdlen, const char *inbuf, size_t inbuflen,
   *                       char **outbuf, size_t *outbuflen, char **outs, size_t *outslen);
   * outbuf and outs are allocated by librados and released with rados_buffer_free().
   */
  mgrCommand: librados.func(
    'int rados_mgr_command(rados_t cluster, const char **cmd, size_t cmdlen, const char *inbuf, size_t inbuflen, ' +
      '_Out_ void **outbuf, _Out_ size_t *outbuflen, _Out_ void **outs, _Out_ size_t *outslen)',
  ),
};

const libc = koffi.load('libc.so.6');
/** void free(void *ptr); */
const free = libc.func('void free(void *ptr)');

/** This rados_t's client address, as `osd blocklist add` takes it; undefined if librados cannot say. */
export function clientAddress(cluster: bigint): string | undefined {
  const out: [bigint | null] = [null];
  const rc = radosCluster.getaddrs(cluster, out) as number;
  if (rc < 0 || !out[0]) return undefined;
  try {
    return koffi.decode(out[0], 'char', -1) as string;
  } finally {
    free(out[0]);
  }
}
