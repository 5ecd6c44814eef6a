// Serialises async work per key within this process (every write to one image name: POST, PUT, PATCH,
// DELETE), with a bounded wait: a caller that cannot get the key within `waitMs`, or finds more than
// `maxWaiters` queued before it, gets a LockBusyError at once (the route answers 503 CEPH_BUSY with
// Retry-After) — never an unbounded wait behind a queue of earlier callers.
import { LockBusyError } from './errors.js';

interface Waiter { grant: () => void; timer: NodeJS.Timeout | undefined }
interface Entry { held: boolean; queue: Waiter[] }

export interface LockOptions {
  /** longest wait for the key, ms (default 5000) */
  waitMs?: number;
  /** most callers allowed to wait for one key (default 64) */
  maxWaiters?: number;
}

export class KeyedLock {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly defaults: Required<LockOptions> = { waitMs: 5000, maxWaiters: 64 }) {}

  async run<T>(key: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    await this.acquire(key, opts.waitMs ?? this.defaults.waitMs, opts.maxWaiters ?? this.defaults.maxWaiters);
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  /** keys held or waited for */
  get size(): number { return this.entries.size; }

  /** callers waiting for `key` */
  waiting(key: string): number { return this.entries.get(key)?.queue.length ?? 0; }

  private acquire(key: string, waitMs: number, maxWaiters: number): Promise<void> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { held: false, queue: [] };
      this.entries.set(key, entry);
    }
    if (!entry.held) {
      entry.held = true;
      return Promise.resolve();
    }
    const e = entry;
    if (e.queue.length >= maxWaiters) return Promise.reject(new LockBusyError(key, 0, e.queue.length));
    const started = performance.now();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, timer: undefined };
      waiter.timer = setTimeout(() => {
        const i = e.queue.indexOf(waiter);
        if (i >= 0) e.queue.splice(i, 1);
        reject(new LockBusyError(key, performance.now() - started, e.queue.length));
      }, Math.max(0, waitMs));
      e.queue.push(waiter);
    });
  }

  private release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    const next = entry.queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant(); // the key passes straight to the next waiter (held stays true)
      return;
    }
    this.entries.delete(key);
  }
}
