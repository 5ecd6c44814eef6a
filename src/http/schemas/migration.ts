// Live migration and import-from-URL schemas (OpenAPI). Routes: src/http/routes/migration.ts.
import { z } from 'zod';
import { CREATABLE_FEATURES } from '../../ceph/features.js';
import { existingPoolName, imageNameForCreate, layoutRules, poolNameForCreate, sizeSchema } from './common.js';
import { namespaceNameForCreate } from './namespaces.js';

const features = z.array(z.enum(CREATABLE_FEATURES)).max(16).optional()
  .describe("features of the destination; default: the source's (an import: librbd's defaults)");
const objectSize = sizeSchema.optional().describe("a power of two from 4KiB to 32MiB; default: the source's");
const dataPool = existingPoolName(255).optional().describe("pool for the destination's data objects (an erasure-coded pool, …)");
const commitOnSuccess = z.boolean().default(false)
  .describe('true: commit as soon as the data are copied (the source is then removed; no abort possible after)')
  .meta({ examples: [true] });


export const migrationBody = z.object({
  destination: z.object({
    pool: poolNameForCreate.optional().describe("default: the source's pool"),
    namespace: z.union([namespaceNameForCreate, z.literal('')]).optional()
      .describe("default: the source's namespace when the pool is the same, else the default namespace (\"\")"),
    name: imageNameForCreate.optional().describe("default: the source's name"),
  }).strict().default({}),
  // before objectSize: the documented example is the first field with one (a size's example is no object size)
  commitOnSuccess,
  dataPool,
  features,
  objectSize,
}).strict().superRefine(layoutRules).describe('where the image moves to, and its new layout');

/** http(s) only: librbd's other streams (file, s3) read the service host's files or carry keys. */
const sourceUrl = z.string().max(2048).refine((u) => {
  try {
    const p = new URL(u);
    return (p.protocol === 'http:' || p.protocol === 'https:') && p.hostname !== '';
  } catch {
    return false;
  }
}, 'source.url must be an absolute http:// or https:// URL').meta({
  description: 'an http:// or https:// URL; the server must answer HEAD with Content-Length and range GETs with 206',
  examples: ['https://images.example.com/disk.qcow2'],
});

export const importBody = z.object({
  name: imageNameForCreate.describe('the new image'),
  source: z.object({
    url: sourceUrl,
    format: z.enum(['raw', 'qcow2']).describe('raw: the bytes of the disk; qcow2: a QCOW2 file (no backing file)'),
  }).strict(),
  dataPool,
  features,
  objectSize,
  commitOnSuccess,
}).strict().superRefine(layoutRules).describe('an image made from a file served over http(s), usable at once');

const end = z.object({ pool: z.string(), namespace: z.string(), image: z.string(), imageId: z.string() });
export const MIGRATION_STATES = ['unknown', 'error', 'preparing', 'prepared', 'executing', 'executed', 'aborting'] as const;

export const migrationSchema = z.object({
  source: end.nullable().describe('null for an import from a URL (see import)'),
  destination: end,
  state: z.enum(MIGRATION_STATES)
    .describe('prepared: linked, reads go through to the source; executing/executed: copying/copied; commit or abort next'),
  stateDescription: z.string(),
  import: z.object({ url: z.string().describe('without user:password@'), format: z.enum(['raw', 'qcow2']) }).optional(),
  links: z.object({ commit: z.string(), abort: z.string(), execute: z.string() }),
}).meta({ id: 'Migration', description: 'A live migration (or import) in progress, as librbd reports it' });
