// A connection to a Ceph cluster (one rados_t). Opened with bounded timeouts, closed idempotently;
// after close() every call throws a `closed` CephError instead of touching freed memory.
import { clientAddress, radosCluster } from '../native/rados-cluster.js';
import { radosPool } from '../native/rados-pool.js';
import { rbdNamespace } from '../native/rbd-namespace.js';
import { cString, takeRadosBuffer } from '../native/memory.js';
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeProbe } from './call.js';
import { CephError, check, isCephError } from './errors.js';
import { Handle } from './handle.js';
import { splitPoolSpec } from './spec.js';

export interface ConnectOptions {
  /** path of ceph.conf; undefined = librados' default search (honours $CEPH_CONF) */
  confFile?: string | undefined;
  /** cephx id without "client." (as `ceph --id` takes it); default "admin" */
  clientId?: string | undefined;
  /** keyring path; undefined = what ceph.conf says */
  keyring?: string | undefined;
  clusterName?: string | undefined;
  /** seconds; librados waits up to 300 s by default, which no HTTP client will */
  mountTimeout?: number | undefined;
  monOpTimeout?: number | undefined;
  osdOpTimeout?: number | undefined;
  /** more librados options, applied last */
  conf?: Record<string, string> | undefined;
}

export interface MonCommandResult {
  /** the command's output (JSON when format=json was asked for) */
  out: string;
  /** the status line, e.g. "pool 'x' created" */
  status: string;
}

/** What Pools and Images need: a live cluster handle, I/O contexts and mon commands. */
export interface CephSession {
  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T>;
  /**
   * `pool` is a pool spec: "pool" (the default namespace) or "pool/namespace" (as the rbd CLI writes it).
   * ENOENT from `rados_ioctx_create` for a missing pool, from `rbd_namespace_exists` for a missing namespace.
   */
  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T>;
  monCommand(command: Record<string, unknown>, target?: string): Promise<MonCommandResult>;
  /** Drop what is cached about a pool that was just deleted. */
  forgetPool(pool: string): void;
}

interface IoctxEntry { io: Handle<'rados_ioctx_t'>; id: number }

/** A librados client as the cluster sees it: its global id (client.<id>) and its address ("ip:port/nonce"). */
export interface ClientIdentity { id: number; address: string }

/** Every librados client this process has open (the request client, task runners' clients): never fenced by it. */
const OPEN_CLIENTS = new Map<CephConnection, ClientIdentity>();

/** "v1:127.0.0.1:0/123" or "127.0.0.1:0/123" → "127.0.0.1:0/123": addresses compared without their type. */
export const bareAddress = (addr: string): string => addr.trim().replace(/^(any|v1|v2|legacy):/, '');

/** The librados clients of this process (see OPEN_CLIENTS). */
export function ownClients(): ClientIdentity[] { return [...OPEN_CLIENTS.values()]; }

export class CephConnection implements CephSession {
  private constructor(private readonly cluster: Handle<'rados_t'>, readonly clientName: string) {}

  static async connect(opts: ConnectOptions = {}): Promise<CephConnection> {
    const clientName = `client.${opts.clientId ?? 'admin'}`;
    const out: [Pointer | null] = [null];
    const rc = await native<number>('rados_create2', radosCluster.create2, out, opts.clusterName ?? 'ceph', clientName, 0);
    check('cluster', 'rados_create2', rc, clientName);
    const ptr = out[0]!;
    try {
      await nativeChecked('cluster', 'rados_conf_read_file', opts.confFile ?? '$CEPH_CONF', radosCluster.confReadFile, ptr, opts.confFile ?? null);
      const settings: Record<string, string> = {
        client_mount_timeout: String(opts.mountTimeout ?? 10),
        rados_mon_op_timeout: String(opts.monOpTimeout ?? 10),
        rados_osd_op_timeout: String(opts.osdOpTimeout ?? 10),
        // librbd copies every asynchronous write's data unless told not to (its default guards against callers
        // that change a buffer while it is written). Ours never do: an import's chunk is reused only after its
        // writes completed (image-writer.ts ChunkPool), and rbd-io.ts holds each buffer until its completion.
        // The copy was the main thread's largest cost in an upload (4 MiB allocated and copied per write:
        // rbd_aio_write2 2.0 → 0.47 s per 4 GiB). librbd's write-back cache turns zero-copy off whatever this says,
        // and the service's I/O is single-pass (transfers, with NOCACHE hints) or metadata: no cache for it. Pool
        // and image settings (`rbd config … set`) still override both for the images they name.
        rbd_disable_zero_copy_writes: 'false',
        rbd_cache: 'false',
        ...(opts.keyring ? { keyring: opts.keyring } : {}),
        ...opts.conf,
      };
      for (const [key, value] of Object.entries(settings)) {
        // local memory only: safe on the main thread
        check('cluster', 'rados_conf_set', radosCluster.confSet(ptr, key, value) as number, key);
      }
      await nativeChecked('cluster', 'rados_connect', clientName, radosCluster.connect, ptr);
    } catch (e) {
      await native('rados_shutdown', radosCluster.shutdown, ptr);
      throw e;
    }
    const holder: { conn?: CephConnection } = {};
    // the I/O contexts go before the cluster handle: rados_ioctx_destroy after rados_shutdown is a use-after-free
    const handle = new Handle('rados_t', ptr, async (p) => {
      await holder.conn?.closeIoctxsForShutdown();
      await native('rados_shutdown', radosCluster.shutdown, p);
    });
    holder.conn = new CephConnection(handle, clientName);
    // who this client is to the cluster (local memory): what a lock owner or a watcher of ours looks like
    const address = clientAddress(ptr);
    const identity: ClientIdentity = { id: Number(radosCluster.getInstanceId(ptr) as number | bigint), address: address ? bareAddress(address) : '' };
    OPEN_CLIENTS.set(holder.conn, identity);
    return holder.conn;
  }

  get isOpen(): boolean { return this.cluster.isOpen; }

  /** Called by the cluster handle's destructor, after every call on it has finished. */
  private closeIoctxsForShutdown(): Promise<void> { return this.closeIoctxs(); }

  /** A configuration value as this client sees it (rados_conf_get: local memory, no I/O). */
  configValue(key: string): Promise<string> {
    return this.cluster.use('rados_conf_get', async (p) => {
      const buf = Buffer.alloc(4096);
      check('cluster', 'rados_conf_get', radosCluster.confGet(p, key, buf, buf.length) as number, key);
      return cString(buf);
    });
  }

  /** Waits for calls in flight, then rados_shutdown. Safe to call any number of times. */
  close(): Promise<void> {
    OPEN_CLIENTS.delete(this);
    return this.cluster.close();
  }

  /** Run `fn` with the live rados_t; throws a `closed` CephError once closed. */
  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T> {
    return this.cluster.use(op, fn);
  }

  /** Open an I/O context on `pool` for the duration of `fn`. ENOENT when the pool does not exist. */
  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.withCluster('rados_ioctx_create', async (cluster) => {
      const cached = this.ioctxs.get(pool);
      if (cached) {
        try {
          return await fn(cached.io);
        } catch (e) {
          // ENOENT may mean the pool was deleted (or deleted and made again) since this context was opened:
          // then drop it and run once more on a fresh one; otherwise it is the operation's own ENOENT
          if (!isCephError(e, 'ENOENT') || !(await this.poolChanged(cluster, splitPoolSpec(pool).pool, cached.id))) throw e;
          this.dropIoctx(pool, cached);
        }
      }
      const entry = await this.openIoctx(cluster, pool);
      return fn(entry.io);
    });
  }

  /**
   * I/O contexts are kept per pool and shared (librados allows concurrent operations on one): opening
   * and destroying one per request cost two worker round trips. Entries are dropped when their pool goes
   * away, and destroyed when the connection closes.
   */
  private readonly ioctxs = new Map<string, IoctxEntry>();
  private opening = new Map<string, Promise<IoctxEntry>>();

  private openIoctx(cluster: Pointer, pool: string): Promise<IoctxEntry> {
    const existing = this.ioctxs.get(pool);
    if (existing) return Promise.resolve(existing);
    let pending = this.opening.get(pool);
    if (!pending) {
      pending = (async () => {
        const { pool: poolName, namespace } = splitPoolSpec(pool);
        const out: [Pointer | null] = [null];
        let rc = await native<number>('rados_ioctx_create', radosPool.ioctxCreate, cluster, poolName, out);
        if (rc === -E.ENOENT) {
          // our OSD map may predate a pool another client (another replica) just made: catch up, then retry
          await nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
          rc = await native<number>('rados_ioctx_create', radosPool.ioctxCreate, cluster, poolName, out);
        }
        check('pool', 'rados_ioctx_create', rc, poolName);
        const io = new Handle('rados_ioctx_t', out[0]!, (p) => native('rados_ioctx_destroy', radosPool.ioctxDestroy, p));
        // int64_t rados_ioctx_get_id(rados_ioctx_t io): local memory
        const id = Number(radosPool.ioctxGetId(out[0]!) as number | bigint);
        if (namespace !== '') {
          // librbd answers a missing namespace with empty listings, not ENOENT: check it once per context
          radosPool.ioctxSetNamespace(out[0]!, namespace);
          const exists: [boolean] = [false];
          try {
            await nativeChecked('namespace', 'rbd_namespace_exists', pool, rbdNamespace.exists, out[0]!, namespace, exists);
          } catch (e) {
            await io.close().catch(() => undefined);
            throw e;
          }
          if (!exists[0]) {
            await io.close().catch(() => undefined);
            throw new CephError('namespace', 'rbd_namespace_exists', -E.ENOENT, pool);
          }
        }
        const entry = { io, id };
        if (this.cluster.isOpen) this.ioctxs.set(pool, entry);
        return entry;
      })().finally(() => this.opening.delete(pool));
      this.opening.set(pool, pending);
    }
    return pending;
  }

  /** Is `pool` now missing, or a different pool than the one with id `id`? (catches up with the OSD map) */
  private async poolChanged(cluster: Pointer, pool: string, id: number): Promise<boolean> {
    await nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
    const now = await native<number | bigint>('rados_pool_lookup', radosPool.poolLookup, cluster, pool);
    return Number(now) !== id;
  }

  /**
   * Fetch the cluster's latest OSD map (one monitor round trip, on the probe's slot so that calls stuck on a
   * lost OSD cannot hold it up). librados asks for a new map only when it sees a reason; an OSD that was
   * killed and started again comes back at a new address that it may never learn of otherwise.
   */
  catchUpOsdMap(): Promise<void> {
    return this.withCluster('rados_wait_for_latest_osdmap', async (cluster) => {
      const rc = await nativeProbe<number>('rados_wait_for_latest_osdmap', radosCluster.waitForLatestOsdmap, cluster);
      if (rc < 0) throw new CephError('cluster', 'rados_wait_for_latest_osdmap', rc);
    });
  }

  /** Drop the cached I/O context of a pool (after it was deleted); it is destroyed once nothing uses it. */
  forgetPool(pool: string): void {
    // a pool's namespaces go with it
    for (const spec of [...this.ioctxs.keys()]) {
      if (spec === pool || spec.startsWith(`${pool}/`)) this.dropIoctx(spec, this.ioctxs.get(spec));
    }
  }

  private dropIoctx(pool: string, entry: IoctxEntry | undefined): void {
    if (!entry || this.ioctxs.get(pool) !== entry) return;
    this.ioctxs.delete(pool);
    // requests that already hold it finish first: Handle.close waits for calls in flight; the grace period
    // covers one that has the handle but has not started its call yet
    setTimeout(() => void entry.io.close().catch(() => undefined), 30_000).unref();
  }

  private async closeIoctxs(): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    const entries = [...this.ioctxs.values()];
    this.ioctxs.clear();
    await Promise.allSettled(entries.map((e) => e.io.close()));
  }



  /**
   * rados_mon_command with one JSON command; throws CephError on a negative return. `probe`: on the readiness
   * probe's own slot (see probeLimiter), not behind request-sized calls.
   */
  monCommand(command: Record<string, unknown>, target?: string, probe = false): Promise<MonCommandResult> {
    const op = `mon_command(${String(command.prefix)})`;
    return this.withCluster(op, async (cluster) => {
      const cmd = [JSON.stringify(command)];
      const outbuf: [Pointer | null] = [null];
      const outlen: [number] = [0];
      const outs: [Pointer | null] = [null];
      const outslen: [number] = [0];
      const rc = await (probe ? nativeProbe : native)<number>(op, radosCluster.monCommand, cluster, cmd, 1, null, 0, outbuf, outlen, outs, outslen);
      const out = takeRadosBuffer(outbuf[0], outlen[0]);
      const status = takeRadosBuffer(outs[0], outslen[0]);
      // a pool command's failure is about that pool; any other command's about the cluster
      if (rc < 0) throw new CephError(String(command.prefix).startsWith('osd pool') ? 'pool' : 'cluster', op, rc, target ?? status.trim());
      return { out, status };
    });
  }

  /** The cluster's fsid; a cheap call that needs no round trip once connected. */
  fsid(): Promise<string> {
    return this.withCluster('rados_cluster_fsid', async (cluster) => {
      const buf = Buffer.alloc(64);
      const n = await nativeChecked('cluster', 'rados_cluster_fsid', undefined, radosCluster.clusterFsid, cluster, buf, buf.length);
      return buf.toString('utf8', 0, n).replace(/\0.*$/, '');
    });
  }
}
