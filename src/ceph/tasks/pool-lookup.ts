// The two cluster lookups of the engine: the pool a task id names (get, cancel), and the pools whose task
// lists the scan and an unfiltered listing read. (pools.ts's listNames fetches the latest OSD map first: a
// monitor round trip the scan, every few seconds on every replica, does without.)
import { E } from '../../native/errno.js';
import { radosCluster } from '../../native/rados-cluster.js';
import { radosPool } from '../../native/rados-pool.js';
import { native } from '../call.js';
import type { CephSession } from '../connection.js';
import { CephError, isCephError, TaskNotFoundError } from '../errors.js';
import { parseTaskId } from './store.js';


/** The pool a task id belongs to (from the pool id in it). TaskNotFoundError if it is not an id or the pool is gone. */
export async function poolOfTask(session: CephSession, id: string): Promise<string> {
  const parsed = parseTaskId(id);
  if (!parsed) throw new TaskNotFoundError(id);
  try {
    return await session.withCluster('rados_pool_reverse_lookup', async (cluster) => {
      const buf = Buffer.alloc(512);
      let rc = await native<number>('rados_pool_reverse_lookup', radosPool.poolReverseLookup, cluster, parsed.poolId, buf, buf.length);
      if (rc === -E.ENOENT) {
        await native('rados_wait_for_latest_osdmap', radosCluster.waitForLatestOsdmap, cluster);
        rc = await native<number>('rados_pool_reverse_lookup', radosPool.poolReverseLookup, cluster, parsed.poolId, buf, buf.length);
      }
      if (rc < 0) throw new CephError('cluster', 'rados_pool_reverse_lookup', rc, String(parsed.poolId));
      const end = buf.indexOf(0);
      return buf.toString('utf8', 0, end < 0 ? rc : end);
    });
  } catch (e) {
    if (isCephError(e, 'ENOENT')) throw new TaskNotFoundError(id);
    throw e;
  }
}

/**
 * TASK_POOLS as a test: `patterns` are pool names where `*` stands for any run of characters (`*` alone: every
 * pool). The scan and the schedules look only at the pools it accepts.
 */
export function poolMatcher(patterns: readonly string[]): (pool: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const res = patterns.map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's'));
  return (pool) => res.some((re) => re.test(pool));
}

/** Every pool's name, as this client's OSD map has them. */
export function poolNames(session: CephSession): Promise<string[]> {
  return session.withCluster('rados_pool_list', async (cluster) => {
    let size = 64 * 1024;
    for (let i = 0; i < 4; i++) {
      const buf = Buffer.alloc(size);
      const rc = await native<number>('rados_pool_list', radosPool.poolList, cluster, buf, buf.length);
      if (rc < 0) throw new CephError('cluster', 'rados_pool_list', rc);
      if (rc > buf.length) { size = rc; continue; }
      return buf.toString('utf8', 0, rc).split('\0').filter((s) => s.length > 0);
    }
    throw new CephError('cluster', 'rados_pool_list', -E.ERANGE);
  });
}
