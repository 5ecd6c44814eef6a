import { z } from 'zod';
import { booleanQuery, poolNameForCreate } from './common.js';

export const poolStatsSchema = z.object({
  storedBytes: z.number().int(),
  objects: z.number().int(),
  objectCopies: z.number().int(),
  degradedObjects: z.number().int(),
  unfoundObjects: z.number().int(),
});

export const poolSchema = z.object({
  name: z.string(),
  id: z.number().int(),
  applications: z.array(z.string()),
  type: z.enum(['replicated', 'erasure', 'unknown']),
  size: z.number().int().describe('replicas (replicated) or k+m (erasure)'),
  pgNum: z.number().int(),
  createdAt: z.string().optional(),
  stats: poolStatsSchema,
}).meta({ id: 'Pool' });


export const createPoolBody = z.object({
  name: poolNameForCreate,
  pgNum: z.number().int().min(1).max(32768).optional().describe('placement groups (default: the cluster default)'),
  application: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'application names are lowercase, e.g. "rbd"').default('rbd')
    .describe('"rbd" (the default) also initialises the pool for RBD'),
}).strict();

export const deletePoolQuery = z.object({
  confirm: z.string().optional().describe('must repeat the pool name'),
  force: booleanQuery.default(false).describe('delete even when the pool holds images (their data is lost)'),
  dryRun: booleanQuery.optional().describe('true: 200 with every image, snapshot and trash entry that would be removed and the clones '
    + 'elsewhere that would lose their parent; nothing changed, no confirm needed'),
}).strict();
