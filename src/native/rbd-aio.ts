// librbd asynchronous I/O completions (rbd/librbd.h, Ceph 16.2): the one place that creates, waits for, reads
// and releases an rbd_completion_t. Reads (rbd_aio_read*, in rbd-io.ts) and writes (rbd_aio_write*, in
// rbd-io-write.ts) both take a completion made here.
//
// How a completion reaches JS: one C callback for the whole process (koffi.register, never unregistered) is
// passed to every rbd_aio_create_completion. librbd calls it on one of its own threads when the I/O is done;
// koffi queues the call to the JS main thread and holds that librbd thread until JS has run it. The callback
// reads the return value, releases the completion (allowed from inside the callback: librbd frees it after the
// callback returns) and settles the pending entry found by the completion's address. So no threadpool thread
// waits for an I/O: the number of I/Os in flight is bounded by the caller, not by UV_THREADPOOL_SIZE.
//
// Memory: librbd reads (writes) or fills (reads) the caller's buffer until the completion fires. The pending
// entry holds the Buffer until then, so the GC cannot take it under librbd. Every submitted I/O must be allowed
// to complete before its image handle is closed (rbd_close on a handle with I/O in flight is undefined).
//
// Never wait for a completion in a synchronous call on the main thread (rbd_aio_wait_for_complete, rbd_close,
// rbd_flush): the librbd thread that would signal it may be blocked waiting for the main thread to run an
// earlier callback — a deadlock. Those calls go through the async call helpers.
import { koffi, librbd } from './library.js';
import './types.js';
import type { Pointer } from './types.js';

// typedef void *rbd_completion_t;
koffi.pointer('rbd_completion_t', koffi.opaque('rbd_completion_s'));
/** typedef void (*rbd_callback_t)(rbd_completion_t cb, void *arg); */
export const RbdCallback = koffi.proto('void rbd_callback_t(rbd_completion_t cb, void *arg)');

export const rbdAio = {
  /** int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c); — local memory */
  createCompletion: librbd.func('int rbd_aio_create_completion(void *cb_arg, rbd_callback_t *complete_cb, _Out_ rbd_completion_t *c)'),
  /** int rbd_aio_wait_for_complete(rbd_completion_t c); — blocks: only with .async */
  waitForComplete: librbd.func('int rbd_aio_wait_for_complete(rbd_completion_t c)'),
  /** ssize_t rbd_aio_get_return_value(rbd_completion_t c); — local memory */
  getReturnValue: librbd.func('int64_t rbd_aio_get_return_value(rbd_completion_t c)'),
  /** void rbd_aio_release(rbd_completion_t c); — local memory */
  release: librbd.func('void rbd_aio_release(rbd_completion_t c)'),
  /** int rbd_aio_flush(rbd_image_t image, rbd_completion_t c); */
  flush: librbd.func('int rbd_aio_flush(rbd_image_t image, rbd_completion_t c)'),
};

interface PendingIo {
  resolve: (rv: number) => void;
  /** the memory librbd uses until the completion fires (kept alive by this reference) */
  keep: unknown;
}

/** completions in flight, by their address */
const pending = new Map<bigint, PendingIo>();

/**
 * koffi's hand-over of a callback to the main thread does not keep Node's event loop alive: a process with
 * nothing else to do would exit with I/Os in flight (their promises never settled). A ref'd timer does, while
 * any I/O is in flight.
 */
let keepAlive: NodeJS.Timeout | undefined;
function remember(key: bigint, entry: PendingIo): void {
  pending.set(key, entry);
  keepAlive ??= setInterval(() => undefined, 60_000);
}
function forget(key: bigint): void {
  pending.delete(key);
  if (pending.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

const asKey = (p: unknown): bigint => (typeof p === 'bigint' ? p : BigInt(koffi.address(p as never)));

const onComplete = koffi.register((c: Pointer, _arg: unknown) => {
  const key = asKey(c);
  const entry = pending.get(key);
  let rv: number;
  try {
    rv = Number(rbdAio.getReturnValue(c) as number | bigint);
  } finally {
    rbdAio.release(c);
  }
  if (!entry) return;
  forget(key);
  entry.resolve(rv);
}, koffi.pointer(RbdCallback));

/** I/Os submitted and not completed yet, in this process (for metrics and for tests of leaks). */
export function aioInFlight(): number { return pending.size; }

/**
 * Start one asynchronous librbd I/O: `submit(c)` is the rbd_aio_* call with the new completion `c` (called at
 * once, on the main thread: these calls only queue the I/O); `keep` is held until it completes. Resolves with
 * the completion's return value (bytes, or a negative errno); a negative answer of `submit` itself resolves at
 * once with it (the completion is then released here).
 */
export function startAio(submit: (c: Pointer) => number, keep: unknown): Promise<number> {
  const out: [Pointer | null] = [null];
  const rc = rbdAio.createCompletion(null, onComplete, out) as number;
  if (rc < 0) return Promise.resolve(rc);
  const c = out[0]!;
  const key = asKey(c);
  return new Promise<number>((resolve) => {
    remember(key, { resolve, keep });
    let r: number;
    try {
      r = Number(submit(c));
    } catch (e) {
      forget(key);
      rbdAio.release(c);
      throw e;
    }
    if (r < 0) {
      // not queued: librbd will not call back (the C API completes nothing it did not start)
      forget(key);
      rbdAio.release(c);
      resolve(r);
    }
  });
}
