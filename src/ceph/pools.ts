// Pools: list, inspect, create (ready for RBD), delete.
// Create/tag/delete go through mon commands, so a key with only `allow command "osd pool create"` etc.
// (not the broad `allow service osd rw` that rados_pool_create needs) is enough.
import { radosCluster } from '../native/rados-cluster.js';
import { radosObject } from '../native/rados-object.js';
import { radosPool } from '../native/rados-pool.js';
import { rbdPool } from '../native/rbd-pool.js';
import { splitNulList } from '../native/memory.js';
import type { Pointer, RadosPoolStatValue } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check, isCephError, PoolDeletedWhileCreatingError } from './errors.js';
import { E } from '../native/errno.js';
import { DELETE_BUDGET_MS, PoolGuard, type PoolContents } from './pool-guard.js';
import { toNumber } from '../native/memory.js';

export interface PoolStats {
  /** bytes stored (logical, before replication) */
  storedBytes: number;
  objects: number;
  objectCopies: number;
  degradedObjects: number;
  unfoundObjects: number;
}

export interface PoolInfo {
  name: string;
  id: number;
  /** applications the pool is tagged with, e.g. ["rbd"] */
  applications: string[];
  type: 'replicated' | 'erasure' | 'unknown';
  /** replicas (replicated) or k+m chunks (erasure) */
  size: number;
  pgNum: number;
  createdAt?: string | undefined;
}

export interface PoolWithStats extends PoolInfo { stats: PoolStats }

interface PoolDetailJson {
  pool_id: number;
  pool_name: string;
  type: number;
  size: number;
  pg_num: number;
  create_time?: string;
  application_metadata?: Record<string, unknown>;
}

export interface CreatePoolOptions {
  pgNum?: number | undefined;
  /** application tag; "rbd" (the default) also runs rbd_pool_init */
  application?: string | undefined;
}


/** Object that decides which of several concurrent creators of one pool made it (the mon acks them all). */
const CREATOR_OBJECT = 'rbdapi.pool-creator';

export class Pools {
  /** the pool-deletion guard (marker object; see pool-guard.ts) */
  readonly guard: PoolGuard;

  constructor(private readonly conn: CephSession) {
    this.guard = new PoolGuard(conn);
  }

  /** Pool names, via rados_pool_list (retried with the size it asks for), after catching up with the OSD map. */
  listNames(): Promise<string[]> {
    return this.conn.withCluster('rados_pool_list', async (cluster) => {
      await nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
      let size = 256;
      for (let attempt = 0; ; attempt++) {
        const buf = Buffer.alloc(size);
        const needed = await nativeChecked('cluster', 'rados_pool_list', undefined, radosPool.poolList, cluster, buf, buf.length);
        // rados_pool_list returns the length it needs; when that exceeds the buffer, nothing usable was written
        if (needed <= buf.length) return splitNulList(buf, needed).sort();
        if (attempt > 5) throw new CephError('cluster', 'rados_pool_list', -E.ERANGE, 'pool list kept growing');
        size = needed + 64;
      }
    });
  }

  /** Every pool with its metadata and usage. */
  async list(): Promise<PoolWithStats[]> {
    const details = await this.details();
    const pools = [...details.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const withStats = await Promise.all(pools.map(async (p) => {
      try {
        return { ...p, stats: await this.stats(p.name) };
      } catch (e) {
        if (isCephError(e, 'ENOENT')) return undefined; // deleted since the listing
        throw e;
      }
    }));
    return withStats.filter((p): p is PoolWithStats => p !== undefined);
  }

  /** One pool, or CephError ENOENT. */
  async get(name: string): Promise<PoolWithStats> {
    await this.lookup(name);
    // the monitor's pool list is the authority: a pool deleted a moment ago is gone
    const info = (await this.details()).get(name);
    if (!info) throw new CephError('pool', 'rados_pool_lookup', -E.ENOENT, name);
    return { ...info, stats: await this.stats(name) };
  }

  /** Pool id via rados_pool_lookup on a current OSD map; CephError ENOENT when missing. */
  lookup(name: string): Promise<number> {
    return this.conn.withCluster('rados_pool_lookup', async (cluster) => {
      // another client (another replica of this service) may have made or deleted the pool since our
      // OSD map was last updated: catch up first (one monitor round trip), so the answer is current
      await nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
      const id = await native<number | bigint>('rados_pool_lookup', radosPool.poolLookup, cluster, name);
      return toNumber(check('pool', 'rados_pool_lookup', id, name));
    });
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.lookup(name);
      return true;
    } catch (e) {
      if (isCephError(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /**
   * Create a pool, tag it with its application and, for "rbd", run rbd_pool_init.
   * EEXIST when the pool exists — also when another client created it at the same moment: the monitor
   * acknowledges every create of a name still pending in one proposal, so the creators then race for an
   * exclusive object in the new pool and only the winner goes on. If a later step fails, the winner removes
   * the pool again — only if it is still the pool it made (same id), never another caller's.
   */
  async create(name: string, opts: CreatePoolOptions = {}): Promise<PoolWithStats> {
    if (await this.exists(name)) throw new CephError('pool', 'osd pool create', -E.EEXIST, name);
    const command: Record<string, unknown> = { prefix: 'osd pool create', pool: name, format: 'json' };
    if (opts.pgNum !== undefined) command.pg_num = opts.pgNum;
    let created: { status: string };
    try {
      // no target: a refusal carries the monitor's status text (e.g. why pg_num is out of range)
      created = await this.conn.monCommand(command);
    } catch (e) {
      if (isCephError(e, 'EEXIST')) throw new CephError('pool', 'osd pool create', -E.EEXIST, name);
      if (isCephError(e, 'ERANGE', 'EINVAL') && e.target) throw new CephError('pool', 'osd pool create', -e.errno, `${name}: ${e.target}`);
      throw e;
    }
    // the monitor answers 0 with "already exists" when another client won the race
    if (/already exists/.test(created.status)) throw new CephError('pool', 'osd pool create', -E.EEXIST, name);
    await this.syncOsdmap();
    let id: number;
    try {
      id = await this.lookup(name);
      await this.claim(name);
    } catch (e) {
      // deleted again at once by someone else, or made by another creator: it is not ours
      if (isCephError(e, 'ENOENT', 'EEXIST')) throw new CephError('pool', 'osd pool create', -E.EEXIST, name);
      throw e;
    }
    const application = opts.application ?? 'rbd';
    try {
      await this.conn.monCommand(
        { prefix: 'osd pool application enable', pool: name, app: application, yes_i_really_mean_it: true }, name);
      if (application === 'rbd') {
        await this.conn.withIoctx(name, (io) =>
          io.use('rbd_pool_init', (p: Pointer) => nativeChecked('pool', 'rbd_pool_init', name, rbdPool.poolInit, p, false)));
      }
    } catch (e) {
      // roll back only the pool this call made: same name AND same id
      if ((await this.lookup(name).catch(() => undefined)) === id) await this.delete(name).catch(() => undefined);
      if (isCephError(e, 'ENOENT')) throw new PoolDeletedWhileCreatingError(name);
      throw e;
    }
    return this.get(name);
  }

  /** Exclusive create of the creator object: EEXIST when another creator of this pool got there first. */
  private claim(name: string): Promise<void> {
    return this.conn.withIoctx(name, (io) => io.use('rados_write_op_operate', async (p) => {
      const op = radosObject.createWriteOp() as Pointer | null;
      if (!op) throw new CephError('object', 'rados_create_write_op', -E.ENOMEM, name);
      try {
        radosObject.writeOpCreate(op, 1 /* LIBRADOS_CREATE_EXCLUSIVE */, null);
        await nativeChecked('object', 'rados_write_op_operate', name, radosObject.writeOpOperate, op, p, CREATOR_OBJECT, null, 0);
      } finally {
        radosObject.releaseWriteOp(op);
      }
    }));
  }

  /**
   * Delete a pool whatever it holds (force), as the one deleter of it: concurrent deletes get EBUSY
   * (op pool_deletion_marker, 409 POOL_BEING_DELETED), later ones ENOENT — one 204, not one per caller.
   */
  async deleteForced(name: string): Promise<void> {
    await this.lookup(name);
    const owner = await this.guard.begin(name);
    try {
      await this.delete(name);
    } catch (e) {
      if (!isCephError(e, 'ETIMEDOUT')) await this.guard.end(name, owner).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Delete a pool only if it holds no image and nothing in the trash, in any namespace — also against
   * creates running at the same moment, here or in another replica (pool-guard.ts). Returns what it found
   * when it refused; CephError EBUSY (op pool_deletion_marker) when another delete of it is in progress.
   */
  async deleteIfEmpty(name: string): Promise<PoolContents | undefined> {
    await this.lookup(name);
    const owner = await this.guard.begin(name);
    const started = Date.now();
    let contents: PoolContents;
    try {
      contents = await this.guard.contents(name);
      if (contents.imagesIn === undefined && contents.trashIn === undefined) {
        // past this budget a creator could take our marker for a crashed deleter's: do not delete then
        if (Date.now() - started > DELETE_BUDGET_MS) throw new CephError('object', 'pool_deletion_marker', -E.ETIMEDOUT, name);
        await this.delete(name);
        return undefined;
      }
    } catch (e) {
      // a mon command that timed out may still delete the pool: leave the marker, creates stay refused
      if (!isCephError(e, 'ETIMEDOUT')) await this.guard.end(name, owner).catch(() => undefined);
      throw e;
    }
    await this.guard.end(name, owner);
    return contents;
  }

  /** Delete a pool and everything in it. ENOENT when missing. */
  async delete(name: string): Promise<void> {
    await this.lookup(name);
    const { status } = await this.conn.monCommand(
      { prefix: 'osd pool delete', pool: name, pool2: name, yes_i_really_really_mean_it: true }, name);
    this.conn.forgetPool(name);
    // the monitor answers 0 for a pool that is already gone (another delete won)
    if (/does not exist/.test(status)) throw new CephError('pool', 'rados_pool_lookup', -E.ENOENT, name);
    await this.syncOsdmap();
  }

  /** After a pool change, make this client's OSD map catch up so lookups see it at once. */
  private syncOsdmap(): Promise<void> {
    return this.conn.withCluster('rados_wait_for_latest_osdmap', async (cluster) => {
      await nativeChecked('cluster', 'rados_wait_for_latest_osdmap', undefined, radosCluster.waitForLatestOsdmap, cluster);
    });
  }

  /** Delete a pool with librados' rados_pool_delete (needs `mon 'allow service osd rw'`-level caps). */
  deleteWithLibrados(name: string): Promise<void> {
    return this.conn.withCluster('rados_pool_delete', async (cluster) => {
      await nativeChecked('pool', 'rados_pool_delete', name, radosPool.poolDelete, cluster, name);
      this.conn.forgetPool(name);
    });
  }

  /** Usage of one pool via rados_ioctx_pool_stat. */
  stats(name: string): Promise<PoolStats> {
    return this.conn.withIoctx(name, (io) => io.use('rados_ioctx_pool_stat', async (p) => {
      const st = {} as RadosPoolStatValue;
      await nativeChecked('pool', 'rados_ioctx_pool_stat', name, radosPool.ioctxPoolStat, p, st);
      return {
        storedBytes: toNumber(st.num_bytes),
        objects: toNumber(st.num_objects),
        objectCopies: toNumber(st.num_object_copies),
        degradedObjects: toNumber(st.num_objects_degraded),
        unfoundObjects: toNumber(st.num_objects_unfound),
      };
    }));
  }

  /** Metadata of every pool, by name (one mon command). */
  private async details(): Promise<Map<string, PoolInfo>> {
    const { out } = await this.conn.monCommand({ prefix: 'osd pool ls', detail: 'detail', format: 'json' });
    const parsed = JSON.parse(out || '[]') as PoolDetailJson[];
    return new Map(parsed.map((p) => [p.pool_name, {
      name: p.pool_name,
      id: p.pool_id,
      applications: Object.keys(p.application_metadata ?? {}).sort(),
      type: p.type === 1 ? 'replicated' : p.type === 3 ? 'erasure' : 'unknown',
      size: p.size,
      pgNum: p.pg_num,
      createdAt: p.create_time ? new Date(p.create_time.replace(/\+0000$/, 'Z')).toISOString() : undefined,
    }]));
  }
}
