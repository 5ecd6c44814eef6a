// A connection to a Ceph cluster (one rados_t). Opened with bounded timeouts, closed idempotently;
// after close() every call throws a `closed` CephError instead of touching freed memory.
import { radosCluster } from '../native/rados-cluster.js';
import { radosPool } from '../native/rados-pool.js';
import { rbdNamespace } from '../native/rbd-namespace.js';
import { limiter, longLimiter, threadpoolSize, transferLimiter } from '../native/async-call.js';
import { cString, takeRadosBuffer } from '../native/memory.js';
import { E, errnoName } from '../native/errno.js';
import { capMallocArenas, trimMalloc } from '../native/malloc.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeProbe, type CallTrace } from './call.js';
import { CephError, check, isCephError } from './errors.js';
import { Handle } from './handle.js';

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

export class CephConnection implements CephSession {
  private constructor(private readonly cluster: Handle<'rados_t'>, readonly clientName: string) {}

  static async connect(opts: ConnectOptions = {}): Promise<CephConnection> {
    const clientName = `client.${opts.clientId ?? 'admin'}`;
    const out: [Pointer | null] = [null];
    const rc = await native<number>('rados_create2', radosCluster.create2, out, opts.clusterName ?? 'ceph', clientName, 0);
    check('rados_create2', rc, clientName);
    const ptr = out[0]!;
    try {
      await nativeChecked('rados_conf_read_file', opts.confFile ?? '$CEPH_CONF', radosCluster.confReadFile, ptr, opts.confFile ?? null);
      const settings: Record<string, string> = {
        client_mount_timeout: String(opts.mountTimeout ?? 10),
        rados_mon_op_timeout: String(opts.monOpTimeout ?? 10),
        rados_osd_op_timeout: String(opts.osdOpTimeout ?? 10),
        ...(opts.keyring ? { keyring: opts.keyring } : {}),
        ...opts.conf,
      };
      for (const [key, value] of Object.entries(settings)) {
        // local memory only: safe on the main thread
        check('rados_conf_set', radosCluster.confSet(ptr, key, value) as number, key);
      }
      await nativeChecked('rados_connect', clientName, radosCluster.connect, ptr);
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
    return holder.conn;
  }

  get isOpen(): boolean { return this.cluster.isOpen; }

  /** Called by the cluster handle's destructor, after every call on it has finished. */
  private closeIoctxsForShutdown(): Promise<void> { return this.closeIoctxs(); }

  /** A configuration value as this client sees it (rados_conf_get: local memory, no I/O). */
  configValue(key: string): Promise<string> {
    return this.cluster.use('rados_conf_get', async (p) => {
      const buf = Buffer.alloc(4096);
      check('rados_conf_get', radosCluster.confGet(p, key, buf, buf.length) as number, key);
      return cString(buf);
    });
  }

  /** Waits for calls in flight, then rados_shutdown. Safe to call any number of times. */
  close(): Promise<void> { return this.cluster.close(); }

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
          await nativeChecked('rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
          rc = await native<number>('rados_ioctx_create', radosPool.ioctxCreate, cluster, poolName, out);
        }
        check('rados_ioctx_create', rc, poolName);
        const io = new Handle('rados_ioctx_t', out[0]!, (p) => native('rados_ioctx_destroy', radosPool.ioctxDestroy, p));
        // int64_t rados_ioctx_get_id(rados_ioctx_t io): local memory
        const id = Number(radosPool.ioctxGetId(out[0]!) as number | bigint);
        if (namespace !== '') {
          // librbd answers a missing namespace with empty listings, not ENOENT: check it once per context
          radosPool.ioctxSetNamespace(out[0]!, namespace);
          const exists: [boolean] = [false];
          try {
            await nativeChecked('rbd_namespace_exists', pool, rbdNamespace.exists, out[0]!, namespace, exists);
          } catch (e) {
            await io.close().catch(() => undefined);
            throw e;
          }
          if (!exists[0]) {
            await io.close().catch(() => undefined);
            throw new CephError('rbd_namespace_exists', -E.ENOENT, pool);
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
    await nativeChecked('rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
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
      if (rc < 0) throw new CephError('rados_wait_for_latest_osdmap', rc);
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
      if (rc < 0) throw new CephError(op, rc, target ?? status.trim());
      return { out, status };
    });
  }

  /** The cluster's fsid; a cheap call that needs no round trip once connected. */
  fsid(): Promise<string> {
    return this.withCluster('rados_cluster_fsid', async (cluster) => {
      const buf = Buffer.alloc(64);
      const n = await nativeChecked('rados_cluster_fsid', undefined, radosCluster.clusterFsid, cluster, buf, buf.length);
      return buf.toString('utf8', 0, n).replace(/\0.*$/, '');
    });
  }
}

/** librados and librbd versions, e.g. "3.0.0" (librados API version, not Ceph's). */
export function libraryVersion(): string {
  const a = [0], b = [0], c = [0];
  radosCluster.version(a, b, c);
  return `${a[0]}.${b[0]}.${c[0]}`;
}

/** The process-wide native call limiter: concurrency must stay below UV_THREADPOOL_SIZE. */
export function configureConcurrency(limit: number, maxQueue: number, longLimit = 2): { limit: number; longLimit: number; threadpool: number } {
  const threadpool = threadpoolSize();
  const long = Math.max(1, Math.min(longLimit, threadpool - 3));
  // the transfers' extent walks (transferLimiter) have their own threads too
  const effective = Math.max(1, Math.min(limit, threadpool - 2 - long - transferLimiter.concurrency));
  limiter.configure(effective, maxQueue);
  longLimiter.configure(long, 10_000);
  return { limit: effective, longLimit: long, threadpool };
}

export function nativeLoad(): { inFlight: number; queued: number; concurrency: number; longInFlight: number; longQueued: number } {
  return {
    inFlight: limiter.inFlight, queued: limiter.queued, concurrency: limiter.concurrency,
    longInFlight: longLimiter.inFlight, longQueued: longLimiter.queued,
  };
}

export { limiter as nativeLimiter, longLimiter as nativeLongLimiter };

/**
 * Process memory: cap glibc malloc arenas, and hand freed heap pages back to the kernel (see
 * src/native/malloc.ts): every `trimEveryMs` while work goes on, and once soon after a burst of Ceph calls
 * ends (the native layer idle for 250 ms), so RSS follows the work down instead of waiting for the next
 * tick. Call once at start; returns a stop function.
 */
export function tuneProcessMemory(maxArenas = 2, trimEveryMs = 10_000): () => void {
  capMallocArenas(maxArenas);
  if (trimEveryMs <= 0) return () => undefined;
  let running = false;
  let trimmedAt = limiter.completed;
  let lastTrim = 0;
  const runTrim = (): void => {
    if (running) return;
    running = true;
    lastTrim = Date.now();
    void trimMalloc().finally(() => { running = false; trimmedAt = limiter.completed; });
  };
  const periodic = setInterval(runTrim, trimEveryMs);
  periodic.unref();
  let idleSince = 0;
  const idleCheck = setInterval(() => {
    if (limiter.inFlight > 0 || limiter.queued > 0) { idleSince = 0; return; }
    const now = Date.now();
    if (idleSince === 0) idleSince = now;
    // at least 250 ms idle, work since the last trim, and not more often than once a second
    if (now - idleSince >= 250 && limiter.completed !== trimmedAt && now - lastTrim >= 1000) runTrim();
  }, 125);
  idleCheck.unref();
  return () => { clearInterval(periodic); clearInterval(idleCheck); };
}

/** Sees every finished librados/librbd call: its name, duration, and the errno name when it returned one. */
export type CephCallObserver = (op: string, seconds: number, errno: string | undefined) => void;

/** One observer per process (the metrics of the running app); undefined removes it. */
export function observeCephCalls(observer: CephCallObserver | undefined): void {
  const wrapped = observer && ((name: string, seconds: number, result: unknown, error?: unknown) => {
    const errno = error !== undefined ? 'EFAULT' : typeof result === 'number' && result < 0 ? errnoName(result) : undefined;
    observer(name, seconds, errno);
  });
  limiter.observe(wrapped);
  longLimiter.observe(wrapped);
}

/** "pool" → {pool, namespace: ''}; "pool/ns" → {pool, namespace: 'ns'} (the rbd CLI's spelling). */
export function splitPoolSpec(spec: string): { pool: string; namespace: string } {
  const slash = spec.indexOf('/');
  return slash < 0 ? { pool: spec, namespace: '' } : { pool: spec.slice(0, slash), namespace: spec.slice(slash + 1) };
}

/** The inverse of splitPoolSpec. */
export function poolSpec(pool: string, namespace: string | undefined): string {
  return namespace ? `${pool}/${namespace}` : pool;
}

/** A deadline error whose work goes on: `pending` settles when it really ends. */
export type StillRunning = CephError & { pending?: Promise<unknown> };

/**
 * Reject when `promise` takes longer than `ms` (the work itself goes on; the error's `pending` follows it).
 * With a trace: ETIMEDOUT names the native call that was running; if the work was only waiting for a local
 * slot, it is a `busy` error (503 CEPH_BUSY), not "the cluster did not answer".
 */
export function withDeadline<T>(op: string, ms: number, promise: Promise<T>, trace?: CallTrace): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e: StillRunning = trace && trace.queued > 0 && trace.running === 0
        ? new CephError(trace.op ?? op, -E.EAGAIN, `waited ${ms} ms for a free Ceph slot in this instance`, 'busy')
        : new CephError(trace?.op ?? op, -E.ETIMEDOUT, `no answer within ${ms} ms`);
      e.pending = promise.then(() => undefined, () => undefined);
      reject(e);
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A session that reaches Ceph through a CephConnection its subclass hands out (and bounds) in `run`: the
 * service's client (which reconnects) and a task run's own client share these calls.
 */
export abstract class ConnectionSession implements CephSession {
  protected abstract run<T>(op: string, fn: (c: CephConnection) => Promise<T>, bounded?: boolean): Promise<T>;
  abstract forgetPool(pool: string): void;

  withCluster<T>(op: string, fn: (cluster: Pointer) => Promise<T>): Promise<T> {
    return this.run(op, (c) => c.withCluster(op, fn));
  }

  withIoctx<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.run('rados_ioctx_create', (c) => c.withIoctx(pool, fn));
  }

  /** withIoctx without the per-operation deadline: for task runners (calls that may take minutes). */
  withIoctxLong<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T> {
    return this.run('rados_ioctx_create', (c) => c.withIoctx(pool, fn), false);
  }

  monCommand(command: Record<string, unknown>, target?: string): Promise<MonCommandResult> {
    return this.run(`mon_command(${String(command.prefix)})`, (c) => c.monCommand(command, target));
  }
}
