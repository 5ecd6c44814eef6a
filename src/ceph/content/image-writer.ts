// Writing a stream of bytes into an open image with librbd's asynchronous writes: a bounded number of writes in
// flight (the caller's loop awaits a free slot before it reads more of its source: back-pressure reaches the
// socket), data gathered into aligned chunks, and runs of zeros left out (a new image reads zeros there: sparse,
// as `rbd import` makes it) or written as zeroes (write_zeroes: an existing image must read zeros there).
//
// Memory: at most `maxInFlight` chunks are held by librbd, plus the one being filled. The chunks come from a
// ChunkPool and go back to it when their writes complete: an import allocates maxInFlight + 2 chunks in all,
// however long it runs (a fresh 4 MiB Buffer per chunk left the garbage to the collector: a 512 MiB upload
// peaked at 218 MiB of external memory, measured).
import { aioWrite, aioWriteZeroes } from '../../native/rbd-io-write.js';
import type { Pointer } from '../../native/types.js';
import { CephError } from '../errors.js';
import { budget } from './budget.js';

/** The granularity of the zero detection (`rbd import`'s default sparse size). */
export const SPARSE_SIZE = 4096;
/** Bytes gathered before a write is submitted (aligned to image offsets): a 4 MiB object, or 4 of 1 MiB… */
export const CHUNK_SIZE = 4 << 20;
const ZEROS = Buffer.alloc(CHUNK_SIZE);

export interface WriterOptions {
  /** writes in flight at most */
  maxInFlight: number;
  /** zero runs: 'skip' (a new image: nothing to write) or 'zeroes' (an existing image: write_zeroes) */
  zeros: 'skip' | 'zeroes';
  /** what the writes are about (errors) */
  target: string;
}

export function isAllZero(buf: Buffer, start = 0, end = buf.length): boolean {
  for (let off = start; off < end; off += CHUNK_SIZE) {
    const n = Math.min(CHUNK_SIZE, end - off);
    if (buf.compare(ZEROS, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}

/** Asynchronous writes into `img` with a bounded number in flight; the first failure fails every later call. */
export class ImageWriter {
  private inFlight = 0;
  private failure: CephError | undefined;
  private waiters: (() => void)[] = [];
  /** bytes submitted as data, and as zero runs left out or zeroed */
  written = 0;
  skipped = 0;

  constructor(private readonly img: Pointer, private readonly opts: WriterOptions) {}

  /**
   * Write `buf` at `off`, split into the runs of non-zero SPARSE_SIZE blocks (offsets are aligned by the
   * caller). `done` is called once librbd no longer uses `buf` (every write of it completed, or none was made).
   */
  async write(off: number, buf: Buffer, done?: () => void): Promise<void> {
    const writes: Promise<unknown>[] = [];
    let runStart = -1;
    let zeroStart = -1;
    try {
      for (let b = 0; b < buf.length; b += SPARSE_SIZE) {
        const end = Math.min(buf.length, b + SPARSE_SIZE);
        const zero = buf.compare(ZEROS, 0, end - b, b, end) === 0;
        if (zero) {
          if (runStart >= 0) { writes.push((await this.submitData(off + runStart, buf.subarray(runStart, b))).completed); runStart = -1; }
          if (zeroStart < 0) zeroStart = b;
        } else {
          if (zeroStart >= 0) { await this.submitZeros(off + zeroStart, b - zeroStart); zeroStart = -1; }
          if (runStart < 0) runStart = b;
        }
      }
      if (runStart >= 0) writes.push((await this.submitData(off + runStart, buf.subarray(runStart))).completed);
      if (zeroStart >= 0) await this.submitZeros(off + zeroStart, buf.length - zeroStart);
    } finally {
      if (done) void Promise.allSettled(writes).then(done);
    }
  }

  /** The range reads as zeros afterwards (write_zeroes, whatever was there). */
  async zero(off: number, len: number): Promise<void> {
    if (len <= 0) return;
    await this.slot();
    this.track(() => aioWriteZeroes(this.img, off, len), 'rbd_aio_write_zeroes', len, false);
  }

  /** Wait for every write in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }

  /** Wait for every write in flight, ignoring failures (before closing the image on an error path). */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Submits the write; resolves once a slot was free, with its completion (wrapped: not awaited here). */
  private async submitData(off: number, buf: Buffer): Promise<{ completed: Promise<unknown> }> {
    await this.slot();
    return { completed: this.track(() => aioWrite(this.img, off, buf), 'rbd_aio_write2', buf.length, true) };
  }

  private async submitZeros(off: number, len: number): Promise<void> {
    if (this.opts.zeros === 'skip') { this.skipped += len; return; }
    await this.zero(off, len);
  }

  /**
   * A free write slot of this writer, then one of every transfer's (budget.ts: downloads and uploads together keep
   * at most ioLimit I/Os in flight, so that a plain request's OSD operations never queue behind hundreds of MiB
   * of transfers). The caller submits with track(), which gives the budget's slot back when the write completes.
   */
  private async slot(): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.inFlight >= this.opts.maxInFlight) {
      await new Promise<void>((r) => this.waiters.push(r));
      if (this.failure) throw this.failure;
    }
    this.inFlight++; // reserved while the budget is awaited (another write of this writer waits for it)
    try {
      await budget.acquire();
    } catch (e) {
      this.settleOne();
      throw e;
    }
    if (this.failure) {
      budget.release();
      this.settleOne();
      throw this.failure;
    }
  }

  private settleOne(): void {
    this.inFlight--;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private track(submit: () => Promise<number>, op: string, len: number, data: boolean): Promise<unknown> {
    let p: Promise<number>;
    try {
      p = submit();
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.then((rv) => {
      if (rv < 0) this.failure ??= new CephError('image', op, rv, this.opts.target);
      else if (data) this.written += len;
      else this.skipped += len;
    }, (e: unknown) => {
      this.failure ??= e instanceof CephError ? e : new CephError('image', op, -5, `${this.opts.target}: ${String(e)}`);
    }).finally(() => {
      budget.release();
      this.settleOne();
    });
  }
}

/**
 * The CHUNK_SIZE buffers of one import, reused: a buffer is handed out again only after release() (its writes
 * completed). Allocates only when none is free, so an import holds as many as it has in use at once.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  allocated = 0;

  constructor(readonly chunkSize = CHUNK_SIZE) {}

  acquire(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    this.allocated++;
    return Buffer.allocUnsafe(this.chunkSize);
  }

  release(b: Buffer): void { this.free.push(b); }
}

/** A piece of the stream ready to write at `off`; `release` once librbd is done with `buf` (ImageWriter.write's `done`). */
export interface Chunk { off: number; buf: Buffer; release: () => void }

/**
 * Gathers a byte stream into CHUNK_SIZE pieces aligned to image offsets (starting at `start`): push() returns
 * the full chunks ready to write; end() the rest. Chunks come from `pool` (librbd holds the previous ones until
 * they are released).
 */
export class Chunker {
  private whole: Buffer;
  private buf: Buffer;
  private fill = 0;
  private base: number;
  private readonly chunkSize: number;

  constructor(start: number, private readonly pool = new ChunkPool()) {
    this.chunkSize = pool.chunkSize;
    this.base = start;
    this.whole = pool.acquire();
    this.buf = this.whole.subarray(0, this.firstLength());
  }

  private chunk(off: number, buf: Buffer): Chunk {
    const whole = this.whole;
    return { off, buf, release: () => this.pool.release(whole) };
  }

  private firstLength(): number {
    const rem = this.base % this.chunkSize;
    return rem === 0 ? this.chunkSize : this.chunkSize - rem;
  }

  push(data: Buffer): Chunk[] {
    const out: Chunk[] = [];
    let pos = 0;
    while (pos < data.length) {
      const n = Math.min(data.length - pos, this.buf.length - this.fill);
      data.copy(this.buf, this.fill, pos, pos + n);
      this.fill += n;
      pos += n;
      if (this.fill === this.buf.length) {
        out.push(this.chunk(this.base, this.buf));
        this.base += this.buf.length;
        this.whole = this.pool.acquire();
        this.buf = this.whole;
        this.fill = 0;
      }
    }
    return out;
  }

  /** The rest (or nothing: its buffer goes back to the pool). */
  end(): Chunk | undefined {
    if (this.fill === 0) {
      this.pool.release(this.whole);
      return undefined;
    }
    return this.chunk(this.base, this.buf.subarray(0, this.fill));
  }
}
