import { z } from 'zod';
import { booleanQuery, IMAGE_NAME_PATTERN, imageParams, nameRuleText, SNAPSHOT_NAME_RULE } from './common.js';

/** Names accepted when a snapshot is created or renamed: the image names' safe pattern (no '/', '@', ''). */
export const SNAPSHOT_NAME_PATTERN = IMAGE_NAME_PATTERN;

export const snapshotNameForCreate = z.string().regex(SNAPSHOT_NAME_PATTERN, SNAPSHOT_NAME_RULE).describe(nameRuleText(128));

/** Any existing snapshot name, percent-encoded in the path (snapshots made elsewhere may have other names). */
export const snapshotParams = imageParams.extend({
  snapshot: z.string().min(1).max(4096).refine((s) => !s.includes('\0'), 'snapshot names cannot contain NUL')
    .describe("the snapshot's name, percent-encoded"),
});

export const snapshotSchema = z.object({
  name: z.string(),
  id: z.number().int().describe('the snapshot id (grows with every snapshot of the pool)'),
  size: z.number().int().describe("the image's size when the snapshot was taken, bytes"),
  createdAt: z.string(),
  protected: z.boolean(),
  children: z.number().int().describe('clones of this snapshot (GET …/images/{image}/children names them)'),
}).meta({ id: 'Snapshot' });

export const snapshotListSchema = z.object({
  items: z.array(snapshotSchema).describe('user snapshots, oldest first'),
  nextCursor: z.string().optional().describe('only when more snapshots follow: pass as `cursor` for the next page'),
}).meta({ id: 'SnapshotList' });

export const snapshotListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: z.string().max(256).optional().describe('from `nextCursor` of the previous page'),
}).strict();

export const createSnapshotBody = z.object({ name: snapshotNameForCreate }).strict().meta({ id: 'CreateSnapshot' });

export const patchSnapshotBody = z.object({
  name: snapshotNameForCreate.optional().describe('rename the snapshot'),
  protected: z.boolean().optional()
    .describe('protect (no delete) or unprotect; unprotecting a snapshot with clones is refused (409 SNAPSHOT_HAS_CHILDREN)'),
  // a rule on the whole body, reported at its first field: every 400 names a field
}).strict().refine((b) => b.name !== undefined || b.protected !== undefined, { path: ['name'], message: 'give `name`, `protected` or both' })
  .meta({ id: 'PatchSnapshot' });

export const rollbackQuery = z.object({
  confirm: z.string().max(4096).optional().describe("the image's name: rollback overwrites every block written since the snapshot"),
  dryRun: booleanQuery.optional().describe('true: 200 with what the rollback would rewrite (bytes changed since the snapshot, the size '
    + 'before and after); nothing changed, no confirm needed'),
}).strict();

export const childSchema = z.object({
  pool: z.string(),
  namespace: z.string().describe("'' = the pool's default namespace"),
  image: z.string(),
  snapshot: z.string().describe('the snapshot of this image the clone depends on'),
  trash: z.boolean().describe('the clone is in the trash (deleted, its removal pending or deferred): it still holds the snapshot'),
}).meta({ id: 'CloneChild' });

export const childrenListSchema = z.object({
  items: z.array(childSchema).describe('by snapshot (oldest first), then pool, namespace and image name'),
  hidden: z.number().int().min(0).describe('clones in pools or namespaces this token may not use: counted, not listed (of every page)'),
  nextCursor: z.string().optional().describe('only when more clones follow: pass as `cursor` for the next page'),
}).meta({ id: 'CloneChildList' });

export const childrenListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: z.string().max(8192).optional().describe('from `nextCursor` of the previous page'),
}).strict();

const descendantSchema = z.object({
  pool: z.string(), namespace: z.string().describe("'' = the pool's default namespace"), image: z.string(),
  trash: z.boolean().describe('the clone is in the image trash (it still depends on its parent until removed)'),
  depth: z.number().int().min(1).describe('1: a clone of the image itself; 2: a clone of such a clone; …'),
  parent: z.union([
    z.object({ pool: z.string(), namespace: z.string(), image: z.string(), snapshot: z.string() }),
    z.object({ hidden: z.literal(true) }).strict(),
  ]).describe('the image and snapshot it is a clone of ({hidden: true}: in a pool or namespace this token may not use)'),
}).meta({ id: 'Descendant' });

export const descendantListSchema = z.object({
  items: z.array(descendantSchema).describe('breadth first: by depth, each level by parent, then snapshot, pool, namespace and name'),
  hidden: z.number().int().min(0).describe('descendants in pools or namespaces this token may not use: counted, not listed (of every page)'),
  truncated: z.boolean().describe('the tree holds more descendants than one answer gathers (1000): the deepest are left out'),
  nextCursor: z.string().optional().describe('only when more descendants follow: pass as `cursor` for the next page'),
}).meta({ id: 'DescendantList' });

export const descendantListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(64).optional().describe('from `nextCursor` of the previous page'),
}).strict();
