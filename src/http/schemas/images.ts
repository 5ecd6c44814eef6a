import { z } from 'zod';
import { CREATABLE_FEATURES } from '../../ceph/features.js';
import { imageMirroringSchema } from './mirroring.js';
import { booleanQuery, existingNamespaceName, existingPoolName, imageNameForCreate, sizeSchema } from './common.js';

export const watcherSchema = z.object({ address: z.string(), id: z.number().int(), cookie: z.number().int() });

const imageFields = {
  name: z.string(),
  id: z.string(),
  pool: z.string(),
  size: z.number().int().describe('bytes'),
  objectSize: z.number().int().describe('bytes'),
  order: z.number().int(),
  objects: z.number().int(),
  features: z.array(z.string()),
  stripeUnit: z.number().int(),
  stripeCount: z.number().int(),
  dataPool: z.string().nullable(),
  blockNamePrefix: z.string(),
  createdAt: z.string(),
  snapshotCount: z.number().int(),
  parent: z.union([
    z.object({
      pool: z.string(), namespace: z.string().describe("'' = the pool's default namespace"),
      image: z.string(), snapshot: z.string(),
      overlap: z.number().int().describe('bytes of this image still read from the parent snapshot'),
    }).meta({ id: 'ImageParent', description: 'the snapshot this image is a clone of' }),
    z.object({
      hidden: z.literal(true),
      overlap: z.number().int().describe('bytes of this image still read from the parent snapshot'),
    }).strict().meta({
      id: 'HiddenParent',
      description: 'the image is a clone of a snapshot in a pool or namespace this token may not use (another tenant\'s): '
        + 'not named, as `…/children` counts such clones in `hidden` without naming them',
    }),
  ]).nullable().describe('the snapshot this image is a clone of; null when it is not a clone'),
  cloneDepth: z.number().int().min(0)
    .describe('parent links above this image: 0 when it is not a clone, 1 for a clone of a plain image, 2 for a clone of a clone, … '
      + '(read from the ancestors\' headers, across pools and namespaces; see CLONE_DEPTH_SOFT/CLONE_DEPTH_HARD)'),
  snapshotLimit: z.number().int().nullable().optional()
    .describe('librbd\'s snapshot count limit (null: none); given for one image, not in listings. Set with PATCH'),
  flattenTask: z.string().optional()
    .describe('only in the answer to a clone made deeper than CLONE_DEPTH_SOFT: the URL of the image.flatten task queued for it'),
  watchers: z.array(watcherSchema).optional()
    .describe('clients that have the image open (rbd map, VMs); given for one image, not in listings, where it would cost an OSD round trip per image'),
  mirroring: imageMirroringSchema.nullable().optional()
    .describe('its mirroring (null: not mirrored); given for one image, and in listings filtered with `mirroring=`'),
};

export const imageSchema = z.object(imageFields).meta({ id: 'Image' });

/** One object schema (not a union): with details=false only `name` is present. */
export const imageListItemSchema = z.object(imageFields).partial().required({ name: true })
  .meta({ id: 'ImageListItem', description: 'with details=false only `name`; with details=true every field of Image' });

export const imageListSchema = z.object({
  items: z.array(imageListItemSchema),
  total: z.number().int().optional()
    .describe('only with `total=true`: the images of the pool (namespace) that match `prefix` and `search`'),
  nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
}).meta({ id: 'ImageList' });

export const listImagesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(8192).optional().describe('from `nextCursor` of the previous page'),
  prefix: z.string().max(256).optional()
    .refine((s) => s === undefined || !s.includes('\0'), 'prefix cannot contain NUL')
    .describe('only names that start with this (case-sensitive, byte prefix); served from the directory, O(page)'),
  search: z.string().max(256).optional()
    .describe('case-insensitive substring of the name; reads the directory from the cursor until the page is full (up to the whole pool)'),
  total: booleanQuery.default(false)
    .describe('true: also count the matching images of the whole pool (O(pool)); absent from the answer otherwise'),
  details: booleanQuery.default(false).describe('false: names only (no image is read); true: full details of this page'),
  mirroring: z.enum(['enabled', 'disabled']).optional()
    .describe('only images whose mirroring is on (enabled) or off (disabled); each image of the page is opened read-only to '
      + 'tell, so a page may hold fewer than `limit` items (follow nextCursor); the items carry `mirroring`'),
}).strict();

const featureEnum = z.enum(CREATABLE_FEATURES);

const imageSpecFields = {
  size: sizeSchema,
  features: z.array(featureEnum).max(16).optional()
    .describe('feature names; default: the cluster default (layering, exclusive-lock, object-map, fast-diff, deep-flatten)'),
  objectSize: sizeSchema.optional().describe('a power of two from 4KiB to 32MiB; default 4MiB'),
  stripeUnit: sizeSchema.optional().describe('must divide objectSize'),
  stripeCount: z.number().int().min(1).max(65536).optional(),
  dataPool: existingPoolName(255).optional().describe('pool for data objects (e.g. erasure-coded)'),
};

function checkSpec(spec: { features?: string[] | undefined; objectSize?: number | undefined; stripeUnit?: number | undefined }, ctx: z.RefinementCtx): void {
  if (spec.objectSize !== undefined) {
    const o = spec.objectSize;
    if (o < 4096 || o > 32 * 1024 * 1024 || (o & (o - 1)) !== 0) {
      ctx.addIssue({ code: 'custom', path: ['objectSize'], message: 'objectSize must be a power of two from 4KiB to 32MiB' });
    }
  }
  if (spec.stripeUnit !== undefined) {
    const object = spec.objectSize ?? 4 * 1024 * 1024;
    if (object % spec.stripeUnit !== 0) {
      ctx.addIssue({ code: 'custom', path: ['stripeUnit'], message: 'stripeUnit must divide objectSize' });
    }
  }
  const f = new Set(spec.features ?? []);
  if (spec.features && f.size !== spec.features.length) {
    ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must not repeat' });
  }
  if (f.has('object-map') && !f.has('exclusive-lock')) {
    ctx.addIssue({ code: 'custom', path: ['features'], message: 'object-map needs exclusive-lock' });
  }
  if (f.has('fast-diff') && !f.has('object-map')) {
    ctx.addIssue({ code: 'custom', path: ['features'], message: 'fast-diff needs object-map' });
  }
  if (f.has('journaling') && !f.has('exclusive-lock')) {
    ctx.addIssue({ code: 'custom', path: ['features'], message: 'journaling needs exclusive-lock' });
  }
}

export const putImageBody = z.object(imageSpecFields).strict().superRefine(checkSpec).meta({ id: 'ImageSpec' });
export const createImageBody = z.object({ name: imageNameForCreate, ...imageSpecFields }).strict().superRefine(checkSpec)
  .meta({ id: 'CreateImage' });

const existingName = (what: string) => z.string().min(1).max(4096)
  .refine((s) => !s.includes('\0'), `${what} names cannot contain NUL`);

/** Where a clone's data come from: a snapshot of an existing image (any existing names, not only safe ones). */
export const cloneSourceSchema = z.object({
  pool: existingPoolName().optional().describe('default: the pool of the new image (and then its namespace too)'),
  namespace: existingNamespaceName({ allowDefault: true }).optional()
    .describe("'' = the pool's default namespace (as in `parent`); default: the new image's namespace when `pool` is not given, "
      + "the pool's default namespace when it is"),
  image: existingName('image'),
  snapshot: existingName('snapshot'),
}).strict().meta({ id: 'CloneSource', description: 'the snapshot the new image is a copy-on-write clone of' });

const cloneFields = {
  source: cloneSourceSchema,
  ...imageSpecFields,
  size: sizeSchema.optional().describe("default: the snapshot's size; a larger size grows the clone, a smaller one is refused"),
};

/** PUT/POST of a clone (clone format 2: the snapshot need not be protected). */
export const putCloneBody = z.object(cloneFields).strict().superRefine(checkSpec).meta({ id: 'CloneSpec' });
export const createCloneBody = z.object({ name: imageNameForCreate, ...cloneFields }).strict().superRefine(checkSpec)
  .meta({ id: 'CreateClone' });
/**
 * An image body is either a plain image spec or a clone spec (with `source`). When neither matches, the
 * error is the best-fitting branch's (src/http/validation.ts), the plain spec on a tie: it is listed first.
 */
export const putImageOrCloneBody = z.union([putImageBody, putCloneBody]);
export const createImageOrCloneBody = z.union([createImageBody, createCloneBody]);
export type CloneSpecInput = z.output<typeof putCloneBody>;

export type ImageSpecInput = z.output<typeof putImageBody>;
