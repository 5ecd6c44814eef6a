// Image metadata (key/value pairs in the image header's omap) and per-image librbd settings: a key
// `conf_<option>` overrides librbd option <option> for this image (QoS limits, cache, …).
import { E } from '../native/errno.js';
import { cString } from '../native/memory.js';
import { configOptionArray, decodeConfigOptions, RBD_CONFIG_SOURCE, rbdManage } from '../native/rbd-manage.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check } from './errors.js';
import { imageKey, mutationLocks } from './image-lock.js';
import { withOpenImage } from './open-image.js';

/** Keys: 1–256 printable ASCII characters, no spaces. */
export const METADATA_KEY_PATTERN = /^[!-~]{1,256}$/;
/** Values: at most this many characters (UTF-8 text without NUL). */
export const METADATA_VALUE_MAX = 16384;
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

export class ImageMetadata {
  constructor(private readonly conn: CephSession) {}

  /** Every key and value of an image, in key order. */
  list(spec: string, image: string): Promise<Record<string, string>> {
    return this.onImage(spec, image, true, (img, target) => listAll(img, target));
  }

  /** One value; CephError ENOENT (op rbd_metadata_get) when the key is missing. */
  get(spec: string, image: string, key: string): Promise<string> {
    return this.onImage(spec, image, true, (img, target) => getValue(img, target, key));
  }

  /** Set a key; true when it was new. librbd refuses (EINVAL) conf_ keys of unknown options or bad values. */
  set(spec: string, image: string, key: string, value: string): Promise<boolean> {
    return this.onImage(spec, image, false, async (img, target) => {
      let existed = true;
      try {
        await getValue(img, target, key);
      } catch (e) {
        if (!(e instanceof CephError && e.code === 'ENOENT')) throw e;
        existed = false;
      }
      await nativeChecked('rbd_metadata_set', `${target} key ${key}`, rbdManage.metadataSet, img, key, value);
      return !existed;
    });
  }

  /** Remove a key; CephError ENOENT (op rbd_metadata_remove) when it is missing. */
  remove(spec: string, image: string, key: string): Promise<void> {
    return this.onImage(spec, image, false, async (img, target) => {
      await nativeChecked('rbd_metadata_remove', `${target} key ${key}`, rbdManage.metadataRemove, img, key);
    });
  }

  /** The librbd options an image can override (rbd_config_image_list), with their values in effect. */
  configOptions(spec: string, image: string): Promise<ConfigOption[]> {
    return this.onImage(spec, image, true, (img, target) => listConfig(img, target));
  }

  /** Reads open read-only; writes (readOnly false) hold the image's mutation lock (image-lock.ts). */
  private onImage<T>(spec: string, image: string, readOnly: boolean, fn: (img: Pointer, target: string) => Promise<T>): Promise<T> {
    const open = () => this.conn.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly }, (img) => fn(img, `${spec}/${image}`)));
    return readOnly ? open() : mutationLocks(this.conn).run([imageKey(spec, image)], open);
  }
}

async function getValue(img: Pointer, target: string, key: string): Promise<string> {
  let size = 4096;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = Buffer.alloc(size);
    const len: [number] = [size];
    const rc = await native<number>('rbd_metadata_get', rbdManage.metadataGet, img, key, buf, len);
    if (rc === -E.ERANGE) {
      size = Math.max(len[0], size * 2);
      continue;
    }
    check('rbd_metadata_get', rc, `${target} key ${key}`);
    return cString(buf);
  }
  throw new CephError('rbd_metadata_get', -E.ERANGE, `${target} key ${key}`);
}

/** rbd_metadata_list in pages (start = last key seen) with the ERANGE retry. */
async function listAll(img: Pointer, target: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let start = '';
  const PAGE = 256;
  for (let page = 0; page < 100_000; page++) {
    let keySize = 16 * 1024;
    let valSize = 64 * 1024;
    let keys: string[] = [];
    let vals: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const kbuf = Buffer.alloc(keySize);
      const vbuf = Buffer.alloc(valSize);
      const klen: [number] = [keySize];
      const vlen: [number] = [valSize];
      const rc = await native<number>('rbd_metadata_list', rbdManage.metadataList, img, start, PAGE, kbuf, klen, vbuf, vlen);
      if (rc === -E.ERANGE && attempt < 6) {
        keySize = Math.max(klen[0], keySize);
        valSize = Math.max(vlen[0], valSize);
        continue;
      }
      check('rbd_metadata_list', rc, target);
      // entries are NUL-terminated; values may be empty, so split without dropping empty strings
      keys = splitTerminated(kbuf, klen[0]);
      vals = splitTerminated(vbuf, vlen[0]);
      break;
    }
    // "__proto__" cannot be a key of a JSON object built in JS (it would set the prototype): left out
    keys.forEach((k, i) => { if (k !== '__proto__') out[k] = vals[i] ?? ''; });
    if (keys.length < PAGE) break;
    start = keys[keys.length - 1]!;
  }
  return out;
}

/** "a\0b\0" → ["a", "b"]; "a\0\0" → ["a", ""] (the first `len` bytes). */
function splitTerminated(buf: Buffer, len: number): string[] {
  const n = Math.min(len, buf.length);
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < n; i++) {
    if (buf[i] === 0) {
      out.push(buf.toString('utf8', from, i));
      from = i + 1;
    }
  }
  return out;
}

async function listConfig(img: Pointer, target: string): Promise<ConfigOption[]> {
  let capacity = 128;
  for (let attempt = 0; attempt < 6; attempt++) {
    const buf = configOptionArray(capacity);
    const max: [number] = [capacity];
    const rc = await native<number>('rbd_config_image_list', rbdManage.configImageList, img, buf, max);
    if (rc === -E.ERANGE) {
      capacity = Math.max(max[0], capacity * 2);
      continue;
    }
    check('rbd_config_image_list', rc, target);
    try {
      return decodeConfigOptions(buf, max[0]).map((o) => ({
        name: o.name, value: o.value ?? '', source: SOURCES[o.source] ?? 'config', type: inferConfigType(o.value ?? ''),
      }));
    } finally {
      rbdManage.configImageListCleanup(buf, max[0]);
    }
  }
  throw new CephError('rbd_config_image_list', -E.ERANGE, target);
}
