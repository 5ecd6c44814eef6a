import { z } from 'zod';
import { FEATURE_BITS, type FeatureName } from '../../ceph/features.js';
import { SNAPSHOT_LIMIT_MAX } from '../../ceph/snapshot-limit.js';
import { imageNameForCreate, sizeSchema } from './common.js';
import { imageSchema } from './images.js';
import { taskSchema } from './tasks.js';

const ALL_FEATURES = Object.keys(FEATURE_BITS) as [FeatureName, ...FeatureName[]];

export const patchImageBody = z.object({
  name: imageNameForCreate.optional().describe('rename the image (same pool and namespace); 409 IMAGE_EXISTS if taken'),
  size: sizeSchema.optional().describe('the new size; growing is always allowed'),
  allowShrink: z.boolean().default(false).describe('required to make the image smaller (data beyond the new size is lost)'),
  features: z.array(z.enum(ALL_FEATURES)).max(16).optional()
    .describe('the complete set of features the image should have. exclusive-lock, object-map, fast-diff and journaling can be '
      + 'switched on and off, deep-flatten only off; anything else (layering, striping, data-pool, fast-diff without '
      + 'object-map, …) is 400 FEATURE_NOT_CHANGEABLE'),
  snapshotLimit: z.number().int().min(0).max(SNAPSHOT_LIMIT_MAX).nullable().optional()
    .describe('librbd\'s snapshot count limit (`rbd snap limit set`): a snapshot create beyond it is 409 SNAPSHOT_LIMIT_REACHED; '
      + 'null removes the limit. 400 when the image already has more snapshots'),
}).strict()
  // a rule on the whole body, reported at its first field: every 400 names a field
  .refine((b) => b.name !== undefined || b.size !== undefined || b.features !== undefined || b.snapshotLimit !== undefined,
    { path: ['name'], message: 'give at least one of name, size, features, snapshotLimit' })
  .refine((b) => b.features === undefined || new Set(b.features).size === b.features.length, { path: ['features'], message: 'features must not repeat' })
  // no component id: a named component is emitted in output form, where allowShrink (defaulted) would be required
  .describe('Every change is validated before any is applied.');

export const patchAppliedSchema = z.object({
  renamed: z.object({ from: z.string(), to: z.string() }).optional(),
  resized: z.object({ from: z.number().int(), to: z.number().int() }).optional(),
  featuresEnabled: z.array(z.string()),
  featuresDisabled: z.array(z.string()),
  snapshotLimit: z.object({ from: z.number().int().nullable(), to: z.number().int().nullable() }).optional(),
  objectMapRebuilt: z.boolean().describe('the object map switched on was rebuilt (until then fast-diff is not used)'),
}).meta({ id: 'ImagePatchApplied', description: 'what the PATCH changed' });

export const patchedImageSchema = imageSchema.extend({ applied: patchAppliedSchema })
  .meta({ id: 'ImagePatched', description: 'the image after the change, and what was done' });

export type PatchImageInput = z.output<typeof patchImageBody>;
export type PatchAppliedOutput = z.output<typeof patchAppliedSchema>;
export type PatchedImage = z.output<typeof patchedImageSchema>;

/** 202: the shrink runs as a task; the other changes of the PATCH were applied before it was queued. */
export const patchTaskSchema = taskSchema.extend({ applied: patchAppliedSchema })
  .meta({ id: 'ImagePatchTask', description: 'the image.shrink task, and what the PATCH changed before queueing it' });
export type PatchTaskAnswer = z.input<typeof patchTaskSchema>;
