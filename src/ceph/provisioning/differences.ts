// What differs between an existing image and a requested one (an idempotent PUT answers 200 only when nothing
// does): only the options the caller gave are compared.
import type { CloneSource } from '../clones.js';
import { CREATABLE_FEATURES } from '../features.js';
import type { ImageInfo, ImageParent } from '../image-info.js';

/** The options of a requested image (a plain image; a clone adds its source and makes `size` optional). */
export interface ImageRequest {
  size: number;
  features?: readonly string[] | undefined;
  objectSize?: number | undefined;
  stripeUnit?: number | undefined;
  stripeCount?: number | undefined;
  dataPool?: string | undefined;
}

export type Difference =
  | { field: 'size' | 'objectSize' | 'stripeUnit' | 'stripeCount'; have: number; requested: number }
  | { field: 'dataPool'; have: string | null; requested: string }
  | { field: 'features'; have: string[]; requested: readonly string[] }
  /** a clone's source: what the image is a clone of (null: not a clone) */
  | { field: 'source'; have: ImageParent | null; requested: CloneSource };

/** The options both kinds compare the same way (size, layout, data pool). */
function layoutDifferences(info: ImageInfo, want: Partial<ImageRequest>): Difference[] {
  const d: Difference[] = [];
  if (want.size !== undefined && info.size !== want.size) d.push({ field: 'size', have: info.size, requested: want.size });
  for (const field of ['objectSize', 'stripeUnit', 'stripeCount'] as const) {
    const w = want[field];
    if (w !== undefined && info[field] !== w) d.push({ field, have: info[field], requested: w });
  }
  if (want.dataPool !== undefined && info.dataPool !== want.dataPool) d.push({ field: 'dataPool', have: info.dataPool, requested: want.dataPool });
  return d;
}

/** What differs between an existing image and a requested plain image. */
export function specDifferences(info: ImageInfo, want: ImageRequest): Difference[] {
  const d = layoutDifferences(info, want);
  if (want.features !== undefined) {
    const asked = new Set<string>(want.features);
    const have = new Set(info.features);
    // librbd adds "striping" by itself for non-default stripe settings; compare it only when asked for
    const mismatched = CREATABLE_FEATURES.filter((f) => (f === 'striping' ? asked.has(f) && !have.has(f) : asked.has(f) !== have.has(f)));
    if (mismatched.length > 0) d.push({ field: 'features', have: info.features, requested: want.features });
  }
  return d;
}

/** A clone source in rbd CLI spelling: pool[/namespace]/image@snapshot. */
export const sourceText = (s: CloneSource): string => `${s.spec}/${s.image}@${s.snapshot}`;

/** A parent in the same spelling. */
export const parentSpelling = (p: ImageParent): string => `${p.namespace ? `${p.pool}/${p.namespace}` : p.pool}/${p.image}@${p.snapshot}`;

/** What differs between an existing image and a requested clone of `source`. */
export function cloneDifferences(info: ImageInfo, source: CloneSource, want: Partial<ImageRequest>): Difference[] {
  const d: Difference[] = [];
  if (!info.parent || parentSpelling(info.parent) !== sourceText(source)) d.push({ field: 'source', have: info.parent, requested: source });
  d.push(...layoutDifferences(info, want));
  if (want.features !== undefined) {
    // clone format 2 adds "operations" by itself
    const have = info.features.filter((f) => f !== 'operations').sort();
    const asked = [...want.features].sort();
    if (have.join() !== asked.join()) d.push({ field: 'features', have: info.features, requested: want.features });
  }
  return d;
}
