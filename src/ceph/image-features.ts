// Switching image features on and off at runtime. librbd's toggles are not idempotent (enabling an enabled
// feature is EINVAL) and have dependencies (object-map and fast-diff need exclusive-lock and are switched
// together; journaling needs exclusive-lock), so a change is planned against the current features first,
// then applied one feature at a time in dependency order. An object map switched on is rebuilt (until then
// librbd marks it invalid and fast-diff is not used).
import { E } from '../native/errno.js';
import { noProgress } from '../native/progress.js';
import { RBD_FLAG, rbdImage } from '../native/rbd-image.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import { poolSpec } from './spec.js';
import type { CephSession } from './connection.js';
import { holdTaskImage } from './image-lock.js';
import { CephError, FeatureChangeError, TaskFailure } from './errors.js';
import { DISABLE_ONLY_FEATURES, FEATURE_BITS, featureNames, MUTABLE_FEATURES, type FeatureName } from './features.js';
import { withImageIn, withOpenImage } from './open-image.js';
import type { TaskEngine } from './tasks/engine.js';
import { imageMissing } from './tasks/types.js';

/** The order librbd accepts: disable dependents first, enable prerequisites first (as the Ceph Dashboard does). */
const DISABLE_ORDER: readonly FeatureName[] = ['fast-diff', 'object-map', 'journaling', 'exclusive-lock', 'deep-flatten'];
const ENABLE_ORDER: readonly FeatureName[] = ['exclusive-lock', 'journaling', 'object-map', 'fast-diff'];

const REQUIRES: Partial<Record<FeatureName, FeatureName>> = {
  'object-map': 'exclusive-lock',
  'fast-diff': 'object-map',
  'journaling': 'exclusive-lock',
};

export interface FeaturePlan {
  enable: FeatureName[];
  disable: FeatureName[];
}

/**
 * What to switch to go from `currentBits` to exactly the features `wanted`. Throws FeatureChangeError for
 * anything librbd cannot do at runtime, before anything is changed.
 */
export function planFeatureChange(currentBits: bigint, wanted: readonly string[]): FeaturePlan {
  const want = new Set<string>(wanted);
  for (const name of want) {
    if (!(name in FEATURE_BITS)) throw new FeatureChangeError(`"${name}" is not an RBD feature`, name);
  }
  const have = new Set<string>(featureNames(currentBits));
  const enable: FeatureName[] = [];
  const disable: FeatureName[] = [];
  for (const name of Object.keys(FEATURE_BITS) as FeatureName[]) {
    const on = have.has(name);
    const asked = want.has(name);
    if (on === asked) continue;
    if ((MUTABLE_FEATURES as readonly string[]).includes(name)) {
      (asked ? enable : disable).push(name);
    } else if ((DISABLE_ONLY_FEATURES as readonly string[]).includes(name)) {
      if (asked) throw new FeatureChangeError(`${name} can only be disabled on an existing image, not enabled`, name);
      disable.push(name);
    } else if (name === 'layering' || name === 'striping' || name === 'data-pool') {
      throw new FeatureChangeError(`${name} is chosen when an image is created and cannot be ${asked ? 'enabled' : 'disabled'} later`, name);
    } else {
      throw new FeatureChangeError(`${name} is managed by librbd itself and cannot be ${asked ? 'enabled' : 'disabled'}`, name);
    }
  }
  for (const [feature, needs] of Object.entries(REQUIRES) as [FeatureName, FeatureName][]) {
    if (want.has(feature) && !want.has(needs)) {
      throw new FeatureChangeError(`${feature} needs ${needs}: ask for both (or disable ${feature} too)`, feature);
    }
  }
  // librbd 16 switches these two together (disabling fast-diff disables object-map; enabling object-map enables
  // fast-diff): a change can only leave both on or both off
  const touched = [...enable, ...disable].some((f) => f === 'object-map' || f === 'fast-diff');
  if (touched && want.has('object-map') !== want.has('fast-diff')) {
    throw new FeatureChangeError('object-map and fast-diff are switched together by librbd: ask for both or neither', 'fast-diff');
  }
  return {
    enable: ENABLE_ORDER.filter((f) => enable.includes(f)),
    disable: DISABLE_ORDER.filter((f) => disable.includes(f)),
  };
}

export interface FeatureChangeResult {
  enabled: FeatureName[];
  disabled: FeatureName[];
  /** the object map was rebuilt after being switched on */
  objectMapRebuilt: boolean;
  features: string[];
}

export class ImageFeatures {
  constructor(private readonly conn: CephSession) {}

  /**
   * Apply a plan (from planFeatureChange) to an image. Each step re-reads the features first, so a feature
   * that librbd already switched along with another (fast-diff with object-map) is not toggled twice.
   * `rebuild`: rebuild an object map that was switched on (on the long-call budget), or leave it for later.
   */
  apply(spec: string, image: string, plan: FeaturePlan, rebuild = true): Promise<FeatureChangeResult> {
    const target = `${spec}/${image}`;
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      const before = await currentFeatures(img, target);
      for (const name of plan.disable) {
        if ((await currentFeatures(img, target) & FEATURE_BITS[name]) === 0n) continue;
        await nativeChecked('image', 'rbd_update_features', `${target} (disable ${name})`, rbdImage.updateFeatures, img, FEATURE_BITS[name], 0);
      }
      for (const name of plan.enable) {
        if ((await currentFeatures(img, target) & FEATURE_BITS[name]) !== 0n) continue;
        await nativeChecked('image', 'rbd_update_features', `${target} (enable ${name})`, rbdImage.updateFeatures, img, FEATURE_BITS[name], 1);
      }
      const after = await currentFeatures(img, target);
      // what actually changed (librbd switches some features along with others)
      const enabled = ENABLE_ORDER.filter((f) => (before & FEATURE_BITS[f]) === 0n && (after & FEATURE_BITS[f]) !== 0n);
      const disabled = DISABLE_ORDER.filter((f) => (before & FEATURE_BITS[f]) !== 0n && (after & FEATURE_BITS[f]) === 0n);
      let objectMapRebuilt = false;
      if (rebuild && (plan.enable.includes('object-map') || plan.enable.includes('fast-diff')) && await objectMapInvalid(img, target)) {
        await nativeLong('image', 'rbd_rebuild_object_map', target, rbdImage.rebuildObjectMap, img, noProgress, null);
        objectMapRebuilt = true;
      }
      return { enabled, disabled, objectMapRebuilt, features: featureNames(after) };
    }));
  }

  /** Rebuild an image's object map (needs object-map enabled). `progress` is a librbd progress callback. */
  rebuildObjectMap(spec: string, image: string, progress: unknown = noProgress): Promise<void> {
    const target = `${spec}/${image}`;
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, {}, async (img) => {
      if ((await currentFeatures(img, target) & FEATURE_BITS['object-map']) === 0n) {
        throw new CephError('image', 'rbd_rebuild_object_map', -E.EINVAL, `${target}: object-map is not enabled`);
      }
      await nativeLong('image', 'rbd_rebuild_object_map', target, rbdImage.rebuildObjectMap, img, progress, null);
    }));
  }

  /** RBD_FLAG_* of an image: whether its object map and fast-diff state are valid. */
  flags(spec: string, image: string): Promise<{ objectMapInvalid: boolean; fastDiffInvalid: boolean }> {
    const target = `${spec}/${image}`;
    return this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async (img) => {
      const f = await imageFlags(img, target);
      return { objectMapInvalid: (f & RBD_FLAG.OBJECT_MAP_INVALID) !== 0n, fastDiffInvalid: (f & RBD_FLAG.FAST_DIFF_INVALID) !== 0n };
    }));
  }
}

async function currentFeatures(img: Pointer, target: string): Promise<bigint> {
  const out: [number | bigint] = [0];
  await nativeChecked('image', 'rbd_get_features', target, rbdImage.getFeatures, img, out);
  return BigInt(out[0]);
}

export async function imageFlags(img: Pointer, target: string): Promise<bigint> {
  const out: [number | bigint] = [0];
  const rc = await native<number>('rbd_get_flags', rbdImage.getFlags, img, out);
  if (rc < 0) throw new CephError('image', 'rbd_get_flags', rc, target);
  return BigInt(out[0]);
}

async function objectMapInvalid(img: Pointer, target: string): Promise<boolean> {
  return ((await imageFlags(img, target)) & (RBD_FLAG.OBJECT_MAP_INVALID | RBD_FLAG.FAST_DIFF_INVALID)) !== 0n;
}

export const REBUILD_ACTION = 'image.object-map-rebuild';
/** Up to this many objects an object map is rebuilt within the request; beyond, as a task. */
export const INLINE_REBUILD_MAX_OBJECTS = 8192;

/**
 * The `image.object-map-rebuild` task: rbd_rebuild_object_map with progress, cancellable. Interrupted → resume
 * (rebuilding again is idempotent).
 */
export function registerObjectMapRebuild(tasks: TaskEngine): void {
  tasks.register<Record<string, never>>({
    action: REBUILD_ACTION,
    interrupted: 'resume',
    run: async (ctx) => {
      const { pool, namespace, image, imageId } = ctx.task.target;
      const target = `${poolSpec(pool, namespace)}/${image}`;
      return holdTaskImage(ctx.session, ctx.task, () => ctx.io((p) => withImageIn(p, target, image, { byId: imageId || undefined }, async (img) => {
        if ((await currentFeatures(img, target) & FEATURE_BITS['object-map']) === 0n) {
          throw new TaskFailure('FEATURE_NOT_CHANGEABLE', `${target} has no object map (object-map was switched off meanwhile).`);
        }
        await ctx.withProgress((cb) => nativeLong('image', 'rbd_rebuild_object_map', target, rbdImage.rebuildObjectMap, img, cb, null));
        return { rebuilt: true };
      }, imageMissing(target))));
    },
  });
}
