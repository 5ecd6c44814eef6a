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

export const iostatSortKeys = ['write_ops', 'write_bytes', 'write_latency', 'read_ops', 'read_bytes', 'read_latency'] as const;

export const iostatQuery = z.object({
  sortBy: z.enum(iostatSortKeys).default('write_ops').describe('what the top 64 images are ranked by'),
}).strict();

export const imageIostatSchema = z.object({
  pool: z.string(),
  namespace: z.string(),
  image: z.string(),
  writeOps: z.number().describe('per second'),
  readOps: z.number().describe('per second'),
  writeBytes: z.number().describe('per second'),
  readBytes: z.number().describe('per second'),
  writeLatencyNs: z.number().describe('nanoseconds per write'),
  readLatencyNs: z.number().describe('nanoseconds per read'),
}).meta({ id: 'ImageIostat' });

const readyField = z.boolean().describe('false right after the first request: the mgr needs two samples (up to a minute) before it has rates');

export const poolIostatSchema = z.object({
  ready: readyField,
  timestamp: z.string(),
  sortBy: z.enum(iostatSortKeys),
  items: z.array(imageIostatSchema).describe('the busiest images first, at most 64; images without I/O are left out'),
}).meta({ id: 'PoolIostat' });

export const imageIostatReportSchema = z.object({
  ready: readyField,
  timestamp: z.string(),
  listed: z.boolean().describe('the image is among the 64 busiest of its pool (otherwise the figures are 0)'),
  stats: imageIostatSchema,
}).meta({ id: 'ImageIostatReport' });
