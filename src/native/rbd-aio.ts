// librbd asynchronous I/O completions (rbd/librbd.h, Ceph 16.2): the bindings that create, wait for, read and
// release an rbd_completion_t, and flush. How completions reach JS is rbd-io.ts's business (one mechanism for
// reads, writes and flushes: the image's completion-event pipe); reads (rbd_aio_read2, rbd-io.ts) and writes
// (rbd_aio_write2, rbd_aio_write_zeroes, rbd-io-write.ts) all go through its submitAio.
//
// Memory: librbd reads (writes) or fills (reads) the caller's buffer until the completion is done; submitAio
// holds the Buffer until then. Every submitted I/O must complete before its image handle is closed
// (closeImage in src/ceph/open-image.ts waits for them).
//
// Never wait for a completion in a synchronous call on the main thread (rbd_aio_wait_for_complete, rbd_close,
// rbd_flush): those calls go through the async call helpers.
import { koffi, librbd } from './library.js';
import './types.js';

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
