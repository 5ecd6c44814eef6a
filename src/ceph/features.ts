// RBD feature bits (rbd/features.h) and their names.
export const FEATURE_BITS = {
  'layering': 1n << 0n,
  'striping': 1n << 1n,
  'exclusive-lock': 1n << 2n,
  'object-map': 1n << 3n,
  'fast-diff': 1n << 4n,
  'deep-flatten': 1n << 5n,
  'journaling': 1n << 6n,
  'data-pool': 1n << 7n,
  'operations': 1n << 8n,
  'migrating': 1n << 9n,
  'non-primary': 1n << 10n,
  'dirty-cache': 1n << 11n,
} as const;

export type FeatureName = keyof typeof FEATURE_BITS;

/** Features a caller may ask for at create time (the others are set by librbd itself). */
export const CREATABLE_FEATURES = ['layering', 'striping', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten', 'journaling'] as const;

/** Features that can be switched on or off on an existing image (librbd's RBD_FEATURES_MUTABLE, public part). */
export const MUTABLE_FEATURES = ['exclusive-lock', 'object-map', 'fast-diff', 'journaling'] as const;
/** Features that can only be switched off on an existing image (RBD_FEATURES_DISABLE_ONLY). */
export const DISABLE_ONLY_FEATURES = ['deep-flatten'] as const;

export function featureNames(bits: bigint): string[] {
  return Object.entries(FEATURE_BITS).filter(([, bit]) => (bits & bit) !== 0n).map(([name]) => name);
}

export function featureBits(names: readonly string[]): bigint {
  let bits = 0n;
  for (const n of names) {
    const bit = FEATURE_BITS[n as FeatureName];
    if (bit === undefined) throw new RangeError(`unknown RBD feature "${n}"`);
    bits |= bit;
  }
  return bits;
}
