// Full scans of a pool's image directory (`search=`, `total=true`) cost O(pool): a few at a time, and identical
// ones in flight share one scan. Beyond the queue, or after waiting too long, 503 CEPH_BUSY + Retry-After:
// memory and Ceph load stay bounded however many such listings arrive at once.
import { ApiError } from './errors.js';

interface Waiter { grant: () => void; timer: NodeJS.Timeout }

export interface ScanLimits {
  /** scans running at once */
  concurrency: number;
  /** scans allowed to wait for a turn */
  maxQueue: number;
  /** longest wait for a turn, ms */
  waitMs: number;
}

export class ScanLimiter {
  private running = 0;
  private readonly queue: Waiter[] = [];
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly limits: ScanLimits = { concurrency: 4, maxQueue: 64, waitMs: 10_000 }) {}

  get active(): number { return this.running; }
  get waiting(): number { return this.queue.length; }

  /** Run the scan `fn` under the limit; a scan with the same key already in flight is shared, not repeated. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const shared = this.inFlight.get(key);
    if (shared) return shared as Promise<T>;
    const scan = (async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        this.release();
      }
    })();
    this.inFlight.set(key, scan);
    void scan.then(() => undefined, () => undefined).finally(() => {
      if (this.inFlight.get(key) === scan) this.inFlight.delete(key);
    });
    return scan;
  }

  private acquire(): Promise<void> {
    if (this.running < this.limits.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    if (this.queue.length >= this.limits.maxQueue) {
      return Promise.reject(busy(`${this.running} full scans are running and ${this.queue.length} waiting`));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(busy(`waited ${this.limits.waitMs} ms behind other full scans`));
        }, this.limits.waitMs),
      };
      this.queue.push(waiter);
    });
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant(); // the slot passes to the next waiter
      return;
    }
    this.running--;
  }
}

const busy = (why: string): ApiError => new ApiError('CEPH_BUSY',
  `Too many listings that scan a whole pool (search=, total=true) are in flight (${why}); retry shortly, or list by prefix= (not a full scan).`);
