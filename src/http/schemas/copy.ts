import { z } from 'zod';
import { CREATABLE_FEATURES } from '../../ceph/features.js';
import { existingPoolName, imageNameForCreate, layoutRules, poolNameForCreate, sizeSchema } from './common.js';
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
}).strict().superRefine(layoutRules).describe('where to copy the image to, and how');
