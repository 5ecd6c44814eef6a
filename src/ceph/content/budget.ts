// The budget of image-content transfers (downloads' reads and uploads' writes together): how many asynchronous
// librbd I/Os all transfers keep in flight, apart from the request-sized calls' slots (which transfers never
// take: their data moves through librbd's own asynchronous I/O, their extent walks through transferLimiter).
// Also the registry of running transfers, so that a stopping service can end them at once.
//
// Work-conserving: the budget is `ioLimit` while other requests are being served (or were, within `quietMs`),
// so that their OSD operations never queue behind much transfer data; when the service serves only transfers,
// they may keep `ioBurst` I/Os in flight. (Measured on one memstore OSD: a lone 1 GiB import with 4 writes in
// flight ran at 0.70× `rbd import`, with 16 at 1.34×; under 4 + 4 transfers a GET's p99 was 0.43–1.07 s with 4
// in flight and 1.5–9.5 s with 16 — docs/benchmarks.md "Transfers at once".) The HTTP layer says when a request
// that is not a transfer starts and ends (foregroundStarted). The quiet timer only matters when nothing is in
// flight to release a slot; otherwise the next completion's drain() sees the burst.
import { aioInFlight } from '../../native/rbd-io.js';

export interface TransferSettings {
  /** asynchronous I/Os in flight over all transfers at once */
  ioLimit: number;
  /** reads one download keeps in flight */
  readDepth: number;
  /** bytes of one read */
  chunkBytes: number;
  /** a download whose client takes nothing for this long is dropped, ms */
  idleMs: number;
  /** asynchronous I/Os in flight over all transfers while nothing else is served (at least ioLimit) */
  ioBurst: number;
  /** how long after the last other request ended transfers stay at ioLimit, ms */
  quietMs: number;
}

export const transferSettings: TransferSettings = { ioLimit: 4, readDepth: 4, chunkBytes: 4 * 2 ** 20, idleMs: 30_000, ioBurst: 16, quietMs: 1000 };

/** Requests other than transfers in progress, and when the last one ended (performance.now()). */
const foreground = { active: 0, lastEnd: -Infinity };
let quietTimer: NodeJS.Timeout | undefined;

/**
 * A request that is not a transfer started: transfers keep to ioLimit until quietMs after the last such request
 * ended. Returns its end (idempotent).
 */
export function foregroundStarted(): () => void {
  foreground.active++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    foreground.active--;
    foreground.lastEnd = performance.now();
    if (foreground.active === 0 && budget.waiting > 0) {
      // the waiters may take the burst once it is quiet (nothing else releases a slot at that moment)
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => budget.drain(), transferSettings.quietMs + 1);
      quietTimer.unref();
    }
  };
}

/** The transfers' I/O budget now: ioLimit while other requests are served (or were, within quietMs); else ioBurst. */
export function currentIoLimit(now = performance.now()): number {
  const busy = foreground.active > 0 || now - foreground.lastEnd < transferSettings.quietMs;
  return busy ? transferSettings.ioLimit : Math.max(transferSettings.ioLimit, transferSettings.ioBurst);
}

/** Set the transfer settings (src/main.ts, from the TRANSFER_* / EXPORT_* variables). */
export function configureTransfers(s: Partial<TransferSettings>): void {
  Object.assign(transferSettings, s);
  budget.drain();
}

/** A counting semaphore over currentIoLimit(); waiters are served in order. */
class IoBudget {
  #used = 0;
  readonly #waiting: (() => void)[] = [];

  get used(): number { return this.#used; }
  get waiting(): number { return this.#waiting.length; }

  /** Take one slot (resolves at once when one is free). */
  acquire(): Promise<void> {
    if (this.#used < currentIoLimit() && this.#waiting.length === 0) {
      this.#used++;
      return Promise.resolve();
    }
    return new Promise((resolve) => { this.#waiting.push(resolve); this.drain(); });
  }

  /** Give up a slot taken with acquire (or a waiter's turn that came after it stopped wanting it). */
  release(): void {
    this.#used--;
    this.drain();
  }

  drain(): void {
    const limit = currentIoLimit();
    while (this.#used < limit && this.#waiting.length > 0) {
      this.#used++;
      this.#waiting.shift()!();
    }
  }
}

export const budget = new IoBudget();

/** A running transfer, as the registry knows it. */
export interface Transfer {
  /** end it now (the client is gone, or the service stops); resolves once its I/O in flight has completed */
  abort(reason: Error): Promise<void>;
}

const active = new Set<Transfer>();

export function trackTransfer(t: Transfer): () => void {
  active.add(t);
  return () => { active.delete(t); };
}

/** End every running transfer (service shutdown); resolves once none has I/O in flight. */
export async function abortAllTransfers(reason: Error): Promise<void> {
  await Promise.all([...active].map((t) => t.abort(reason)));
}

/** Figures for metrics. */
export function transferLoad(): { transfers: number; ioInFlight: number; ioQueued: number; aioInFlight: number; ioLimit: number } {
  return { transfers: active.size, ioInFlight: budget.used, ioQueued: budget.waiting, aioInFlight: aioInFlight(), ioLimit: currentIoLimit() };
}
