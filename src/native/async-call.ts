// Runs blocking librados/librbd calls on the libuv threadpool (koffi's `.async`) under a concurrency limit.
//
// koffi does not keep JS-owned memory (Buffers, arrays, out-parameter holders) alive while a call runs on
// a worker thread: if the GC collects it mid-call, the C side writes into freed memory. Every argument is
// therefore held by the pending promise's closure until the callback has run.
//
// The limit must stay below UV_THREADPOOL_SIZE, or Ceph calls occupy every worker and fs/dns/crypto stall.

import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one logical operation's native calls are doing (src/ceph/client.ts runs each operation in one):
 * so that a deadline can tell "waited for a local slot" (503 CEPH_BUSY) from "the cluster did not answer"
 * (504, naming the call that was running).
 */
export interface CallTrace {
  /** the last native call started (the one running when the deadline passes) */
  op: string | undefined;
  /** calls of this operation waiting for a slot / running now */
  queued: number;
  running: number;
}
export const callTrace = new AsyncLocalStorage<CallTrace>();

/** Called once for each call that runs past its limiter's overdue threshold. */
export type OverdueObserver = (name: string, ageMs: number, limiter: string) => void;

/** A koffi function: callable synchronously, or via `.async(...args, callback)` on a worker thread. */
export interface NativeFunction {
  (...args: unknown[]): unknown;
  async: (...args: unknown[]) => void;
}

export interface CallObserver {
  /** Called when a native call finishes (its return value, or the thrown error) with its duration. */
  (name: string, seconds: number, result: unknown, error?: unknown): void;
}

/** Thrown when the queue of calls waiting for a slot is full: the caller should retry later. */
export class NativeQueueFullError extends Error {
  constructor(readonly limit: number, readonly queued: number) {
    super(`too many Ceph operations in flight (${limit} running, ${queued} queued)`);
    this.name = 'NativeQueueFullError';
  }
}

interface Waiter { resolve: () => void }
interface Active { name: string; started: number; overdue: boolean }

export class CallLimiter {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private observer: CallObserver | undefined;
  private readonly active = new Set<Active>();
  /** a call running longer than this is overdue (0 = never); see checkOverdue */
  overdueAfterMs = 0;
  /** calls that became overdue since the process started */
  overdueTotal = 0;

  constructor(private limit: number, private maxQueue: number, readonly label = 'ceph') {}

  /** calls running now that are past overdueAfterMs (stuck, or far slower than any request may take) */
  get overdue(): number {
    let n = 0;
    for (const a of this.active) if (a.overdue) n++;
    return n;
  }

  /** Flag calls that ran past overdueAfterMs; `onOverdue` hears of each one once. Returns how many are overdue. */
  checkOverdue(onOverdue?: OverdueObserver, now = performance.now()): number {
    if (this.overdueAfterMs <= 0) return 0;
    let n = 0;
    for (const a of this.active) {
      if (!a.overdue && now - a.started > this.overdueAfterMs) {
        a.overdue = true;
        this.overdueTotal++;
        onOverdue?.(a.name, now - a.started, this.label);
      }
      if (a.overdue) n++;
    }
    return n;
  }

  configure(limit: number, maxQueue: number): void {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.maxQueue = Math.max(0, maxQueue);
    this.drain();
  }

  observe(observer: CallObserver | undefined): void { this.observer = observer; }

  /** calls finished since the process started (to tell whether any work happened in a while) */
  completed = 0;

  get inFlight(): number { return this.running; }
  get queued(): number { return this.waiting.length; }
  get concurrency(): number { return this.limit; }

  /** Run `fn.async(...args)` once a slot is free; resolves with the C function's return value. */
  async call<T = number>(name: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
    const trace = callTrace.getStore();
    if (trace) trace.queued++;
    try {
      await this.acquire();
    } finally {
      if (trace) trace.queued--;
    }
    if (trace) { trace.op = name; trace.running++; }
    const started = performance.now();
    const entry: Active = { name, started, overdue: false };
    this.active.add(entry);
    try {
      const result = await new Promise<T>((resolve, reject) => {
        fn.async(...args, (err: unknown, res: T) => {
          // `args` is referenced here on purpose: it keeps every Buffer and holder alive until C is done.
          void args;
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else resolve(res);
        });
      });
      this.observer?.(name, (performance.now() - started) / 1000, result);
      return result;
    } catch (err) {
      this.observer?.(name, (performance.now() - started) / 1000, undefined, err);
      throw err;
    } finally {
      if (trace) trace.running--;
      this.active.delete(entry);
      this.completed++;
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueue) {
      return Promise.reject(new NativeQueueFullError(this.limit, this.waiting.length));
    }
    return new Promise((resolve) => this.waiting.push({ resolve }));
  }

  private release(): void {
    this.running--;
    this.drain();
  }

  private drain(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      this.running++;
      this.waiting.shift()!.resolve();
    }
  }
}

/** libuv's threadpool size for this process (the default is 4). */
export function threadpoolSize(): number {
  const n = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/** Request-sized calls: every short Ceph call shares this part of the threadpool. */
export const limiter = new CallLimiter(Math.max(1, threadpoolSize() - 6), 1000);

/**
 * Long calls (flatten, copy, rollback, trash removal, shrink: minutes to days on a worker thread) have their
 * own small budget, so they can never take the slots request-sized calls need. Both together stay below
 * UV_THREADPOOL_SIZE (configureConcurrency in src/ceph/connection.ts).
 */
export const longLimiter = new CallLimiter(2, 10_000, 'ceph-long');

/**
 * Transfers (image content in and out): the blocking calls a transfer makes besides its asynchronous I/O —
 * the extent walks (rbd_diff_iterate2 over a window of the image) — on a budget of their own, so that any
 * number of downloads never takes the slots request-sized calls need. Counted in configureConcurrency.
 */
export const transferLimiter = new CallLimiter(2, 10_000, 'ceph-transfer');

let watchdog: NodeJS.Timeout | undefined;

/**
 * The stuck-call watchdog: every second, request-sized calls running longer than `overdueAfterMs` are
 * flagged (once each, reported to `onOverdue`); long calls past `longOverdueAfterMs`. A call that never
 * returns holds its slot and its worker thread for good: this makes it visible (metric, log, readiness).
 */
export function watchOverdueCalls(overdueAfterMs: number, onOverdue?: OverdueObserver, longOverdueAfterMs = 0): () => void {
  limiter.overdueAfterMs = overdueAfterMs;
  longLimiter.overdueAfterMs = longOverdueAfterMs;
  clearInterval(watchdog);
  watchdog = setInterval(() => {
    limiter.checkOverdue(onOverdue);
    longLimiter.checkOverdue(onOverdue);
  }, Math.max(100, Math.min(1000, overdueAfterMs / 4)));
  watchdog.unref();
  return () => clearInterval(watchdog);
}

/**
 * Readiness probes (a mon round trip): one at a time on a slot of their own, so that when every request slot
 * waits on a lost OSD the monitors do not look unreachable too (the threadpool keeps spare threads for it).
 */
export const probeLimiter = new CallLimiter(1, 64);

/** Shorthand for probeLimiter.call. */
export function callProbe<T = number>(name: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return probeLimiter.call<T>(name, fn, ...args);
}

/** Shorthand for limiter.call. */
export function callAsync<T = number>(name: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return limiter.call<T>(name, fn, ...args);
}

/** Shorthand for transferLimiter.call. */
export function callTransfer<T = number>(name: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return transferLimiter.call<T>(name, fn, ...args);
}

/** Shorthand for longLimiter.call: for calls that may run for minutes. */
export function callLong<T = number>(name: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return longLimiter.call<T>(name, fn, ...args);
}
