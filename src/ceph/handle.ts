// A native handle (rados_t, rados_ioctx_t, rbd_image_t) that can never reach C once closed.
// Calls go through use(), which counts them; close() waits for them before destroying the handle,
// so a handle is never freed under a call that is still running on a worker thread.
import type { Pointer } from '../native/types.js';
import { CephError } from './errors.js';

export type HandleKind = 'rados_t' | 'rados_ioctx_t' | 'rbd_image_t';

export class Handle<K extends HandleKind> {
  #ptr: Pointer | null;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(readonly kind: K, ptr: Pointer, private readonly destroy: (ptr: Pointer) => Promise<unknown> | unknown) {
    if (!ptr) throw new TypeError(`${kind}: NULL handle`);
    this.#ptr = ptr;
  }

  get isOpen(): boolean { return this.#ptr !== null && this.#closed === undefined; }
  get inFlight(): number { return this.#inFlight; }

  /** Run `fn` with the raw pointer; throws a `closed` CephError if the handle is closed or closing. */
  async use<T>(op: string, fn: (ptr: Pointer) => Promise<T>): Promise<T> {
    if (this.#ptr === null || this.#closed) throw CephError.closed(op);
    this.#inFlight++;
    try {
      return await fn(this.#ptr);
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }

  /** Idempotent: waits for calls in flight, then destroys the handle once. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => { this.#idle = resolve; });
      const ptr = this.#ptr;
      this.#ptr = null;
      if (ptr !== null) await this.destroy(ptr);
    })();
    return this.#closed;
  }
}
