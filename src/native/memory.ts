// Reading C memory that librados/librbd fill in: arrays of structs in caller Buffers, NUL-separated
// name lists, and librados-allocated buffers (released here with rados_buffer_free).
import { koffi, librados } from './library.js';
import { RbdImageSpec, RbdImageWatcher, SIZES, type Pointer } from './types.js';

/** void rados_buffer_free(char *buf); */
const radosBufferFree = librados.func('void rados_buffer_free(void *buf)');

export interface WatcherValue { addr: string; id: number | bigint; cookie: number | bigint }

/** A C struct type declared with koffi.struct. */
export type StructType = Parameters<typeof koffi.sizeof>[0];

/** A zeroed Buffer big enough for `count` structs of `type` (at least one, so the pointer is never NULL). */
export function structArray(type: StructType, count: number): Buffer {
  return Buffer.alloc(Math.max(1, count) * koffi.sizeof(type));
}

/** The first `count` structs of `type` in `buf` (a C array librados/librbd filled in); none for count <= 0. */
export function decodeStructs<T>(buf: Buffer, type: StructType, count: number): T[] {
  return count > 0 ? koffi.decode(buf, type, count) as T[] : [];
}

/** A zeroed Buffer big enough for `count` rbd_image_spec_t (at least one, so the pointer is never NULL). */
export function imageSpecArray(count: number): Buffer {
  return structArray(RbdImageSpec, count);
}

/**
 * Only the `name` of each rbd_image_spec_t in `buf`: no id strings copied, which matters for pools with
 * thousands of images (ids are read one by one, for a page, with decodeImageSpecId). Reads the name
 * pointers straight from the array.
 */
export function decodeImageSpecNames(buf: Buffer, count: number): string[] {
  if (count === 0) return [];
  const stride = SIZES.rbd_image_spec_t;
  const nameOffset = koffi.offsetof(RbdImageSpec, 'name');
  const names = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    names[i] = koffi.decode(buf, i * stride + nameOffset, 'char *') as string;
  }
  return names;
}

/** The `id` of the `index`th rbd_image_spec_t in `buf`. */
export function decodeImageSpecId(buf: Buffer, index: number): string {
  return koffi.decode(buf, index * SIZES.rbd_image_spec_t + koffi.offsetof(RbdImageSpec, 'id'), 'char *') as string;
}

export function watcherArray(count: number): Buffer {
  return structArray(RbdImageWatcher, count);
}

export function decodeWatchers(buf: Buffer, count: number): WatcherValue[] {
  return decodeStructs<WatcherValue>(buf, RbdImageWatcher, count);
}

/** An array of `count` char* (8 bytes each, as librbd fills a `char **`): the strings, NULL entries left out. */
export function decodeStringArray(buf: Buffer, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const ptr = buf.readBigUInt64LE(8 * i);
    if (ptr !== 0n) out.push(koffi.decode(ptr, 'char', -1) as string);
  }
  return out;
}

/** "a\0b\0\0" → ["a", "b"] (the first `len` bytes). */
export function splitNulList(buf: Buffer, len: number): string[] {
  return buf.toString('utf8', 0, Math.min(len, buf.length)).split('\0').filter((s) => s.length > 0);
}

/** A NUL-terminated string in a Buffer. */
/** A 64-bit integer koffi returned (a bigint beyond 2^53, a number otherwise) as a number: sizes, counts, times. */
export function toNumber(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

/** Copy `len` bytes of a librados-allocated buffer into a JS string, then free it. NULL reads as "". */
export function takeRadosBuffer(ptr: Pointer | null | undefined, len: number | bigint): string {
  if (!ptr) return '';
  try {
    const n = Number(len);
    return n > 0 ? Buffer.from(koffi.view(ptr, n)).toString('utf8') : '';
  } finally {
    radosBufferFree(ptr);
  }
}

/** Copy `len` bytes of a librados-allocated buffer (rados_read_op_exec's out_buf) into a Buffer, then free it. */
export function takeRadosBytes(ptr: bigint, len: number): Buffer {
  if (ptr === 0n) return Buffer.alloc(0);
  try {
    return len > 0 ? Buffer.from(new Uint8Array(koffi.view(ptr, len))) : Buffer.alloc(0);
  } finally {
    radosBufferFree(ptr);
  }
}
