// librbd's asynchronous I/O (rbd/librbd.h, Ceph 16.2): completions and reads of image data. Each binding's
// comment quotes the C prototype it wraps. Writes bind their own calls elsewhere (rbd-io-write.ts) and share
// the completion machinery here (`submitAio`): one completion type, one registered callback per process.
//
// How a call runs: `rbd_aio_create_completion` (local memory) with the process's one completion callback, then
// `rbd_aio_read2` on the main thread (it only queues the request: librbd answers through the completion), then
// librbd calls the callback on one of its own threads when the I/O is done; koffi runs it on the JS main thread
// (blocking that librbd thread until it has, so the callback does the least possible: read the result, release
// the completion, settle a promise). The Buffer a read fills is held by the pending entry until the callback has
// run — koffi does not keep it alive by itself, and librbd writes into it until completion.
//
// Hazards (rbd-lifecycle-facts §0): the completion callback is never NULL; the image handle must stay open
// until every completion of it has arrived (the caller counts them with aioInFlight / its own bookkeeping).
import { koffi, librbd } from './library.js';
import './types.js';

// typedef void *rbd_completion_t;
koffi.pointer('rbd_completion_t', koffi.opaque('rbd_completion_s'));
/** typedef void (*rbd_callback_t)(rbd_completion_t cb, void *arg); */
const AioCallback = koffi.proto('void rbd_callback_t(rbd_completion_t cb, void *arg)');

/** LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL 0x8, LIBRADOS_OP_FLAG_FADVISE_NOCACHE 0x20 (librados.h), as `rbd export` passes. */
export const LIBRADOS_OP_FLAG_FADVISE = { SEQUENTIAL: 0x8, NOCACHE: 0x20 } as const;

export const rbdIo = {
  /** int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c); — local memory */
  aioCreateCompletion: librbd.func('int rbd_aio_create_completion(void *cb_arg, rbd_callback_t *complete_cb, _Out_ rbd_completion_t *c)'),
  /** ssize_t rbd_aio_get_return_value(rbd_completion_t c); — local memory */
  aioGetReturnValue: librbd.func('int64_t rbd_aio_get_return_value(rbd_completion_t c)'),
  /** void rbd_aio_release(rbd_completion_t c); — local memory */
  aioRelease: librbd.func('void rbd_aio_release(rbd_completion_t c)'),
  /**
   * int rbd_aio_read2(rbd_image_t image, uint64_t off, size_t len, char *buf, rbd_completion_t c, int op_flags);
   * Queues the read; the completion's return value is the bytes read (a clone reads through to its parent).
   */
  aioRead2: librbd.func('int rbd_aio_read2(rbd_image_t image, uint64_t off, size_t len, void *buf, rbd_completion_t c, int op_flags)'),
};

type Completion = bigint;
interface Pending { resolve: (rc: number) => void; keep: unknown[] }

const pending = new Map<Completion, Pending>();

/**
 * koffi delivers callbacks from librbd's threads through an unreferenced handle: with nothing else pending the
 * event loop would end (and the process exit) while reads are still in flight. A referenced timer keeps it
 * alive exactly while completions are awaited.
 */
let keepAlive: NodeJS.Timeout | undefined;
function track(c: Completion, entry: Pending): void {
  pending.set(c, entry);
  keepAlive ??= setInterval(() => undefined, 1 << 30);
}
function untrack(c: Completion): void {
  pending.delete(c);
  if (pending.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** The one completion callback of the process (registered once, never unregistered: librbd may call it late). */
const onComplete = koffi.register((c: Completion) => {
  const entry = pending.get(c);
  let rc = -5; // EIO: a completion nobody waits for cannot happen; if it did, it is released all the same
  try {
    rc = Number(rbdIo.aioGetReturnValue(c) as number | bigint);
  } finally {
    rbdIo.aioRelease(c);
    untrack(c);
  }
  entry?.resolve(rc);
}, koffi.pointer(AioCallback));

/** Asynchronous I/O calls submitted and not completed yet (every image, every caller). */
export function aioInFlight(): number {
  return pending.size;
}

/**
 * Submit one asynchronous librbd call: `start(completion)` calls e.g. rbd_aio_read2 with it and returns that
 * call's return value. Resolves with the completion's return value (negative errno on failure). `keep` holds
 * what C uses until completion (the data Buffer). Never rejects for an I/O error; the caller checks the value.
 */
export function submitAio(start: (completion: Completion) => number, keep: unknown[]): Promise<number> {
  const out: [Completion | null] = [null];
  const rc = rbdIo.aioCreateCompletion(null, onComplete, out) as number;
  if (rc < 0 || out[0] === null) return Promise.resolve(rc < 0 ? rc : -12);
  const c = out[0];
  return new Promise<number>((resolve) => {
    // registered before the call: librbd may complete inline, on this thread, before it returns
    track(c, { resolve, keep });
    let submitted: number;
    try {
      submitted = start(c);
    } catch (e) {
      submitted = -22;
      void e;
    }
    if (submitted < 0 && pending.has(c)) {
      // refused before it was queued: no callback will come
      untrack(c);
      rbdIo.aioRelease(c);
      resolve(submitted);
    }
  });
}

/** Read `buf.length` bytes at `offset` of an open image (asynchronously); resolves with bytes read or -errno. */
export function aioRead(img: bigint, offset: number, buf: Buffer, flags = LIBRADOS_OP_FLAG_FADVISE.SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE.NOCACHE): Promise<number> {
  return submitAio((c) => rbdIo.aioRead2(img, offset, buf.length, buf, c, flags) as number, [buf]);
}
