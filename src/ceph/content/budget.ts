// The budget of image-content transfers (downloads' reads and uploads' writes together): how many asynchronous
// librbd I/Os all transfers keep in flight, apart from the request-sized calls' slots (which transfers never
// take: their data moves through librbd's own asynchronous I/O, their extent walks through transferLimiter).
// Also the registry of running transfers, so that a stopping service can end them at once.
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
}

export const transferSettings: TransferSettings = { ioLimit: 4, readDepth: 4, chunkBytes: 4 * 2 ** 20, idleMs: 30_000 };

/** Set the transfer settings (src/main.ts, from the TRANSFER_* / EXPORT_* variables). */
export function configureTransfers(s: Partial<TransferSettings>): void {
  Object.assign(transferSettings, s);
  budget.drain();
}

/** A counting semaphore over transferSettings.ioLimit; waiters are served in order. */
class IoBudget {
  #used = 0;
  readonly #waiting: (() => void)[] = [];

  get used(): number { return this.#used; }
  get waiting(): number { return this.#waiting.length; }

  /** Take one slot (resolves at once when one is free). */
  acquire(): Promise<void> {
    if (this.#used < transferSettings.ioLimit && this.#waiting.length === 0) {
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
    while (this.#used < transferSettings.ioLimit && this.#waiting.length > 0) {
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
export function transferLoad(): { transfers: number; ioInFlight: number; ioQueued: number; aioInFlight: number } {
  return { transfers: active.size, ioInFlight: budget.used, ioQueued: budget.waiting, aioInFlight: aioInFlight() };
}
