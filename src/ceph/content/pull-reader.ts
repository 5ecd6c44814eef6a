// A pull reader over a pushed byte stream: the body arrives in pieces (pushBody hands each on), while a parser
// of rbd's record formats (diff-records.ts) wants "the next n bytes" or "the next n bytes as they come". push()
// resolves only when the parser has taken the piece, so the body is read no faster than the parser (and the
// writes behind it) go: back-pressure, with at most one piece held here.
import { ImportError } from './import.js';

export class PullReader {
  private pieces: Buffer[] = [];
  private ended = false;
  private failure: unknown;
  private wakeParser: (() => void) | undefined;
  private drained: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  /** bytes the parser has taken so far (for error messages) */
  offset = 0;

  /** producer: hand a piece over; resolves when the parser has taken all of it */
  push(piece: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (piece.length === 0) return Promise.resolve();
    this.pieces.push(piece);
    this.wake();
    return new Promise((resolve, reject) => { this.drained = { resolve, reject }; });
  }

  /** producer: no more pieces */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** either side: stop; the other side's pending and later calls throw `e` */
  fail(e: unknown): void {
    this.failure ??= e;
    this.wake();
    this.drained?.reject(e);
    this.drained = undefined;
  }

  private wake(): void {
    const w = this.wakeParser;
    this.wakeParser = undefined;
    w?.();
  }

  private async more(what: string): Promise<void> {
    while (this.pieces.length === 0) {
      if (this.failure) throw this.failure;
      // everything pushed was taken: the producer may go on
      const d = this.drained;
      this.drained = undefined;
      d?.resolve();
      if (this.ended) throw new ImportError('INVALID_STREAM', `The stream ended in the middle of ${what} (after ${this.offset} bytes).`);
      await new Promise<void>((r) => { this.wakeParser = r; });
    }
  }

  /** consumer: exactly n bytes (n small: headers and record fields) */
  async exact(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      await this.more(what);
      const p = this.pieces[0]!;
      const take = Math.min(need, p.length);
      parts.push(p.subarray(0, take));
      if (take === p.length) this.pieces.shift(); else this.pieces[0] = p.subarray(take);
      need -= take;
      this.offset += take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** consumer: n bytes in pieces as they arrive (data records) */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let need = n;
    while (need > 0) {
      await this.more(what);
      const p = this.pieces[0]!;
      const take = Math.min(need, p.length);
      if (take === p.length) this.pieces.shift(); else this.pieces[0] = p.subarray(take);
      need -= take;
      this.offset += take;
      yield p.subarray(0, take);
    }
  }

  /** consumer: true when the stream has ended with nothing left (waits for the producer to say so) */
  async atEnd(): Promise<boolean> {
    for (;;) {
      if (this.pieces.length > 0) return false;
      if (this.failure) throw this.failure;
      const d = this.drained;
      this.drained = undefined;
      d?.resolve();
      if (this.ended) return true;
      await new Promise<void>((r) => { this.wakeParser = r; });
    }
  }
}
