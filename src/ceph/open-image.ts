// Opening an image for the duration of one operation (always closed afterwards), for the management
// modules (metadata, features, usage, copy). A fresh handle per operation: open handles serve cached metadata.
import { rbdImage } from '../native/rbd-image.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked } from './call.js';
import type { Handle } from './handle.js';

export interface OpenOptions {
  readOnly?: boolean;
  /** open at this snapshot (read-only) */
  snapshot?: string | undefined;
}

/** Open `name` in the I/O context `io` (of pool spec `spec`), run `fn`, always close. ENOENT when missing. */
export async function withOpenImage<T>(io: Handle<'rados_ioctx_t'>, spec: string, name: string, opts: OpenOptions,
  fn: (img: Pointer) => Promise<T>): Promise<T> {
  const target = `${spec}/${name}${opts.snapshot ? `@${opts.snapshot}` : ''}`;
  const readOnly = opts.readOnly || opts.snapshot !== undefined;
  const op = readOnly ? 'rbd_open_read_only' : 'rbd_open';
  const img = await io.use(op, async (p) => {
    const out: [Pointer | null] = [null];
    await nativeChecked(op, target, readOnly ? rbdImage.openReadOnly : rbdImage.open, p, name, out, opts.snapshot ?? null);
    return out[0]!;
  });
  try {
    return await fn(img);
  } finally {
    await native('rbd_close', rbdImage.close, img);
  }
}
