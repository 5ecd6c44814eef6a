// A download as a Readable stream: an ordered sequence of pieces (literal bytes, runs of zeros, extents to read
// from an open image) turned into bytes, with a bounded number of asynchronous librbd reads in flight and
// back-pressure from the consumer (the HTTP socket):
// - pieces are pulled from their source (an async generator: the extent walks) only when there is room, and
//   cut into chunks one at a time: a chunk is queued only while the queue (reads in flight, and chunks read
//   but not yet taken) holds fewer than depth + 2, and a read starts only while fewer than `depth` run; each
//   read takes a slot of the transfers' budget (budget.ts) for its duration. Memory: depth + 2 chunks (+ the socket's);
// - bytes are pushed in order only while the stream wants more (`_read`); a consumer that takes nothing for
//   `idleMs` gets the stream destroyed (TransferIdleError);
// - destroying the stream (client gone, idle, shutdown) starts no more reads; `settled` resolves once the reads
//   in flight have completed, and only then may the image handle be closed (librbd writes into the buffers and
//   uses the handle until each completion).
import { Readable } from 'node:stream';
import { aioRead } from '../../native/rbd-io.js';
import type { Pointer } from '../../native/types.js';
import { CephError } from '../errors.js';
import { budget } from './budget.js';

export type Piece =
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'zero'; length: number }
  | { kind: 'read'; img: Pointer; offset: number; length: number }
  /** wait until every read started so far has completed (before the source closes the handle they read) */
  | { kind: 'drain' };

export interface ReaderOptions {
  depth: number;
  /**
   * Bytes pushed that the consumer has not handed to the kernel yet (the stream's own buffer is counted here):
   * with it, a read Buffer is reused once every byte of it has left, instead of a fresh one per read (fresh
   * memory costs a page fault per 4 KiB: reads then ran at half speed). Without it, no Buffer is reused.
   */
  unsent?: () => number;
  chunkBytes: number;
  idleMs: number;
  /** for error messages: pool/image[@snap] */
  target: string;
}

/** The client took no bytes for the idle time. */
export class TransferIdleError extends Error {
  constructor(readonly idleMs: number) {
    super(`the client took no data for ${idleMs} ms`);
    this.name = 'TransferIdleError';
  }
}

interface Slot { done: boolean; data?: Buffer; error?: Error; pooled?: boolean }
/** the piece being turned into chunks (what is left of it) */
type Current = Exclude<Piece, { kind: 'bytes' }>;

const ZERO_CACHE = new Map<number, Buffer>();
/** A zero-filled Buffer of `n` bytes, shared (pushed Buffers are never written to). */
function zeros(n: number, chunk: number): Buffer {
  let z = ZERO_CACHE.get(chunk);
  if (!z) {
    z = Buffer.alloc(chunk);
    ZERO_CACHE.set(chunk, z);
  }
  return z.subarray(0, n);
}

export class ImageReadStream extends Readable {
  readonly #source: AsyncIterator<Piece>;
  readonly #o: ReaderOptions;
  readonly #queue: Slot[] = [];
  #inFlight = 0;
  #sourceDone = false;
  #wanted = false;
  #pumping = false;
  #cancelled = false;
  #wake: (() => void) | undefined;
  #current: Current | undefined;
  #waitingSince = 0;
  #idleTimer: NodeJS.Timeout;
  #settle!: () => void;
  #settledFlag = false;
  /** resolves once no read is in flight and the source is closed (after the end, an error or destroy) */
  readonly settled: Promise<void>;
  /** bytes pushed so far */
  bytesPushed = 0;
  /** read Buffers free for the next reads, and those pushed (with the offset their last byte ends at) */
  readonly #free: Buffer[] = [];
  readonly #sent: { buf: Buffer; end: number }[] = [];

  constructor(source: AsyncIterable<Piece>, o: ReaderOptions) {
    super({ highWaterMark: o.chunkBytes });
    this.#source = source[Symbol.asyncIterator]();
    this.#o = o;
    this.settled = new Promise((resolve) => { this.#settle = resolve; });
    this.#idleTimer = setInterval(() => {
      if (!this.#wanted && this.#waitingSince > 0 && Date.now() - this.#waitingSince > o.idleMs) {
        this.destroy(new TransferIdleError(o.idleMs));
      }
    }, Math.min(1000, Math.max(50, o.idleMs / 4)));
    this.#idleTimer.unref();
  }

  /** reads of this stream in flight now */
  get inFlight(): number { return this.#inFlight; }

  override _read(): void {
    this.#wanted = true;
    this.#waitingSince = 0;
    this.#kick();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#cancelled = true;
    this.#kick();
    this.#maybeSettle();
    cb(err);
  }

  #kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (!this.#pumping && !this.#settledFlag && !this.#cancelled) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    const { depth, chunkBytes } = this.#o;
    try {
      while (!this.#cancelled) {
        // deliver what is complete, in order, while the consumer wants more
        while (this.#wanted && this.#queue.length > 0 && this.#queue[0]!.done) {
          const slot = this.#queue.shift()!;
          if (slot.error) throw slot.error;
          const data = slot.data!;
          this.bytesPushed += data.length;
          if (slot.pooled) this.#sent.push({ buf: data, end: this.bytesPushed });
          if (!this.push(data)) {
            this.#wanted = false;
            this.#waitingSince = Date.now();
          }
        }
        if (this.#cancelled) break;
        if (this.#sourceDone && this.#current === undefined && this.#queue.length === 0) {
          this.push(null);
          break;
        }
        // more work, one chunk at a time, only while the queue (in flight + read and not yet taken) has room:
        // that bound is the stream's memory, whatever the size of the extents
        const room = this.#queue.length < depth + 2;
        const cur = this.#current;
        if (room && cur) {
          if (cur.kind === 'zero') {
            const n = Math.min(chunkBytes, cur.length);
            this.#queue.push({ done: true, data: zeros(n, chunkBytes) });
            cur.length -= n;
            if (cur.length === 0) this.#current = undefined;
            continue;
          }
          if (cur.kind === 'read' && this.#inFlight < depth) {
            const n = Math.min(chunkBytes, cur.length);
            this.#startRead(cur.img, cur.offset, n);
            cur.offset += n;
            cur.length -= n;
            if (cur.length === 0) this.#current = undefined;
            continue;
          }
          if (cur.kind === 'drain' && this.#inFlight === 0) {
            this.#current = undefined;
            continue;
          }
        }
        if (room && !cur && !this.#sourceDone) {
          const next = await this.#source.next();
          if (next.done) this.#sourceDone = true;
          else if (next.value.kind === 'bytes') this.#queue.push({ done: true, data: next.value.data });
          else if (next.value.kind !== 'zero' || next.value.length > 0) this.#current = { ...next.value } as Current;
          continue;
        }
        await new Promise<void>((resolve) => { this.#wake = resolve; });
      }
    } catch (e) {
      this.destroy(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.#pumping = false;
      this.#maybeSettle();
    }
  }

  /** Buffers whose bytes have all left for the kernel go back to the free list. */
  #reclaim(): void {
    if (!this.#o.unsent || this.#sent.length === 0) return;
    const left = this.bytesPushed - this.readableLength - this.#o.unsent();
    while (this.#sent.length > 0 && this.#sent[0]!.end <= left) this.#free.push(this.#sent.shift()!.buf);
  }

  #startRead(img: Pointer, offset: number, length: number): void {
    const slot: Slot = { done: false, pooled: length === this.#o.chunkBytes && this.#o.unsent !== undefined };
    this.#queue.push(slot);
    this.#inFlight++;
    void (async () => {
      await budget.acquire();
      try {
        if (this.#cancelled) return;
        this.#reclaim();
        const buf = (slot.pooled ? this.#free.pop() : undefined) ?? Buffer.allocUnsafe(length);
        const rc = await aioRead(img, offset, buf);
        if (rc < 0) {
          slot.error = new CephError('image', 'rbd_aio_read2', rc, `${this.#o.target} at ${offset}`);
        } else {
          if (rc < length) buf.fill(0, rc); // past the end of a shrunk image: zeros, as the size promised
          slot.data = buf;
        }
      } finally {
        budget.release();
        slot.done = true;
        this.#inFlight--;
        this.#kick();
        this.#maybeSettle();
      }
    })();
  }

  #maybeSettle(): void {
    if (this.#settledFlag || this.#pumping || this.#inFlight > 0) return;
    if (!this.#cancelled && !this.destroyed && (!this.#sourceDone || this.#current !== undefined || this.#queue.length > 0)) return;
    this.#settledFlag = true;
    clearInterval(this.#idleTimer);
    // close the source (its finally blocks: callbacks unregistered, snapshot handles closed)
    void Promise.resolve(this.#source.return?.()).catch(() => undefined).finally(() => this.#settle());
  }
}
