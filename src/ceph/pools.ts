// Pools: list, inspect, create (ready for RBD), delete.
// Create/tag/delete go through mon commands, so a key with only `allow command "osd pool create"` etc.
// (not the broad `allow service osd rw` that rados_pool_create needs) is enough.
import { rados } from '../native/rados.js';
import { rbd } from '../native/rbd.js';
import { splitNulList } from '../native/memory.js';
import type { Pointer, RadosPoolStatValue } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check, isCephError } from './errors.js';
import { E } from '../native/errno.js';

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

function toNumber(v: number | bigint): number { return typeof v === 'bigint' ? Number(v) : v; }

export class Pools {
  constructor(private readonly conn: CephSession) {}

  /** Pool names, via rados_pool_list (retried with the size it asks for), after catching up with the OSD map. */
  listNames(): Promise<string[]> {
    return this.conn.withCluster('rados_pool_list', async (cluster) => {
      await nativeChecked('rados_wait_for_latest_osdmap', undefined, rados.waitForLatestOsdmap, cluster);
      let size = 256;
      for (let attempt = 0; ; attempt++) {
        const buf = Buffer.alloc(size);
        const needed = await nativeChecked('rados_pool_list', undefined, rados.poolList, cluster, buf, buf.length);
        // rados_pool_list returns the length it needs; when that exceeds the buffer, nothing usable was written
        if (needed <= buf.length) return splitNulList(buf, needed).sort();
        if (attempt > 5) throw new CephError('rados_pool_list', -E.ERANGE, 'pool list kept growing');
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
    if (!info) throw new CephError('rados_pool_lookup', -E.ENOENT, name);
    return { ...info, stats: await this.stats(name) };
  }

  /** Pool id via rados_pool_lookup on a current OSD map; CephError ENOENT when missing. */
  lookup(name: string): Promise<number> {
    return this.conn.withCluster('rados_pool_lookup', async (cluster) => {
      // another client (another replica of this service) may have made or deleted the pool since our
      // OSD map was last updated: catch up first (one monitor round trip), so the answer is current
      await nativeChecked('rados_wait_for_latest_osdmap', undefined, rados.waitForLatestOsdmap, cluster);
      const id = await native<number | bigint>('rados_pool_lookup', rados.poolLookup, cluster, name);
      return toNumber(check('rados_pool_lookup', id, name));
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
   * EEXIST when the pool exists. If a later step fails, the pool this call created is removed again.
   */
  async create(name: string, opts: CreatePoolOptions = {}): Promise<PoolWithStats> {
    if (await this.exists(name)) throw new CephError('osd pool create', -E.EEXIST, name);
    const command: Record<string, unknown> = { prefix: 'osd pool create', pool: name, format: 'json' };
    if (opts.pgNum !== undefined) command.pg_num = opts.pgNum;
    const created = await this.conn.monCommand(command, name);
    // the monitor answers 0 with "already exists" when another client won the race
    if (/already exists/.test(created.status)) throw new CephError('osd pool create', -E.EEXIST, name);
    await this.syncOsdmap();
    const application = opts.application ?? 'rbd';
    try {
      await this.conn.monCommand(
        { prefix: 'osd pool application enable', pool: name, app: application, yes_i_really_mean_it: true }, name);
      if (application === 'rbd') {
        await this.conn.withIoctx(name, (io) =>
          io.use('rbd_pool_init', (p: Pointer) => nativeChecked('rbd_pool_init', name, rbd.poolInit, p, false)));
      }
    } catch (e) {
      await this.delete(name).catch(() => undefined);
      throw e;
    }
    return this.get(name);
  }

  /** Delete a pool and everything in it. ENOENT when missing. */
  async delete(name: string): Promise<void> {
    await this.lookup(name);
    await this.conn.monCommand(
      { prefix: 'osd pool delete', pool: name, pool2: name, yes_i_really_really_mean_it: true }, name);
    this.conn.forgetPool(name);
    await this.syncOsdmap();
  }

  /** After a pool change, make this client's OSD map catch up so lookups see it at once. */
  private syncOsdmap(): Promise<void> {
    return this.conn.withCluster('rados_wait_for_latest_osdmap', async (cluster) => {
      await nativeChecked('rados_wait_for_latest_osdmap', undefined, rados.waitForLatestOsdmap, cluster);
    });
  }

  /** Delete a pool with librados' rados_pool_delete (needs `mon 'allow service osd rw'`-level caps). */
  deleteWithLibrados(name: string): Promise<void> {
    return this.conn.withCluster('rados_pool_delete', async (cluster) => {
      await nativeChecked('rados_pool_delete', name, rados.poolDelete, cluster, name);
      this.conn.forgetPool(name);
    });
  }

  /** Usage of one pool via rados_ioctx_pool_stat. */
  stats(name: string): Promise<PoolStats> {
    return this.conn.withIoctx(name, (io) => io.use('rados_ioctx_pool_stat', async (p) => {
      const st = {} as RadosPoolStatValue;
      await nativeChecked('rados_ioctx_pool_stat', name, rados.ioctxPoolStat, p, st);
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
