// Per-image librbd settings: a metadata key `conf_<option>` overrides librbd option <option> for this image
// (QoS limits, cache, …); the options in effect, their source and their value type.
import { E } from '../native/errno.js';
import { configOptionArray, decodeConfigOptions, RBD_CONFIG_SOURCE, rbdMetadata } from '../native/rbd-metadata.js';
import type { Pointer } from '../native/types.js';
import type { NativeFunction } from '../native/async-call.js';
import { native } from './call.js';
import { check } from './errors.js';
import { withGrowingCapacity } from './retry.js';

/** The prefix of per-image librbd settings. */
export const CONFIG_KEY_PREFIX = 'conf_';

export type ConfigValueType = 'boolean' | 'integer' | 'number' | 'string';
export type ConfigSource = 'config' | 'pool' | 'image';

export interface ConfigOption {
  /** librbd option name, e.g. rbd_qos_iops_limit */
  name: string;
  /** the value in effect for this image */
  value: string;
  /** where the value comes from: the client's configuration, the pool's or the image's metadata */
  source: ConfigSource;
  /** inferred from the default value's form (librbd's C API does not tell) */
  type: ConfigValueType;
}

const SOURCES: Record<number, ConfigSource> = {
  [RBD_CONFIG_SOURCE.CONFIG]: 'config', [RBD_CONFIG_SOURCE.POOL]: 'pool', [RBD_CONFIG_SOURCE.IMAGE]: 'image',
};

/** The value type of an option, from the form of its current value. */
export function inferConfigType(value: string): ConfigValueType {
  if (value === 'true' || value === 'false') return 'boolean';
  if (/^\d+$/.test(value)) return 'integer';
  if (/^\d+\.\d+$/.test(value)) return 'number';
  return 'string';
}

/** Why `value` is not acceptable for an option of type `type`, or undefined when it is. */
export function configValueProblem(type: ConfigValueType, value: string): string | undefined {
  switch (type) {
    case 'boolean':
      return value === 'true' || value === 'false' ? undefined : 'must be "true" or "false"';
    case 'integer':
      return /^\d{1,19}$/.test(value) && BigInt(value) <= 2n ** 63n - 1n ? undefined : 'must be a non-negative whole number';
    case 'number':
      return /^\d{1,15}(\.\d{1,9})?$/.test(value) ? undefined : 'must be a non-negative number, e.g. 1.5';
    case 'string':
      return value.length <= 4096 ? undefined : 'is too long';
  }
}

/** The librbd options in effect for an open image, and where each value comes from (rbd_config_image_list). */
export function listConfig(img: Pointer, target: string): Promise<ConfigOption[]> {
  return configList('image', 'rbd_config_image_list', rbdMetadata.configImageList, rbdMetadata.configImageListCleanup, img, target);
}

/**
 * The librbd options of a pool (rbd_config_pool_list): the client's configuration and the pool's `conf_`
 * overrides (`rbd config pool set`). `io` is an I/O context on the pool; librbd ignores its namespace.
 */
export function listPoolConfig(io: Pointer, target: string): Promise<ConfigOption[]> {
  return configList('pool', 'rbd_config_pool_list', rbdMetadata.configPoolList, rbdMetadata.configPoolListCleanup, io, target);
}

/** rbd_config_{image,pool}_list with the ERANGE retry, decoded and released. */
function configList(subject: 'image' | 'pool', op: string, list: NativeFunction, cleanup: NativeFunction, on: Pointer,
  target: string): Promise<ConfigOption[]> {
  return withGrowingCapacity<ConfigOption[]>(subject, op, target, 128, async (capacity) => {
    const buf = configOptionArray(capacity);
    const max: [number] = [capacity];
    const rc = await native<number>(op, list, on, buf, max);
    if (rc === -E.ERANGE) return { needed: max[0] };
    check(subject, op, rc, target);
    try {
      return {
        value: decodeConfigOptions(buf, max[0]).map((o) => ({
          name: o.name, value: o.value ?? '', source: SOURCES[o.source] ?? 'config', type: inferConfigType(o.value ?? ''),
        })),
      };
    } finally {
      cleanup(buf, max[0]);
    }
  }, 6);
}
