// librbd's asynchronous I/O (rbd/librbd.h, Ceph 16.2): completions, completion events, and reads of image
// data. Each binding's comment quotes the C prototype it wraps. Writes and flushes bind their own calls
// elsewhere (rbd-io-write.ts) and share the completion machinery here (`submitAio`, `watchImage`,
// `forgetImage`): the process's one way of receiving librbd completions.
//
// How completions reach JS without blocking librbd: a JS completion callback would be run by koffi on the main
// thread while the librbd thread that called it waits — librbd's few I/O threads would then move at the event
// loop's pace (measured: 1 GiB read at 8 in flight took 3× as long as `rbd bench`). Instead, as fio and other
// event-loop programs do, each image is given a pipe for completion events (rbd_set_image_notification,
// EVENT_TYPE_PIPE): librbd writes a byte there when a completion is done and queues it on the image; the
// pipe's read end is a libuv stream on the event loop (no thread waits on it), whose data makes us collect the
// finished completions with rbd_poll_io_events (local memory), read their results and release them. The
// completion callback librbd also calls must not be NULL (facts §0): it is a C function that returns at once
// (noProgress: libc's sched_yield, which ignores its arguments).
//
// The Buffer a read fills is held by its pending entry until the completion is collected — koffi does not
// keep it alive, and librbd writes into it until then. An image must be forgotten (forgetImage, which waits
// for its completions) before it is closed: closeImage (src/ceph/open-image.ts) does.
import { Socket } from 'node:net';
import { koffi, librbd } from './library.js';
import './types.js';
import { noProgress } from './progress.js';

// rbd_completion_t, rbd_callback_t and the completion calls (create, return value, release) are bound once, in
// rbd-aio.ts; this file collects completions through the image's event pipe instead of their callback
import { rbdAio, RbdCallback } from './rbd-aio.js';

/** LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL 0x8, LIBRADOS_OP_FLAG_FADVISE_NOCACHE 0x20 (librados.h), as `rbd export` passes. */
export const LIBRADOS_OP_FLAG_FADVISE = { SEQUENTIAL: 0x8, NOCACHE: 0x20 } as const;
/** enum rbd_event_type { EVENT_TYPE_PIPE = 1, EVENT_TYPE_EVENTFD = 2 }; */
export const RBD_EVENT_TYPE = { PIPE: 1, EVENTFD: 2 } as const;

export const rbdIo = {
  /** int rbd_set_image_notification(rbd_image_t image, int fd, int type); — local memory */
  setImageNotification: librbd.func('int rbd_set_image_notification(rbd_image_t image, int fd, int type)'),
  /**
   * int rbd_poll_io_events(rbd_image_t image, rbd_completion_t *comps, int numcomp);
   * Fills `comps` with up to numcomp finished completions (pointers) of the image; returns how many. Local memory.
   */
  pollIoEvents: librbd.func('int rbd_poll_io_events(rbd_image_t image, void *comps, int numcomp)'),
  /**
   * int rbd_aio_read2(rbd_image_t image, uint64_t off, size_t len, char *buf, rbd_completion_t c, int op_flags);
   * Queues the read; the completion's return value is the bytes read (a clone reads through to its parent).
   */
  aioRead2: librbd.func('int rbd_aio_read2(rbd_image_t image, uint64_t off, size_t len, void *buf, rbd_completion_t c, int op_flags)'),
};

const libc = koffi.load('libc.so.6');
/** int pipe2(int pipefd[2], int flags); */
const pipe2 = libc.func('int pipe2(void *pipefd, int flags)');
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

type Completion = bigint;
type Image = bigint;
interface Pending { image: Image; resolve: (rc: number) => void; keep: unknown[] }

const pending = new Map<Completion, Pending>();
/** images with completion events on: how many completions each awaits, and who waits for none */
const images = new Map<Image, { count: number; idle: (() => void)[] }>();

/** The completion callback librbd calls (besides the event): C, returns at once, never NULL. */
const completeCallback: unknown = typeof noProgress === 'bigint'
  ? noProgress
  : koffi.register(() => undefined, koffi.pointer(RbdCallback));

let events: { readFd: number; writeFd: number; socket: Socket } | undefined;

/** The process's completion-event pipe, made on first use. */
function eventPipe(): { readFd: number; writeFd: number; socket: Socket } {
  if (events) return events;
  const fds = Buffer.alloc(8);
  const rc = pipe2(fds, O_NONBLOCK | O_CLOEXEC) as number;
  if (rc !== 0) throw new Error('pipe2 failed: cannot receive librbd completion events');
  const readFd = fds.readInt32LE(0);
  const writeFd = fds.readInt32LE(4);
  const socket = new Socket({ fd: readFd, readable: true, writable: false });
  socket.on('data', collect);
  socket.on('error', () => undefined);
  socket.unref();
  events = { readFd, writeFd, socket };
  return events;
}

const POLL_BATCH = 64;
const pollBuf = Buffer.alloc(8 * POLL_BATCH);

/** Collect every finished completion of every watched image (the pipe said some are done). */
function collect(): void {
  for (const img of images.keys()) {
    for (;;) {
      const n = rbdIo.pollIoEvents(img, pollBuf, POLL_BATCH) as number;
      if (n <= 0) break;
      for (let i = 0; i < n; i++) finish(pollBuf.readBigUInt64LE(i * 8));
      if (n < POLL_BATCH) break;
    }
  }
}

function finish(c: Completion): void {
  const entry = pending.get(c);
  let rc = -5; // EIO
  try {
    rc = Number(rbdAio.getReturnValue(c) as number | bigint);
  } finally {
    rbdAio.release(c);
  }
  if (!entry) return;
  untrack(c, entry.image);
  entry.resolve(rc);
}

function track(c: Completion, entry: Pending): void {
  pending.set(c, entry);
  images.get(entry.image)!.count++;
  // the pipe's stream is unreferenced: while completions are awaited, the event loop must not end
  eventPipe().socket.ref();
}

function untrack(c: Completion, image: Image): void {
  pending.delete(c);
  const w = images.get(image);
  if (w && --w.count === 0) for (const f of w.idle.splice(0)) f();
  if (pending.size === 0) events?.socket.unref();
}

/** Turn completion events on for an open image (before its first asynchronous call). Idempotent. */
export function watchImage(img: Image): void {
  if (images.has(img)) return;
  const rc = rbdIo.setImageNotification(img, eventPipe().writeFd, RBD_EVENT_TYPE.PIPE) as number;
  if (rc < 0) throw new Error(`rbd_set_image_notification: errno ${-rc}`);
  images.set(img, { count: 0, idle: [] });
}

/** Wait for the image's completions, then stop polling it. Call before closing the image. */
export async function forgetImage(img: Image): Promise<void> {
  const w = images.get(img);
  if (!w) return;
  if (w.count > 0) await new Promise<void>((resolve) => w.idle.push(resolve));
  images.delete(img);
}

/** Asynchronous I/O calls submitted and not completed yet (every image, every caller). */
export function aioInFlight(): number {
  return pending.size;
}

/**
 * Submit one asynchronous librbd call on `img` (watched: watchImage): `start(completion)` calls e.g.
 * rbd_aio_read2 with it and returns that call's return value. Resolves with the completion's return value
 * (negative errno on failure). `keep` holds what C uses until completion (the data Buffer).
 */
export function submitAio(img: Image, start: (completion: Completion) => number, keep: unknown[]): Promise<number> {
  watchImage(img);
  const out: [Completion | null] = [null];
  const rc = rbdAio.createCompletion(null, completeCallback, out) as number;
  if (rc < 0 || out[0] === null) return Promise.resolve(rc < 0 ? rc : -12);
  const c = out[0];
  return new Promise<number>((resolve) => {
    track(c, { image: img, resolve, keep });
    let submitted: number;
    try {
      submitted = start(c);
    } catch {
      submitted = -22;
    }
    if (submitted < 0) {
      // refused before it was queued: no event will come
      untrack(c, img);
      rbdAio.release(c);
      resolve(submitted);
    }
  });
}

/** Read `buf.length` bytes at `offset` of an open image; resolves with the bytes read or -errno. */
export function aioRead(img: Image, offset: number, buf: Buffer,
  flags: number = LIBRADOS_OP_FLAG_FADVISE.SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE.NOCACHE): Promise<number> {
  return submitAio(img, (c) => rbdIo.aioRead2(img, offset, buf.length, buf, c, flags) as number, [buf]);
}
