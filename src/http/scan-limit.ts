// A few at a time, the rest queued; beyond the queue, or after waiting too long, 503 CEPH_BUSY + Retry-After:
// memory and Ceph load stay bounded however many such requests arrive at once. Two uses:
// - full scans of a pool's image directory (`search=`, `total=true`) cost O(pool): identical ones in flight
//   share one scan (routes/images/list.ts);
// - listing pages that hold up to a page's bytes each (metadata, images with details, snapshots, clones, trash,
//   tasks): one limiter per process (listingLimiter), so the memory they take at once is at most
//   LISTING_CONCURRENCY pages (see page-bytes.ts for the bytes of one).
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

  constructor(private readonly limits: ScanLimits = { concurrency: 4, maxQueue: 64, waitMs: 10_000 },
    private readonly busy: (why: string) => ApiError = scanBusy) {}

  get active(): number { return this.running; }
  get waiting(): number { return this.queue.length; }

  /** Run `fn` under the limit, on its own (never shared: a read that must see every earlier write). */
  async limit<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Run the scan `fn` under the limit; a scan with the same key already in flight is shared, not repeated. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const shared = this.inFlight.get(key);
    if (shared) return shared as Promise<T>;
    const scan = this.limit(fn);
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
      return Promise.reject(this.busy(`${this.running} are running and ${this.queue.length} waiting`));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(this.busy(`waited ${this.limits.waitMs} ms behind others`));
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

const scanBusy = (why: string): ApiError => new ApiError('CEPH_BUSY',
  `Too many listings that scan a whole pool (search=, total=true) are in flight (${why}); retry shortly, or list by prefix= (not a full scan).`);

/** Listing pages read at once per process, and how many may wait (none of them holds a page while waiting). */
export const LISTING_LIMITS: ScanLimits = { concurrency: 8, maxQueue: 512, waitMs: 10_000 };

const listingBusy = (why: string): ApiError => new ApiError('CEPH_BUSY',
  `Too many listing pages (metadata, images with details, snapshots, clones, trash, tasks) are being read (${why}); retry shortly.`);

const listingLimiters = new WeakMap<object, ScanLimiter>();

/** The listing-page limiter of the process that `owner` (the app's Ceph client) belongs to: one for all routes. */
export function listingLimiter(owner: object): ScanLimiter {
  let l = listingLimiters.get(owner);
  if (!l) {
    l = new ScanLimiter(LISTING_LIMITS, listingBusy);
    listingLimiters.set(owner, l);
  }
  return l;
}
