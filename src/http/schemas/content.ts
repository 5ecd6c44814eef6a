// Schemas of an image's content (downloads here; uploads beside them): the query of GET …/content and
// GET …/diff, the Range headers, and what the diff's JSON pages look like.
import { z } from 'zod';
import { booleanQuery } from './common.js';

/** An existing snapshot's name in a query (made elsewhere, it may have any characters but NUL). */
const snapshotName = (what: string) => z.string().min(1).max(4096)
  .refine((s) => !s.includes('\0'), 'snapshot names cannot contain NUL').describe(what);

export const RBD_EXPORT_V2_TYPE = 'application/vnd.ceph.rbd-export-v2';
export const RBD_DIFF_TYPE = 'application/vnd.ceph.rbd-diff';

export const contentQuery = z.object({
  snapshot: snapshotName('read this snapshot instead of the image (its content never changes: a stable ETag)').optional(),
  format: z.enum(['raw', 'rbd-export-v2']).optional()
    .describe(`raw (default): the image's bytes, Range allowed; rbd-export-v2: \`rbd export --export-format 2\`'s stream `
      + `with every snapshot (also chosen by \`Accept: ${RBD_EXPORT_V2_TYPE}\`), for \`rbd import --export-format 2 - pool/img\``),
}).strict();

export const contentHeaders = z.object({
  range: z.string().max(1024).optional()
    .describe('one byte range: `bytes=first-last`, `bytes=first-` or `bytes=-suffixLength` (several ranges: 416)'),
  'if-range': z.string().max(1024).optional()
    .describe('the ETag a partial download began with: the range is served only while the content is unchanged, else the whole (200)'),
  'want-content-digest': z.string().max(1024).optional()
    .describe('`sha-256=1` (RFC 9530; sha-512 too): the digest of the bytes sent follows them as a `Content-Digest` trailer (the answer is chunked then)'),
}).loose();

export const DIFF_PAGE_LIMIT_MAX = 10_000;
export const DIFF_PAGE_LIMIT_DEFAULT = 1000;

export const diffQuery = z.object({
  fromSnapshot: snapshotName('the changes since this snapshot (omitted: every extent written since the image was created)').optional(),
  snapshot: snapshotName('the changes up to this snapshot (omitted: up to the image as it is now); newer than fromSnapshot').optional(),
  format: z.enum(['json', 'rbd-diff']).default('json')
    .describe(`json: pages of changed extents; rbd-diff: the stream \`rbd export-diff\` writes and \`rbd import-diff\` reads (also chosen by \`Accept: ${RBD_DIFF_TYPE}\`)`),
  wholeObject: booleanQuery.default(false)
    .describe('report whole objects (fast with fast-diff: object maps are read) instead of exact byte extents (lists every object)'),
  limit: z.coerce.number().int().min(1).max(DIFF_PAGE_LIMIT_MAX).default(DIFF_PAGE_LIMIT_DEFAULT)
    .describe(`json: extents per page (at most ${DIFF_PAGE_LIMIT_MAX})`),
  cursor: z.string().max(64).optional().describe("json: the previous page's nextCursor"),
}).strict();

export const diffExtentSchema = z.object({
  offset: z.number().int().describe('byte offset in the image'),
  length: z.number().int().describe('bytes'),
  exists: z.boolean().describe('true: written (read it); false: discarded since fromSnapshot (reads as zeros)'),
}).meta({ id: 'DiffExtent' });

export const diffPageSchema = z.object({
  fromSnapshot: z.string().nullable(),
  snapshot: z.string().nullable(),
  size: z.number().int().describe('the image size at `snapshot` (or now)'),
  items: z.array(diffExtentSchema).describe('in offset order'),
  nextCursor: z.string().optional().describe('more extents may follow: pass it as `cursor`'),
}).meta({ id: 'DiffPage', description: 'changed extents between two snapshots (or a snapshot and the image), one page' });
