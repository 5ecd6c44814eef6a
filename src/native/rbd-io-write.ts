// librbd asynchronous writes (rbd/librbd.h, Ceph 16.2): data and zeroes into an open image, and flushes. Each
// goes through rbd-io.ts's submitAio (completions collected from the image's event pipe, as reads are), which
// keeps the written Buffer alive until librbd is done with it. These calls only queue the I/O and return
// (librbd's non-blocking AIO): they are made on the main thread.
import { librbd } from './library.js';
import './types.js';
import { rbdAio } from './rbd-aio.js'; // declares rbd_completion_t
import { submitAio } from './rbd-io.js';
import type { Pointer } from './types.js';

/** LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE (librados.h): a one-pass bulk write. */
export const FADVISE_BULK_WRITE = 0x8 | 0x40;

export const rbdIoWrite = {
  /** int rbd_aio_write2(rbd_image_t image, uint64_t off, size_t len, const char *buf, rbd_completion_t c, int op_flags); */
  write2: librbd.func('int rbd_aio_write2(rbd_image_t image, uint64_t off, size_t len, const void *buf, rbd_completion_t c, int op_flags)'),
  /** int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c, int zero_flags, int op_flags); */
  writeZeroes: librbd.func('int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c, int zero_flags, int op_flags)'),
};

/** Write `buf` at `off`; resolves with the bytes written or a negative errno. `buf` stays alive until then. */
export function aioWrite(img: Pointer, off: number, buf: Buffer, opFlags = FADVISE_BULK_WRITE): Promise<number> {
  return submitAio(img, (c) => rbdIoWrite.write2(img, off, buf.length, buf, c, opFlags) as number, [buf]);
}

/** Zero `len` bytes at `off` (the range reads as zeros afterwards, whatever the alignment). */
export function aioWriteZeroes(img: Pointer, off: number, len: number): Promise<number> {
  return submitAio(img, (c) => rbdIoWrite.writeZeroes(img, off, len, c, 0, 0) as number, []);
}

/** rbd_aio_flush: resolves (0 or -errno) once every write acknowledged before is durable. */
export function aioFlush(img: Pointer): Promise<number> {
  return submitAio(img, (c) => rbdAio.flush(img, c) as number, []);
}
