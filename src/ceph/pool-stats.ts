// RBD statistics of a pool (or one namespace of it): image and snapshot counts and provisioned bytes, in the
// directory and in the trash (rbd_pool_stats_get: reads 1–2 headers per image, opens none, scans no data).
import { RBD_POOL_STAT_OPTION, rbdPool } from '../native/rbd-pool.js';
import type { Pointer } from '../native/types.js';
import { nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { check } from './errors.js';

export interface PoolRbdStats {
  images: number;
  provisionedBytes: number;
  snapshots: number;
  trashImages: number;
  trashProvisionedBytes: number;
}

const FIELDS: [keyof PoolRbdStats, number][] = [
  ['images', RBD_POOL_STAT_OPTION.IMAGES],
  ['provisionedBytes', RBD_POOL_STAT_OPTION.IMAGE_PROVISIONED_BYTES],
  ['snapshots', RBD_POOL_STAT_OPTION.IMAGE_SNAPSHOTS],
  ['trashImages', RBD_POOL_STAT_OPTION.TRASH_IMAGES],
  ['trashProvisionedBytes', RBD_POOL_STAT_OPTION.TRASH_PROVISIONED_BYTES],
];

/** RBD statistics of a pool spec ("pool": its default namespace; "pool/ns": that namespace). */
export function poolRbdStats(conn: CephSession, spec: string): Promise<PoolRbdStats> {
  return conn.withIoctx(spec, (io) => io.use('rbd_pool_stats_get', async (p) => {
    const holder: [Pointer | null] = [null];
    rbdPool.poolStatsCreate(holder); // local memory
    const stats = holder[0]!;
    // librbd writes each value through the pointer registered here, during rbd_pool_stats_get
    const values = FIELDS.map(() => Buffer.alloc(8));
    try {
      FIELDS.forEach(([field, option], i) => {
        check('pool', 'rbd_pool_stats_option_add_uint64', rbdPool.poolStatsOptionAddUint64(stats, option, values[i]) as number, field);
      });
      await nativeChecked('pool', 'rbd_pool_stats_get', spec, rbdPool.poolStatsGet, p, stats);
      const out = {} as PoolRbdStats;
      FIELDS.forEach(([field], i) => { out[field] = Number(values[i]!.readBigUInt64LE(0)); });
      return out;
    } finally {
      rbdPool.poolStatsDestroy(stats);
    }
  }));
}
