// The answer of a dry run (`?dryRun=true`): what the operation would remove or change (src/ceph/dry-run.ts).
import { z } from 'zod';
import { booleanQuery } from './common.js';

const where = { pool: z.string(), namespace: z.string() };

export const dryRunSchema = z.object({
  dryRun: z.literal(true),
  operation: z.string().describe('deleteImage, deleteNamespace, deletePool, rollbackSnapshot, shrinkImage or purgeTrash'),
  images: z.array(z.object({ ...where, name: z.string(), id: z.string(), size: z.number().int(), snapshots: z.number().int() }))
    .describe('the images removed, or changed in place (rollback, shrink)'),
  snapshots: z.array(z.object({ ...where, image: z.string(), name: z.string(), id: z.number().int(), size: z.number().int() }))
    .describe('the snapshots removed with them (rollback: the snapshot gone back to)'),
  trashEntries: z.array(z.object({ ...where, id: z.string(), name: z.string(), deferredUntil: z.string() })).describe('the trash entries removed'),
  clones: z.array(z.object({
    ...where, image: z.string(), snapshot: z.string(), trash: z.boolean(),
    parent: z.object({ ...where, image: z.string(), snapshot: z.string() }),
  })).describe('clones elsewhere that read from a snapshot that would go'),
  watchers: z.array(z.object({ address: z.string(), id: z.number(), cookie: z.number() })).describe('clients that have the image open'),
  bytes: z.number().int().describe('provisioned bytes removed; rollback: bytes rewritten (changed since the snapshot, whole objects); shrink: bytes cut off'),
  allocatedBytes: z.number().int().optional().describe('data (allocated, whole objects) among those bytes'),
  sizeBefore: z.number().int().optional(),
  sizeAfter: z.number().int().optional(),
  truncated: z.boolean().describe(`true when a list stopped at 1000 items`),
}).meta({ id: 'DryRun', description: 'What the operation would do; nothing was changed' });

export const dryRunQuery = booleanQuery.optional().describe('true: answer 200 with what would be removed or changed, and change nothing '
  + '(the checks that refuse the real call refuse the dry run too)');
