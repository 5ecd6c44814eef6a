import { z } from 'zod';
import { booleanQuery } from './common.js';

export const USAGE_TIMEOUT_DEFAULT_MS = 5000;
export const USAGE_TIMEOUT_MAX_MS = 60_000;

export const usageQuery = z.object({
  timeoutMs: z.coerce.number().int().min(100).max(USAGE_TIMEOUT_MAX_MS).default(USAGE_TIMEOUT_DEFAULT_MS)
    .describe(`give up after this long (504 USAGE_TIMEOUT); default ${USAGE_TIMEOUT_DEFAULT_MS}, at most ${USAGE_TIMEOUT_MAX_MS}`),
  exact: booleanQuery.default(false)
    .describe('false (default): whole objects, as `rbd du` counts (fast with fast-diff); true: bytes (lists every object: slow)'),
}).strict();

export const imageUsageSchema = z.object({
  provisionedBytes: z.number().int().describe('the image size'),
  usedBytes: z.number().int().describe('bytes written since the last snapshot (the image row of `rbd du`)'),
  totalUsedBytes: z.number().int().describe('the image and all its snapshots (`rbd du` <TOTAL>)'),
  snapshots: z.array(z.object({
    name: z.string(),
    id: z.number().int(),
    provisionedBytes: z.number().int(),
    usedBytes: z.number().int().describe('bytes written between the previous snapshot and this one'),
  })).describe('in snapshot id order'),
  exact: z.boolean().describe('true: counted in bytes; false: in whole objects'),
  method: z.enum(['fast-diff', 'scan']).describe('fast-diff: object maps were read; scan: every object was listed'),
  elapsedMs: z.number().int(),
}).meta({ id: 'ImageUsage', description: 'disk usage as `rbd du` computes it' });
