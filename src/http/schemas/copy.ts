import { z } from 'zod';
import { CREATABLE_FEATURES } from '../../ceph/features.js';
import { existingPoolName, imageNameForCreate, poolNameForCreate, sizeSchema } from './common.js';
import { namespaceNameForCreate } from './namespaces.js';

export const copyImageBody = z.object({
  destination: z.object({
    pool: poolNameForCreate.optional().describe('default: the source image\'s pool'),
    namespace: z.union([namespaceNameForCreate, z.literal('')]).optional()
      .describe('default: the source\'s namespace when the pool is the same, else the default namespace ("")'),
    name: imageNameForCreate,
  }).strict(),
  snapshots: z.boolean().default(false).describe('true: a deep copy with every snapshot; false: the image\'s current data only'),
  features: z.array(z.enum(CREATABLE_FEATURES)).max(16).optional().describe('features of the copy; default: the source\'s features'),
  objectSize: sizeSchema.optional().describe('a power of two from 4KiB to 32MiB; default: the source\'s'),
  dataPool: existingPoolName(255).optional().describe('pool for the copy\'s data objects'),
}).strict().superRefine((b, ctx) => {
  if (b.objectSize !== undefined) {
    const o = b.objectSize;
    if (o < 4096 || o > 32 * 1024 * 1024 || (o & (o - 1)) !== 0) {
      ctx.addIssue({ code: 'custom', path: ['objectSize'], message: 'objectSize must be a power of two from 4KiB to 32MiB' });
    }
  }
  const f = new Set(b.features ?? []);
  if (b.features && f.size !== b.features.length) ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must not repeat' });
  if (f.has('object-map') && !f.has('exclusive-lock')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'object-map needs exclusive-lock' });
  if (f.has('fast-diff') && !f.has('object-map')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'fast-diff needs object-map' });
  if (f.has('journaling') && !f.has('exclusive-lock')) ctx.addIssue({ code: 'custom', path: ['features'], message: 'journaling needs exclusive-lock' });
}).describe('where to copy the image to, and how');
