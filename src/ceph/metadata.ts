// Image metadata (key/value pairs in the image header's omap), with their limits, and the per-image librbd
// settings in effect (image-config.ts).
import { E } from '../native/errno.js';
import { cString } from '../native/memory.js';
import { rbdMetadata } from '../native/rbd-metadata.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check, MetadataEntryTooLargeError, MetadataLimitError } from './errors.js';
import { listConfig, type ConfigOption } from './image-config.js';
import { imageKey, mutationLocks } from './image-lock.js';
import { withOpenImage } from './open-image.js';

/** Keys: 1–256 printable ASCII characters, no spaces. */
export const METADATA_KEY_PATTERN = /^[!-~]{1,256}$/;
/** Values: at most this many characters (UTF-8 text without NUL). */
export const METADATA_VALUE_MAX = 16384;
/**
 * The most keys one image may hold (every key, `conf_` ones too). With METADATA_MAX_BYTES, an image's whole
 * metadata is always one page of GET …/metadata, and no read of it costs more than a page.
 */
export const METADATA_MAX_KEYS = 1024;
/**
 * The most bytes an image's metadata may take, measured as the JSON object GET …/metadata answers (UTF-8 of
 * `{"key":"value",…}`: for plain text the keys' and values' bytes plus 6 per key). Also the byte bound of a
 * page of that listing, so an image within the limits lists in one page.
 */
export const METADATA_MAX_BYTES = 1024 * 1024;
export interface MetadataPageOptions {
  /** list keys after this one (byte order); '' = from the first */
  after?: string | undefined;
  /** at most this many entries */
  limit: number;
  /** at most this many bytes of the JSON object of the page (default METADATA_MAX_BYTES) */
  maxBytes?: number;
}

export interface MetadataPage {
  /** in key order ("__proto__", which a JSON object built in JS cannot carry, is left out) */
  entries: [string, string][];
  /** the last key read into the page (the cursor of the next one) */
  last: string | undefined;
  /** more keys follow */
  more: boolean;
}

/** UTF-8 bytes of `s` as a JSON string (quotes and escapes included). */
export const jsonStringBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s));
/** Bytes one entry adds to the JSON object of a listing: `"key":"value"` (the comma is counted by the caller). */
const entryBytes = (key: string, value: string): number => jsonStringBytes(key) + 1 + jsonStringBytes(value);

export class ImageMetadata {
  constructor(private readonly conn: CephSession) {}

  /**
   * One page of keys and values after `after`: at most `limit` entries and `maxBytes` bytes of JSON, and no more
   * than that read from librbd (plus one entry, to know whether more follow). MetadataEntryTooLargeError when the
   * first entry alone is larger than `maxBytes`.
   */
  page(spec: string, image: string, o: MetadataPageOptions): Promise<MetadataPage> {
    return this.onImage(spec, image, true, (img, target) => readPage(img, target, o));
  }

  /** The first page as large as the limits allow: all of an image's metadata when it is within the limits. */
  async list(spec: string, image: string): Promise<Record<string, string>> {
    return Object.fromEntries((await this.page(spec, image, { limit: METADATA_MAX_KEYS })).entries);
  }

  /** One value; CephError ENOENT (op rbd_metadata_get) when the key is missing. */
  get(spec: string, image: string, key: string): Promise<string> {
    return this.onImage(spec, image, true, (img, target) => getValue(img, target, key));
  }

  /**
   * Set a key; true when it was new. MetadataLimitError (nothing changed) when the image would then hold more
   * than METADATA_MAX_KEYS keys or METADATA_MAX_BYTES bytes (checkMetadataLimits, on the same handle). librbd
   * refuses (EINVAL) conf_ keys of unknown options or bad values. The check and the write are two steps: callers
   * that must not let concurrent writers of one image pass the check together run this under the image's lock.
   */
  set(spec: string, image: string, key: string, value: string): Promise<boolean> {
    return this.onImage(spec, image, false, async (img, target) => {
      const { existed } = await checkMetadataLimits(img, target, key, value);
      await nativeChecked('image', 'rbd_metadata_set', `${target} key ${key}`, rbdMetadata.set, img, key, value);
      return !existed;
    });
  }

  /** Remove a key; CephError ENOENT (op rbd_metadata_remove) when it is missing. */
  remove(spec: string, image: string, key: string): Promise<void> {
    return this.onImage(spec, image, false, async (img, target) => {
      await nativeChecked('metadataKey', 'rbd_metadata_remove', `${target} key ${key}`, rbdMetadata.remove, img, key);
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

/**
 * Would setting `key` to `value` keep the open image `img` within METADATA_MAX_KEYS and METADATA_MAX_BYTES?
 * Reads the other entries (never more than the limits plus one librbd chunk: it stops as soon as the answer is
 * no) and throws MetadataLimitError when not; otherwise tells whether `key` exists. Deleting is always allowed;
 * so is a PUT that leaves the image within the limits, whatever it held before.
 */
export async function checkMetadataLimits(img: Pointer, target: string, key: string, value: string): Promise<{ existed: boolean }> {
  let keys = 1; // the key being set
  let bytes = 2 + entryBytes(key, value); // {} and the new entry
  let existed = false;
  let start = '';
  for (;;) {
    // a chunk whose values alone take more than the limit is read in smaller ones; one such value is over it
    const chunk = await readChunk(img, target, start, 256, METADATA_MAX_BYTES);
    if ('tooLarge' in chunk) throw new MetadataLimitError(target, 'bytes', keys, bytes + chunk.tooLarge);
    for (const [k, v] of chunk.entries) {
      if (k === key) {
        existed = true;
        continue;
      }
      keys++;
      bytes += 1 + entryBytes(k, v);
      if (keys > METADATA_MAX_KEYS) throw new MetadataLimitError(target, 'keys', keys, bytes);
      if (bytes > METADATA_MAX_BYTES) throw new MetadataLimitError(target, 'bytes', keys, bytes);
    }
    if (!chunk.more) return { existed };
    start = chunk.entries[chunk.entries.length - 1]![0];
  }
}

async function getValue(img: Pointer, target: string, key: string): Promise<string> {
  let size = 4096;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = Buffer.alloc(size);
    const len: [number] = [size];
    const rc = await native<number>('rbd_metadata_get', rbdMetadata.get, img, key, buf, len);
    if (rc === -E.ERANGE) {
      // a value the API could not have written, larger than any page: not read into memory
      if (len[0] > METADATA_MAX_BYTES) throw new MetadataEntryTooLargeError(target, '', len[0], key);
      size = Math.max(len[0], size * 2);
      continue;
    }
    check('metadataKey', 'rbd_metadata_get', rc, `${target} key ${key}`);
    return cString(buf);
  }
  throw new CephError('metadataKey', 'rbd_metadata_get', -E.ERANGE, `${target} key ${key}`);
}

/** One page (see ImageMetadata.page): librbd chunks sized so that no read exceeds what the page can still hold. */
async function readPage(img: Pointer, target: string, o: MetadataPageOptions): Promise<MetadataPage> {
  const maxBytes = o.maxBytes ?? METADATA_MAX_BYTES;
  const entries: [string, string][] = [];
  let bytes = 2; // {}
  let taken = 0; // entries in the page, "__proto__" included
  let last: string | undefined;
  let start = o.after ?? '';
  let want = 64; // entries per librbd call: adapted to the sizes seen
  for (;;) {
    // one more than the page needs: whether more follow
    const room = maxBytes - bytes;
    const chunk = await readChunk(img, target, start, Math.min(want, o.limit - taken + 1), room);
    if ('tooLarge' in chunk) {
      if (taken === 0) throw new MetadataEntryTooLargeError(target, start, chunk.tooLarge);
      return { entries, last, more: true };
    }
    let raw = 0;
    for (const [k, v] of chunk.entries) {
      const add = (taken > 0 ? 1 : 0) + entryBytes(k, v);
      if (taken >= o.limit || bytes + add > maxBytes) {
        if (taken === 0) throw new MetadataEntryTooLargeError(target, start, add, k);
        return { entries, last, more: true };
      }
      bytes += add;
      taken++;
      last = k;
      raw += k.length + v.length + 2;
      if (k !== '__proto__') entries.push([k, v]);
    }
    if (!chunk.more) return { entries, last, more: false };
    start = chunk.entries[chunk.entries.length - 1]![0];
    const average = Math.max(16, raw / Math.max(1, chunk.entries.length));
    want = Math.max(1, Math.min(256, Math.floor((maxBytes - bytes) / average)));
  }
}

/**
 * rbd_metadata_list of at most `max` entries after `start`, with the ERANGE retry. librbd answers ERANGE with
 * the sizes `max` entries need: when their values would take more than `maxValueBytes`, fewer entries are asked
 * for; `tooLarge` (the bytes librbd asked for) when even the next one alone would. `more`: the call returned all `max` (more may follow).
 */
async function readChunk(img: Pointer, target: string, start: string, max: number, maxValueBytes: number):
  Promise<{ entries: [string, string][]; more: boolean } | { tooLarge: number }> {
  let keySize = 16 * 1024;
  // as much as may be used at once: one call in the usual case (librbd reads the entries again after an ERANGE)
  let valSize = Math.max(1, Math.min(maxValueBytes, METADATA_MAX_BYTES));
  for (let attempt = 0; attempt < 24; attempt++) {
    // only the first klen/vlen bytes, which librbd wrote, are read
    const kbuf = Buffer.allocUnsafe(keySize);
    const vbuf = Buffer.allocUnsafe(valSize);
    const klen: [number] = [keySize];
    const vlen: [number] = [valSize];
    const rc = await native<number>('rbd_metadata_list', rbdMetadata.list, img, start, max, kbuf, klen, vbuf, vlen);
    if (rc === -E.ERANGE) {
      if (vlen[0] > maxValueBytes) {
        if (max === 1) return { tooLarge: vlen[0] };
        max = Math.max(1, Math.floor(max / 2));
        continue;
      }
      keySize = Math.max(klen[0], keySize);
      valSize = Math.max(vlen[0], valSize);
      continue;
    }
    check('image', 'rbd_metadata_list', rc, target);
    // entries are NUL-terminated; values may be empty, so split without dropping empty strings
    const keys = splitTerminated(kbuf, klen[0]);
    const vals = splitTerminated(vbuf, vlen[0]);
    return { entries: keys.map((k, i) => [k, vals[i] ?? '']), more: keys.length >= max };
  }
  throw new CephError('image', 'rbd_metadata_list', -E.ERANGE, `${target}: the metadata kept growing`);
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

/** Every metadata entry of an open image, in key order (an export of the whole image carries them). */
export async function allMetadata(img: Pointer, target: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  let after = '';
  for (;;) {
    const page = await readPage(img, target, { after, limit: METADATA_MAX_KEYS, maxBytes: 64 * METADATA_MAX_BYTES });
    out.push(...page.entries);
    if (!page.more || page.last === undefined) return out;
    after = page.last;
  }
}
