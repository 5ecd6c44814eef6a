// PUT …/images/{image}/content: the media types an import accepts, its query and its answer.
import { z } from 'zod';
import { CREATABLE_FEATURES } from '../../ceph/features.js';
import { sizeSchema } from './common.js';

export const RAW_TYPE = 'application/octet-stream';
export const DIFF_TYPE = 'application/vnd.ceph.rbd-diff';
export const EXPORT_V2_TYPE = 'application/vnd.ceph.rbd-export-v2';
export const IMPORT_TYPES = [RAW_TYPE, DIFF_TYPE, EXPORT_V2_TYPE] as const;
export type ImportType = typeof IMPORT_TYPES[number];

const featureSet = new Set<string>(CREATABLE_FEATURES);

export const importQuery = z.object({
  features: z.string().max(512).optional()
    .refine((v) => v === undefined || v.split(',').every((f) => featureSet.has(f.trim())), {
      message: `features: a comma-separated list of ${CREATABLE_FEATURES.join(', ')}`,
    })
    .describe('raw import of a new image: its features, comma-separated; default: the cluster default'),
  objectSize: sizeSchema.optional()
    .refine((o) => o === undefined || (o >= 4096 && o <= 32 * 1024 * 1024 && (o & (o - 1)) === 0), {
      message: 'objectSize must be a power of two from 4KiB to 32MiB',
    })
    .describe('raw import of a new image: a power of two from 4KiB to 32MiB; default 4MiB'),
}).strict();

/** The headers an import reads besides Content-Type and Content-Length (the others pass through unchanged). */
export const importHeaders = z.object({
  'content-digest': z.string().max(1024).optional()
    .describe('RFC 9530, e.g. `sha-256=:<base64>:` (or sha-512): verified before the image becomes visible'),
  'content-range': z.string().max(128).optional()
    .describe('raw uploads into an existing image: `bytes <first>-<last>/<image size>` writes that part (resumable uploads)'),
}).loose();

/** The request body in OpenAPI: bytes (the route reads the stream itself; nothing is parsed or validated here). */
export const binaryBody = z.any().meta({
  type: 'string', format: 'binary',
  description: `${RAW_TYPE}: the image's bytes (Content-Length = its size); ${DIFF_TYPE}: an \`rbd export-diff\` stream `
    + `(applied to the existing image); ${EXPORT_V2_TYPE}: an \`rbd export --export-format 2\` stream (a new image with its snapshots).`,
});

export const importResultSchema = z.object({
  pool: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  size: z.number().int().describe("the image's size, bytes"),
  bytes: z.number().int().describe('body bytes received'),
  written: z.number().int().describe('bytes written as data (runs of zeros are left out of a new image)'),
  digest: z.string().optional().describe('the body\'s Content-Digest (RFC 9530) as verified, when one was sent'),
  range: z.object({ start: z.number().int(), end: z.number().int() }).optional().describe('the part written (Content-Range)'),
  fromSnapshot: z.string().optional().describe('diff import: the snapshot the diff starts from'),
  snapshots: z.array(z.string()).optional().describe('snapshots created by the import'),
}).meta({ id: 'ImportResult' });
