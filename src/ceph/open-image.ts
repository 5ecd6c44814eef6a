// Opening an image for the duration of one operation (always closed afterwards): the one place that opens and
// closes image handles. A fresh handle per operation (open handles serve cached metadata); changes of an image
// open it inside the image's mutation lock (image-lock.ts), so a process has one read-write handle of an image
// at a time.
import { rbdImage } from '../native/rbd-image.js';
import { forgetImage } from '../native/rbd-io.js';
import type { Pointer } from '../native/types.js';
import { CephError } from './errors.js';
import { native, nativeChecked } from './call.js';
import type { Handle } from './handle.js';

export interface OpenOptions {
  readOnly?: boolean;
  /** open at this snapshot (read-only) */
  snapshot?: string | undefined;
  /** open by image id instead of by name (a rename, or a new image under the old name, does not redirect it) */
  byId?: string | undefined;
}

const OPEN_OPS: ReadonlySet<string> = new Set(['rbd_open', 'rbd_open_read_only', 'rbd_open_by_id', 'rbd_open_by_id_read_only']);

/** `e` is the failure of an image open (openImage), not of a call on an open image. */
export const isOpenFailure = (e: CephError): boolean => OPEN_OPS.has(e.op);

/** rbd_open, rbd_open_read_only, rbd_open_by_id or rbd_open_by_id_read_only in the raw I/O context `io`. */
export async function openImage(io: Pointer, target: string, name: string, opts: OpenOptions = {}): Promise<Pointer> {
  const readOnly = opts.readOnly || opts.snapshot !== undefined;
  const byId = opts.byId !== undefined;
  const op = byId ? (readOnly ? 'rbd_open_by_id_read_only' : 'rbd_open_by_id') : readOnly ? 'rbd_open_read_only' : 'rbd_open';
  const fn = byId ? (readOnly ? rbdImage.openByIdReadOnly : rbdImage.openById) : readOnly ? rbdImage.openReadOnly : rbdImage.open;
  const out: [Pointer | null] = [null];
  await nativeChecked('image', op, target, fn, io, byId ? opts.byId : name, out, opts.snapshot ?? null);
  return out[0]!;
}

/**
 * rbd_close (a handle is gone whatever it answers), once the handle's asynchronous I/O (reads, writes, flushes
 * through rbd-io.ts) has completed: closing under I/O in flight is undefined in librbd.
 */
export async function closeImage(img: Pointer): Promise<void> {
  await forgetImage(img);
  await native('rbd_close', rbdImage.close, img);
}

/** Open `name` in the I/O context `io` (of pool spec `spec`), run `fn`, always close. ENOENT when missing. */
export async function withOpenImage<T>(io: Handle<'rados_ioctx_t'>, spec: string, name: string, opts: OpenOptions,
  fn: (img: Pointer) => Promise<T>): Promise<T> {
  const target = `${spec}/${name}${opts.snapshot ? `@${opts.snapshot}` : ''}`;
  const img = await io.use('rbd_open', (p) => openImage(p, target, name, opts));
  try {
    return await fn(img);
  } finally {
    await closeImage(img);
  }
}

/**
 * The same in a raw I/O context (a task's): `missing` turns the open's ENOENT into the caller's error (a task
 * failure IMAGE_NOT_FOUND); errors of `fn` pass unchanged.
 */
export async function withImageIn<T>(io: Pointer, target: string, name: string, opts: OpenOptions, fn: (img: Pointer) => Promise<T>,
  missing?: (e: CephError) => Error): Promise<T> {
  let img: Pointer;
  try {
    img = await openImage(io, target, name, opts);
  } catch (e) {
    if (missing && e instanceof CephError && e.code === 'ENOENT') throw missing(e);
    throw e;
  }
  try {
    return await fn(img);
  } finally {
    await closeImage(img);
  }
}
