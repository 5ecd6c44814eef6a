import { z } from 'zod';
import { poolSchema } from './pools.js';

export const poolRbdStatsSchema = z.object({
  images: z.number().int(),
  provisionedBytes: z.number().int().describe('sum of the image sizes'),
  snapshots: z.number().int(),
  trashImages: z.number().int(),
  trashProvisionedBytes: z.number().int(),
}).meta({ id: 'PoolRbdStats', description: 'RBD statistics of the default namespace (rbd_pool_stats_get; no data is scanned)' });

/** A pool with its RBD statistics (for pools tagged "rbd", when the token may see the default namespace). */
export const poolWithRbdSchema = poolSchema.extend({ rbd: poolRbdStatsSchema.optional() }).meta({ id: 'PoolWithRbd' });
export const poolListWithRbdSchema = z.object({ items: z.array(poolWithRbdSchema) }).meta({ id: 'PoolListWithRbd' });

export const listPoolsQuery = z.object({
  stats: z.enum(['rbd']).optional().describe('`rbd`: add each RBD pool\'s image statistics (reads every image header: slower)'),
}).strict();
